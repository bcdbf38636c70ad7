rule split_corpus:
    output:
        train="resources/data/train.txt",
        val="resources/data/val.txt",
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
        "python -m adamw_repro.corpus --corpus {params.corpus:q}"
        " --train {output.train} --val {output.val} > {log} 2>&1"


rule tokenize:
    input:
        train=rules.split_corpus.output.train,
        val=rules.split_corpus.output.val,
    output:
        tokenizer="resources/tokens/tokenizer.json",
        train=directory("resources/tokens/train"),
        val=directory("resources/tokens/val"),
        meta="resources/tokens/meta.json",
    params:
        tokenizer=json.dumps(config["tokenizer"], sort_keys=True),
        min_train=config["train"]["batch_size"] * config["model"]["block_size"] + 1,
        min_val=config["model"]["block_size"] + 1,
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
        " --tokenizer {params.tokenizer:q} --min-train-tokens {params.min_train}"
        " --min-val-tokens {params.min_val} --out-tokenizer {output.tokenizer}"
        " --out-train {output.train} --out-val {output.val} --out-meta {output.meta} > {log} 2>&1"
