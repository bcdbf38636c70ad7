rule figure:
    input:
        runs=rules.aggregate.output.runs,
        curves=rules.aggregate.output.curves,
        map=rules.ledger.output.map,
        code=get_code("report.figures"),  # restyling a figure redraws it, never retrains
    output:
        pdf=f"results/{S}figures/{{figure}}.pdf",
        png=report(
            f"results/{S}figures/{{figure}}.png",
            caption="../report/figure.rst",
            category="Figures",
        ),
    log:
        f"logs/{S}figures/{{figure}}.log",
    benchmark:
        f"results/{S}benchmarks/figures/{{figure}}.tsv"
    localrule: True
    conda:
        "../envs/report.yaml"
    params:
        study=get_section("study"),
    shell:
        "python -m adamw_repro.report.figures {wildcards.figure} --runs {input.runs}"
        " --curves {input.curves} --map {input.map} --study {params.study:q}"
        " --out {output.pdf} > {log} 2>&1"


# The pilot map that chose the regime (paper.pilot_map), drawn from its committed CSV.
if PILOT_MAP:

    rule pilot_map_figure:
        input:
            csv=repo_file(PILOT_MAP["csv"]),
            code=get_code("report.ladder_figures"),
        output:
            "results/paper/pilot_map.pdf",
        log:
            "logs/paper/pilot_map.log",
        benchmark:
            "results/benchmarks/pilot_map_figure.tsv"
        localrule: True
        conda:
            "../envs/report.yaml"
        params:
            chosen=PILOT_MAP["chosen"],
            margin=STUDIES[MAIN_STUDY]["study"]["margin"],
        shell:
            "python -m adamw_repro.report.ladder_figures pilot_map --pilot-map {input.csv}"
            " --chosen {params.chosen:q}"
            " --margin {params.margin} --out {output} > {log} 2>&1"
