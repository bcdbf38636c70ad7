FIGURES = [
    "heatmaps_adam",
    "heatmaps_sgd",
    "train_val_curves",
    "final_val_loss",
    "weight_norms",
    "best_decay_vs_lr",
]


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
    conda:
        CONDA_ENV
    log:
        "logs/figures/{figure}.log",
    benchmark:
        "results/benchmarks/figures/{figure}.tsv"
    shell:
        "python -m adamw_repro.figures {wildcards.figure} --runs {input.runs}"
        " --curves {input.curves} --out {output.pdf} > {log} 2>&1"
