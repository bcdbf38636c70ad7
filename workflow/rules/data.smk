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
    shell:
        "python -m adamw_repro.data.corpus --corpus {params.corpus:q} --train {output.train}"
        " --val {output.val} --test {output.test} > {log} 2>&1"


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
    shell:
        "python -m adamw_repro.data.tokens --train-text {input.train} --val-text {input.val}"
        " --test-text {input.test} --tokenizer {params.tokenizer:q}"
        " --min-train-tokens {params.min_train} --min-heldout-tokens {params.min_heldout}"
        " --out-tokenizer {output.tokenizer} --out-train {output.train} --out-val {output.val}"
        " --out-test {output.test} --out-meta {output.meta} > {log} 2>&1"
