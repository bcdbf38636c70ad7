# The paper of the main study (the only study, or a ladder's first); a ladder's paper adds the
# cross-study section and every study's ledger (get_ladder_inputs).
rule paper:
    input:
        **get_ladder_inputs(),
        **get_pilot_map_inputs(),
        template=repo_file("paper/paper.tex.j2"),
        bib=repo_file("paper/references.bib"),
        code=get_code("report.paper"),
        meta=get_data_file(rules.tokenize.output.meta, MAIN_STUDY),
        runs=in_study(rules.aggregate.output.runs, MAIN_STUDY),
        timing=in_study(rules.aggregate.output.timing, MAIN_STUDY),
        provenance=in_study(rules.aggregate.output.provenance, MAIN_STUDY),
        table=in_study(rules.results_table.output.csv, MAIN_STUDY),
        table_tex=in_study(rules.results_table.output.tex, MAIN_STUDY),
        search_tex=in_study(rules.results_table.output.search_tex, MAIN_STUDY),
        ledger=in_study(rules.ledger.output.ledger, MAIN_STUDY),
        regime=in_study(rules.ledger.output.regime, MAIN_STUDY),
        decomposition=in_study(rules.ledger.output.decomposition, MAIN_STUDY),
        map=in_study(rules.ledger.output.map, MAIN_STUDY),
        selection=in_study(rules.select_hparams.output.result, MAIN_STUDY),
        search=in_study(rules.results_table.output.search_csv, MAIN_STUDY),
        figures=[in_study(f, MAIN_STUDY) for f in get_figures("pdf")],
        crosscheck=get_crosscheck_inputs(),
    output:
        pdf=report("results/paper/paper.pdf", caption="../report/paper.rst", category="Paper"),
    log:
        "logs/paper.log",
    benchmark:
        "results/benchmarks/paper.tsv"
    localrule: True
    conda:
        "../envs/report.yaml"
    params:
        config=json.dumps(STUDIES[MAIN_STUDY], sort_keys=True),
        left_out=left_out(config),
        build_dir="results/paper/build",
    script:
        "../scripts/paper.py"
