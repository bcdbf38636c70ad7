"""The claims of the papers and articles that followed Loshchilov & Hutter (DA1, KO1, U1-U8),
registered after theirs (analysis.ledger imports this module below its own claims: the ledger's
row order)."""

from __future__ import annotations

import math

import numpy as np

from ..schedule import decay_exposure
from . import rows
from .claims import (
    CONTRADICTED,
    INCONCLUSIVE,
    REPRODUCED,
    SMALLER,
    Measurement,
    Untested,
    claim,
    three_way,
)
from .evidence import Evidence, seed_effect
from .measures import (
    DA,
    KO,
    TUNED,
    USER,
    conclude,
    exact_checks,
    matched_measure,
    paired_measure,
)
from .stats import (
    bootstrap_diff,
    count_spikes,
    log_sd_ratio,
    norm_law,
)


@claim(
    "DA1",
    "Weight decay lowers the final training loss (it acts through optimisation, after the "
    "learning rate has decayed)",
    DA,
    "paired difference of the final loss on the training data, AdamW without decay − AdamW "
    "with its selected decay, at AdamW's selected lr (nats); the test loss, which the acts "
    "gate reads, is not part of it",
    figure="train_test_curves",
    gated="acts",
)
def measure_da1(ev: Evidence) -> Measurement:
    lr, wd = ev.selected("adamw")
    ablation = ("no_decay", "adamw", {"lr": lr})
    m = ev.paired_effect("final_train_loss", ablation, ("evaluation", "adamw"),
                         "without decay", f"with decay {wd:g}")  # fmt: skip
    gap_w, gap_0 = ev.paired("gen_gap", ("evaluation", "adamw"), ablation)
    m.detail = (
        f"at lr {lr:g}, the loss on the training data with decay {wd:g} against none: "
        f"{'lower' if m.effect > 0 else 'higher'} by {abs(m.effect):.4f} nats; "
        f"the test − training gap changes by {(gap_w - gap_0).mean():+.4f} "
        f"(over {m.n} seeds); " + m.detail
    )
    return m


@claim(
    "KO1",
    "Under AdamW each weight matrix's norm settles to an equilibrium ∝ sqrt(lr/wd)",
    KO,
    "exponent b of final decayed-weight norm ∝ (lr/wd)^b, one intercept per decayed matrix, "
    "over AdamW tuning runs that lasted at least {equilibrium_exposure:g} decay time "
    "constants (Σ lr_t·wd ≥ study.equilibrium_exposure) with lr·wd < 1",
    figure="weight_norms",
    kind="check",
    rule="reproduced if the 95% interval contains 0.5 and lies within 0.5 ± the slope margin; "
    "real but smaller than claimed if it lies within that band but wholly below 0.5; "
    "contradicted if it lies wholly outside the band; otherwise inconclusive",
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
    lo, hi, band = fit["ci_lo"], fit["ci_hi"], ev.config["study"]["slope_margin"]
    within = 0.5 - band < lo and hi < 0.5 + band
    if within and lo <= 0.5 <= hi:
        v = REPRODUCED
    elif within and hi < 0.5:
        v = SMALLER
    elif hi <= 0.5 - band or lo >= 0.5 + band:
        v = CONTRADICTED
    else:
        v = INCONCLUSIVE
    if not lo <= 0.5 <= hi:
        detail += "; the interval excludes the law's 0.5"
    m = Measurement(fit["slope"], lo, hi, "bootstrap over cells", fit["cells"], detail)
    m.verdict = v
    return m


@claim(
    "U1",
    "With weight decay off, AdamW and Adam are the same algorithm",
    USER,
    "largest absolute difference between the logged metrics of AdamW(wd = 0) and Adam at "
    "AdamW's selected lr on the same seeds",
    kind="check",
    rule="reproduced if every logged value is bit-identical",
    empirical=False,
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
    empirical=False,
)
def measure_u2(ev: Evidence) -> Measurement:
    checks = exact_checks(ev)
    r, eps = checks["u2"], checks["u2_eps"]
    target = r["gradient_rms_ratio"]
    ok = abs(r["adamw"] - 1) < 0.01 and abs(r["adam_l2"] / target - 1) < 0.1
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
    gated="overfits",
    rests_on=("adam_l2", "matched"),
)
def measure_u5(ev: Evidence) -> Measurement:
    # The gap moves by about 0.4 nats per doubling of the learning rate (v2 pilot), far more
    # than the effect: compared across two learning rates it would measure the lr, not decay.
    return matched_measure(ev, "gen_gap")


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
    measures, vacuous = {"log seed-std ratio": log_sd_ratio(*sd)}, []
    diverged = [t["diverged"].astype(float) for t in grids]
    # a part with no event in either grid (no run diverged, no spike) cannot tell them apart
    for name, samples in (("diverged share", diverged), ("spikes per run", spikes)):
        if any(np.sum(x) for x in samples):
            measures[name] = bootstrap_diff(*samples, np.mean, nb)
        else:
            vacuous.append(f"{name}: none in either grid, not measurable")
    better = [k for k, m in measures.items() if m["ci_hi"] < 0]
    worse = [k for k, m in measures.items() if m["ci_lo"] > 0]
    v = three_way(bool(better and not worse), bool(worse and not better))
    parts = [
        f"{k} {m['diff']:+.3f} [{m['ci_lo']:+.3f}, {m['ci_hi']:+.3f}]" for k, m in measures.items()
    ] + vacuous
    return conclude(parts, v, Measurement(math.nan, interval="bootstrap", n=len(sd[0])))


@claim(
    "U7",
    "AdamW keeps the weight norm under control",
    USER,
    "relative reduction of the final decayed-weight norm by decay at AdamW's selected lr, "
    "(norm(wd=0) − norm(wd*)) / norm(wd=0)",
    figure="weight_norms",
    margin="relative_margin",
    gated="acts on norms",
)
def measure_u7(ev: Evidence) -> Measurement:
    lr, _ = ev.selected("adamw")
    n_w, n_0 = ev.paired(
        "final_decayed_norm", ("evaluation", "adamw"), ("no_decay", "adamw", {"lr": lr})
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
    "width of the good basin along the decay axis at each optimizer's selected learning rate: "
    "decades of decay over which the row's fitted test loss (interpolated in log decay between "
    "its cells) lies within the margin of the row's best, AdamW − Adam+L2",
    figure="basin_valleys",
    kind="check",
    rule="reproduced if the 95% interval of AdamW's width minus Adam+L2's lies below 0 and "
    "AdamW's basin ends inside its row; contradicted if it lies above 0 and Adam+L2's basin "
    "ends inside its row; otherwise inconclusive (a basin that reaches a row's end is only a "
    "lower bound)",
    gated="helps",
)
def measure_u8b(ev: Evidence) -> Measurement:
    ev.need_grid("adam_l2", "adamw")
    w, l2 = (
        rows.basin_width(ev.tuning(o), o, ev.selected(o)[0], ev.margin, ev.n_boot)
        for o in ("adamw", "adam_l2")
    )
    if w is None or l2 is None:
        raise Untested("a selected learning rate's row has fewer than three decay cells")
    diff = w["draws"] - l2["draws"]
    lo, hi = np.percentile(diff, [2.5, 97.5])
    effect = w["width"] - l2["width"]
    v = three_way(hi < 0 and not w["censored"], lo > 0 and not l2["censored"])
    detail = "; ".join(
        f"{name}: {b['width']:.2f} decades at lr {b['lr']:g}"
        + (" (reaches the row's end: at least that)" if b["censored"] else "")
        for name, b in (("AdamW", w), ("Adam+L2", l2))
    )
    return Measurement(effect, float(lo), float(hi), "bootstrap", w["cells"] + l2["cells"],
                       detail=detail, verdict=v)  # fmt: skip


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
