TRAIN_DATA = {k: rules.tokenize.output[k] for k in ("train", "val", "meta")}
TRAIN_CMD = (
    "python -m adamw_repro.train {params.runs} --train-tokens {input.train}"
    " --val-tokens {input.val} --meta {input.meta} --threads {threads} > {log} 2>&1"
)
TRAIN = config["resources"]["train"]
EVAL_SEEDS = config["seeds"]


if TRAIN["runs_per_job"] == 1:

    # One run per job: the clusters' and long runs' layout.
    rule train:
        input:
            **TRAIN_DATA,
        output:
            metrics=f"{RUN_DIR}/metrics.jsonl",
            summary=f"{RUN_DIR}/summary.json",
        params:
            runs=lambda wc: train_args([Run(wc.optimizer, float(wc.lr), float(wc.wd), int(wc.seed))]),
        threads: config["train"]["threads"]
        resources:
            gpu=TRAIN["gpus"],
            mem_mb=TRAIN["mem_mb"],
            runtime=train_runtime(1),
        conda:
            CONDA_ENV
        log:
            "logs/train/{optimizer}/lr{lr}_wd{wd}/seed{seed}.log",
        benchmark:
            "results/benchmarks/train/{optimizer}/lr{lr}_wd{wd}/seed{seed}.tsv"
        shell:
            TRAIN_CMD

else:
    # Several runs per job, each process paying the start-up once: tuning trials in batches of
    # runs_per_job (their list is known from the config alone, so each batch is a rule of its
    # own with its runs' files as outputs), and all evaluation seeds of a setting together.
    for name, runs in TUNING_BATCHES.items():

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
                runtime=train_runtime(len(runs)),
            conda:
                CONDA_ENV
            log:
                f"logs/train/{name}.log",
            benchmark:
                f"results/benchmarks/train/{name}.tsv"
            shell:
                TRAIN_CMD

    rule train_seeds:
        input:
            **TRAIN_DATA,
        output:
            metrics=expand(f"{RUN_DIR}/metrics.jsonl", seed=EVAL_SEEDS, allow_missing=True),
            summary=expand(f"{RUN_DIR}/summary.json", seed=EVAL_SEEDS, allow_missing=True),
        params:
            runs=lambda wc: train_args(
                [Run(wc.optimizer, float(wc.lr), float(wc.wd), s) for s in EVAL_SEEDS]
            ),
        threads: config["train"]["threads"]
        resources:
            gpu=TRAIN["gpus"],
            mem_mb=TRAIN["mem_mb"],
            runtime=train_runtime(len(EVAL_SEEDS)),
        conda:
            CONDA_ENV
        log:
            "logs/train/{optimizer}/lr{lr}_wd{wd}/seeds.log",
        benchmark:
            "results/benchmarks/train/{optimizer}/lr{lr}_wd{wd}/seeds.tsv"
        shell:
            TRAIN_CMD


checkpoint select_hparams:
    input:
        summaries=get_tuning_summaries,
        code=get_code("selection"),
    output:
        "results/study/selection.json",
    params:
        study=get_json("optimizers", "seeds", "study"),
    conda:
        CONDA_ENV
    log:
        "logs/select_hparams.log",
    benchmark:
        "results/benchmarks/select_hparams.tsv"
    shell:
        "python -m adamw_repro.selection --config {params.study:q}"
        " --summaries {input.summaries} --out {output} > {log} 2>&1"
