rule paper:
    input:
        template=REPO / "paper" / "paper.tex.j2",
        bib=REPO / "paper" / "references.bib",
        code=[get_code("paper"), get_code("latex"), get_code("figures")],
        meta=rules.tokenize.output.meta,
        runs=rules.aggregate.output.runs,
        timing=rules.aggregate.output.timing,
        provenance=rules.aggregate.output.provenance,
        table=rules.results_table.output.csv,
        table_tex=rules.results_table.output.tex,
        search_tex=rules.results_table.output.search_tex,
        ledger=rules.ledger.output.ledger,
        regime=rules.ledger.output.regime,
        search=rules.results_table.output.search_csv,
        figures=get_figures("pdf"),
    output:
        report("results/paper/paper.pdf", caption="../report/paper.rst", category="Paper"),
    params:
        config=json.dumps(config, sort_keys=True),
    conda:
        CONDA_ENV
    log:
        "logs/paper.log",
    benchmark:
        "results/benchmarks/paper.tsv"
    shell:
        "python -m adamw_repro.paper --config {params.config:q} --template {input.template} --bib {input.bib}"
        " --meta {input.meta} --runs {input.runs} --table {input.table} --table-tex {input.table_tex} --search-tex {input.search_tex} --ledger {input.ledger} --regime {input.regime} --search {input.search} --figures {input.figures} --timing {input.timing}"
        " --provenance {input.provenance} --build-dir results/paper/build --out {output} > {log} 2>&1"
