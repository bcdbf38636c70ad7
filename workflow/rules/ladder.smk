# The cross-study stage of a ladder: after every study's ledger, one table of all studies
# (analysis/scale.py), the claims that need several studies and the lines its figures draw
# (analysis/ladder_claims.py, ladder_fits.py), and every study's ledger and runs joined; its
# figures read only these.


rule ladder:
    input:
        runs=expand(rules.aggregate.output.runs, study=STUDIES),
        ledgers=expand(rules.ledger.output.ledger, study=STUDIES),
        regimes=expand(rules.ledger.output.regime, study=STUDIES),
        metas=[get_data_file(rules.tokenize.output.meta, study) for study in STUDIES],
        code=get_code("analysis.ladder"),
    output:
        studies=report(
            "results/ladder/studies.csv", caption="../report/ladder.rst", category="Ladder"
        ),
        ledger=report(
            "results/ladder/ledger.csv", caption="../report/ladder.rst", category="Ladder"
        ),
        fits="results/ladder/fits.csv",
        ledgers="results/ladder/ledgers.csv",
        runs="results/ladder/runs.csv",
    log:
        "logs/ladder/ladder.log",
    benchmark:
        "results/ladder/benchmarks/ladder.tsv"
    localrule: True
    conda:
        "../envs/analysis.yaml"
    params:
        # a list, in the studies' order (a mapping's keys would be sorted by the JSON dump)
        configs=json.dumps(
            [
                [name, {k: c[k] for k in ("corpus", "model", "train", "study", "seeds")}]
                for name, c in STUDIES.items()
            ],
            sort_keys=True,
        ),
    script:
        "../scripts/ladder.py"


# The ladder's figures in one job (as the study's: rules/figures.smk).
rule ladder_figures:
    input:
        studies=rules.ladder.output.studies,
        fits=rules.ladder.output.fits,
        runs=rules.ladder.output.runs,
        code=get_code("report.ladder_figures"),
    output:
        pdf=get_ladder_figures("pdf"),
        png=figure_reports(get_ladder_figures("png"), "../report/ladder_figure.rst", "Ladder"),
    log:
        "logs/ladder/figures.log",
    benchmark:
        "results/ladder/benchmarks/figures.tsv"
    localrule: True
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/ladder_figures.py"
