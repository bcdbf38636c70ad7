"""The training budget in steps and the learning-rate schedule: one place for the arithmetic
that the trainer, the study design (decay timescales in units of T) and the claims share."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    tokens_per_step: int  # batch_size × grad_accum × block_size
    total_steps: int  # T
    warmup_steps: int

    @property
    def tokens(self) -> int:
        return self.tokens_per_step * self.total_steps


def budget(train: dict, block_size: int) -> Budget:
    """Steps of one run for a ``train`` config section: ``train.tokens`` rounded down to whole
    steps (at least one), the first ``warmup_fraction`` of them warming up."""
    per_step = train["batch_size"] * train["grad_accum"] * block_size
    total = max(1, train["tokens"] // per_step)
    return Budget(per_step, total, min(total - 1, round(train["warmup_fraction"] * total)))


def data_and_epochs(train: dict, block_size: int, meta: dict) -> tuple[int, float]:
    """The tokens of the training subset a run cycles through (``train.data_tokens``, or the
    whole training split of ``meta`` when that is 0) and the epochs the run makes over it."""
    data_tokens = train["data_tokens"] or meta["train_tokens"]
    return data_tokens, budget(train, block_size).tokens / data_tokens


# Fraction of the steps that the warmup-stable-decay schedule spends cooling down.
WSD_COOLDOWN = 0.2


def lr_multiplier(
    step: int, total_steps: int, warmup_steps: int, schedule: str, min_ratio: float
) -> float:
    """η_t: linear warmup over ``warmup_steps``, then from 1 down to ``min_ratio`` at the last
    step by a cosine (``schedule='cosine'``) or a straight line (``'linear'``); flat at 1
    (``'constant'``); or flat, then a straight line to ``min_ratio`` over the last
    ``WSD_COOLDOWN`` of the steps (``'wsd'``, warmup-stable-decay)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    start = warmup_steps
    if schedule == "wsd":
        start = max(warmup_steps, total_steps - round(WSD_COOLDOWN * total_steps))
        if step < start:
            return 1.0
    span = max(1, total_steps - 1 - start)
    progress = min(1.0, (step - start) / span)
    if schedule == "cosine":
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return min_ratio + (1.0 - min_ratio) * (1.0 - progress)


def multipliers(train: dict, block_size: int) -> list[float]:
    """η_t for every step of a run."""
    b = budget(train, block_size)
    return [
        lr_multiplier(s, b.total_steps, b.warmup_steps, train["schedule"], train["min_lr_ratio"])
        for s in range(b.total_steps)
    ]


def timescale(lr, weight_decay, steps=1):
    """AdamW's decay timescale τ = 1/(lr·wd), in units of ``steps`` steps (τ/T for steps = T);
    the one conversion between PyTorch weight decay and τ. The map is its own inverse: the
    weight decay of timescale τ/T is ``timescale(lr, τ/T, T)``. Works on arrays."""
    return 1 / (lr * weight_decay * steps)


def decay_exposure(train: dict, block_size: int, lr: float, weight_decay: float) -> float:
    """Σ_t lr_t·wd over a run of decoupled decay: how many decay time constants it lasted (the
    weights' memory of their initialisation is scaled by about exp(−exposure))."""
    return lr * weight_decay * sum(multipliers(train, block_size))
