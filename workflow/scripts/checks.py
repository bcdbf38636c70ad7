# The rule's named files and params into the stage's run() (adamw_repro/stage.py).
from adamw_repro.stage import from_rule
from adamw_repro.training.checks import run

from_rule(run, snakemake)  # noqa: F821 (Snakemake's script: directive defines it)
