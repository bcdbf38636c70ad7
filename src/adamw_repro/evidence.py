"""The evidence a study produced, and the checks of whether its regime could show what the
claims predict.

``Evidence`` wraps the aggregated tables (runs, curves, parameter norms) with the selections the
claims need, and measures the decay gate: does AdamW's selected decay beat no decay at the same
learning rate by more than the smallest effect of interest? ``regime_checks`` writes
``regime.csv``: whether the unregularized model overfits, the span of decay timescales τ/T that
AdamW's grid covered, the gate, and the embedding decay as a factor of the headline comparison.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .schedule import decay_exposure
from .stats import basin_fit, paired

OVERFIT_GAP = 10  # a test − training gap of this many margins counts as visible overfitting


class Untested(Exception):
    """The profile lacks what the claim needs (an optimizer, a grid, a second model size)."""


@dataclass
class Measurement:
    effect: float
    lo: float = math.nan
    hi: float = math.nan
    interval: str = ""
    n: int = 0
    detail: str = ""
    verdict: str | None = None  # set by claims decided by a check rather than an interval
    p: float = math.nan  # one-sided p of "effect ≤ the smallest effect of interest" (Holm)
    per_seed: np.ndarray | None = field(default=None, repr=False)  # paired differences


def seed_effect(values: np.ndarray, detail: str) -> Measurement:
    """The mean of a per-seed quantity with its t interval (the seeds are the replicates)."""
    p = paired(values, np.zeros_like(values))
    return Measurement(
        p["mean_diff"], p["ci_lo"], p["ci_hi"], "t", p["n"], detail, p=p["p_ttest"], per_seed=values
    )


class Evidence:
    """The aggregated tables of one study, with the selections the claims need."""

    def __init__(self, runs: pd.DataFrame, curves: pd.DataFrame, norms, config: dict):
        self.runs, self.curves, self.norms, self.config = runs, curves, norms, config
        self.runs["diverged"] = self.runs["diverged"].astype(bool)
        self.optimizers = set(runs["optimizer"])
        self.tuned = bool(runs["tuning"].any())
        self.n_boot = config["study"]["bootstrap_samples"]
        self.margin = config["study"]["margin"]

    def need(self, *optimizers: str) -> None:
        missing = [o for o in optimizers if o not in self.optimizers]
        if missing:
            raise Untested(f"{', '.join(missing)} not in this study")

    def need_grid(self, *optimizers: str) -> None:
        self.need(*optimizers)
        if not self.tuned:
            raise Untested(f"needs lr × weight_decay tuning grids for {', '.join(optimizers)}")

    def values(self, role: str, optimizer: str, metric: str, **where) -> pd.Series:
        """``metric`` of the finished runs of ``optimizer`` in ``role``, indexed by seed."""
        r = self.runs[self.runs[role] & (self.runs["optimizer"] == optimizer)]
        r = r[~r["diverged"]]
        for key, value in where.items():
            r = r[np.isclose(r[key], value) if isinstance(value, float) else r[key] == value]
        return r.set_index("seed")[metric].sort_index()

    def paired(self, metric: str, a: tuple, b: tuple) -> tuple[pd.Series, pd.Series]:
        """Seed-aligned values for two (role, optimizer[, filters]) selections."""
        va = self.values(a[0], a[1], metric, **(a[2] if len(a) > 2 else {}))
        vb = self.values(b[0], b[1], metric, **(b[2] if len(b) > 2 else {}))
        seeds = va.index.intersection(vb.index)
        if len(seeds) < 2:
            raise Untested(f"needs two or more finished seeds of {a[1]} and {b[1]}")
        return va.loc[seeds], vb.loc[seeds]

    def tuning(self, optimizer: str) -> pd.DataFrame:
        """Tuning trials of ``optimizer`` (both rounds, every tuning seed)."""
        return self.runs[self.runs["tuning"] & (self.runs["optimizer"] == optimizer)]

    def selected(self, optimizer: str) -> tuple[float, float]:
        sel = self.runs[self.runs["evaluation"] & (self.runs["optimizer"] == optimizer)]
        if sel.empty:
            raise Untested(f"{optimizer} has no selected configuration")
        return float(sel["lr"].iloc[0]), float(sel["weight_decay"].iloc[0])

    def paired_effect(self, metric, a, b, label_a, label_b) -> Measurement:
        """Effect a − b over seeds, t interval; the detail names both sides."""
        va, vb = self.paired(metric, a, b)
        p = paired(va.to_numpy(), vb.to_numpy())
        higher = p["n"] - p["wins"] - p["ties"]
        wilcoxon = f", Wilcoxon p = {p['p_wilcoxon']:.3g}" if math.isfinite(p["p_wilcoxon"]) else ""
        detail = (
            f"{label_a} {va.mean():.4f} vs {label_b} {vb.mean():.4f} (mean over {p['n']} "
            f"seeds), {label_a} higher on {higher} of {p['n']}; paired t-test "
            f"p = {p['p_ttest']:.3g}{wilcoxon}"
        )
        d = va.to_numpy() - vb.to_numpy()
        return Measurement(
            p["mean_diff"], p["ci_lo"], p["ci_hi"], "t", p["n"], detail, p=p["p_ttest"], per_seed=d
        )

    @functools.cached_property
    def gate(self) -> Measurement:
        """AdamW at its selected decay against AdamW without decay at the same learning rate, on
        the test loss: the gain of decay, with a t interval. Passes (``verdict`` "passed") if
        the whole interval lies above the smallest effect of interest."""
        self.need("adamw")
        lr, wd = self.selected("adamw")
        if wd == 0:
            raise Untested("AdamW's selected weight decay is 0")
        if not self.runs["no_decay"].any():
            raise Untested("needs AdamW's no-decay ablation")
        m = self.paired_effect(
            "final_test_loss",
            ("no_decay", "adamw", {"lr": lr}),
            ("evaluation", "adamw"),
            "no decay",
            f"decay {wd:g}",
        )
        passed = m.lo > self.margin
        m.verdict = "passed" if passed else "failed"
        m.detail = (
            f"at lr {lr:g}, AdamW's selected decay lowers the test loss by {m.effect:.4f} nats "
            f"(95% interval {m.lo:.4f} to {m.hi:.4f}, {m.n} seeds) against no decay; "
            + ("above" if passed else "not above")
            + f" the {self.margin:g}-nat smallest effect of interest"
        )
        return m

    @functools.cache  # noqa: B019 (one Evidence per ledger; the cache dies with it)
    def basin(self, optimizer: str, decoupled_units: bool) -> dict:
        """The basin tilt of an optimizer's grid (``stats.basin_fit``), in (log10 lr,
        log10 decay) with decay = λ = lr·wd (decoupled) or wd (coupled)."""
        self.need_grid(optimizer)
        window = self.config["study"]["basin_window"]
        fit = basin_fit(self.tuning(optimizer), decoupled_units, window)
        if fit is None:
            raise Untested(f"{optimizer}: fewer than 7 finished tuning cells for the basin fit")
        return fit


def regime_checks(ev: Evidence) -> list[dict]:
    """Could this regime show the claimed effects? Overfitting of the unregularized tuned model,
    the span of AdamW's decay timescales, the decay gate, and the embedding-decay factor."""
    rows = []

    def add(check, value, lo=math.nan, hi=math.nan, status="", detail=""):
        rows.append(
            dict(check=check, value=value, ci_lo=lo, ci_hi=hi, status=status, detail=detail)
        )

    train, block = ev.config["train"], ev.config["model"]["block_size"]
    # The unregularized model: tuned Adam, or in a study without Adam, AdamW without decay at
    # its selected learning rate (the same algorithm, U1)
    if "adam" in ev.optimizers:
        plain = ev.runs[ev.runs["evaluation"] & (ev.runs["optimizer"] == "adam")]
        what = "tuned Adam (no decay)"
    else:
        plain, what = ev.runs[ev.runs["no_decay"]], "AdamW without decay at its selected lr"
    plain = plain[~plain["diverged"]]
    if len(plain):
        rise = (plain["final_test_loss"] - plain["best_test_loss"]).mean()
        gap = plain["gen_gap"].mean()
        # "visibly": the test loss turned up by more than the smallest effect of interest, or
        # ends ten times that above the loss on the training data
        overfits = rise > ev.margin or gap > OVERFIT_GAP * ev.margin
        add(
            "overfitting",
            gap,
            status="overfits" if overfits else "does not overfit visibly",
            detail=f"{what}: final test loss {gap:.3f} nats above its loss on "
            f"the training data (threshold {OVERFIT_GAP * ev.margin:g}) and {rise:.4f} above "
            f"its own best point of the run (threshold {ev.margin:g})",
        )
    if ev.tuned and "adamw" in ev.optimizers:
        t = ev.tuning("adamw")
        steps = t["steps"].max()
        tau = 1 / (t["lr"] * t["weight_decay"]) / steps
        expo = [decay_exposure(train, block, r.lr, r.weight_decay) for r in t.itertuples()]
        add(
            "decay timescales",
            tau.max() / tau.min(),
            status=f"τ/T from {tau.min():.3g} to {tau.max():.3g}",
            detail=f"AdamW's grid spans τ = 1/(lr·wd) from {tau.min():.3g} T to {tau.max():.3g} T "
            f"(T = {steps} steps; summed decay Σ lr_t·wd from {min(expo):.2g} to {max(expo):.2g})",
        )
    try:
        g = ev.gate
        add("decay gate", g.effect, g.lo, g.hi, g.verdict, g.detail)
    except Untested as why:
        add("decay gate", math.nan, status="untested", detail=str(why))
    try:
        add("embedding decay", *embedding_factor(ev))
    except Untested as why:
        add("embedding decay", math.nan, status="untested", detail=str(why))
    return rows


def embedding_factor(ev: Evidence) -> tuple:
    """The headline difference (Adam+L2 − AdamW, test loss) with the embedding decay flipped,
    and its change from the primary setting, paired by seed."""
    ev.need("adam_l2", "adamw")
    if not ev.runs["embeddings"].any():
        raise Untested("needs the embedding-decay ablation (ev.embedding_ablation)")
    diffs = {}
    for role in ("evaluation", "embeddings"):
        a, b = ev.paired("final_test_loss", (role, "adam_l2"), (role, "adamw"))
        diffs[role] = a - b
    seeds = diffs["evaluation"].index.intersection(diffs["embeddings"].index)
    flip = paired(diffs["embeddings"].to_numpy(), np.zeros(len(diffs["embeddings"])))
    change = paired(
        diffs["embeddings"].loc[seeds].to_numpy(), diffs["evaluation"].loc[seeds].to_numpy()
    )
    state = "on" if not ev.config["train"]["decay_embeddings"] else "off"
    detail = (
        f"with the embedding decay {state}, Adam+L2 − AdamW = {flip['mean_diff']:+.4f} nats "
        f"[{flip['ci_lo']:+.4f}, {flip['ci_hi']:+.4f}], against "
        f"{diffs['evaluation'].mean():+.4f} with it {'off' if state == 'on' else 'on'}; change "
        f"{change['mean_diff']:+.4f} [{change['ci_lo']:+.4f}, {change['ci_hi']:+.4f}] "
        f"({len(seeds)} seeds)"
    )
    return flip["mean_diff"], flip["ci_lo"], flip["ci_hi"], f"embeddings decayed: {state}", detail
