"""The runs a study consists of, and where each one's files live.

A run is one (optimizer, learning rate, weight decay, seed). Hyperparameter values appear in
paths formatted with ``%g`` (``0.003``, ``1e-05``), which round-trips every value a config holds.
"""

from __future__ import annotations

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


def planned_runs(config: dict) -> list[Run]:
    """Every optimizer of the config, at its hyperparameters, on every seed."""
    return [
        Run(name, hp["lr"], hp.get("weight_decay", 0.0) if name in DECAYING else 0.0, seed)
        for name, hp in config["optimizers"].items()
        for seed in config["seeds"]
    ]


def train_spec(config: dict, optimizer: str, lr: float, weight_decay: float, seed: int) -> dict:
    """Everything one training job needs from the config (and nothing else, so that editing,
    say, the paper title does not invalidate trained runs)."""
    run = Run(optimizer, lr, weight_decay, seed)
    hparams = dict(config["optimizers"][optimizer], lr=lr)
    if optimizer in DECAYING:
        hparams["weight_decay"] = weight_decay
    return {
        "run_id": run.run_id,
        "optimizer": optimizer,
        "hparams": hparams,
        "seed": seed,
        "model": config["model"],
        "train": config["train"],
    }
