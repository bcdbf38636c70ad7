TRAIN = config["resources"]["train"]


# One rule per training job, whatever the layout: with resources.train.runs_per_job = 1 (the
# clusters' and long runs' layout) every job trains one run; above 1 a job trains that many one
# after another, paying the process start-up once. Tuning and extension jobs have their runs
# fixed by the config; an evaluation job's setting is a wildcard, chosen by select_hparams.
for job in training_jobs(config):

    rule:
        name:
            job.name
        input:
            **{k: rules.tokenize.output[k] for k in ("train", "val", "test", "meta")},
        output:
            metrics=[f"results/runs/{run_id}/metrics.jsonl" for run_id in job.run_ids],
            summary=[f"results/runs/{run_id}/summary.json" for run_id in job.run_ids],
        params:
            runs=lambda wc, job=job: train_args(job.runs(wc.get("setting"))),
        threads: config["train"]["threads"]
        resources:
            gpu=TRAIN["gpus"],
            mem_mb=TRAIN["mem_mb"],
            runtime=get_train_runtime(len(job.run_ids)),
        conda:
            CONDA_ENV
        log:
            get_job_file("logs/train", job, "log"),
        benchmark:
            get_job_file("results/benchmarks/train", job, "tsv")
        shell:
            "python -m adamw_repro.train {params.runs} --train-tokens {input.train}"
            " --val-tokens {input.val} --test-tokens {input.test} --meta {input.meta}"
            " --threads {threads} > {log} 2>&1"


checkpoint find_edges:
    input:
        summaries=get_tuning_summaries,
        code=[get_code("selection"), get_code("design")],
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
        code=[get_code("selection"), get_code("design")],
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
