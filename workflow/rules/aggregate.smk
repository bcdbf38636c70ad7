rule aggregate:
    input:
        summaries=get_run_summaries,
        code=get_code("aggregate"),
    output:
        runs=report("results/tables/runs.csv", caption="../report/runs.rst", category="Tables"),
        curves="results/tables/curves.csv",
        timing="results/tables/timing.csv",
        provenance="results/tables/provenance.json",
    conda:
        CONDA_ENV
    log:
        "logs/aggregate.log",
    shell:
        "python -m adamw_repro.aggregate --summaries {input.summaries} --out-runs {output.runs}"
        " --out-curves {output.curves} --out-timing {output.timing}"
        " --out-provenance {output.provenance} > {log} 2>&1"


rule results_table:
    input:
        runs=rules.aggregate.output.runs,
        code=[get_code("tables"), get_code("latex")],
    output:
        csv=report("results/tables/results.csv", caption="../report/results.rst", category="Tables"),
        tex="results/tables/results.tex",
    conda:
        CONDA_ENV
    log:
        "logs/results_table.log",
    shell:
        "python -m adamw_repro.tables --runs {input.runs} --out-csv {output.csv}"
        " --out-tex {output.tex} > {log} 2>&1"
