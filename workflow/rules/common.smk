import json
import sys
from pathlib import Path

from adamw_repro.study import Run, fmt, planned_runs, train_spec

PYTHON = sys.executable  # the interpreter running snakemake, i.e. the project's environment
REPO = Path(workflow.basedir)  # code and templates live here; outputs go to the working directory
RUN_DIR = "results/runs/{optimizer}/lr{lr}_wd{wd}/seed{seed}"


wildcard_constraints:
    optimizer="[a-z0-9_]+",
    lr="[0-9.e+-]+",
    wd="[0-9.e+-]+",
    seed=r"\d+",
    figure="[a-z0-9_]+",


def get_run_summaries(wildcards):
    return [run.path("results/runs", "summary.json") for run in planned_runs(config)]


def get_train_spec(wildcards):
    """The run's spec as JSON: only training-relevant config, so other edits never retrain."""
    spec = train_spec(
        config, wildcards.optimizer, float(wildcards.lr), float(wildcards.wd), int(wildcards.seed)
    )
    return json.dumps(spec, sort_keys=True)


def get_code(module):
    """A package module as a rule input: editing it reruns that rule (and only what follows)."""
    return str(REPO / "src" / "adamw_repro" / f"{module}.py")


def get_figures(ext):
    return expand("results/figures/{figure}.{ext}", figure=FIGURES, ext=ext)
