import json
from snakemake.exceptions import WorkflowError
import os
import re
import shlex
import sys
from pathlib import Path

from adamw_repro.config import data_owners, left_out, min_tokens, study_configs
from adamw_repro.provenance import package_imports
from adamw_repro.report.catalog import figures_for, ladder_figures_for
from adamw_repro.design import (
    FINALISTS_FILE,
    SELECTION_FILE,
    Run,
    all_runs,
    finalist_runs,
    round_file,
    search_runs,
    train_spec,
)
from adamw_repro.jobs import training_jobs

# Jobs run the package's code (`script:` and `python -m adamw_repro...`): by default that is the interpreter running Snakemake (the
# project's environment, even if not activated: `.venv/bin/snakemake`). From a checkout they
# find its package whether or not it was pip-installed (conda environments, cluster nodes);
# deployed from git, the package is installed and nothing is added.
os.environ.update(
    PATH=os.pathsep.join(filter(None, [str(Path(sys.executable).parent), os.environ.get("PATH")]))
)
if FROM_CHECKOUT:
    os.environ.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))
    )


def repo_file(path):
    """A file of this project (``paper/paper.tex.j2``): the checkout's, or the source cache's copy
    of the deployed tag's, which Snakemake reruns on by its origin rather than the copy."""
    return REPO / path if FROM_CHECKOUT else workflow.source_path(f"../../{path}")


# The studies this workflow builds, by name. A config without `studies` is one study, named "",
# whose files sit directly under results/, resources/ and logs/; a ladder's studies each get a
# folder there, the `{study}` wildcard of every per-study rule.
STUDIES = study_configs(config)
LADDER = "" not in STUDIES
S = "{study}/" if LADDER else ""
MAIN_STUDY = next(iter(STUDIES))  # the paper's main study: the first one listed
# Studies with the same corpus and tokenizer share one split and token set (resources/ of the
# first of them): a ladder of sizes on one corpus prepares its data once.
DATA_OF = data_owners(STUDIES)
# A ladder run in parts (run_studies) sizes the data for every study, as the whole run does.
ALL_STUDIES = study_configs({**config, "run_studies": []}) if config["run_studies"] else STUDIES

SETTING = r"lr[0-9.e+-]+_wd[0-9.e+-]+(_emb)?"  # a run's hyperparameters in its path (design.Run)


wildcard_constraints:
    setting=SETTING,


if LADDER:

    wildcard_constraints:
        study="|".join(map(re.escape, STUDIES)),


def in_study(path, study):
    """A per-study path pattern for one study (its `{study}` filled in, other wildcards kept)."""
    return path.replace("{study}", study)


def get_config(wildcards):
    """The resolved config of the study a job belongs to."""
    return STUDIES[wildcards.get("study", "")]


def run_files(study, run_ids, name):
    return [f"results/{in_study(S, study)}runs/{run_id}/{name}" for run_id in run_ids]


def get_study_results(study):
    return f"results/{in_study(S, study)}"


def is_run_done(study, run):
    return os.path.exists(run_files(study, [run.run_id], "summary.json")[0])


def workflow_cores():
    """The cores Snakemake may use here; None for a cluster run without --cores."""
    try:
        return workflow.cores
    except WorkflowError:
        return None


def print_plan():
    """Before the first job: what will be trained, in which precision, and about how long it
    takes on this machine (adamw_repro.training.plan)."""
    from adamw_repro.training.plan import announce

    lines = announce(STUDIES, get_study_results, is_run_done, workflow_cores(), workflow.local_exec)
    print("\n".join(lines), file=sys.stderr, flush=True)


def training_slots(study):
    """How many of the study's training jobs run at once on this machine (1 on a cluster): each
    phase gets a multiple of this many jobs, so that no core waits out a phase's last job."""
    cores = workflow_cores() if workflow.local_exec else None
    return max(1, (cores or 1) // STUDIES[study]["train"]["threads"])


def summaries(study, runs):
    return run_files(study, [run.run_id for run in runs], "summary.json")


def get_run_spec(wildcards):
    """A run's spec (adamw_repro.design.train_spec) from its path: only the training-relevant
    config, so that other edits never retrain."""
    run = Run.parse(wildcards.optimizer, wildcards.setting, wildcards.seed)
    return json.dumps(train_spec(get_config(wildcards), run), sort_keys=True)


def train_args(study):
    """The train command's per-run arguments, from the job's own files (so they never count as
    the job's identity): each run's spec file, where its results go, and its checkpoint, kept
    outside the outputs so that it survives a failed or cancelled job to be resumed from; with
    train.tensorboard, where its event files go."""
    root = f"results/{in_study(S, study)}"

    def args(wildcards, input):
        out = []
        for spec in input.specs:
            run_id = str(Path(spec).parent.relative_to(f"{root}runs"))
            out += ["--spec", spec, "--out-dir", str(Path(spec).parent)]
            out += ["--checkpoint", f"{root}checkpoints/{run_id}.pt"]
            if STUDIES[study]["train"]["tensorboard"]:
                out += ["--tensorboard", f"{root}tensorboard/{run_id}"]
        return shlex.join(out)

    return args


def _read_checkpoint(checkpoint, **wildcards):
    with open(checkpoint.get(**wildcards).output[0]) as fh:
        return json.load(fh)


def get_earlier_rounds(wildcards):
    """The search rounds before this one (round ``wildcards.round``; all of them for the
    finalists and the selection), each a checkpoint."""
    study = wildcards.get("study", "")
    last = int(wildcards.get("round", STUDIES[study]["study"]["extension_rounds"] + 1))
    at = {"study": study} if LADDER else {}
    return [checkpoints.search_round.get(**at, round=str(k)).output[0] for k in range(1, last)]


def get_search_summaries(wildcards):
    """The grid and the cells of the earlier rounds on the search seeds (known once those rounds'
    checkpoints ran)."""
    study = wildcards.get("study", "")
    rounds = []
    for path in get_earlier_rounds(wildcards):
        with open(path) as fh:
            rounds.append(json.load(fh))
    return summaries(study, search_runs(STUDIES[study], rounds))


def get_finalist_summaries(wildcards):
    """Every search summary and those of the runs the finalists step added."""
    study = wildcards.get("study", "")
    chosen = _read_checkpoint(checkpoints.finalists, **wildcards)
    extra = finalist_runs(STUDIES[study], chosen)
    return [*get_search_summaries(wildcards), *summaries(study, extra)]


def get_study_summaries(wildcards):
    """Every run of the study; known only once the select_hparams checkpoint has run."""
    study = wildcards.get("study", "")
    selection = _read_checkpoint(checkpoints.select_hparams, **wildcards)
    return summaries(study, all_runs(STUDIES[study], selection))


def get_json(*sections):
    """Config sections of the job's study as JSON, for rules whose outputs depend on exactly
    these."""
    return lambda wildcards: json.dumps(
        {s: get_config(wildcards)[s] for s in sections}, sort_keys=True
    )


def get_section(section):
    """One config section of the job's study as JSON."""
    return lambda wildcards: json.dumps(get_config(wildcards)[section], sort_keys=True)


def get_data_file(path, study):
    """A data-stage output (``rules.tokenize.output.*``) as the study ``study`` reads it."""
    return in_study(path, DATA_OF[study])


def get_min_tokens(split):
    """Fewest tokens a split must hold for every study that reads it (config.min_tokens)."""
    return lambda wildcards: min_tokens(ALL_STUDIES, wildcards.get("study", ""), split)


def get_split_text(split):
    """A split's text: kept where it is small (the offline corpora, which the tests read), a
    temp() file deleted once tokenized where a study streams a hub corpus (the paper profile's
    gigabytes; splitting again is cheaper than keeping them)."""
    path = f"resources/{S}data/{split}.txt"
    hub = any(c["corpus"]["source"] == "hub" for c in STUDIES.values())
    return temp(path) if hub else path


def get_data_resources(key):
    return lambda wildcards: get_config(wildcards)["resources"]["data"][key]


def get_train_runtime(study, n_runs):
    """Minutes for a training job of n_runs runs; a retry asks for attempt × that."""
    minutes = STUDIES[study]["resources"]["train"]["runtime"]
    return lambda wildcards, attempt: minutes * n_runs * attempt


def get_job_file(folder, study, job, ext):
    """A training job's log or benchmark file in ``folder`` (a per-study pattern); an evaluation
    job has one per setting."""
    setting = ["{setting}"] if "{setting}" in job.run_ids[0] else []
    return f"{Path(in_study(folder, study), job.name, *setting)}.{ext}"


def get_setting_constraint(job):
    """A training job's constraint on its ``{setting}`` wildcard: an extension job's excludes
    the first round's cells, which the tune jobs train (so that no file has two rules)."""
    if not job.exclude:
        return {}
    grid = "|".join(map(re.escape, job.exclude))
    return {"setting": f"(?!(?:{grid})$){SETTING}"}


def get_code(module):
    """A stage's code as its inputs: the package module it runs and every package module that
    one imports (from the source, adamw_repro.provenance.package_imports), so editing any of
    them reruns the stage and what follows, and the list cannot drift from the imports."""
    return [str(p) for p in package_imports(module)]


def get_figures(ext):
    """The main study's figures (those whose optimizers it has)."""
    names = figures_for(STUDIES[MAIN_STUDY])
    return [f"results/{S}figures/{name}.{ext}" for name in names]


def get_ladder_figures(ext):
    """A ladder's figures: one per axis that some study lies on."""
    return [f"results/ladder/figures/{name}.{ext}" for name in ladder_figures_for(STUDIES)]


def figure_reports(paths, caption, category):
    """Figures as report items, each labelled with its name (one job draws them all)."""
    # (no line may start with `report(`: the .smk parser reads it as the report: keyword)
    labelled = [(p, {"figure": Path(p).stem}) for p in paths]
    return [report(p, caption=caption, category=category, labels=lab) for p, lab in labelled]


def get_ladder_inputs():
    """A ladder paper's extra inputs: the cross-study tables and figures (none for one study)."""
    if not LADDER:
        return {}
    tables = {f"ladder_{t}": f"results/ladder/{t}.csv" for t in ("studies", "ledger", "ledgers")}
    return tables | {"ladder_figures": get_ladder_figures("pdf")}


PILOT_MAP = (
    STUDIES[MAIN_STUDY]["paper"]["pilot_map"]
    if STUDIES[MAIN_STUDY]["paper"]["pilot_map"].get("csv")
    else None
)


def get_pilot_map_inputs():
    """The paper's pilot-map figure and its CSV, if the profile names a map."""
    if not PILOT_MAP:
        return {}
    return {
        "pilot_map": "results/paper/pilot_map.pdf",
        "pilot_map_csv": repo_file(PILOT_MAP["csv"]),
    }


def get_crosscheck_inputs():
    """The ledgers of this study run elsewhere that its paper compares (paper.crosscheck)."""
    return [repo_file(c["ledger"]) for c in STUDIES[MAIN_STUDY]["paper"]["crosscheck"]]


# The search's steps, each a checkpoint of one shape (train.smk): its step of
# analysis.selection, the file it writes, the name of its log, and what it reads: the trials'
# summaries and the earlier steps' files.
SEARCH_STEPS = {
    "search_round": (
        "round",
        round_file("{round}"),
        "search_round{round}",
        dict(summaries=get_search_summaries, rounds=get_earlier_rounds),
    ),
    "finalists": (
        "finalists",
        FINALISTS_FILE,
        "finalists",
        dict(summaries=get_search_summaries),  # the grid's and every round's cells
    ),
    "select_hparams": (
        "select",
        SELECTION_FILE,
        "select_hparams",
        dict(
            summaries=get_finalist_summaries,
            rounds=get_earlier_rounds,
            finalists=f"results/{S}{FINALISTS_FILE}",
        ),
    ),
}
