"""Report: LaTeX tables (aggregate.smk's results_table), figures (figures.smk) and the paper
(paper.smk)."""
