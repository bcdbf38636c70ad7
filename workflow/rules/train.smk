# A run is its spec file, written by `run_spec` from the run's path and the study's config
# (params: a changed spec is rewritten, and its newer file retrains the job that holds the run).
# Training jobs group runs to pay the process start-up once per job: resources.train.runs_per_job
# runs at most, a multiple of the cores' worth of jobs per phase (design.training_jobs). The
# grouping is not part of any run's identity: a training job's arguments are read from its
# files (derived params, which Snakemake does not compare), and the specs of a phase are all
# written before its first training job (priority), so that every spec is older than every
# result of its phase and another layout (other cores, another runs_per_job, a cluster) reruns
# nothing that is done. The setting of an extension, finalist or evaluation job is a wildcard,
# chosen by the search rounds, the finalists step and select_hparams.
# A ladder's rules are named after their study (`<study>_tune_0`).
for study, study_config in STUDIES.items():
    train = study_config["resources"]["train"]
    for job in training_jobs(study_config, training_slots(study)):

        rule:
            name:
                f"{study}_{job.name}" if study else job.name
            input:
                **{
                    k: get_data_file(rules.tokenize.output[k], study)
                    for k in ("train", "val", "test", "meta")
                },
                specs=run_files(study, job.run_ids, "spec.json"),
            output:
                metrics=run_files(study, job.run_ids, "metrics.jsonl"),
                summary=run_files(study, job.run_ids, "summary.json"),
            log:
                get_job_file(f"logs/{S}train", study, job, "log"),
            benchmark:
                get_job_file(f"results/{S}benchmarks/train", study, job, "tsv")
            wildcard_constraints:
                **get_setting_constraint(job),
            conda:
                "../envs/train.yaml"
            threads: study_config["train"]["threads"]
            resources:
                gpu=train["gpus"],
                mem_mb=train["mem_mb"],
                runtime=get_train_runtime(study, len(job.run_ids)),
            params:
                runs=train_args(study),
            shell:
                "python -m adamw_repro.training.train {params.runs} --train-tokens {input.train}"
                " --val-tokens {input.val} --test-tokens {input.test} --meta {input.meta}"
                " --threads {threads} > {log} 2>&1"


rule run_spec:
    output:
        f"results/{S}runs/{{optimizer}}/{{setting}}/seed{{seed}}/spec.json",
    log:
        f"logs/{S}specs/{{optimizer}}/{{setting}}/seed{{seed}}.log",
    benchmark:
        f"results/{S}benchmarks/specs/{{optimizer}}/{{setting}}/seed{{seed}}.tsv"
    wildcard_constraints:
        seed=r"\d+",
    priority: 100
    localrule: True
    conda:
        "../envs/analysis.yaml"
    params:
        spec=get_run_spec,
    shell:
        "printf '%s\\n' {params.spec:q} > {output} 2> {log}"


checkpoint search_round:
    input:
        summaries=get_search_summaries,
        rounds=get_earlier_rounds,
        code=get_code("analysis.selection"),
    output:
        f"results/{S}{round_file('{round}')}",
    log:
        f"logs/{S}search_round{{round}}.log",
    benchmark:
        f"results/{S}benchmarks/search_round{{round}}.tsv"
    wildcard_constraints:
        round=r"\d+",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    params:
        config=get_json("optimizers", "seeds", "study", "train", "model"),
    shell:
        "python -m adamw_repro.analysis.selection round --config {params.config:q}"
        " --summaries {input.summaries} --rounds {input.rounds} --out {output} > {log} 2>&1"


checkpoint finalists:
    input:
        summaries=get_search_summaries,  # the grid's and every round's cells
        code=get_code("analysis.selection"),
    output:
        f"results/{S}{FINALISTS_FILE}",
    log:
        f"logs/{S}finalists.log",
    benchmark:
        f"results/{S}benchmarks/finalists.tsv"
    localrule: True
    conda:
        "../envs/analysis.yaml"
    params:
        config=get_json("optimizers", "seeds", "study", "train", "model"),
    shell:
        "python -m adamw_repro.analysis.selection finalists --config {params.config:q}"
        " --summaries {input.summaries} --out {output} > {log} 2>&1"


checkpoint select_hparams:
    input:
        summaries=get_finalist_summaries,
        rounds=get_earlier_rounds,
        finalists=rules.finalists.output[0],
        code=get_code("analysis.selection"),
    output:
        f"results/{S}{SELECTION_FILE}",
    log:
        f"logs/{S}select_hparams.log",
    benchmark:
        f"results/{S}benchmarks/select_hparams.tsv"
    localrule: True
    conda:
        "../envs/analysis.yaml"
    params:
        config=get_json("optimizers", "seeds", "study", "train", "model"),
    shell:
        "python -m adamw_repro.analysis.selection select --config {params.config:q}"
        " --summaries {input.summaries} --rounds {input.rounds} --finalists {input.finalists}"
        " --out {output} > {log} 2>&1"
