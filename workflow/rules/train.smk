# A run is its spec file, written by `run_spec` from the run's path and the study's config
# (params: a changed spec is rewritten, and its newer file retrains the job that holds the run).
# Training jobs group runs to pay the process start-up once per job: resources.train.runs_per_job
# runs at most, a multiple of the cores' worth of jobs per phase (jobs.training_jobs). The
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


# The search's three checkpoints, one shape (common.smk's SEARCH_STEPS): a step of
# analysis.selection reads the runs trained so far and the earlier steps' files, and writes the
# file that says which runs follow (design.search_runs, finalist_runs, all_runs).
for _rule, (_step, _output, _log, _inputs) in SEARCH_STEPS.items():

    checkpoint:
        name:
            _rule
        input:
            **_inputs,
            code=get_code("analysis.selection"),
        output:
            result=f"results/{S}{_output}",
        log:
            f"logs/{S}{_log}.log",
        benchmark:
            f"results/{S}benchmarks/{_log}.tsv"
        wildcard_constraints:
            round=r"\d+",
        localrule: True
        conda:
            "../envs/analysis.yaml"
        params:
            step=_step,
            config=get_json("optimizers", "seeds", "study", "train", "model"),
        script:
            "../scripts/selection.py"
