"""The optimizers' exact checks that the ledger judges (LH4, U2), run by the training stage's
environment so that the analysis stage needs no torch: L&H's Proposition 1 for momentum-free
SGD (L2 and decoupled decay trained alike in float64) and how far one step's decay term moves
weights with different gradient histories under Adam+L2 and AdamW. Written to one small JSON
file that the ledger reads; editing ``optim.py`` reruns this and the ledger, never training."""

from __future__ import annotations

from .. import atomic
from .optim import decay_gradient_dependence, l2_equals_decoupled_without_momentum


def measure() -> dict:
    """``lh4_relative_difference``: the largest relative weight difference of SGD+L2 and SGDW;
    ``u2`` and ``u2_eps``: ``decay_gradient_dependence`` with ε = 0 and ε = 1e-8."""
    return {
        "lh4_relative_difference": l2_equals_decoupled_without_momentum(),
        "u2": decay_gradient_dependence(eps=0.0),
        "u2_eps": decay_gradient_dependence(eps=1e-8),
    }


def run(input, output, params) -> None:
    """The optimizer_checks rule: the exact checks the ledger judges, as JSON (stage.py)."""
    checks = measure()
    atomic.write_json(output["checks"], checks)
    print(f"LH4: SGD+L2 and SGDW differ by {checks['lh4_relative_difference']:.2g} (relative)")
    print(f"U2: decay ratio {checks['u2']['adam_l2']:.4g} (Adam+L2), {checks['u2']['adamw']:.6f}"
          " (AdamW)")  # fmt: skip
