"""What the ledger's claims share: their sources, the verdict of a check, a paired measure of two
selections, what the seeds could show for a tie, and the optimizers' exact checks (measured by
the training environment, read here)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import stats

from ..registry import LABELS
from .claims import Measurement, Untested
from .evidence import Evidence
from .stats import detectable

LH, WA, DA, KO, USER = (
    "Loshchilov & Hutter 2019",
    "Wang & Aitchison 2025",
    "D'Angelo et al. 2024",
    "Kosson et al. 2024",
    "course article",
)


def conclude(parts: list[str], conclude: str, measurement: Measurement) -> Measurement:
    measurement.verdict = conclude
    measurement.detail = "; ".join(parts)
    return measurement


def paired_measure(metric: str, a: str, b: str) -> Callable:
    """A measure: ``metric`` of optimizer ``a``'s selection minus ``b``'s, paired by seed."""

    def measure(ev: Evidence) -> Measurement:
        ev.need(a, b)
        return ev.paired_effect(metric, ("evaluation", a), ("evaluation", b), LABELS[a], LABELS[b])

    return measure


def tie_reach(m: Measurement, margin: float) -> str:
    """What the seeds could show either way: the smallest effect beyond the margin found with
    80 % power, and how close to zero a mean must lie for the interval to fit inside ± the
    margin ("no difference that matters") at the measured seed noise."""
    sd = float(np.std(m.per_seed, ddof=1)) if m.per_seed is not None and m.n > 1 else math.nan
    if not math.isfinite(sd):
        return "too few seeds to say what they could show"
    half = stats.t.ppf(0.975, m.n - 1) * sd / math.sqrt(m.n)
    reach = margin - half
    tie = (
        f"a tie within ± {margin:g} is shown only for a mean within ± {reach:.4f}"
        if reach > 0
        else f"no tie within ± {margin:g} can be shown (the interval is ± {half:.4f} wide)"
    )
    return (
        f"at the paired seed sd of {sd:.4f} over {m.n} seeds, an effect of "
        f"{detectable(sd, m.n, margin):.4f} or more is found with 80 % power, and {tie}"
    )


TUNED = {"reselect": True}  # compares two tuned selections: re-measured with each half's

# what training.checks measures (it imports torch; this stage does not)
CHECK_KEYS = ("lh4_relative_difference", "u2", "u2_eps")


def exact_checks(ev: Evidence) -> dict:
    """The optimizers' exact checks, measured by the training environment (training.checks)."""
    if ev.checks is None:
        raise Untested("the optimizers' exact checks were not measured (training.checks)")
    return ev.checks


def matched_measure(ev: Evidence, metric: str) -> Measurement:
    """``metric`` of Adam+L2's selection minus AdamW's at Adam+L2's learning rate, by seed."""
    ev.need("adam_l2", "adamw")
    if not ev.runs["matched"].any():
        raise Untested("AdamW was not searched at Adam+L2's selected learning rate")
    return ev.paired_effect(metric, ("evaluation", "adam_l2"), ("matched", "adamw"),
                            "Adam+L2", "AdamW at Adam+L2's lr")  # fmt: skip
