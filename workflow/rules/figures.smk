from adamw_repro.figures import FIGURES


rule figure:
    input:
        runs=rules.aggregate.output.runs,
        curves=rules.aggregate.output.curves,
        code=get_code("figures"),  # restyling a figure redraws it, never retrains
    output:
        pdf=f"results/{S}figures/{{figure}}.pdf",
        png=report(
            f"results/{S}figures/{{figure}}.png",
            caption="../report/figure.rst",
            category="Figures",
        ),
    params:
        study=get_section("study"),
    conda:
        CONDA_ENV
    log:
        f"logs/{S}figures/{{figure}}.log",
    benchmark:
        f"results/{S}benchmarks/figures/{{figure}}.tsv"
    shell:
        "python -m adamw_repro.figures {wildcards.figure} --runs {input.runs}"
        " --curves {input.curves} --study {params.study:q} --out {output.pdf} > {log} 2>&1"
