from adamw_repro.figures import FIGURES


rule figure:
    input:
        runs=rules.aggregate.output.runs,
        curves=rules.aggregate.output.curves,
        code=get_code("figures"),  # restyling a figure redraws it, never retrains
    output:
        pdf="results/figures/{figure}.pdf",
        png=report(
            "results/figures/{figure}.png",
            caption="../report/figure.rst",
            category="Figures",
        ),
    params:
        study=json.dumps(config["study"], sort_keys=True),
    conda:
        CONDA_ENV
    log:
        "logs/figures/{figure}.log",
    benchmark:
        "results/benchmarks/figures/{figure}.tsv"
    shell:
        "python -m adamw_repro.figures {wildcards.figure} --runs {input.runs}"
        " --curves {input.curves} --study {params.study:q} --out {output.pdf} > {log} 2>&1"
