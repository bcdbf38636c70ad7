"""Optimizers under comparison, their parameter groups and the learning-rate schedule.

Weight-decay conventions (GUIDE §4). PyTorch multiplies decoupled decay by the current learning
rate: one AdamW step is θ ← θ − lr_t·wd·θ − lr_t·m̂/(√v̂ + ε). Loshchilov & Hutter's λ is scaled by
the schedule multiplier η_t only, so λ_LH = lr·wd. Coupled (L2) decay adds wd·θ to the gradient
before the optimizer sees it; for Adam it then passes through the adaptive denominator.
"""

from __future__ import annotations

import math

import torch
from torch import nn

OPTIMIZERS = {
    "sgd": "SGD with momentum, no weight decay",
    "sgd_l2": "SGD with momentum, L2 penalty in the gradient (coupled)",
    "sgdw": "SGD with momentum, decoupled weight decay (L&H Alg. 1)",
    "adam": "Adam, no weight decay",
    "adam_l2": "Adam, L2 penalty in the gradient (coupled)",
    "adamw": "AdamW, decoupled weight decay (L&H Alg. 2)",
}
DECAYING = {"sgd_l2", "sgdw", "adam_l2", "adamw"}


class SGDW(torch.optim.SGD):
    """SGD with momentum and decoupled weight decay: θ ← θ·(1 − lr_t·wd) − (momentum step).

    The decay acts on θ_{t−1} and bypasses the momentum buffer, as in Loshchilov & Hutter's
    Algorithm 1; ``weight_decay`` here is in PyTorch's lr-scaled units, like ``AdamW``.
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
        params = list(params)
        groups = [dict(g) for g in params] if isinstance(params[0], dict) else [{"params": params}]
        for g in groups:  # keep the decay away from torch's SGD, which would add it to the gradient
            g["decoupled_wd"] = g.pop("weight_decay", weight_decay)
        super().__init__(groups, lr=lr, momentum=momentum, weight_decay=0.0)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            wd = group["decoupled_wd"]
            params = [p for p in group["params"] if p.grad is not None]
            if wd and params:
                torch._foreach_mul_(params, 1.0 - group["lr"] * wd)
        return super().step(closure)


def param_groups(model: nn.Module, weight_decay: float, decay_embeddings: bool) -> list[dict]:
    """Two groups: matrices decay; biases and LayerNorm gains (dim < 2) never do. Embedding
    tables (and the output layer tied to the token embedding) decay only if asked."""
    embedding_ids = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    decay, no_decay = [], []
    for p in model.parameters():  # deduplicated: the tied lm_head weight appears once
        if not p.requires_grad:
            continue
        is_embedding = id(p) in embedding_ids
        wants_decay = p.dim() >= 2 and (decay_embeddings or not is_embedding)
        (decay if wants_decay else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def build_optimizer(
    name: str, model: nn.Module, hp: dict, decay_embeddings: bool = True, fused: bool = False
) -> torch.optim.Optimizer:
    """Build optimizer ``name`` with hyperparameters ``hp`` (lr, weight_decay, momentum, betas,
    eps). ``fused`` selects torch's single-kernel Adam/AdamW (CPU and CUDA)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {sorted(OPTIMIZERS)}")
    wd = float(hp.get("weight_decay", 0.0)) if name in DECAYING else 0.0
    groups = param_groups(model, wd, decay_embeddings)
    lr = float(hp["lr"])
    if name.startswith("sgd"):
        momentum = float(hp.get("momentum", 0.9))
        if name == "sgdw":
            return SGDW(groups, lr=lr, momentum=momentum)
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, foreach=True)
    adam_kw = dict(
        lr=lr, betas=tuple(hp.get("betas", (0.9, 0.999))), eps=float(hp.get("eps", 1e-8))
    )
    adam_kw["fused" if fused else "foreach"] = True
    if name == "adamw":
        return torch.optim.AdamW(groups, **adam_kw)
    # adam and adam_l2: the decay (zero for adam) is added to the gradient, i.e. coupled L2
    return torch.optim.Adam(groups, decoupled_weight_decay=False, **adam_kw)


def lr_multiplier(
    step: int, total_steps: int, warmup_steps: int, schedule: str, min_ratio: float
) -> float:
    """η_t: linear warmup over ``warmup_steps`` then cosine from 1 to ``min_ratio`` at the last
    step (``schedule='cosine'``) or flat at 1 (``'constant'``)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    span = max(1, total_steps - 1 - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
