"""Stage 4b: statistics and the claims ledger.

``stats.csv`` holds, per optimizer, mean / std / bootstrap CI over evaluation seeds of the final
validation loss, training loss, generalization gap (validation − training), accuracy and weight
norm. ``ledger.csv`` has one row per claim in ``CLAIMS``: what was measured, the effect with its
95 % interval, and a verdict from the claim's rule (``stats.verdict`` for effects with an
interval; a stated check for the rest). Every sentence the paper writes about a claim is
generated from its row.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import atomic
from .aggregate import optimizer_order
from .optim import build_optimizer, lr_multiplier
from .stats import count_spikes, describe, paired, power_law, tilt, verdict

METRICS = ["final_val_loss", "final_train_loss", "gen_gap", "final_val_acc", "final_matrix_norm"]
LH, WA, DA, KO, USER = (
    "Loshchilov & Hutter 2019",
    "Wang & Aitchison 2025",
    "D'Angelo et al. 2024",
    "Kosson et al. 2024",
    "course article",
)


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    source: str
    quantity: str
    figure: str = ""
    kind: str = "greater"  # "greater": effect > target; "equal": effect ≈ target; or a check
    target: float = 0.0
    margin: str = "margin"  # which study.* margin applies


CLAIMS = [
    Claim(
        "LH1",
        "The good (lr, decay) region is diagonal for Adam+L2 and axis-aligned for AdamW",
        LH,
        "|tilt(Adam+L2)| − |tilt(AdamW)|; tilt = slope of log best decay against log lr, with "
        "decay = weight_decay for Adam+L2 and λ = lr·weight_decay for AdamW",
        "heatmaps_adam",
        margin="slope_margin",
    ),
    Claim(
        "LH2",
        "Tuned AdamW reaches a lower validation loss than tuned Adam+L2",
        LH,
        "paired difference of final validation loss, Adam+L2 − AdamW (nats)",
        "final_val_loss",
    ),
    Claim(
        "LH3",
        "Adam gains little from L2 regularization (tuned Adam+L2 ≈ tuned Adam)",
        LH,
        "paired difference of final validation loss, Adam − Adam+L2 (nats)",
        "final_val_loss",
        kind="equal",
    ),
    Claim(
        "LH4",
        "For SGD, L2 and decoupled weight decay coincide once the decay is rescaled (Prop. 1)",
        LH,
        "mean |final validation loss of SGD+L2(lr, wd) − SGDW(lr, "
        "wd/(1 − momentum))| over matched grid cells (nats)",
        "heatmaps_sgd",
        kind="equal",
    ),
    Claim(
        "WA1",
        "The optimum follows the EMA timescale τ = 1/(lr·wd): best AdamW weight decay ∝ 1/lr",
        WA,
        "slope of log best weight_decay (PyTorch units) against log lr for AdamW",
        "best_decay_vs_lr",
        kind="equal",
        target=-1.0,
        margin="slope_margin",
    ),
    Claim(
        "DA1",
        "Weight decay lowers the final training loss (after the learning rate has "
        "decayed) more than it changes the generalization gap",
        DA,
        "per seed, AdamW at its selected lr: (train(wd=0) − train(wd*)) − |gap(wd*) − "
        "gap(wd=0)| (nats)",
        "train_val_curves",
    ),
    Claim(
        "KO1",
        "Under AdamW the weight norm settles to an equilibrium ∝ sqrt(lr/wd); Adam+L2 "
        "does not follow this law",
        KO,
        "exponent b of the final weight-matrix norm ∝ (lr/wd)^b over AdamW grid cells that "
        "lasted long enough to settle, and over Adam+L2's grid",
        "weight_norms",
        kind="check: reproduced if AdamW's interval for b lies within 0.5 ± the slope margin and "
        "Adam+L2's lies entirely outside it; not reproduced if AdamW's lies entirely outside or "
        "Adam+L2's entirely inside; otherwise inconclusive",
        target=0.5,
        margin="slope_margin",
    ),
    Claim(
        "U1",
        "With weight decay off, AdamW and Adam are the same algorithm",
        USER,
        "largest absolute difference between the logged metrics of AdamW(wd = 0) and Adam at "
        "one lr and the same seeds",
        kind="check: reproduced if every logged value is bit-identical",
    ),
    Claim(
        "U2",
        "Adam+L2's decay strength depends on the adaptive learning rate; AdamW's does not "
        "depend on the gradient history",
        USER,
        "after one step, how far the decay term moved a "
        "weight with gradient 10^-4 relative to one with gradient 1 (Adam+L2)",
        kind="check: reproduced if AdamW's ratio is 1 and Adam+L2's exceeds 10",
    ),
    Claim(
        "U3",
        "AdamW reaches a lower validation loss than Adam+L2",
        USER,
        "paired difference of final validation loss, Adam+L2 − AdamW (nats)",
        "final_val_loss",
    ),
    Claim(
        "U4",
        "AdamW reaches a higher next-token accuracy than Adam+L2",
        USER,
        "paired difference of final validation top-1 accuracy, AdamW − Adam+L2",
        "final_val_loss",
        margin="accuracy_margin",
    ),
    Claim(
        "U5",
        "AdamW generalizes better: a smaller gap between validation and training loss",
        USER,
        "paired difference of the generalization gap (validation − training loss), "
        "Adam+L2 − AdamW (nats)",
        "train_val_curves",
    ),
    Claim(
        "U6",
        "AdamW is more stable than Adam+L2: lower seed spread, fewer diverged grid cells, "
        "fewer loss spikes",
        USER,
        "seed std of final validation loss; diverged tuning trials; loss spikes per tuning trial",
        "heatmaps_adam",
        kind="check: reproduced if AdamW is better on at least one measure and worse on none; "
        "inconclusive if better on some and worse on others; otherwise not reproduced",
    ),
    Claim(
        "U7",
        "AdamW keeps the weight norm under control",
        USER,
        "relative reduction of the final weight-matrix norm by decay at AdamW's selected lr, "
        "(norm(wd=0) − norm(wd*)) / norm(wd=0)",
        "weight_norms",
        margin="relative_margin",
    ),
    Claim(
        "U8a",
        "Limitation: AdamW brings less benefit to small models",
        USER,
        "AdamW − Adam+L2 difference at two model sizes",
    ),
    Claim(
        "U8b",
        "Limitation: AdamW is sensitive to its hyperparameters",
        USER,
        "share of AdamW tuning trials within 5 × margin of the best final validation loss",
        "heatmaps_adam",
        kind="check: reproduced if under half of the trials lie that close",
    ),
    Claim(
        "U8c",
        "Limitation: AdamW's gains vary across data sets",
        USER,
        "AdamW − Adam+L2 difference on two corpora",
    ),
]


class Untested(Exception):
    """The profile cannot test the claim; the message says why."""


@dataclass
class Measurement:
    effect: float
    lo: float = math.nan
    hi: float = math.nan
    interval: str = ""
    n: int = 0
    detail: str = ""
    verdict: str | None = None  # set by claims decided by a check rather than an interval


class Study:
    """The aggregated tables of one study, with the selections the claims need."""

    def __init__(self, runs: pd.DataFrame, curves: pd.DataFrame, config: dict):
        self.runs, self.curves, self.config = runs, curves, config
        self.optimizers = set(runs["optimizer"])
        self.tuned = bool(runs["tuning"].any())
        self.n_boot = config["study"]["bootstrap_samples"]

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
        r = r[~r["diverged"].astype(bool)]
        for key, value in where.items():
            r = r[np.isclose(r[key], value)]
        return r.set_index("seed")[metric].sort_index()

    def paired(self, metric: str, a: tuple, b: tuple) -> tuple[pd.Series, pd.Series]:
        """Seed-aligned values for two (role, optimizer[, filters]) selections."""
        va = self.values(a[0], a[1], metric, **(a[2] if len(a) > 2 else {}))
        vb = self.values(b[0], b[1], metric, **(b[2] if len(b) > 2 else {}))
        seeds = va.index.intersection(vb.index)
        if len(seeds) < 2:
            raise Untested(f"needs two or more finished seeds of {a[1]} and {b[1]}")
        return va.loc[seeds], vb.loc[seeds]

    def grid(self, optimizer: str) -> tuple[pd.DataFrame, np.ndarray]:
        """Tuning trials of ``optimizer`` and their final validation loss (NaN if diverged)."""
        g = self.runs[self.runs["tuning"] & (self.runs["optimizer"] == optimizer)]
        return g, g["final_val_loss"].where(~g["diverged"].astype(bool)).to_numpy(dtype=float)

    def selected_adamw(self) -> tuple[float, float]:
        sel = self.runs[self.runs["evaluation"] & (self.runs["optimizer"] == "adamw")]
        if sel.empty or not self.runs["ablation"].any():
            raise Untested("needs AdamW's selection and its no-decay ablation")
        lr, wd = float(sel["lr"].iloc[0]), float(sel["weight_decay"].iloc[0])
        if wd == 0:
            raise Untested("AdamW's selected weight decay is 0: nothing to compare")
        return lr, wd


def _paired_effect(study, metric, a, b, label_a, label_b) -> Measurement:
    """Effect a − b over seeds, t interval; the detail names both sides."""
    va, vb = study.paired(metric, a, b)
    p = paired(va.to_numpy(), vb.to_numpy())
    higher = p["n"] - p["wins"] - p["ties"]
    detail = (
        f"{label_a} {va.mean():.4f} vs {label_b} {vb.mean():.4f} (mean over {p['n']} "
        f"seeds), {label_a} higher on {higher} of {p['n']}; paired t-test "
        f"p = {p['p_ttest']:.3g}, Wilcoxon p = {p['p_wilcoxon']:.3g}"
    )
    return Measurement(p["mean_diff"], p["ci_lo"], p["ci_hi"], "t", p["n"], detail)


LABELS = {"adam": "Adam", "adam_l2": "Adam+L2", "adamw": "AdamW"}


def paired_claim(metric: str, a: str, b: str):
    """A measure: ``metric`` of optimizer ``a`` minus ``b``, paired over the evaluation seeds."""

    def measure(study: Study) -> Measurement:
        study.need(a, b)
        return _paired_effect(
            study, metric, ("evaluation", a), ("evaluation", b), LABELS[a], LABELS[b]
        )

    return measure


def measure_lh1(study: Study) -> Measurement:
    study.need_grid("adam_l2", "adamw")
    g2, loss2 = study.grid("adam_l2")
    gw, lossw = study.grid("adamw")
    t2 = tilt(g2["lr"], g2["weight_decay"], loss2, study.n_boot)
    tw = tilt(gw["lr"], gw["lr"] * gw["weight_decay"], lossw, study.n_boot)
    if not (len(t2["samples"]) and len(tw["samples"])):
        raise Untested("needs two or more learning rates, each with two or more weight decays")
    k = min(len(t2["samples"]), len(tw["samples"]))  # independent resamples, paired by index
    lo, hi = np.percentile(np.abs(t2["samples"][:k]) - np.abs(tw["samples"][:k]), [2.5, 97.5])
    detail = (
        f"tilt of Adam+L2 {t2['slope']:.2f} [{t2['ci_lo']:.2f}, {t2['ci_hi']:.2f}], "
        f"of AdamW in λ = lr·wd {tw['slope']:.2f} [{tw['ci_lo']:.2f}, {tw['ci_hi']:.2f}]"
    )
    return Measurement(
        abs(t2["slope"]) - abs(tw["slope"]),
        float(lo),
        float(hi),
        "bootstrap over lr rows",
        t2["rows"],
        detail,
    )


def measure_lh4(study: Study) -> Measurement:
    study.need_grid("sgd_l2", "sgdw")
    beta = study.config["optimizers"]["sgd_l2"]["momentum"]
    if study.config["optimizers"]["sgdw"]["momentum"] != beta:
        raise Untested("sgd_l2 and sgdw use different momentum")
    l2, _ = study.grid("sgd_l2")
    w, _ = study.grid("sgdw")

    def matched(scale):
        diffs, disagree = [], 0
        for r in l2[l2["weight_decay"] > 0].itertuples():
            m = w[
                np.isclose(w["lr"], r.lr)
                & np.isclose(w["weight_decay"], r.weight_decay * scale, rtol=1e-3)
            ]
            if len(m) == 0:
                continue
            if bool(r.diverged) != bool(m["diverged"].iloc[0]):
                disagree += 1
            elif not r.diverged:
                diffs.append(abs(r.final_val_loss - m["final_val_loss"].iloc[0]))
        return np.array(diffs), disagree

    # Heavy-ball momentum feeds the L2 term into the velocity, which multiplies it by
    # 1/(1 − β) at steady state; decoupled decay bypasses the velocity (exact for β = 0).
    diffs, disagree = matched(1.0 / (1.0 - beta))
    raw, _ = matched(1.0)
    if len(diffs) < 2:
        raise Untested("fewer than two grid cells match after rescaling by 1/(1 − momentum)")
    d = describe(diffs.tolist(), study.n_boot)
    detail = f"{len(diffs)} matched cells, mean |difference| {d['mean']:.4f} nats"
    if disagree:
        detail += f", {disagree} disagree on divergence"
    if len(raw):
        detail += f"; without the rescaling, {len(raw)} cells differ by {raw.mean():.4f}"
    hi = d["ci_hi"] if disagree == 0 else math.inf  # a divergence mismatch is no coincidence
    return Measurement(d["mean"], d["ci_lo"], hi, "bootstrap over cells", len(diffs), detail)


def measure_wa1(study: Study) -> Measurement:
    study.need_grid("adamw")
    g, loss = study.grid("adamw")
    t = tilt(g["lr"], g["weight_decay"], loss, study.n_boot)
    if not np.isfinite(t["slope"]):
        raise Untested("needs two or more learning rates, each with two or more weight decays")
    best = ", ".join(f"lr {lr:g}: {wd:.3g}" for lr, wd in t["best"].items())
    return Measurement(
        t["slope"],
        t["ci_lo"],
        t["ci_hi"],
        "bootstrap over lr rows",
        t["rows"],
        f"best weight decay per learning rate: {best}",
    )


def measure_da1(study: Study) -> Measurement:
    study.need("adamw")
    lr, wd = study.selected_adamw()
    ablation = ("ablation", "adamw", {"weight_decay": 0.0, "lr": lr})
    train_w, train_0 = study.paired("final_train_loss", ("evaluation", "adamw"), ablation)
    gap_w, gap_0 = study.paired("gen_gap", ("evaluation", "adamw"), ablation)
    d_train = (train_0 - train_w).to_numpy()
    d_gap = (gap_w - gap_0).to_numpy()
    p = paired(d_train - np.abs(d_gap), np.zeros_like(d_train))
    detail = (
        f"at lr {lr:g}, decay {wd:g} against 0: training loss lower by "
        f"{d_train.mean():.4f} nats, gap changed by {d_gap.mean():+.4f} "
        f"(over {p['n']} seeds)"
    )
    return Measurement(p["mean_diff"], p["ci_lo"], p["ci_hi"], "t", p["n"], detail)


def decay_exposure(config: dict, lr: float, weight_decay: float) -> float:
    """Summed decoupled decay Σ_t lr_t·wd over a run: how many decay time constants it lasted."""
    train, block = config["train"], config["model"]["block_size"]
    steps = max(1, train["tokens"] // (train["batch_size"] * train["grad_accum"] * block))
    warm = min(steps - 1, round(train["warmup_fraction"] * steps))
    total = sum(
        lr_multiplier(s, steps, warm, train["schedule"], train["min_lr_ratio"])
        for s in range(steps)
    )
    return lr * weight_decay * total


def measure_ko1(study: Study) -> Measurement:
    study.need_grid("adamw")
    threshold = study.config["study"]["equilibrium_exposure"]

    def law(optimizer, settled_only):
        g = study.runs[study.runs["tuning"] & (study.runs["optimizer"] == optimizer)]
        g = g[~g["diverged"].astype(bool) & (g["weight_decay"] > 0)]
        if settled_only:
            exposure = [decay_exposure(study.config, r.lr, r.weight_decay) for r in g.itertuples()]
            g = g[np.asarray(exposure) >= threshold]
        return power_law(g["lr"] / g["weight_decay"], g["final_matrix_norm"], study.n_boot), len(g)

    fit, n = law("adamw", True)
    if not np.isfinite(fit["slope"]):
        raise Untested(f"only {n} AdamW cells reached a summed decay Σ lr_t·wd of {threshold:g}")
    study.need_grid("adam_l2")
    coupled, n2 = law("adam_l2", False)
    if not np.isfinite(coupled["slope"]):
        raise Untested("needs three or more finished Adam+L2 cells")
    margin = study.config["study"]["slope_margin"]

    def where(f):  # the interval against 0.5 ± margin
        return verdict(f["ci_lo"], f["ci_hi"], "equal", margin, 0.5)

    adamw, l2 = where(fit), where(coupled)
    if adamw == "reproduced" and l2 == "not reproduced":
        v = "reproduced"
    elif adamw == "not reproduced" or l2 == "reproduced":
        v = "not reproduced"
    else:
        v = "inconclusive"
    detail = (
        f"AdamW: b = {fit['slope']:.2f} [{fit['ci_lo']:.2f}, {fit['ci_hi']:.2f}] over {n} cells "
        f"with Σ lr_t·wd ≥ {threshold:g} (R² {fit['r2']:.2f}); Adam+L2: b = "
        f"{coupled['slope']:.2f} [{coupled['ci_lo']:.2f}, {coupled['ci_hi']:.2f}] over {n2} cells"
    )
    return Measurement(
        fit["slope"], fit["ci_lo"], fit["ci_hi"], "bootstrap over cells", n, detail, verdict=v
    )


def measure_u1(study: Study) -> Measurement:
    study.need("adam", "adamw")
    ab = study.runs[study.runs["ablation"]]
    a, b = ab[ab["optimizer"] == "adamw"], ab[ab["optimizer"] == "adam"]
    if a.empty or b.empty:
        raise Untested("needs the AdamW(wd = 0) and Adam ablations")
    c = study.curves[
        study.curves["metric"].isin(["train_loss", "val_loss", "grad_norm", "weight_norm"])
    ]
    key = ["seed", "step", "metric"]
    ca = c[c["run_id"].isin(a["run_id"])].set_index(key)["value"]
    cb = c[c["run_id"].isin(b["run_id"])].set_index(key)["value"]
    common = ca.index.intersection(cb.index)
    diff = float(np.nanmax(np.abs(ca.loc[common].to_numpy() - cb.loc[common].to_numpy())))
    same = diff == 0.0 and len(common) == len(ca) == len(cb)
    seeds = a["seed"].nunique()
    return Measurement(
        diff,
        interval="exact",
        n=seeds,
        verdict=("reproduced" if same else "not reproduced"),
        detail=(
            f"{len(common)} logged values compared over {seeds} seeds at lr {a['lr'].iloc[0]:g}; "
            f"largest difference {diff:g}"
        ),
    )


def decay_gradient_dependence() -> dict:
    """One step on two weights whose gradients differ 10^4-fold: how far the decay term moves
    the small-gradient weight relative to the large-gradient one (decay displacement = step
    with decay − step without), under Adam+L2 and under AdamW."""
    moved = {}
    for name in ("adam", "adam_l2", "adamw"):
        m = nn.Module()
        m.w = nn.Parameter(torch.ones(1, 2, dtype=torch.float64))
        m.w.grad = torch.tensor([[1e-4, 1.0]], dtype=torch.float64)
        build_optimizer(name, m, {"lr": 1e-3, "weight_decay": 0.1}).step()
        moved[name] = m.w.detach().flatten()
    ratio = {}
    for name in ("adam_l2", "adamw"):
        d = (moved["adam"] - moved[name]).abs()
        ratio[name] = float(d[0] / d[1])
    return ratio


def measure_u2(study: Study) -> Measurement:
    r = decay_gradient_dependence()
    ok = abs(r["adamw"] - 1) < 1e-9 and r["adam_l2"] > 10
    return Measurement(
        r["adam_l2"],
        interval="exact (one step)",
        n=1,
        verdict="reproduced" if ok else "not reproduced",
        detail=f"ratio {r['adam_l2']:.3g} under Adam+L2, {r['adamw']:.6f} under AdamW",
    )


def measure_u6(study: Study) -> Measurement:
    study.need_grid("adam_l2", "adamw")
    opts = ("adamw", "adam_l2")
    std = {o: study.values("evaluation", o, "final_val_loss").std(ddof=1) for o in opts}
    grid = study.runs[study.runs["tuning"]]
    diverged = {o: int(grid[grid["optimizer"] == o]["diverged"].sum()) for o in opts}
    losses = study.curves[
        (study.curves["metric"] == "train_loss") & study.curves["run_id"].isin(grid["run_id"])
    ]
    spikes = {}
    for o in opts:
        per_run = [
            count_spikes(g.sort_values("step")["value"].tolist())
            for _, g in losses[losses["optimizer"] == o].groupby("run_id")
        ]
        spikes[o] = float(np.mean(per_run)) if per_run else math.nan
    better = worse = 0
    for m in (std, diverged, spikes):
        if np.isfinite(m["adamw"]) and np.isfinite(m["adam_l2"]):
            better += m["adamw"] < m["adam_l2"]
            worse += m["adamw"] > m["adam_l2"]
    v = (
        "reproduced"
        if better and not worse
        else "inconclusive"
        if better and worse
        else "not reproduced"
    )
    detail = (
        f"seed std AdamW {std['adamw']:.4f} vs Adam+L2 {std['adam_l2']:.4f}; diverged "
        f"trials {diverged['adamw']} vs {diverged['adam_l2']}; spikes per trial "
        f"{spikes['adamw']:.2f} vs {spikes['adam_l2']:.2f}"
    )
    return Measurement(math.nan, interval="counts", verdict=v, detail=detail)


def measure_u7(study: Study) -> Measurement:
    study.need("adamw")
    lr, _ = study.selected_adamw()
    n_w, n_0 = study.paired(
        "final_matrix_norm",
        ("evaluation", "adamw"),
        ("ablation", "adamw", {"weight_decay": 0.0, "lr": lr}),
    )
    rel = ((n_0 - n_w) / n_0).to_numpy()
    p = paired(rel, np.zeros_like(rel))
    detail = f"norm {n_w.mean():.1f} with decay against {n_0.mean():.1f} without ({p['n']} seeds)"
    return Measurement(p["mean_diff"], p["ci_lo"], p["ci_hi"], "t", p["n"], detail)


def measure_u8a(study: Study) -> Measurement:
    raise Untested(
        "one model size per profile; rerun the study with another model section and "
        "compare the LH2 rows"
    )


def measure_u8b(study: Study) -> Measurement:
    study.need_grid("adamw")
    margin = study.config["study"]["margin"]
    shares = {}
    for o in ("adamw", "adam_l2"):
        if o in study.optimizers:
            _, loss = study.grid(o)
            shares[o] = float(
                (np.nan_to_num(loss, nan=np.inf) <= np.nanmin(loss) + 5 * margin).mean()
            )
    detail = f"{100 * shares['adamw']:.0f}% of AdamW trials"
    if "adam_l2" in shares:
        detail += f" ({100 * shares['adam_l2']:.0f}% of Adam+L2's)"
    return Measurement(
        shares["adamw"],
        n=1,
        detail=detail,
        verdict="reproduced" if shares["adamw"] < 0.5 else "not reproduced",
    )


def measure_u8c(study: Study) -> Measurement:
    raise Untested(
        f"one corpus ({study.config['corpus']['source']}) per profile; rerun the study "
        "with another corpus.source and compare the LH2 rows"
    )


MEASURES = {
    "LH1": measure_lh1,
    "LH2": paired_claim("final_val_loss", "adam_l2", "adamw"),
    "LH3": paired_claim("final_val_loss", "adam", "adam_l2"),
    "LH4": measure_lh4,
    "WA1": measure_wa1,
    "DA1": measure_da1,
    "KO1": measure_ko1,
    "U1": measure_u1,
    "U2": measure_u2,
    "U3": paired_claim("final_val_loss", "adam_l2", "adamw"),
    "U4": paired_claim("final_val_acc", "adamw", "adam_l2"),
    "U5": paired_claim("gen_gap", "adam_l2", "adamw"),
    "U6": measure_u6,
    "U7": measure_u7,
    "U8a": measure_u8a,
    "U8b": measure_u8b,
    "U8c": measure_u8c,
}


def rule_text(claim: Claim, margin: float) -> str:
    if claim.kind == "greater":
        return (
            f"reproduced if the 95% interval lies above {claim.target:g}; not reproduced if "
            f"it lies below {claim.target + margin:g}; otherwise inconclusive"
        )
    if claim.kind == "equal":
        return (
            f"reproduced if the 95% interval lies within {claim.target:g} ± {margin:g}; not "
            "reproduced if it lies entirely outside; otherwise inconclusive"
        )
    return claim.kind.removeprefix("check: ")


def build_ledger(runs: pd.DataFrame, curves: pd.DataFrame, config: dict) -> list[dict]:
    study = Study(runs, curves, config)
    rows = []
    for claim in CLAIMS:
        margin = config["study"][claim.margin]
        row = {
            "id": claim.id,
            "claim": claim.text,
            "source": claim.source,
            "quantity": claim.quantity,
            "figure": claim.figure,
            "rule": rule_text(claim, margin),
        }
        try:
            m = MEASURES[claim.id](study)
        except Untested as why:
            rows.append(
                {
                    **row,
                    "effect": math.nan,
                    "ci_lo": math.nan,
                    "ci_hi": math.nan,
                    "interval": "",
                    "n": 0,
                    "verdict": "untested",
                    "detail": str(why),
                }
            )
            continue
        v = m.verdict or verdict(m.lo, m.hi, claim.kind, margin, claim.target)
        rows.append(
            {
                **row,
                "effect": m.effect,
                "ci_lo": m.lo,
                "ci_hi": m.hi,
                "interval": m.interval,
                "n": m.n,
                "verdict": v,
                "detail": m.detail,
            }
        )
    return rows


def optimizer_stats(runs: pd.DataFrame, n_boot: int) -> pd.DataFrame:
    ev = runs[runs["evaluation"]]
    rows = []
    for opt in optimizer_order(ev["optimizer"]):
        r = ev[ev["optimizer"] == opt]
        finished = r[~r["diverged"].astype(bool)]
        for metric in METRICS:
            rows.append(
                {
                    "optimizer": opt,
                    "metric": metric,
                    "lr": r["lr"].iloc[0],
                    "weight_decay": r["weight_decay"].iloc[0],
                    "seeds": len(r),
                    "diverged": int(r["diverged"].sum()),
                    **describe(finished[metric].tolist(), n_boot),
                }
            )
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="the resolved config, as JSON")
    ap.add_argument("--runs", required=True)
    ap.add_argument("--curves", required=True)
    ap.add_argument("--out-stats", required=True)
    ap.add_argument("--out-ledger", required=True)
    args = ap.parse_args(argv)
    config = json.loads(args.config)
    runs, curves = pd.read_csv(args.runs), pd.read_csv(args.curves)
    stats_table = optimizer_stats(runs, config["study"]["bootstrap_samples"])
    atomic.write_text(args.out_stats, stats_table.to_csv(index=False))
    ledger = pd.DataFrame(build_ledger(runs, curves, config))
    atomic.write_text(args.out_ledger, ledger.to_csv(index=False))
    for r in ledger.itertuples():
        print(f"{r.id:>4} {r.verdict:<15} {r.claim}")


if __name__ == "__main__":
    main()
