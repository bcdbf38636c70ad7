SPLITS = ("train", "val", "test")


rule split_corpus:
    output:
        **{split: f"resources/data/{split}.txt" for split in SPLITS},
    params:
        corpus=json.dumps(config["corpus"], sort_keys=True),
    resources:
        mem_mb=config["resources"]["data"]["mem_mb"],
        runtime=config["resources"]["data"]["runtime"],
    conda:
        CONDA_ENV
    log:
        "logs/split_corpus.log",
    benchmark:
        "results/benchmarks/split_corpus.tsv"
    shell:
        "python -m adamw_repro.corpus --corpus {params.corpus:q} --train {output.train}"
        " --val {output.val} --test {output.test} > {log} 2>&1"


rule tokenize:
    input:
        **rules.split_corpus.output,
    output:
        tokenizer="resources/tokens/tokenizer.json",
        meta="resources/tokens/meta.json",
        **{split: directory(f"resources/tokens/{split}") for split in SPLITS},
    params:
        tokenizer=json.dumps(config["tokenizer"], sort_keys=True),
        min_train=config["train"]["batch_size"] * config["model"]["block_size"] + 1,
        min_heldout=config["model"]["block_size"] + 1,
    resources:
        mem_mb=config["resources"]["data"]["mem_mb"],
        runtime=config["resources"]["data"]["runtime"],
    conda:
        CONDA_ENV
    log:
        "logs/tokenize.log",
    benchmark:
        "results/benchmarks/tokenize.tsv"
    shell:
        "python -m adamw_repro.tokens --train-text {input.train} --val-text {input.val}"
        " --test-text {input.test} --tokenizer {params.tokenizer:q}"
        " --min-train-tokens {params.min_train} --min-heldout-tokens {params.min_heldout}"
        " --out-tokenizer {output.tokenizer} --out-train {output.train} --out-val {output.val}"
        " --out-test {output.test} --out-meta {output.meta} > {log} 2>&1"
