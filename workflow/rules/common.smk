import json
import os
import shlex
import sys
from pathlib import Path

from adamw_repro.design import all_runs, extension_groups, train_spec, training_jobs, tuning_runs

REPO = Path(workflow.basedir)  # code and templates live here; outputs go to the working directory
CONDA_ENV = "../../environment.yml"  # per rule, for --software-deployment-method conda

# Jobs call `python -m adamw_repro...`: by default that is the interpreter running Snakemake (the
# project's environment, even if not activated: `.venv/bin/snakemake`), and it finds this
# checkout's package whether or not it was pip-installed (conda environments, cluster nodes).
os.environ.update(
    PATH=os.pathsep.join(filter(None, [str(Path(sys.executable).parent), os.environ.get("PATH")])),
    PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])),
)


def summaries(runs, name="summary.json"):
    return [run.path("results/runs", name) for run in runs]


def train_args(runs):
    """The train command's per-run arguments: the spec (only training-relevant config, so other
    edits never retrain), where its files go, and its checkpoint, kept outside the outputs so
    that it survives a failed or cancelled job to be resumed from."""
    args = []
    for r in runs:
        spec = json.dumps(train_spec(config, r), sort_keys=True)
        args += ["--spec", spec, "--out-dir", f"results/runs/{r.run_id}"]
        args += ["--checkpoint", f"results/checkpoints/{r.run_id}.pt"]
    return shlex.join(args)


def get_tuning_summaries(wildcards):
    return summaries(tuning_runs(config))


def get_searched_summaries(wildcards):
    """The first round and the extensions its edges asked for (known once find_edges ran)."""
    with open(checkpoints.find_edges.get().output[0]) as fh:
        needed = json.load(fh)["extensions"]
    groups = extension_groups(config)
    return summaries(tuning_runs(config) + [r for name in needed for r in groups[name]])


def get_selection():
    """What tuning selected; known only once the select_hparams checkpoint has run."""
    with open(checkpoints.select_hparams.get().output[0]) as fh:
        return json.load(fh)


def get_study_summaries(wildcards):
    return summaries(all_runs(config, get_selection()))


def get_json(*sections):
    """Config sections as JSON, for rules whose outputs depend on exactly these."""
    return json.dumps({s: config[s] for s in sections}, sort_keys=True)


def get_train_runtime(n_runs):
    """Minutes for a training job of n_runs runs; a retry asks for attempt × that."""
    minutes = config["resources"]["train"]["runtime"]
    return lambda wildcards, attempt: minutes * n_runs * attempt


def get_job_file(folder, job, ext):
    """A training job's log or benchmark file; an evaluation job has one per setting."""
    setting = ["{setting}"] if "{setting}" in job.run_ids[0] else []
    return f"{Path(folder, job.name, *setting)}.{ext}"


def get_code(module):
    """A package module as an input: editing it reruns the rules listing it and what follows."""
    return str(REPO / "src" / "adamw_repro" / f"{module}.py")


def get_figures(ext):
    return expand("results/figures/{figure}.{ext}", figure=FIGURES, ext=ext)
