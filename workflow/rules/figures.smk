# Every figure of the main study in one job: they share their inputs and their code, so they
# always redraw together, and one process pays matplotlib's start-up once (about 3 s) instead of
# once a figure. The output list names the figures; each is drawn by the function of its name.
rule figures:
    input:
        runs=rules.aggregate.output.runs,
        curves=rules.aggregate.output.curves,
        map=rules.ledger.output.map,
        code=get_code("report.figures"),  # restyling a figure redraws it, never retrains
    output:
        pdf=get_figures("pdf"),
        png=figure_reports(get_figures("png"), "../report/figure.rst", "Figures"),
    log:
        f"logs/{S}figures.log",
    benchmark:
        f"results/{S}benchmarks/figures.tsv"
    localrule: True
    conda:
        "../envs/report.yaml"
    params:
        study=get_section("study"),
    script:
        "../scripts/figures.py"


# The pilot map that chose the regime (paper.pilot_map), drawn from its committed CSV.
if PILOT_MAP:

    rule pilot_map_figure:
        input:
            csv=repo_file(PILOT_MAP["csv"]),
            code=get_code("report.ladder_figures"),
        output:
            pdf="results/paper/pilot_map.pdf",
        log:
            "logs/paper/pilot_map.log",
        benchmark:
            "results/benchmarks/pilot_map_figure.tsv"
        localrule: True
        conda:
            "../envs/report.yaml"
        params:
            figure="pilot_map",
            chosen=PILOT_MAP["chosen"],
            margin=STUDIES[MAIN_STUDY]["study"]["margin"],
        script:
            "../scripts/ladder_figures.py"
