TRAIN_DATA = {k: rules.tokenize.output[k] for k in ("train", "val", "test", "meta")}
TRAIN_CMD = (
    "python -m adamw_repro.train {params.runs} --train-tokens {input.train}"
    " --val-tokens {input.val} --test-tokens {input.test} --meta {input.meta}"
    " --threads {threads} > {log} 2>&1"
)
TRAIN = config["resources"]["train"]


if RUNS_PER_JOB == 1:

    # One run per job: the clusters' and long runs' layout.
    rule train:
        input:
            **TRAIN_DATA,
        output:
            metrics=f"{RUN_DIR}/metrics.jsonl",
            summary=f"{RUN_DIR}/summary.json",
        params:
            runs=lambda wc: train_args([Run.parse(wc.optimizer, wc.setting, wc.seed)]),
        threads: config["train"]["threads"]
        resources:
            gpu=TRAIN["gpus"],
            mem_mb=TRAIN["mem_mb"],
            runtime=get_train_runtime(1),
        conda:
            CONDA_ENV
        log:
            "logs/train/{optimizer}/{setting}/seed{seed}.log",
        benchmark:
            "results/benchmarks/train/{optimizer}/{setting}/seed{seed}.tsv"
        shell:
            TRAIN_CMD

else:
    # Several runs per job, each process paying the start-up once. Tuning trials and the cells
    # an extension round may add are known from the config alone, so each batch is a rule of
    # its own with its runs' files as outputs; evaluation seeds of a selected setting go in
    # batches of the same size, one rule per optimizer and batch with the setting a wildcard.
    for name, runs in first_round_batches(config).items():

        rule:
            name:
                name
            input:
                **TRAIN_DATA,
            output:
                metrics=summaries(runs, "metrics.jsonl"),
                summary=summaries(runs),
            params:
                runs=train_args(runs),
            threads: config["train"]["threads"]
            resources:
                gpu=TRAIN["gpus"],
                mem_mb=TRAIN["mem_mb"],
                runtime=get_train_runtime(len(runs)),
            conda:
                CONDA_ENV
            log:
                f"logs/train/{name}.log",
            benchmark:
                f"results/benchmarks/train/{name}.tsv"
            shell:
                TRAIN_CMD

    for optimizer in config["optimizers"]:
        for k, seeds in enumerate(seed_batches(config, optimizer)):

            rule:
                name:
                    f"evaluate_{optimizer}_{k}"
                input:
                    **TRAIN_DATA,
                output:
                    metrics=[f"results/runs/{optimizer}/{{setting}}/seed{s}/metrics.jsonl" for s in seeds],
                    summary=[f"results/runs/{optimizer}/{{setting}}/seed{s}/summary.json" for s in seeds],
                params:
                    runs=lambda wc, o=optimizer, seeds=seeds: train_args(
                        [Run.parse(o, wc.setting, s) for s in seeds]
                    ),
                threads: config["train"]["threads"]
                resources:
                    gpu=TRAIN["gpus"],
                    mem_mb=TRAIN["mem_mb"],
                    runtime=get_train_runtime(len(seeds)),
                conda:
                    CONDA_ENV
                log:
                    f"logs/train/evaluate_{optimizer}_{k}/{{setting}}.log",
                benchmark:
                    f"results/benchmarks/train/evaluate_{optimizer}_{k}/{{setting}}.tsv"
                shell:
                    TRAIN_CMD


checkpoint find_edges:
    input:
        summaries=get_tuning_summaries,
        code=[get_code("selection"), get_code("study")],
    output:
        "results/study/first_round.json",
    params:
        config=get_json("optimizers", "seeds", "study", "train", "model"),
    conda:
        CONDA_ENV
    log:
        "logs/find_edges.log",
    benchmark:
        "results/benchmarks/find_edges.tsv"
    shell:
        "python -m adamw_repro.selection edges --config {params.config:q}"
        " --summaries {input.summaries} --out {output} > {log} 2>&1"


checkpoint select_hparams:
    input:
        summaries=get_searched_summaries,
        first_round=rules.find_edges.output[0],
        code=[get_code("selection"), get_code("study")],
    output:
        "results/study/selection.json",
    params:
        config=get_json("optimizers", "seeds", "study", "train", "model"),
    conda:
        CONDA_ENV
    log:
        "logs/select_hparams.log",
    benchmark:
        "results/benchmarks/select_hparams.tsv"
    shell:
        "python -m adamw_repro.selection select --config {params.config:q}"
        " --summaries {input.summaries} --first-round {input.first_round}"
        " --out {output} > {log} 2>&1"
