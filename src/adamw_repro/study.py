"""The runs a study consists of, and where each one's files live.

Protocol (AlgoPerf-style fair tuning): every optimizer gets the same number of trials, a grid
over learning rate (and weight decay where it has one), all at ``study.tuning_seed``. The trial
with the lowest final validation loss is selected (validation only; ties go to the smaller
learning rate, then the smaller weight decay) and rerun on every evaluation seed. Two ablations
reuse AdamW's selected learning rate: AdamW without decay, and Adam, which must then be the same
algorithm. A config whose grids all hold one point skips tuning.

A run is one (optimizer, learning rate, weight decay, seed). Values appear in paths formatted with
``%g`` (``0.003``, ``1e-05``), which round-trips every value a config holds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from .optim import DECAYING


def fmt(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True, order=True)
class Run:
    optimizer: str
    lr: float
    weight_decay: float
    seed: int

    @property
    def run_id(self) -> str:
        return f"{self.optimizer}/lr{fmt(self.lr)}_wd{fmt(self.weight_decay)}/seed{self.seed}"

    def path(self, root: str, name: str) -> str:
        return f"{root}/{self.run_id}/{name}"


def trials(config: dict, optimizer: str) -> list[tuple[float, float]]:
    """The (lr, weight_decay) grid of one optimizer; weight decay is 0 where it has none."""
    hp = config["optimizers"][optimizer]
    decays = hp.get("weight_decay", [0.0]) if optimizer in DECAYING else [0.0]
    return list(itertools.product(hp["lr"], decays))


def is_tuned(config: dict) -> bool:
    return any(len(trials(config, o)) > 1 for o in config["optimizers"])


def tuning_runs(config: dict) -> list[Run]:
    if not is_tuned(config):
        return []
    seed = config["study"]["tuning_seed"]
    return [Run(o, lr, wd, seed) for o in config["optimizers"] for lr, wd in trials(config, o)]


def tuning_batches(config: dict) -> dict[str, list[Run]]:
    """Tuning trials grouped into jobs of ``resources.train.runs_per_job`` runs (one optimizer
    per job), by job name. Empty when every run is its own job."""
    size = config["resources"]["train"]["runs_per_job"]
    if size == 1:
        return {}
    runs, batches = tuning_runs(config), {}
    for o in config["optimizers"]:
        mine = [r for r in runs if r.optimizer == o]
        for k in range(0, len(mine), size):
            batches[f"tune_{o}_{k // size}"] = mine[k : k + size]
    return batches


def selected_runs(config: dict, selection: dict) -> list[Run]:
    """Each optimizer's selected configuration on every evaluation seed (optimizers whose
    trials all diverged have no selection and no evaluation runs)."""
    return [
        Run(o, s["lr"], s["weight_decay"], seed)
        for o, s in selection.items()
        if s is not None
        for seed in config["seeds"]
    ]


def ablation_runs(config: dict, selection: dict) -> list[Run]:
    """At AdamW's selected learning rate: AdamW without decay (what decay changes) and Adam
    (with decay off, AdamW and Adam are one algorithm)."""
    best = selection.get("adamw")
    if best is None:
        return []
    runs = [Run("adamw", best["lr"], 0.0, seed) for seed in config["seeds"]]
    if "adam" in config["optimizers"]:
        runs += [Run("adam", best["lr"], 0.0, seed) for seed in config["seeds"]]
    return runs


def all_runs(config: dict, selection: dict) -> list[Run]:
    """Every run of the study, once each (a run can serve several roles)."""
    runs = tuning_runs(config) + selected_runs(config, selection) + ablation_runs(config, selection)
    return sorted(set(runs))


def train_spec(config: dict, optimizer: str, lr: float, weight_decay: float, seed: int) -> dict:
    """Everything one training job needs from the config (and nothing else, so that editing,
    say, the paper title does not invalidate trained runs)."""
    run = Run(optimizer, lr, weight_decay, seed)
    hparams = {k: v for k, v in config["optimizers"][optimizer].items() if k != "weight_decay"}
    hparams["lr"] = lr
    if optimizer in DECAYING:
        hparams["weight_decay"] = weight_decay
    train = config["train"]
    if seed == config["study"]["tuning_seed"] and not config["study"]["tuning_curves"]:
        train = {**train, "eval_interval": 0}  # a tuning trial: selection reads its final score
    return {
        "run_id": run.run_id,
        "optimizer": optimizer,
        "hparams": hparams,
        "seed": seed,
        "model": config["model"],
        "train": train,
    }
