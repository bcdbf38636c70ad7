rule train:
    input:
        train=rules.tokenize.output.train,
        val=rules.tokenize.output.val,
        meta=rules.tokenize.output.meta,
    output:
        metrics=f"{RUN_DIR}/metrics.jsonl",
        summary=f"{RUN_DIR}/summary.json",
    params:
        spec=get_train_spec,
        out_dir=RUN_DIR,
        # not an output: it must survive a failed or cancelled job, to be resumed from
        checkpoint="results/checkpoints/{optimizer}/lr{lr}_wd{wd}/seed{seed}.pt",
    threads: config["train"]["threads"]
    resources:
        gpu=config["resources"]["train"]["gpus"],
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=lambda wildcards, attempt: config["resources"]["train"]["runtime"] * attempt,
    conda:
        CONDA_ENV
    log:
        "logs/train/{optimizer}/lr{lr}_wd{wd}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{optimizer}/lr{lr}_wd{wd}/seed{seed}.tsv"
    shell:
        "python -m adamw_repro.train --spec {params.spec:q} --train-tokens {input.train}"
        " --val-tokens {input.val} --meta {input.meta} --out-dir {params.out_dir}"
        " --checkpoint {params.checkpoint} --threads {threads} > {log} 2>&1"


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
