"""The optimizers under comparison, as facts: name, label, family, kind of decay, colour, in
the order every table and figure uses. Torch-free, so config validation, planning and every
stage after training read it without importing torch (about 1.4 s per process); the factories
that build each one are ``optim.FACTORIES``. Adding an optimizer is an entry here, its factory
there, its section in the config schema and its grid in a config."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Optimizer:
    description: str
    label: str  # in tables and figures
    family: (
        str  # a family shares one learning-rate grid; its decay-free member is the wd = 0 column
    )
    decay: str | None  # None, "coupled" (L2 in the gradient) or "decoupled"
    color: str  # in every figure


OPTIMIZERS = {
    "sgd": Optimizer("SGD with momentum, no weight decay", "SGD", "sgd", None, "#7f7f7f"),
    "sgd_l2": Optimizer(
        "SGD with momentum, L2 penalty in the gradient (coupled)",
        "SGD+L2", "sgd", "coupled", "#bcbd22",
    ),
    "sgdw": Optimizer(
        "SGD with momentum, decoupled weight decay (L&H Alg. 1)",
        "SGDW", "sgd", "decoupled", "#2ca02c",
    ),
    "adam": Optimizer("Adam, no weight decay", "Adam", "adam", None, "#000000"),
    "adam_l2": Optimizer(
        "Adam, L2 penalty in the gradient (coupled)",
        "Adam+L2", "adam", "coupled", "#ff7f0e",
    ),
    "adamw": Optimizer(
        "AdamW, decoupled weight decay multiplied by the learning rate (PyTorch's AdamW)",
        "AdamW", "adam", "decoupled", "#1f77b4",
    ),
    "adamw_independent": Optimizer(
        "AdamW with the decay scaled by the schedule only, not the learning rate (L&H Alg. 2 "
        "as written; weight_decay is their λ)",
        "AdamW (λ)", "adam", "decoupled", "#9467bd",
    ),
}  # fmt: skip
DECAYING = {name for name, o in OPTIMIZERS.items() if o.decay}
LABELS = {name: o.label for name, o in OPTIMIZERS.items()}


def optimizer_order(names) -> list[str]:
    """``names`` in the canonical order of ``OPTIMIZERS`` (tables and figures agree on it)."""
    return [o for o in OPTIMIZERS if o in set(names)]


def families() -> dict[str, list[str]]:
    """Optimizer names by family, in canonical order."""
    out = {}
    for name, o in OPTIMIZERS.items():
        out.setdefault(o.family, []).append(name)
    return out


def decay_free_member(name: str) -> str | None:
    """The member of ``name``'s family without decay (Adam for AdamW and Adam+L2, SGD for the
    SGD family), whose cells are the family's wd = 0 column; None for that member itself."""
    if OPTIMIZERS[name].decay is None:
        return None
    family = OPTIMIZERS[name].family
    return next(o for o in families()[family] if OPTIMIZERS[o].decay is None)
