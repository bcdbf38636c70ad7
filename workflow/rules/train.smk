# One rule per training job of each study, whatever the layout: with resources.train.runs_per_job
# = 1 (the clusters' and long runs' layout) every job trains one run; above 1 a job trains that
# many one after another, paying the process start-up once. Tuning and extension jobs have their
# runs fixed by the config; an evaluation job's setting is a wildcard, chosen by select_hparams.
# A ladder's rules are named after their study (`<study>_tune_adamw_0`).
for study, study_config in STUDIES.items():
    train = study_config["resources"]["train"]
    for job in training_jobs(study_config):

        rule:
            name:
                f"{study}_{job.name}" if study else job.name
            input:
                **{k: get_data_file(rules.tokenize.output[k], study) for k in ("train", "val", "test", "meta")},
            output:
                metrics=run_files(study, job.run_ids, "metrics.jsonl"),
                summary=run_files(study, job.run_ids, "summary.json"),
            params:
                runs=lambda wc, study=study, job=job: train_args(study, job.runs(wc.get("setting"))),
            threads: study_config["train"]["threads"]
            resources:
                gpu=train["gpus"],
                mem_mb=train["mem_mb"],
                runtime=get_train_runtime(study, len(job.run_ids)),
            conda:
                CONDA_ENV
            log:
                get_job_file(f"logs/{S}train", study, job, "log"),
            benchmark:
                get_job_file(f"results/{S}benchmarks/train", study, job, "tsv")
            shell:
                "python -m adamw_repro.training.train {params.runs} --train-tokens {input.train}"
                " --val-tokens {input.val} --test-tokens {input.test} --meta {input.meta}"
                " --threads {threads} > {log} 2>&1"


checkpoint find_edges:
    input:
        summaries=get_tuning_summaries,
        code=get_code("analysis.selection"),
    output:
        f"results/{S}study/first_round.json",
    params:
        config=get_json("optimizers", "seeds", "study", "train", "model"),
    conda:
        CONDA_ENV
    log:
        f"logs/{S}find_edges.log",
    benchmark:
        f"results/{S}benchmarks/find_edges.tsv"
    shell:
        "python -m adamw_repro.analysis.selection edges --config {params.config:q}"
        " --summaries {input.summaries} --out {output} > {log} 2>&1"


checkpoint select_hparams:
    input:
        summaries=get_searched_summaries,
        first_round=rules.find_edges.output[0],
        code=get_code("analysis.selection"),
    output:
        f"results/{S}study/selection.json",
    params:
        config=get_json("optimizers", "seeds", "study", "train", "model"),
    conda:
        CONDA_ENV
    log:
        f"logs/{S}select_hparams.log",
    benchmark:
        f"results/{S}benchmarks/select_hparams.tsv"
    shell:
        "python -m adamw_repro.analysis.selection select --config {params.config:q}"
        " --summaries {input.summaries} --first-round {input.first_round}"
        " --out {output} > {log} 2>&1"
