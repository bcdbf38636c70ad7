"""How a study's training runs are laid out in Snakemake jobs (workflow/rules/train.smk): the
first round's runs batched to fit the cores, and one job per later cell or setting. The layout
never touches a run's identity, which is its spec file (design.train_spec)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import decay_key
from .design import (
    ablation_runs,
    ablation_seeds,
    eval_seeds,
    finalist_seeds,
    grid_cells,
    is_tuned,
    search_seeds,
    selected_runs,
    tuning_runs,
)


def batches(runs: list, size: int, slots: int, name: str) -> dict[str, list]:
    """``runs`` in jobs of at most ``size``, named ``name_0``, ``name_1``, ..., as even as
    possible, and as many as the next multiple of ``slots`` (the training jobs that run at once)
    where each job keeps two runs or more: a phase of nine jobs on two cores would end with one
    core idle for a whole job, and a job of one run where two would fit pays its ~5 s start-up
    for less work than that on the smallest profiles."""
    n = -(-len(runs) // size)
    n = max(n, min(-(-n // slots) * slots, len(runs) // 2))
    if not n:
        return {}
    cut = [round(k * len(runs) / n) for k in range(n + 1)]
    return {f"{name}_{k}": runs[cut[k] : cut[k + 1]] for k in range(n)}


@dataclass(frozen=True)
class Job:
    """One training job: the run ids it trains, one after another in one process. The ids of a
    job that trains cells chosen later (an extension, a finalist, an evaluation) hold
    ``{setting}``, a wildcard of its Snakemake rule; ``exclude`` lists the settings that wildcard
    must not take (the first round's cells, which the tune jobs train)."""

    name: str
    run_ids: tuple[str, ...]
    exclude: tuple[str, ...] = ()


def evaluation_settings(config: dict) -> int:
    """The most settings the evaluation can train (each optimizer's selected one, each half's
    and each ablation's), reached when no two coincide: selections with different learning
    rates and positive decays everywhere."""
    k = iter(range(1, 1000))

    def chosen():
        return {o: {"lr": float(next(k)), "weight_decay": 1.0 if decay_key(hp) else 0.0}
                for o, hp in config["optimizers"].items()}  # fmt: skip

    selection = {"selected": chosen(), "half_a": chosen(), "half_b": chosen()}
    if {"adam_l2", "adamw"} <= set(config["optimizers"]):  # as analysis.selection.select
        selection["matched"] = {"adamw": {"lr": float(next(k)), "weight_decay": 1.0}}
    runs = [r for which in ("selected", "half_a", "half_b")
            for r in selected_runs(config, selection, which)]  # fmt: skip
    runs += [r for rs in ablation_runs(config, selection).values() for r in rs]
    return len({(r.optimizer, r.setting) for r in runs})


def training_jobs(config: dict, slots: int = 1) -> list[Job]:
    """Every training job a study may need. The first tuning round: at most
    ``resources.train.runs_per_job`` runs a job, as few jobs as that allows with a multiple of
    ``slots`` (``batches``). Cells chosen later, per optimizer: an extension cell on the search
    seeds, a finalist on the other half (a job per cell), and a setting's evaluation seeds (the
    ablation seeds in jobs of their own, so that an ablation on fewer seeds trains no more). The
    settings are wildcards that the search and the selection fill in; Snakemake runs only the
    jobs whose files are asked for. The layout is free to change between calls: a run's
    identity is its spec file, never the job that trained it (workflow/rules/train.smk)."""
    size = config["resources"]["train"]["runs_per_job"]
    jobs = batches(tuning_runs(config), size, slots, "tune")
    out = [Job(name, tuple(r.run_id for r in runs)) for name, runs in jobs.items()]
    if is_tuned(config):
        first = {c.optimizer: [] for c in grid_cells(config)}
        for c in grid_cells(config):
            first[c.optimizer].append(c.setting)
        for o in config["optimizers"]:
            # extension rounds' cells and the map's refined ones, on the search seeds
            if config["study"]["extension_rounds"] or config["study"]["map"]:
                ids = tuple(f"{o}/{{setting}}/seed{s}" for s in search_seeds(config))
                out.append(Job(f"extend_{o}", ids, tuple(first[o])))
            if finalist_seeds(config):
                ids = tuple(f"{o}/{{setting}}/seed{s}" for s in finalist_seeds(config))
                out.append(Job(f"finalist_{o}", ids))
    # the settings' jobs together make a multiple of slots: each setting gets as many as that
    # takes, e.g. 2 jobs for each of 7 settings on 2 cores, 1 for each of 6
    per_setting = slots // math.gcd(evaluation_settings(config), slots)
    for o in config["optimizers"]:
        seeds = eval_seeds(config, o)
        k = len(ablation_seeds(config, o))
        chunks = [c for part in (seeds[:k], seeds[k:])
                  for c in batches(part, size, per_setting, "").values()]  # fmt: skip
        for i, chunk in enumerate(chunks):
            out.append(Job(f"evaluate_{o}_{i}", tuple(f"{o}/{{setting}}/seed{s}" for s in chunk)))
    return out
