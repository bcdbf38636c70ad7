"""The evidence a study produced, and the checks of whether its regime could show what the
claims predict.

``Evidence`` wraps the aggregated tables (runs, curves, parameter norms) with the selections the
claims need, and measures the two gates (``Evidence.gate``): does decay act here (change the
loss or the norms at a fixed learning rate), and does it help (tuned AdamW against tuned Adam)?
``regime_checks`` writes ``regime.csv``: whether the unregularized model overfits, the span of
decay timescales τ/T that AdamW's grid covered, the gates, and the embedding decay as a factor
of the headline comparison.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
from scipy import stats

from ..schedule import decay_exposure
from .claims import Measurement, Untested
from .stats import BASIN_MIN_CELLS, basin_fit, paired

OVERFIT_GAP = 10  # a test − training gap of this many margins counts as visible overfitting


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

    @functools.cache  # noqa: B019 (one Evidence per ledger; the cache dies with it)
    def gate(self, kind: str) -> Measurement:
        """The gate a claim needs (``verdict`` "passed" or "failed"):

        ``acts``           at Adam's selected learning rate, the decay of AdamW's grid that moves
                           the validation loss most, against the wd = 0 column (Adam's cell at
                           that lr); passes if its interval lies outside ± the margin;
        ``acts on norms``  the same on log weight-matrix norms, against the relative margin;
        ``helps``          tuned Adam − tuned AdamW on the test split, paired by seed; passes
                           if the interval lies above the margin.
        """
        if kind == "helps":
            return self._decay_helps()
        if kind == "acts":
            return self._decay_acts("final_val_loss", self.margin, "validation loss", "nats")
        if kind == "acts on norms":
            margin = self.config["study"]["relative_margin"]
            return self._decay_acts("log_matrix_norm", margin, "log weight-matrix norm", "")
        raise ValueError(f"unknown gate {kind!r}")

    def _decay_helps(self) -> Measurement:
        self.need("adamw")
        if "adam" in self.optimizers:
            base, label = ("evaluation", "adam"), "tuned Adam"
        else:  # the v2 gate: no tuned baseline without decay in this study
            if not self.runs["no_decay"].any():
                raise Untested("needs Adam, or AdamW's no-decay ablation")
            base = ("no_decay", "adamw", {"lr": self.selected("adamw")[0]})
            label = "AdamW without decay at its selected lr (no Adam in this study)"
        m = self.paired_effect(
            "final_test_loss", base, ("evaluation", "adamw"), label, "tuned AdamW"
        )
        passed = m.lo > self.margin
        m.verdict = "passed" if passed else "failed"
        m.detail = (
            f"{label} − tuned AdamW = {m.effect:+.4f} nats on the test split "
            f"[{m.lo:+.4f}, {m.hi:+.4f}], {m.n} seeds; "
            + ("above" if passed else "not above")
            + f" the {self.margin:g}-nat smallest effect of interest"
        )
        return m

    def _decay_acts(self, metric: str, margin: float, what: str, unit: str) -> Measurement:
        self.need_grid("adam", "adamw")
        runs = self.runs.assign(log_matrix_norm=np.log(self.runs["final_matrix_norm"]))
        lr = self.selected("adam")[0]
        at_lr = runs[runs["tuning"] & ~runs["diverged"] & np.isclose(runs["lr"], lr)]
        base = at_lr[at_lr["optimizer"] == "adam"].set_index("seed")[metric]
        decayed = at_lr[at_lr["optimizer"] == "adamw"]
        # per decay cell, its paired differences from the wd = 0 column over the tuning seeds
        diffs = {
            wd: (g.set_index("seed")[metric] - base).dropna().to_numpy()
            for wd, g in decayed.groupby("weight_decay")
        }
        diffs = {wd: d for wd, d in diffs.items() if len(d)}
        if not diffs:
            raise Untested(f"no AdamW tuning cell at Adam's selected lr {lr:g}")
        # seed noise pooled over the cells (each cell alone has as few as two seeds)
        dof = sum(len(d) - 1 for d in diffs.values())
        if dof < 1:
            raise Untested("needs two or more tuning seeds for an interval")
        sd = math.sqrt(sum(((d - d.mean()) ** 2).sum() for d in diffs.values()) / dof)
        wd, d = max(diffs.items(), key=lambda kv: abs(kv[1].mean()))
        half = stats.t.ppf(0.975, dof) * sd / math.sqrt(len(d))
        m = Measurement(d.mean(), d.mean() - half, d.mean() + half, "t (pooled)", len(d))
        passed = m.lo > margin or m.hi < -margin
        m.verdict = "passed" if passed else "failed"
        m.detail = (
            f"at lr {lr:g}, AdamW's decay {wd:g} moves the {what} most: {m.effect:+.4f}"
            f"{(' ' + unit) if unit else ''} [{m.lo:+.4f}, {m.hi:+.4f}] against no decay "
            f"({len(diffs)} decay cells, {len(d)} tuning seeds); "
            + ("outside" if passed else "not outside")
            + f" ± {margin:g}"
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
            raise Untested(
                f"{optimizer}: fewer than {BASIN_MIN_CELLS} finished tuning cells for the basin fit"
            )
        return fit


def regime_checks(ev: Evidence) -> list[dict]:
    """Could this regime show the claimed effects? Overfitting of the unregularized tuned model,
    the span of AdamW's decay timescales, the gates, and the embedding-decay factor."""
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
    for kind in ("acts", "acts on norms", "helps"):
        try:
            g = ev.gate(kind)
            add(f"decay {kind}", g.effect, g.lo, g.hi, g.verdict, g.detail)
        except Untested as why:
            add(f"decay {kind}", math.nan, status="untested", detail=str(why))
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
