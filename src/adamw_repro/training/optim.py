"""How the optimizers of the registry are built, their parameter groups, and the small
closed-form experiments the claims ledger runs on them.

Weight-decay conventions (GUIDE §4). PyTorch multiplies decoupled decay by the current learning
rate: one AdamW step is θ ← θ − lr_t·wd·θ − lr_t·m̂/(√v̂ + ε). Loshchilov & Hutter's λ is scaled by
the schedule multiplier η_t only, so λ_LH = lr·wd. Coupled (L2) decay adds wd·θ to the gradient
before the optimizer sees it; for Adam it then passes through the adaptive denominator.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from ..registry import DECAYING, OPTIMIZERS


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


def decayed_parameters(model: nn.Module, decay_embeddings: bool) -> list[nn.Parameter]:
    """The tensors weight decay acts on: the matrices (dim ≥ 2), embedding tables (and the
    output layer tied to the token embedding) only if ``decay_embeddings``; never biases or
    LayerNorm gains. Also what a run's curve of its decayed-weight norm is taken over."""
    embedding_ids = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    return [
        p for p in model.parameters()  # deduplicated: the tied lm_head weight appears once
        if p.requires_grad and p.dim() >= 2 and (decay_embeddings or id(p) not in embedding_ids)
    ]  # fmt: skip


def param_groups(model: nn.Module, weight_decay: float, decay_embeddings: bool) -> list[dict]:
    """Two groups: the decayed tensors (``decayed_parameters``) and every other one."""
    decay = decayed_parameters(model, decay_embeddings)
    ids = {id(p) for p in decay}
    no_decay = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _adam_args(hp: dict, fused: bool) -> dict:
    kw = dict(lr=float(hp["lr"]), betas=tuple(hp["betas"]), eps=float(hp["eps"]))
    kw["fused" if fused else "foreach"] = True
    return kw


def _sgd(groups, hp, fused):  # the decay, if any, is added to the gradient: coupled L2
    return torch.optim.SGD(groups, lr=float(hp["lr"]), momentum=float(hp["momentum"]), foreach=True)


def _sgdw(groups, hp, fused):
    return SGDW(groups, lr=float(hp["lr"]), momentum=float(hp["momentum"]))


def _adam(groups, hp, fused):  # the decay, if any, is added to the gradient: coupled L2
    return torch.optim.Adam(groups, decoupled_weight_decay=False, **_adam_args(hp, fused))


def _adamw(groups, hp, fused):
    return torch.optim.AdamW(groups, **_adam_args(hp, fused))


def _adamw_independent(groups, hp, fused):
    # Loshchilov & Hutter's Algorithm 2 as written: θ ← θ − η_t·λ·θ − η_t·α·m̂/(√v̂ + ε), the decay
    # scaled by the schedule only. PyTorch scales it by lr_t = α·η_t, so it gets wd = λ/α.
    for g in groups:
        g["weight_decay"] /= float(hp["lr"])
    return torch.optim.AdamW(groups, **_adam_args(hp, fused))


# How each optimizer of the registry is built: (parameter groups, hyperparameters, fused) ->
# torch optimizer.
FACTORIES: dict[str, Callable] = {
    "sgd": _sgd,
    "sgd_l2": _sgd,
    "sgdw": _sgdw,
    "adam": _adam,
    "adam_l2": _adam,
    "adamw": _adamw,
    "adamw_independent": _adamw_independent,
}
assert FACTORIES.keys() == OPTIMIZERS.keys()


def build_optimizer(
    name: str, model: nn.Module, hp: dict, decay_embeddings: bool = True, fused: bool = False
) -> torch.optim.Optimizer:
    """Build optimizer ``name`` with hyperparameters ``hp``: all that it takes (lr, and
    weight_decay, momentum, betas, eps where it has them), as a run spec carries them; the
    config schema holds the defaults (``design.run_hparams`` fills them in outside a study).
    ``fused`` selects torch's single-kernel Adam/AdamW (CPU and CUDA)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {sorted(OPTIMIZERS)}")
    wd = float(hp["weight_decay"]) if name in DECAYING else 0.0
    return FACTORIES[name](param_groups(model, wd, decay_embeddings), hp, fused)


def decay_gradient_dependence(eps: float = 0.0, warmup: int = 100) -> dict:
    """How far one step's decay term moves a weight with a small gradient history relative to
    one with a large history (10^4 times larger gradients), under Adam+L2 and under AdamW.

    Both weights start at 1 and first take ``warmup`` steps without decay, so Adam's second
    moments are warmed up (on a first step Adam's update is sign-like and any ratio would come
    from ε alone). Then one step with decay and one without are taken from that same state; the
    decay displacement is their difference. Returns each ratio (small history / large) and the
    ratio of the gradients' root mean squares that Adam+L2's should follow."""
    grads = torch.tensor([[1e-4, 1.0]], dtype=torch.float64)
    hp = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": eps}
    out = {"gradient_rms_ratio": float(grads[0, 1] / grads[0, 0])}
    for name in ("adam_l2", "adamw"):
        m = nn.Module()
        m.w = nn.Parameter(torch.ones(1, 2, dtype=torch.float64))
        opt = build_optimizer(name, m, {**hp, "weight_decay": 0.0})
        for _ in range(warmup):
            m.w.grad = grads.clone()
            opt.step()
        state = copy.deepcopy(opt.state_dict()), m.w.detach().clone()
        after = {}
        for wd in (0.0, 1e-6):
            opt.load_state_dict(copy.deepcopy(state[0]))
            with torch.no_grad():
                m.w.copy_(state[1])
            for group in opt.param_groups:  # the no-decay group is empty here
                group["weight_decay"] = wd
            m.w.grad = grads.clone()
            opt.step()
            after[wd] = m.w.detach().clone().flatten()
        moved = (after[0.0] - after[1e-6]).abs()
        out[name] = float(moved[0] / moved[1])
    return out


def l2_equals_decoupled_without_momentum(steps: int = 50) -> float:
    """Loshchilov & Hutter's Prop. 1 for plain SGD (no momentum): L2 with coefficient w and
    decoupled decay w·lr per step are one algorithm. Trains one float64 least-squares problem
    both ways from the same start; returns the largest relative difference of the weights."""
    gen = torch.Generator().manual_seed(0)
    a, b = (
        torch.randn(8, 4, generator=gen, dtype=torch.float64),
        torch.randn(8, generator=gen, dtype=torch.float64),
    )
    theta0 = torch.randn(4, 1, generator=gen, dtype=torch.float64)
    final = []
    for name in ("sgd_l2", "sgdw"):
        m = nn.Module()
        m.w = nn.Parameter(theta0.T.clone())
        opt = build_optimizer(name, m, {"lr": 0.05, "weight_decay": 0.3, "momentum": 0.0})
        for _ in range(steps):
            opt.zero_grad()
            ((a @ m.w.T).squeeze(1) - b).pow(2).mean().backward()
            opt.step()
        final.append(m.w.detach().clone())
    return float(((final[0] - final[1]).abs() / final[0].abs()).max())
