"""The claims ledger, and the checks of whether this regime could show what the claims predict.

``ledger.csv`` has one row per claim: what was measured (on the test split), the effect with its
95 % interval, a verdict by the claim's rule, Holm's adjusted p-value where the claim is one of
the family of effect claims, and whether the verdict survives leaving out any one seed. Each
claim is one block below: its text, source and rule in the ``@claim`` decorator, its measurement
in the function. Two claims that rest on one measurement share it (``same_as``) and count once.

``regime.csv`` answers "could this regime have shown the effect?" before any verdict is read:
does the unregularized model overfit, what span of decay timescales τ/T did AdamW's grid cover,
and two gates, each for the claims that need it (``gated``):

``decay acts``  at a fixed learning rate, does some decay of AdamW's grid move the validation
                loss (or, for the norm claims, the weight norms) by more than the smallest
                effect of interest, either way? Gates the claims about what decay does.
``decay helps`` does tuned AdamW beat tuned Adam on the test split by more than the smallest
                effect of interest? Gates the claims about performance, the headline included.

A claim whose gate did not pass reads "untestable here": its measurement stays in the row, with
the gate's numbers, and no verdict. ``regime.csv`` also reports the embedding decay as a factor
of the headline comparison.

Each claim is registered with the claims engine (``analysis.claims``), which judges a study's
claims and a ladder's alike: the rule of its kind, Holm's correction first, then the
leave-one-seed-out mark on the adjusted verdict.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from .. import atomic
from ..registry import LABELS
from ..schedule import decay_exposure
from .claims import (
    CONTRADICTED,
    REPRODUCED,
    Measurement,
    Untested,
    build_ledger,
    claim,
    three_way,
)
from .evidence import Evidence, decomposition, regime_checks, seed_effect
from .stats import (
    bootstrap_diff,
    cell_means,
    count_spikes,
    log_sd_ratio,
    norm_law,
    optimizer_stats,
    paired,
    verdict,
)

LH, WA, DA, KO, USER = (
    "Loshchilov & Hutter 2019",
    "Wang & Aitchison 2025",
    "D'Angelo et al. 2024",
    "Kosson et al. 2024",
    "course article",
)


def _tilt_text(name: str, fit: dict, unit: str, shift: float = 0.0) -> str:
    lo, hi = fit["ci_lo"] + shift, fit["ci_hi"] + shift
    flags = []
    if fit["edges"]:
        flags.append(f"best cell on the grid's {' and '.join(fit['edges'])} edge")
    if not fit["vertex_inside"]:
        flags.append("fitted optimum outside the fitted decay range")
    text = (
        f"{name}: tilt {fit['tilt'] + shift:.2f} in {unit} [{lo:.2f}, {hi:.2f}] "
        f"({fit['cells']} cells, {fit['n']} runs)"
    )
    return text + (f"; {', '.join(flags)}" if flags else "")


def _check(parts: list[str], conclude: str, measurement: Measurement) -> Measurement:
    measurement.verdict = conclude
    measurement.detail = "; ".join(parts)
    return measurement


@claim(
    "LH1",
    "The good (lr, decay) region is diagonal for Adam+L2 and axis-aligned for AdamW (in λ = lr·wd)",
    LH,
    "basin tilt d log(best decay) / d log(lr) from a quadratic surface over seed-replicated "
    "tuning cells near the optimum: AdamW in λ = lr·wd, Adam+L2 in wd",
    figure="heatmaps_adam",
    kind="check",
    rule="reproduced if AdamW's interval lies within 0 ± the slope margin and Adam+L2's "
    "lies below −(slope margin); contradicted if AdamW's lies outside 0 ± the margin or "
    "Adam+L2's inside it; otherwise inconclusive",
    margin="slope_margin",
    gated="acts",
)
def measure_lh1(ev: Evidence) -> Measurement:
    w, l2 = ev.basin("adamw", True), ev.basin("adam_l2", False)
    m = ev.config["study"]["slope_margin"]
    aligned = verdict(w["ci_lo"], w["ci_hi"], "equal", m, 0.0)
    l2_flat = verdict(l2["ci_lo"], l2["ci_hi"], "equal", m, 0.0)
    l2_tilted = l2["ci_hi"] < -m
    v = three_way(
        aligned == REPRODUCED and l2_tilted, aligned == CONTRADICTED or l2_flat == REPRODUCED
    )
    texts = [_tilt_text("AdamW", w, "λ"), _tilt_text("Adam+L2", l2, "wd")]
    return _check(texts, v, Measurement(w["tilt"], w["ci_lo"], w["ci_hi"], "Fieller", w["n"]))


@claim(
    "WA1",
    "The optimum follows the EMA timescale τ = 1/(lr·wd): best AdamW weight decay ∝ 1/lr",
    WA,
    "AdamW's basin tilt (LH1's fit) in PyTorch weight-decay units: tilt in λ − 1",
    figure="heatmaps_adam",
    kind="equal",
    target=-1.0,
    margin="slope_margin",
    gated="acts",
    same_as="LH1",
)
def measure_wa1(ev: Evidence) -> Measurement:
    w = ev.basin("adamw", True)
    return Measurement(
        w["tilt"] - 1, w["ci_lo"] - 1, w["ci_hi"] - 1, "Fieller", w["n"],
        _tilt_text("AdamW", w, "PyTorch wd", shift=-1.0),
    )  # fmt: skip


def paired_measure(metric: str, a: str, b: str) -> Callable:
    """A measure: ``metric`` of optimizer ``a``'s selection minus ``b``'s, paired by seed."""

    def measure(ev: Evidence) -> Measurement:
        ev.need(a, b)
        return ev.paired_effect(metric, ("evaluation", a), ("evaluation", b), LABELS[a], LABELS[b])

    return measure


_lh2 = paired_measure("final_test_loss", "adam_l2", "adamw")
TUNED = {"reselect": True}  # compares two tuned selections: re-measured with each half's


claim(
    "LH2",
    "Tuned AdamW reaches a lower test loss than tuned Adam+L2",
    LH,
    "paired difference of final test loss, Adam+L2 − AdamW, each at its own selection (nats)",
    figure="final_test_loss",
    gated="helps",
    rests_on=("adam_l2", "adamw"),
    **TUNED,
)(_lh2)
claim(
    "U3",
    "AdamW reaches a lower held-out loss than Adam+L2",
    USER,
    "LH2's measurement: paired difference of final test loss, Adam+L2 − AdamW (nats); the "
    "article speaks of validation loss, which here only selects, so the held-out loss "
    "reported is the test split's",
    figure="final_test_loss",
    gated="helps",
    same_as="LH2",
    rests_on=("adam_l2", "adamw"),
    **TUNED,
)(_lh2)


@claim(
    "LH2m",
    "At a matched learning rate, AdamW's best decay beats Adam+L2's best decay (decoupling "
    "itself, not the larger learning rate decay may allow)",
    LH,
    "paired difference of final test loss, Adam+L2 at its selection − AdamW at Adam+L2's "
    "selected learning rate with its own best decay there (chosen on validation) (nats)",
    figure="lr_sweep",
    gated="helps",
    rests_on=("adam_l2", "matched"),
)
def measure_lh2m(ev: Evidence) -> Measurement:
    return _matched(ev, "final_test_loss")


def _matched(ev: Evidence, metric: str) -> Measurement:
    ev.need("adam_l2", "adamw")
    if not ev.runs["matched"].any():
        raise Untested("AdamW was not searched at Adam+L2's selected learning rate")
    return ev.paired_effect(metric, ("evaluation", "adam_l2"), ("matched", "adamw"),
                            "Adam+L2", "AdamW at Adam+L2's lr")  # fmt: skip


claim(
    "LH3",
    "Adam gains little from L2 regularization (tuned Adam+L2 ≈ tuned Adam)",
    LH,
    "paired difference of final test loss, Adam − Adam+L2 (nats); Adam is the wd = 0 column "
    "of Adam+L2's grid",
    figure="final_test_loss",
    kind="equal",
    gated="helps",
    rests_on=("adam", "adam_l2"),
    **TUNED,
)(paired_measure("final_test_loss", "adam", "adam_l2"))


@claim(
    "LH4",
    "For SGD, L2 and decoupled weight decay coincide once the decay is rescaled (Prop. 1)",
    LH,
    "largest relative weight difference between SGD+L2 and SGDW (no momentum, as in the "
    "Proposition) trained alike in float64",
    figure="heatmaps_sgd",
    kind="check",
    rule="reproduced if the momentum-free runs agree to 1e-9 (relative); not reproduced otherwise",
)
def measure_lh4(ev: Evidence) -> Measurement:
    from ..training.optim import (
        l2_equals_decoupled_without_momentum,  # torch: the ledger stage only
    )

    exact = l2_equals_decoupled_without_momentum()
    detail = [f"momentum-free runs differ by at most {exact:.2g} (relative)"]
    try:
        detail.append(momentum_observation(ev))
    except Untested as why:
        detail.append(f"with momentum: not measured ({why})")
    m = Measurement(exact, interval="exact", n=1)
    return _check(detail, "reproduced" if exact <= 1e-9 else "not reproduced", m)


def momentum_observation(ev: Evidence) -> str:
    """L&H's Proposition is about plain SGD; with heavy-ball momentum the L2 term enters the
    velocity, which scales it by 1/(1 − β) at steady state, so the two match only roughly.
    Reported, never judged: L&H did not claim it."""
    ev.need_grid("sgd_l2", "sgdw")
    beta = ev.config["optimizers"]["sgd_l2"]["momentum"]
    if ev.config["optimizers"]["sgdw"]["momentum"] != beta:
        raise Untested("sgd_l2 and sgdw use different momentum")
    l2, w = ev.tuning("sgd_l2"), ev.tuning("sgdw")
    w = w.assign(weight_decay=(w["weight_decay"] * (1 - beta)).round(12))
    both = l2.assign(weight_decay=l2["weight_decay"].round(12)).merge(
        w, on=["lr", "weight_decay", "seed"], suffixes=("_l2", "_w")
    )
    ok = both[~both["diverged_l2"] & ~both["diverged_w"]]
    if len(ok) < 2:
        raise Untested("fewer than two finished cells match after rescaling by 1/(1 − momentum)")
    p = paired(ok["final_test_loss_l2"], ok["final_test_loss_w"])
    return (
        f"with momentum {beta:g} (an observation, not judged): SGD+L2 − SGDW = "
        f"{p['mean_diff']:+.4f} nats [{p['ci_lo']:+.4f}, {p['ci_hi']:+.4f}] over {len(ok)} "
        "matched runs"
    )


@claim(
    "DA1",
    "Weight decay lowers the final training loss (after the learning rate has decayed) more "
    "than it changes the generalization gap",
    DA,
    "per seed, AdamW at its selected lr: (train(wd=0) − train(wd*)) − |gap(wd*) − gap(wd=0)| "
    "(nats; train = loss on the training data, gap = test − train)",
    figure="train_test_curves",
    gated="acts",
)
def measure_da1(ev: Evidence) -> Measurement:
    lr, wd = ev.selected("adamw")
    ablation = ("no_decay", "adamw", {"lr": lr})
    train_w, train_0 = ev.paired("final_train_loss", ("evaluation", "adamw"), ablation)
    gap_w, gap_0 = ev.paired("gen_gap", ("evaluation", "adamw"), ablation)
    d_train, d_gap = train_0 - train_w, gap_w - gap_0
    detail = (
        f"at lr {lr:g}, decay {wd:g} against 0: training loss lower by {d_train.mean():.4f} "
        f"nats, gap changed by {d_gap.mean():+.4f} (over {len(d_train)} seeds)"
    )
    return seed_effect(d_train - d_gap.abs(), detail)


@claim(
    "KO1",
    "Under AdamW each weight matrix's norm settles to an equilibrium ∝ sqrt(lr/wd)",
    KO,
    "exponent b of final weight-matrix norm ∝ (lr/wd)^b, one intercept per decayed matrix, "
    "over AdamW tuning runs that lasted at least {equilibrium_exposure:g} decay time "
    "constants (Σ lr_t·wd ≥ study.equilibrium_exposure) with lr·wd < 1",
    figure="weight_norms",
    kind="equal",
    target=0.5,
    margin="slope_margin",
    gated="acts on norms",
)
def measure_ko1(ev: Evidence) -> Measurement:
    ev.need_grid("adamw")
    need = ev.config["study"]["equilibrium_exposure"]
    train, block = ev.config["train"], ev.config["model"]["block_size"]
    t = ev.tuning("adamw")
    t = t[~t["diverged"] & (t["lr"] * t["weight_decay"] < 1)]
    exposure = np.array(
        [decay_exposure(train, block, r.lr, r.weight_decay) for r in t.itertuples()]
    )
    t = t[exposure >= need]
    # The law is an equilibrium over timescales: one τ (one lr·wd) cannot separate it from a
    # per-lr norm. Cells of a τ grid share lr·wd along a row, so count distinct products.
    # (weight decays are rounded to 4 significant digits per lr, so compare λ on a log scale)
    timescales = np.log10(t["lr"] * t["weight_decay"]).round(2).nunique()
    if timescales < 2:
        raise Untested(
            f"{len(t)} AdamW runs lasted {need:g} decay time constants, at {timescales} "
            "timescale(s); the fit needs two or more"
        )
    n = ev.norms.merge(t[["run_id", "lr", "weight_decay"]], on="run_id", suffixes=("", "_r"))
    if not ev.config["train"]["decay_embeddings"]:
        n = n[~n["param"].str.contains(r"\.wte\.|\.wpe\.", regex=True)]
    cell = n["lr"].astype(str) + "/" + n["weight_decay"].astype(str)
    fit = norm_law(np.log(n["lr"] / n["weight_decay"]), np.log(n["norm"]), cell, n["param"])
    if not np.isfinite(fit["slope"]):
        raise Untested(f"only {fit['cells']} AdamW cells lasted {need:g} decay time constants")
    detail = (
        f"b = {fit['slope']:.2f} over {fit['cells']} cells at {timescales} timescales with "
        f"Σ lr_t·wd ≥ {need:g}, {n['param'].nunique()} decayed matrices each; the law assumes "
        "scale-invariant weights, which no matrix of a pre-LN GPT-2 is exactly (each feeds the "
        "residual stream or attention logits unnormalized), so it is fitted to all of them"
    )
    return Measurement(
        fit["slope"], fit["ci_lo"], fit["ci_hi"], "bootstrap over cells", fit["cells"], detail
    )


@claim(
    "U1",
    "With weight decay off, AdamW and Adam are the same algorithm",
    USER,
    "largest absolute difference between the logged metrics of AdamW(wd = 0) and Adam at "
    "AdamW's selected lr on the same seeds",
    kind="check",
    rule="reproduced if every logged value is bit-identical",
)
def measure_u1(ev: Evidence) -> Measurement:
    ev.need("adam", "adamw")
    a, b = ev.runs[ev.runs["no_decay"]], ev.runs[ev.runs["adam_identity"]]
    a = a[a["seed"].isin(b["seed"])]  # Adam runs on the ablation seeds only
    if a.empty or b.empty:
        raise Untested("needs the AdamW(wd = 0) and Adam ablations on common seeds")
    key = ["seed", "step", "metric"]
    c = ev.curves[ev.curves["metric"] != "tokens_per_s"]
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
        verdict="reproduced" if same else "not reproduced",
        detail=f"{len(common)} logged values compared over {seeds} seeds at lr "
        f"{a['lr'].iloc[0]:g}; largest difference {diff:g}",
    )


@claim(
    "U2",
    "Adam+L2's decay strength depends on the gradient history; AdamW's does not",
    USER,
    "after 100 steps that warm up Adam's second moments (ε = 0), how far one step's decay "
    "term moves a weight whose gradients are 10^4 times smaller than another's, relative to "
    "that other weight",
    kind="check",
    rule="reproduced if AdamW's ratio is 1 (within 1 %) and Adam+L2's is within 10 % "
    "of the ratio of the two gradients' root mean squares (10^4)",
)
def measure_u2(ev: Evidence) -> Measurement:
    from ..training.optim import decay_gradient_dependence  # torch: the ledger stage only

    r = decay_gradient_dependence(eps=0.0)
    target = r["gradient_rms_ratio"]
    ok = abs(r["adamw"] - 1) < 0.01 and abs(r["adam_l2"] / target - 1) < 0.1
    eps = decay_gradient_dependence(eps=1e-8)
    return Measurement(
        r["adam_l2"],
        interval="exact",
        n=1,
        verdict="reproduced" if ok else "not reproduced",
        detail=f"ratio {r['adam_l2']:.4g} under Adam+L2 (gradient RMS ratio {target:.4g}), "
        f"{r['adamw']:.6f} under AdamW; with ε = 1e-8: {eps['adam_l2']:.4g} and "
        f"{eps['adamw']:.6f}",
    )


claim(
    "U4",
    "AdamW reaches a higher next-token accuracy than Adam+L2",
    USER,
    "paired difference of final test top-1 accuracy, AdamW − Adam+L2",
    figure="final_test_accuracy",
    margin="accuracy_margin",
    gated="helps",
    rests_on=("adamw", "adam_l2"),
    **TUNED,
)(paired_measure("final_test_acc", "adamw", "adam_l2"))


@claim(
    "U5",
    "AdamW generalizes better: a smaller gap between test and training loss",
    USER,
    "paired difference of the generalization gap (test loss − loss on the training data), "
    "Adam+L2 − AdamW, at a matched learning rate: Adam+L2 at its selection against AdamW at "
    "that learning rate with its best decay there (nats)",
    figure="train_test_curves",
    gated="helps",
    rests_on=("adam_l2", "matched"),
)
def measure_u5(ev: Evidence) -> Measurement:
    # The gap moves by about 0.4 nats per doubling of the learning rate (v2 pilot), far more
    # than the effect: compared across two learning rates it would measure the lr, not decay.
    return _matched(ev, "gen_gap")


@claim(
    "U6",
    "AdamW is more stable than Adam+L2: lower seed spread, fewer diverged grid cells, "
    "fewer loss spikes",
    USER,
    "AdamW − Adam+L2: log ratio of seed standard deviations of the final test loss (F "
    "interval); share of diverged runs and loss spikes per run over the first-round grids on "
    "the search seeds (bootstrap intervals; the two grids have the same size and density)",
    figure="heatmaps_adam",
    kind="check",
    rule="reproduced if some interval shows AdamW more stable and none less stable; "
    "contradicted if some interval shows it less stable and none more; otherwise inconclusive",
    gated="helps",
)
def measure_u6(ev: Evidence) -> Measurement:
    ev.need_grid("adam_l2", "adamw")
    nb = ev.n_boot
    sd = [ev.values("evaluation", o, "final_test_loss").to_numpy() for o in ("adamw", "adam_l2")]
    grids = [ev.grid_trials(o) for o in ("adamw", "adam_l2")]
    loss = ev.curves[ev.curves["metric"] == "train_loss"]
    spikes = [
        [count_spikes(g.sort_values("step")["value"]) for _, g in loss.groupby("run_id")
         if g["run_id"].iloc[0] in set(t["run_id"])]
        for t in grids
    ]  # fmt: skip
    measures = {
        "log seed-std ratio": log_sd_ratio(*sd),
        "diverged share": bootstrap_diff(*(t["diverged"] for t in grids), np.mean, nb),
        "spikes per run": bootstrap_diff(*spikes, np.mean, nb),
    }
    better = [k for k, m in measures.items() if m["ci_hi"] < 0]
    worse = [k for k, m in measures.items() if m["ci_lo"] > 0]
    v = three_way(bool(better and not worse), bool(worse and not better))
    parts = [
        f"{k} {m['diff']:+.3f} [{m['ci_lo']:+.3f}, {m['ci_hi']:+.3f}]" for k, m in measures.items()
    ]
    return _check(parts, v, Measurement(math.nan, interval="bootstrap", n=len(sd[0])))


@claim(
    "U7",
    "AdamW keeps the weight norm under control",
    USER,
    "relative reduction of the final weight-matrix norm by decay at AdamW's selected lr, "
    "(norm(wd=0) − norm(wd*)) / norm(wd=0)",
    figure="weight_norms",
    margin="relative_margin",
    gated="acts on norms",
)
def measure_u7(ev: Evidence) -> Measurement:
    lr, _ = ev.selected("adamw")
    n_w, n_0 = ev.paired(
        "final_matrix_norm", ("evaluation", "adamw"), ("no_decay", "adamw", {"lr": lr})
    )
    detail = f"norm {n_w.mean():.1f} with decay against {n_0.mean():.1f} without ({len(n_w)} seeds)"
    return seed_effect((n_0 - n_w) / n_0, detail)


@claim(
    "U8a",
    "Limitation: AdamW brings less benefit to small models",
    USER,
    "decay's benefit (tuned Adam − tuned AdamW) at several model sizes",
)
def measure_u8a(ev: Evidence) -> Measurement:
    raise Untested(
        "a single study has one model size; a ladder of studies at several sizes "
        "(config/ladder.yaml) judges it in its cross-study stage"
    )


@claim(
    "U8b",
    "Limitation: AdamW is more sensitive to its hyperparameters than Adam+L2",
    USER,
    "width of the good basin along the decay axis (decades of decay whose cells' mean test "
    "loss lies within the margin of the best, at each optimizer's best learning rate; both "
    "grids have the same step), AdamW − Adam+L2",
    figure="heatmaps_adam",
    kind="check",
    rule="reproduced if AdamW's basin is at least one grid step narrower and lies inside "
    "its grid; contradicted if it is at least one step wider and Adam+L2's lies inside its "
    "grid; otherwise inconclusive (a basin that reaches a grid end is only a lower bound)",
    gated="helps",
)
def measure_u8b(ev: Evidence) -> Measurement:
    # Not the share of good cells over the whole grid: that depends on where each grid ends
    # (AdamW's τ = T/16 row costs 0.03-0.8 nats, Adam+L2's strongest point about 0.02).
    ev.need_grid("adam_l2", "adamw")
    w, l2 = (basin_width(ev.searched(o), ev.margin) for o in ("adamw", "adam_l2"))
    step = max(w["step"], l2["step"])
    diff = w["width"] - l2["width"]
    v = three_way(
        diff <= -step + 1e-9 and not w["censored"], diff >= step - 1e-9 and not l2["censored"]
    )  # both rows on the search seeds: the cells of one row share them
    detail = "; ".join(
        f"{name}: {b['cells']} of {b['row']} decay cells at lr {b['lr']:g} within "
        f"{ev.margin:g} of the best, {b['width']:.2f} decades"
        + (" (reaches a grid end: at least that)" if b["censored"] else "")
        for name, b in (("AdamW", w), ("Adam+L2", l2))
    )
    return Measurement(
        diff, interval="grid cells", n=w["row"] + l2["row"], detail=detail, verdict=v
    )


def basin_width(tuning: pd.DataFrame, margin: float) -> dict:
    """Along the decay axis at the best cell's learning rate: how many cells' mean test loss lies
    within ``margin`` of the best, as decades of decay (cells × the grid's step in log10), and
    whether the basin reaches an end of the grid (then the width is a lower bound)."""
    cells = cell_means(tuning).dropna(subset=["value"])
    if cells.empty:
        raise Untested("every tuning cell diverged")
    best = cells.loc[cells["value"].idxmin()]
    row = cells[np.isclose(cells["lr"], best["lr"])].sort_values("decay")
    if len(row) < 2:
        raise Untested(f"one decay cell at lr {best['lr']:g}: no basin width")
    near = (row["value"] <= best["value"] + margin).to_numpy()
    step = float(np.median(np.diff(np.log10(row["decay"].to_numpy()))))
    return {
        "lr": float(best["lr"]),
        "cells": int(near.sum()),
        "row": len(row),
        "width": float(near.sum() * abs(step)),
        "step": abs(step),
        "censored": bool(near[0] or near[-1]),
    }


@claim(
    "U8c",
    "Limitation: AdamW's gains vary across data sets",
    USER,
    "decay's benefit (tuned Adam − tuned AdamW) on two corpora",
)
def measure_u8c(ev: Evidence) -> Measurement:
    raise Untested(
        f"a single study has one corpus ({ev.config['corpus']['source']}); a ladder of "
        "studies on several corpora (config/ladder.yaml) judges it in its cross-study stage"
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="the resolved config, as JSON")
    ap.add_argument("--runs", required=True)
    ap.add_argument("--curves", required=True)
    ap.add_argument("--norms", required=True)
    ap.add_argument("--selection", required=True, help="selection.json")
    ap.add_argument("--out-stats", required=True)
    ap.add_argument("--out-ledger", required=True)
    ap.add_argument("--out-regime", required=True)
    ap.add_argument("--out-decomposition", required=True)
    args = ap.parse_args(argv)
    config = json.loads(args.config)
    redo = atomic.redo_stage("the aggregation")
    runs, curves, norms = (
        atomic.read_table(p, redo, cols)
        for p, cols in ((args.runs, ["run_id", "optimizer", "seed"]), (args.curves, ["metric"]),
                        (args.norms, ["param"]))
    )  # fmt: skip
    selection = atomic.read_json(args.selection, atomic.redo_stage("the selection"), ["selected"])
    ev = Evidence(runs, curves, norms, config, selection)
    columns = ["comparison", "a", "b", "lr_a", "lr_b", "n", "test", "test_lo", "test_hi",
               "train", "train_lo", "train_hi", "gap", "gap_lo", "gap_hi", "reading"]  # fmt: skip
    split = pd.DataFrame(decomposition(ev), columns=columns)
    atomic.write_text(args.out_decomposition, split.to_csv(index=False))
    atomic.write_text(args.out_stats, optimizer_stats(runs, ev.n_boot).to_csv(index=False))
    regime = pd.DataFrame(regime_checks(ev))
    atomic.write_text(args.out_regime, regime.to_csv(index=False))
    ledger = pd.DataFrame(build_ledger(ev))
    atomic.write_text(args.out_ledger, ledger.to_csv(index=False))
    for r in regime.itertuples():
        print(f"{r.check:>16}: {r.status} ({r.detail})")
    for r in ledger.itertuples():
        print(f"{r.id:>4} {r.verdict:<15} {r.claim}")


if __name__ == "__main__":
    main()
