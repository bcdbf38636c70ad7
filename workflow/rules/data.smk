from adamw_repro.data.corpus import SPLITS


rule split_corpus:
    output:
        **{split: get_split_text(split) for split in SPLITS},
    log:
        f"logs/{S}split_corpus.log",
    benchmark:
        f"results/{S}benchmarks/split_corpus.tsv"
    conda:
        "../envs/train.yaml"
    resources:
        mem_mb=get_data_resources("mem_mb"),
        runtime=get_data_resources("runtime"),
    params:
        corpus=get_section("corpus"),
    script:
        "../scripts/corpus.py"


rule tokenize:
    input:
        **rules.split_corpus.output,
    output:
        **{split: directory(f"resources/{S}tokens/{split}") for split in SPLITS},
        tokenizer=f"resources/{S}tokens/tokenizer.json",
        meta=f"resources/{S}tokens/meta.json",
    log:
        f"logs/{S}tokenize.log",
    benchmark:
        f"results/{S}benchmarks/tokenize.tsv"
    conda:
        "../envs/train.yaml"
    resources:
        mem_mb=get_data_resources("mem_mb"),
        runtime=get_data_resources("runtime"),
    params:
        tokenizer=get_section("tokenizer"),
        min_train=get_min_tokens("train"),
        min_heldout=get_min_tokens("heldout"),
    script:
        "../scripts/tokens.py"
