rule aggregate:
    input:
        summaries=get_study_summaries,
        selection=rules.select_hparams.output[0],
        code=get_code("analysis.aggregate"),
    output:
        runs=report(f"results/{S}tables/runs.csv", caption="../report/runs.rst", category="Tables"),
        curves=f"results/{S}tables/curves.csv",
        norms=f"results/{S}tables/param_norms.csv",
        timing=f"results/{S}tables/timing.csv",
        provenance=f"results/{S}tables/provenance.json",
    log:
        f"logs/{S}aggregate.log",
    benchmark:
        f"results/{S}benchmarks/aggregate.tsv"
    localrule: True
    conda:
        "../envs/analysis.yaml"
    params:
        config=get_json("optimizers", "seeds", "study", "train", "model"),
    shell:
        "python -m adamw_repro.analysis.aggregate --summaries {input.summaries}"
        " --config {params.config:q}"
        " --selection {input.selection} --out-runs {output.runs} --out-curves {output.curves}"
        " --out-norms {output.norms} --out-timing {output.timing}"
        " --out-provenance {output.provenance} > {log} 2>&1"


# The optimizers' exact checks (LH4, U2) need torch: they run in the training environment, once
# for every study, and the ledger reads their numbers.
rule optimizer_checks:
    input:
        code=get_code("training.checks"),
    output:
        "results/checks/optimizers.json",
    log:
        "logs/optimizer_checks.log",
    benchmark:
        "results/benchmarks/optimizer_checks.tsv"
    localrule: True
    conda:
        "../envs/train.yaml"
    shell:
        "python -m adamw_repro.training.checks --out {output} > {log} 2>&1"


rule ledger:
    input:
        runs=rules.aggregate.output.runs,
        curves=rules.aggregate.output.curves,
        norms=rules.aggregate.output.norms,
        selection=rules.select_hparams.output[0],
        checks=rules.optimizer_checks.output[0],
        code=get_code("analysis.ledger"),
    output:
        stats=report(
            f"results/{S}tables/stats.csv", caption="../report/stats.rst", category="Tables"
        ),
        ledger=report(
            f"results/{S}tables/ledger.csv", caption="../report/ledger.rst", category="Tables"
        ),
        regime=report(
            f"results/{S}tables/regime.csv", caption="../report/regime.rst", category="Tables"
        ),
        decomposition=report(
            f"results/{S}tables/decomposition.csv",
            caption="../report/decomposition.rst",
            category="Tables",
        ),
        map=report(f"results/{S}tables/map.csv", caption="../report/map.rst", category="Tables"),
    log:
        f"logs/{S}ledger.log",
    benchmark:
        f"results/{S}benchmarks/ledger.tsv"
    localrule: True
    conda:
        "../envs/analysis.yaml"
    params:
        config=get_json("optimizers", "seeds", "study", "train", "model", "corpus"),
    shell:
        "python -m adamw_repro.analysis.ledger --config {params.config:q} --runs {input.runs}"
        " --curves {input.curves} --norms {input.norms} --selection {input.selection}"
        " --checks {input.checks}"
        " --out-stats {output.stats} --out-ledger {output.ledger} --out-regime {output.regime}"
        " --out-decomposition {output.decomposition} --out-map {output.map} > {log} 2>&1"


rule results_table:
    input:
        runs=rules.aggregate.output.runs,
        selection=rules.select_hparams.output[0],
        code=get_code("report.tables"),
    output:
        csv=report(
            f"results/{S}tables/results.csv", caption="../report/results.rst", category="Tables"
        ),
        tex=f"results/{S}tables/results.tex",
        search_csv=report(
            f"results/{S}tables/search_space.csv",
            caption="../report/search_space.rst",
            category="Tables",
        ),
        search_tex=f"results/{S}tables/search_space.tex",
    log:
        f"logs/{S}results_table.log",
    benchmark:
        f"results/{S}benchmarks/results_table.tsv"
    localrule: True
    conda:
        "../envs/report.yaml"
    params:
        config=get_json("optimizers", "seeds", "study", "train", "model"),
    shell:
        "python -m adamw_repro.report.tables --runs {input.runs} --config {params.config:q}"
        " --selection {input.selection} --out-csv {output.csv} --out-tex {output.tex}"
        " --out-search-csv {output.search_csv} --out-search-tex {output.search_tex} > {log} 2>&1"
