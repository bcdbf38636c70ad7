from adamw_repro.data.corpus import SPLITS


rule split_corpus:
    output:
        **{split: f"resources/{S}data/{split}.txt" for split in SPLITS},
    params:
        corpus=get_section("corpus"),
    resources:
        mem_mb=get_data_resources("mem_mb"),
        runtime=get_data_resources("runtime"),
    conda:
        CONDA_ENV
    log:
        f"logs/{S}split_corpus.log",
    benchmark:
        f"results/{S}benchmarks/split_corpus.tsv"
    shell:
        "python -m adamw_repro.data.corpus --corpus {params.corpus:q} --train {output.train}"
        " --val {output.val} --test {output.test} > {log} 2>&1"


rule tokenize:
    input:
        **rules.split_corpus.output,
    output:
        tokenizer=f"resources/{S}tokens/tokenizer.json",
        meta=f"resources/{S}tokens/meta.json",
        **{split: directory(f"resources/{S}tokens/{split}") for split in SPLITS},
    params:
        tokenizer=get_section("tokenizer"),
        min_train=get_min_tokens("train"),
        min_heldout=get_min_tokens("heldout"),
    resources:
        mem_mb=get_data_resources("mem_mb"),
        runtime=get_data_resources("runtime"),
    conda:
        CONDA_ENV
    log:
        f"logs/{S}tokenize.log",
    benchmark:
        f"results/{S}benchmarks/tokenize.tsv"
    shell:
        "python -m adamw_repro.data.tokens --train-text {input.train} --val-text {input.val}"
        " --test-text {input.test} --tokenizer {params.tokenizer:q}"
        " --min-train-tokens {params.min_train} --min-heldout-tokens {params.min_heldout}"
        " --out-tokenizer {output.tokenizer} --out-train {output.train} --out-val {output.val}"
        " --out-test {output.test} --out-meta {output.meta} > {log} 2>&1"
