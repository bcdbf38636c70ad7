rule aggregate:
    input:
        summaries=get_study_summaries,
        selection=rules.select_hparams.output.result,
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
    script:
        "../scripts/aggregate.py"


# The optimizers' exact checks (LH4, U2) need torch: they run in the training environment, once
# for every study, and the ledger reads their numbers.
rule optimizer_checks:
    input:
        code=get_code("training.checks"),
    output:
        checks="results/checks/optimizers.json",
    log:
        "logs/optimizer_checks.log",
    benchmark:
        "results/benchmarks/optimizer_checks.tsv"
    localrule: True
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/checks.py"


rule ledger:
    input:
        runs=rules.aggregate.output.runs,
        curves=rules.aggregate.output.curves,
        norms=rules.aggregate.output.norms,
        selection=rules.select_hparams.output.result,
        checks=rules.optimizer_checks.output.checks,
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
    script:
        "../scripts/ledger.py"


rule results_table:
    input:
        runs=rules.aggregate.output.runs,
        selection=rules.select_hparams.output.result,
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
    script:
        "../scripts/tables.py"
