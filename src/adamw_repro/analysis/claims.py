"""The claims engine, one for a study's ledger and a ladder's cross-study ledger.

A claim is a function that measures one quantity, registered with ``@claim``: its id, text,
source and quantity, the kind of its decision rule, which margin of the config's ``study``
section applies, the gate it needs, and its scope: ``"study"`` claims measure one study's
``Evidence``, ``"ladder"`` claims a ladder's table of studies. A measure returns a
``Measurement``, or raises ``Untested`` (the profile lacks what the claim needs) or
``Untestable`` (the regime could not show the effect: the numbers stay in the row, without a
verdict). ``build_ledger`` measures every claim of a scope and judges it the same way:

``greater``  the effect lies above target + margin (one-sided test; Holm's family)
``equal``    the effect lies within target ± margin
``differs``  the effect lies outside target ± margin, either way (Holm's family)
``check``    decided by the measurement itself (an exact identity, a check of several parts),
             with its rule in words

Verdicts (``VERDICTS``): reproduced, real but smaller than claimed, not reproduced, reversed,
contradicted, inconclusive, untestable here, untested. A claim that compares selections
(``rests_on``) reads inconclusive where one of them still lies on an edge of the searched grid
(its optimum may lie beyond). Holm's correction comes first; then each paired verdict is
recomputed leaving out one seed at a time, the correction included, and a claim that compares
two tuned selections (``reselect``) is measured again with the selection each half of the
tuning seeds made on its own: a verdict that changes with them is fragile.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .stats import (
    CONTRADICTED,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    REVERSED,
    SMALLER,
    holm,
    p_above,
    paired,
    verdict,
)

ALPHA = 0.025  # one-sided: the level at which a 95 % interval's lower end clears a threshold
UNTESTABLE, UNTESTED = "untestable here", "untested"
VERDICTS = (REPRODUCED, SMALLER, NOT_REPRODUCED, REVERSED, CONTRADICTED, INCONCLUSIVE, UNTESTABLE,
            UNTESTED)  # fmt: skip
KINDS = ("greater", "equal", "differs", "check")
HOLM_KINDS = ("greater", "differs")  # claims with a one-sided test beyond their margin
SCOPES = ("study", "ladder")


class Untested(Exception):
    """The profile lacks what the claim needs (an optimizer, a grid, a second model size)."""


class Untestable(Exception):
    """The regime could not show the effect (a gate did not pass): the row keeps ``measurement``
    (if any), without a verdict."""

    def __init__(self, detail: str, measurement: Measurement | None = None):
        super().__init__(detail)
        self.measurement = measurement


@dataclass
class Measurement:
    effect: float
    lo: float = math.nan
    hi: float = math.nan
    interval: str = ""
    n: int = 0
    detail: str = ""
    verdict: str | None = None  # set by "check" claims, which decide for themselves
    p: float = math.nan  # one-sided p of "no effect beyond the margin" (Holm's family)
    per_seed: np.ndarray | None = field(default=None, repr=False)  # paired differences
    seeds: tuple = ()  # the seed of each per-seed difference


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    source: str
    quantity: str
    measure: Callable
    figure: str = ""
    kind: str = "greater"  # one of KINDS
    rule: str = ""  # a "check" claim's rule in words (the other kinds' come from rule_text)
    target: float = 0.0
    margin: str = "margin"  # which study.* margin applies
    unit: str = ""  # the margin's unit in the rule's words, e.g. "nats per decade"
    gated: str = ""  # the study gate it needs (Evidence.gate), or "" for none
    same_as: str | None = None  # shares that claim's measurement
    scope: str = "study"  # one of SCOPES
    # the selections it compares (Evidence.edges: "adam", "adam_l2", "adamw", or "matched" for
    # AdamW at Adam+L2's learning rate); and whether to re-measure it with each half's selection
    rests_on: tuple[str, ...] = ()
    reselect: bool = False
    # False for a check of algebra or of the implementation (an identity that needs no
    # training, or that two code paths agree): the paper counts these apart from findings
    empirical: bool = True


CLAIMS: list[Claim] = []


def claim(id: str, text: str, source: str, quantity: str, **rule):
    """Register the decorated function as the measurement of a claim."""

    def register(measure):
        c = Claim(id, text, source, quantity, measure, **rule)
        if c.kind not in KINDS or c.scope not in SCOPES or (c.kind == "check") != bool(c.rule):
            raise ValueError(f"claim {id}: kind {c.kind!r}, scope {c.scope!r}, rule {c.rule!r}")
        CLAIMS.append(c)
        return measure

    return register


def three_way(reproduced: bool, contradicted: bool) -> str:
    """A check's verdict from its two conditions (neither, or both: inconclusive)."""
    if reproduced != contradicted:
        return REPRODUCED if reproduced else CONTRADICTED
    return INCONCLUSIVE


def judge(lo: float, hi: float, kind: str, margin: float, target: float = 0.0) -> str:
    """The verdict of an interval by the rule of ``kind`` (``differs``: reproduced outside
    target ± margin, not reproduced inside it; the rest: ``stats.verdict``)."""
    if kind != "differs":
        return verdict(lo, hi, kind, margin, target)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return INCONCLUSIVE
    if lo > target + margin or hi < target - margin:
        return REPRODUCED
    if target - margin < lo and hi < target + margin:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def rule_text(claim: Claim, margin: float) -> str:
    """The decision rule of a claim in words, from its kind, target and margin."""
    t, u = claim.target, f" {claim.unit}" if claim.unit else ""
    if claim.kind == "greater":
        return (
            f"reproduced if the 95% interval lies above {t + margin:g}{u} (the smallest effect of "
            f"interest) and stays so after Holm's correction; real but smaller than claimed if "
            f"it lies between {t:g} and {t + margin:g}; not reproduced if it lies inside "
            f"{t:g} ± {margin:g}; contradicted if it lies below {t - margin:g}; reversed if it "
            f"lies below {t:g} but not wholly below {t - margin:g}; otherwise inconclusive"
        )
    if claim.kind == "equal":
        return (
            f"reproduced if the 95% interval lies within {t:g} ± {margin:g}{u}; contradicted if "
            "it lies entirely outside; otherwise inconclusive"
        )
    if claim.kind == "differs":
        return (
            f"reproduced if the 95% interval lies entirely outside {t:g} ± {margin:g}{u} (the "
            "smallest effect of interest, either way) and stays so after Holm's correction; not "
            f"reproduced if it lies within {t:g} ± {margin:g}; otherwise inconclusive"
        )
    return claim.rule


def holm_family(rows: list[dict]) -> list[dict]:
    """The family Holm corrects: one row per measurement of a claim with a one-sided test beyond
    its margin (kinds ``HOLM_KINDS``) and a p-value."""
    return [
        r for r in rows
        if r["kind"] in HOLM_KINDS and r["measurement"] == r["id"] and math.isfinite(r["p"])
    ]  # fmt: skip


def after_holm(v: str, p_holm: float) -> str:
    """A verdict after Holm's correction: "reproduced" stays only if the adjusted p is below α."""
    return INCONCLUSIVE if v == REPRODUCED and not p_holm < ALPHA else v


def apply_holm(rows: list[dict]) -> None:
    """Holm's correction over the family: a "reproduced" whose adjusted p-value is not below α
    becomes inconclusive. Claims sharing a measurement and a rule share the verdict."""
    family = holm_family(rows)
    for r, adjusted in zip(family, holm([r["p"] for r in family]), strict=True):
        r["p_holm"] = adjusted
        if after_holm(r["verdict"], adjusted) != r["verdict"]:
            r["verdict"] = INCONCLUSIVE
            r["detail"] += "; its interval clears the margin, but not after Holm's correction"
    by_id = {r["id"]: r for r in rows}
    for r in rows:
        r.setdefault("p_holm", by_id[r["measurement"]].get("p_holm", math.nan))
    for r, ref in same_tests(rows):
        r["verdict"], r["detail"] = ref["verdict"], ref["detail"]


def same_tests(rows: list[dict]) -> list[tuple[dict, dict]]:
    """(row, the row it copies) for each claim whose test is another's: the same measurement
    judged by the same rule (it shares that claim's verdict and leave-one-out mark)."""
    by_id = {r["id"]: r for r in rows}
    pairs = ((r, by_id[r["measurement"]]) for r in rows)
    return [(r, ref) for r, ref in pairs if ref is not r and ref["rule"] == r["rule"]]


def leave_one_out(rows, measured, claims, margins) -> None:
    """Whether each paired claim's verdict, after Holm, survives leaving out any one seed: the
    interval, the p-value and Holm's correction (with that claim's p replaced in the family)
    are recomputed without the seed."""
    family = holm_family(rows)
    ps = [r["p"] for r in family]
    for r in rows:
        m, c = measured.get(r["id"]), claims[r["id"]]
        if (
            m is None
            or m.per_seed is None
            or c.kind == "check"
            or len(m.per_seed) < 3
            or r["verdict"] in (UNTESTABLE, UNTESTED)
            or r.get("edge")
        ):
            continue
        margin, flips = margins[r["id"]], []
        i = next((j for j, f in enumerate(family) if f is r), None)
        seeds = m.seeds or tuple(f"#{k + 1}" for k in range(len(m.per_seed)))
        for k, seed in enumerate(seeds):
            v = rejudge(np.delete(m.per_seed, k), c, margin, ps, i)
            if v != r["verdict"]:
                flips.append(f"{v} without seed {seed}")
        r["robustness"] = (
            "robust to leaving out any one seed" if not flips else "; ".join(flips[:2])
        )


def rejudge(per_seed: np.ndarray, claim: Claim, margin: float, ps: list, i: int | None) -> str:
    """The verdict of other per-seed differences by the claim's rule, after Holm's correction
    with the claim's own p (position ``i`` of the family's ``ps``) replaced."""
    q = paired(per_seed, np.zeros(len(per_seed)))
    v = judge(q["ci_lo"], q["ci_hi"], claim.kind, margin, claim.target)
    if i is not None:
        p_holm = holm([*ps[:i], p_above(per_seed, claim.target + margin), *ps[i + 1 :]])[i]
        v = after_holm(v, p_holm)
    return v


def reselected(rows, measured, claims, margins, ev) -> None:
    """Each ``reselect`` claim measured again with the selection of each half of the tuning
    seeds (``ev.reselected``), judged by its rule with Holm's correction: the ``tuning_seeds``
    column says whether its verdict holds with both, or with which half it reads otherwise
    (a fragile verdict)."""
    family = holm_family(rows)
    ps = [r["p"] for r in family]
    for r in rows:
        c, m = claims[r["id"]], measured.get(r["id"])
        if not c.reselect or m is None or m.per_seed is None or r.get("edge"):
            continue
        notes, fragile = [], False
        for half, seeds in ev.halves():
            other = ev.reselected(half, c.rests_on)
            if other is None:
                notes.append(f"tuning seeds {seeds} select the same")
                continue
            try:
                mh = c.measure(other)
            except (Untested, Untestable) as why:
                notes.append(f"with the selection of tuning seeds {seeds}: not measured ({why})")
                continue
            i = next((j for j, f in enumerate(family) if f is r), None)
            v = rejudge(mh.per_seed, c, margins[c.id], ps, i)
            fragile |= v != r["verdict"]
            notes.append(f"{v} with the selection of tuning seeds {seeds} ({mh.effect:+.4f} "
                         f"[{mh.lo:+.4f}, {mh.hi:+.4f}])")  # fmt: skip
        if notes:
            r["tuning_seeds"] = ("fragile: " if fragile else "holds: ") + "; ".join(notes)


def summary(m: Measurement) -> str:
    """A measurement in a few words: effect, interval, detail."""
    interval = f" [{m.lo:.3g}, {m.hi:.3g}]" if np.isfinite(m.lo) and np.isfinite(m.hi) else ""
    effect = f"{m.effect:.3g}{interval}; " if np.isfinite(m.effect) else ""
    return effect + m.detail


def build_ledger(ev, scope: str = "study") -> list[dict]:
    """One row per claim of ``scope``, measured on ``ev`` (whose ``config["study"]`` holds the
    margins and, for gated claims, whose ``gate(kind)`` says whether the regime could show it)."""
    claims = {c.id: c for c in CLAIMS if c.scope == scope}
    margins = {c.id: ev.config["study"][c.margin] for c in claims.values()}
    rows, measured = [], {}
    for claim in claims.values():
        row, m = judged_row(claim, ev, margins[claim.id])
        rows.append(row)
        if m is not None:
            measured[claim.id] = m
    apply_holm(rows)
    leave_one_out(rows, measured, claims, margins)
    reselected(rows, measured, claims, margins, ev)
    for r, ref in same_tests(rows):  # the same marks, with Holm in them
        r["robustness"], r["tuning_seeds"] = ref["robustness"], ref["tuning_seeds"]
    for r in rows:
        r.pop("edge", None)
    return rows


def _row(claim: Claim, study: dict, margin: float) -> dict:
    """A claim's row before it is measured."""
    return {
        "id": claim.id,
        "claim": claim.text,
        "source": claim.source,
        # a quantity may name a setting of the study section ({equilibrium_exposure:g})
        "quantity": claim.quantity.format_map(study),
        "figure": claim.figure,
        "kind": claim.kind,
        "target": claim.target,
        "margin": margin,
        "rule": rule_text(claim, margin),
        "measurement": claim.same_as or claim.id,
        "gated": claim.gated,
        "empirical": claim.empirical,
        "effect": math.nan,
        "ci_lo": math.nan,
        "ci_hi": math.nan,
        "interval": "",
        "n": 0,
        "p": math.nan,
        "robustness": "",
        "tuning_seeds": "",
    }


def judged_row(claim: Claim, ev, margin: float) -> tuple[dict, Measurement | None]:
    """A claim's row, measured and judged by its rule before Holm's correction, and the
    measurement where it has a verdict (None where it is untested or its gate did not pass)."""
    row = _row(claim, ev.config["study"], margin)
    try:
        gate = ev.gate(claim.gated) if claim.gated else None
        m = claim.measure(ev)
    except Untested as why:
        return {**row, "verdict": UNTESTED, "detail": str(why)}, None
    except Untestable as why:  # the measure's own gate (a ladder's, per study)
        if why.measurement is not None:
            row |= _numbers(why.measurement)
        return {**row, "verdict": UNTESTABLE, "detail": str(why)}, None
    row |= _numbers(m)
    if gate is not None and gate.verdict != "passed":  # the numbers stay, no verdict
        row |= {
            "verdict": UNTESTABLE,
            "detail": f"gate '{gate_name(claim.gated)}' {gate.verdict}: {gate.detail}; "
            f"measured regardless, without a verdict: {summary(m)}",
        }
        return row, None
    v = m.verdict or judge(m.lo, m.hi, claim.kind, margin, claim.target)
    if claim.kind == "greater" and m.per_seed is not None:
        m.p = p_above(m.per_seed, claim.target + margin)
    p = m.p if claim.kind in HOLM_KINDS else math.nan  # the p of a test beyond the margin
    row |= {"p": p, "verdict": v, "detail": m.detail}
    if claim.rests_on and (edges := ev.edges(claim.rests_on)):  # an optimum beyond the grid
        row |= {"verdict": INCONCLUSIVE, "edge": True, "p": math.nan,
                "detail": f"{m.detail}; inconclusive: optimum beyond the searched grid "
                f"({'; '.join(edges)})"}  # fmt: skip
    return row, m


def gate_name(kind: str) -> str:
    """A gate as the paper names it: "overfits", or "decay acts", "decay helps", ..."""
    return kind if kind == "overfits" else f"decay {kind}"


def _numbers(m: Measurement) -> dict:
    return {"effect": m.effect, "ci_lo": m.lo, "ci_hi": m.hi, "interval": m.interval, "n": m.n}
