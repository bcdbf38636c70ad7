"""The claims ledger, and the checks of whether this regime could show what the claims predict.

``ledger.csv`` has one row per claim: what was measured (on the test split), the effect with its
95 % interval, a verdict by the claim's rule, Holm's adjusted p-value where the claim is one of
the family of effect claims, and whether the verdict survives leaving out any one seed. Each
claim is one block: its text, source and rule in the ``@claim`` decorator, its measurement in the
function; Loshchilov & Hutter's claims are below, the later papers' in ``later_claims``, and
what they share in ``measures``. Two claims that rest on one measurement share it
(``same_as``) and count once.

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

import json
import math

import numpy as np
import pandas as pd

from .. import atomic
from . import rows
from .claims import (
    CONTRADICTED,
    REPRODUCED,
    Measurement,
    Untested,
    build_ledger,
    claim,
    three_way,
)
from .evidence import Evidence, seed_effect
from .measures import (
    CHECK_KEYS,
    LH,
    TUNED,
    USER,
    conclude,
    exact_checks,
    matched_measure,
    paired_measure,
    tie_reach,
)
from .regime import decomposition, regime_checks
from .stats import (
    optimizer_stats,
    paired,
    verdict,
)


def _slope_text(name: str, fit: dict) -> str:
    """A valley slope in its own units and in the other (λ = lr·wd and wd differ by one)."""
    if not math.isfinite(fit["slope"]):
        return f"{name}: {fit['rows']} rows with an interior optimum, too few for a slope"
    units = ("λ", "wd") if fit["units"] == "lambda" else ("wd", "λ")
    parts = []
    for unit, shift in zip(units, (0, -1 if fit["units"] == "lambda" else 1), strict=True):
        lo, mid, hi = (fit[k] + shift for k in ("ci_lo", "slope", "ci_hi"))
        parts.append(f"{mid:+.2f} [{lo:+.2f}, {hi:+.2f}] in {unit}")
    text = f"{name}: slope {parts[0]}, {parts[1]}, over {fit['rows']} rows"
    if fit["censored"]:
        lrs = ", ".join(f"{lr:g}" for lr in fit["censored"])
        text += f" (left out, the optimum at the row's end: lr {lrs})"
    return text


@claim(
    "LH1",
    "The optimal weight decay is decoupled from the learning rate under AdamW (its best λ = "
    "lr·wd does not move with the learning rate), not under Adam+L2 (its best decay falls as "
    "the learning rate rises: a diagonal basin); Wang & Aitchison's timescale rule at a fixed "
    "T and data is the same prediction for AdamW (τ = 1/λ fixed)",
    LH,
    "slope of the map's valley, d log10(best decay) / d log10(lr), the best decay of each row "
    "from the parabola through its best cell and their neighbours (every tuning seed), over "
    "the rows whose optimum is interior: AdamW in λ = lr·wd, Adam+L2 in wd; each also in the "
    "other unit (the slopes differ by one)",
    figure="basin_valleys",
    kind="check",
    rule="reproduced if AdamW's interval lies within 0 ± the slope margin (λ) and Adam+L2's "
    "lies below −(slope margin) (wd); contradicted if AdamW's lies outside 0 ± the margin or "
    "Adam+L2's inside it; otherwise inconclusive",
    margin="slope_margin",
    gated="acts",
)
def measure_lh1(ev: Evidence) -> Measurement:
    w, l2 = ev.valley_slope("adamw"), ev.valley_slope("adam_l2")
    m = ev.config["study"]["slope_margin"]
    aligned = verdict(w["ci_lo"], w["ci_hi"], "equal", m, 0.0)
    l2_flat = verdict(l2["ci_lo"], l2["ci_hi"], "equal", m, 0.0)
    l2_tilted = l2["ci_hi"] < -m
    v = three_way(
        aligned == REPRODUCED and l2_tilted, aligned == CONTRADICTED or l2_flat == REPRODUCED
    )
    texts = [_slope_text("AdamW", w), _slope_text("Adam+L2", l2),
             "a best PyTorch wd that does not move predicts 0 in wd, 1 in λ"]  # fmt: skip
    interval = "bootstrap over rows"
    return conclude(texts, v, Measurement(w["slope"], w["ci_lo"], w["ci_hi"], interval, w["rows"]))


def _lh2(ev: Evidence) -> Measurement:
    m = paired_measure("final_test_loss", "adam_l2", "adamw")(ev)
    m.detail += "; " + tie_reach(m, ev.margin)
    return m


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
    m = matched_measure(ev, "final_test_loss")
    m.detail += "; " + tie_reach(m, ev.margin)
    return m


claim(
    "LH3",
    "L2 regularization is not as effective in Adam as decoupled weight decay: Adam gains less "
    "from tuned L2 than from tuned decoupled decay",
    LH,
    "LH2's measurement: (Adam − Adam+L2) − (Adam − AdamW) = Adam+L2 − AdamW, paired by seed "
    "(the Adam runs cancel); the detail adds Adam's gain from L2 alone",
    figure="final_test_loss",
    gated="helps",
    same_as="LH2",
    rests_on=("adam_l2", "adamw"),
    **TUNED,
)(_lh2)


@claim(
    "LH5",
    "A weight decay tuned at one learning rate stays good at another under AdamW (held fixed "
    "as λ = lr·wd), more than under Adam+L2 (held fixed as wd): the practical side of "
    "decoupling",
    LH,
    "transfer regret: the test loss at a learning rate one or two grid steps away with the "
    "best decay of the first row, minus the best of that row (read off the row by "
    "interpolation in log decay), averaged over the pairs of rows; Adam+L2's minus AdamW's "
    "(nats)",
    figure="transfer_regret",
    gated="acts",
)
def measure_lh5(ev: Evidence) -> Measurement:
    w, l2 = ev.regret("adamw"), ev.regret("adam_l2")
    if not (len(w["pairs"]) and len(l2["pairs"])):
        raise Untested(
            "no pair of map rows one or two steps apart whose decay transfers within the row"
        )
    draws = l2["draws"] - w["draws"]
    lo, hi = (float(v) for v in np.percentile(draws, [2.5, 97.5]))
    effect = l2["regret"] - w["regret"]
    pyt = ev.regret_in("adamw", "wd")
    detail = (
        f"mean regret {l2['regret']:.4f} nats for Adam+L2 (wd fixed, {len(l2['pairs'])} pairs) "
        f"and {w['regret']:.4f} for AdamW (λ fixed, {len(w['pairs'])} pairs); AdamW with its "
        f"PyTorch wd fixed instead: {pyt['regret']:.4f}"
    )
    p = float((1 + np.sum(draws <= ev.margin)) / (1 + len(draws)))
    return Measurement(effect, lo, hi, "bootstrap", len(w["pairs"]) + len(l2["pairs"]), detail,
                       p=p)  # fmt: skip


@claim(
    "LH6",
    "At equal loss on the training data, AdamW reaches a lower test loss than Adam+L2 "
    "(decoupled decay generalises better; Loshchilov & Hutter's Fig. 3)",
    LH,
    "per tuning seed, at each learning rate in contention, test loss against the loss on the "
    "training data along each optimizer's decay path (its cells and the wd = 0 column) on "
    "that seed, Adam+L2 − AdamW averaged over the training losses both paths reach; the mean "
    "over those learning rates, paired by seed (nats)",
    figure="generalization",
    gated="overfits",
)
def measure_lh6(ev: Evidence) -> Measurement:
    ev.need_grid("adam_l2", "adamw")
    lrs = ev.contention_lrs()
    seeds = ev.config["study"]["tuning_seeds"]
    found = rows.equal_train(ev.runs, lrs, seeds)
    per_seed = found["per_seed"]
    if len(per_seed) < 2:
        raise Untested(
            "fewer than two tuning seeds whose decay paths share a range of training loss"
        )
    detail = (
        f"{found['comparisons']} comparisons (seed × learning rate) at lr "
        f"{', '.join(f'{lr:g}' for lr in lrs)}; per seed "
        + ", ".join(f"{s}: {v:+.4f}" for s, v in per_seed.items())
    )
    return seed_effect(per_seed, detail)


@claim(
    "LH4",
    "For SGD, L2 and decoupled weight decay coincide once the decay is rescaled (Prop. 1)",
    LH,
    "largest relative weight difference between SGD+L2 and SGDW (no momentum, as in the "
    "Proposition) trained alike in float64",
    figure="heatmaps_sgd",
    kind="check",
    rule="reproduced if the momentum-free runs agree to 1e-9 (relative); not reproduced otherwise",
    empirical=False,
)
def measure_lh4(ev: Evidence) -> Measurement:
    exact = exact_checks(ev)["lh4_relative_difference"]
    detail = [f"momentum-free runs differ by at most {exact:.2g} (relative)"]
    try:
        detail.append(momentum_observation(ev))
    except Untested as why:
        detail.append(f"with momentum: not measured ({why})")
    m = Measurement(exact, interval="exact", n=1)
    return conclude(detail, "reproduced" if exact <= 1e-9 else "not reproduced", m)


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


# the later papers' claims, registered after L&H's above: the ledger's row order
from . import later_claims  # noqa: E402, F401


def run(input, output, params) -> None:
    """The ledger rule: the study's tables judged into the ledger and its companions (stage.py)."""
    config = json.loads(params["config"])
    redo = atomic.redo_stage("the aggregation")
    runs, curves, norms = (
        atomic.read_table(input[name], redo, cols)
        for name, cols in (("runs", ["run_id", "optimizer", "seed"]), ("curves", ["metric"]),
                           ("norms", ["param"]))
    )  # fmt: skip
    redo = atomic.redo_stage("the selection")
    selection = atomic.read_json(input["selection"], redo, ["selected"])
    checks = atomic.read_json(
        input["checks"], atomic.redo_stage("the optimizer checks"), CHECK_KEYS
    )
    ev = Evidence(runs, curves, norms, config, selection, checks)
    columns = ["comparison", "a", "b", "lr_a", "lr_b", "n", "test", "test_lo", "test_hi",
               "train", "train_lo", "train_hi", "gap", "gap_lo", "gap_hi", "reading"]  # fmt: skip
    split = pd.DataFrame(decomposition(ev), columns=columns)
    atomic.write_text(output["decomposition"], split.to_csv(index=False))
    atomic.write_text(output["stats"], optimizer_stats(runs, ev.n_boot).to_csv(index=False))
    regime = pd.DataFrame(regime_checks(ev))
    atomic.write_text(output["regime"], regime.to_csv(index=False))
    ledger = pd.DataFrame(build_ledger(ev))
    atomic.write_text(output["ledger"], ledger.to_csv(index=False))
    atomic.write_text(output["map"], rows.map_table(ev).to_csv(index=False))
    for r in regime.itertuples():
        print(f"{r.check:>16}: {r.status} ({r.detail})")
    for r in ledger.itertuples():
        print(f"{r.id:>4} {r.verdict:<15} {r.claim}")
