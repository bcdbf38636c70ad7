"""A ladder's claims: those no single study can judge, registered with the claims engine
(``scope="ladder"``) and judged like a study's.

The ladder's studies lie on two axes (``study.axes``), and each claim fits the studies of its
axis whose gate passed, with the studies as the replicates (each study's number is a mean over
its seeds and rests on its own tuning, so its spread between studies holds both the seed and
the selection noise). A fit needs ``MIN_DOF`` residual degrees of freedom; with fewer gated
studies the claim is untestable here, with the numbers.

Size axis (the model grows at fixed tokens per parameter and epochs):
  U8a  decay's benefit (tuned Adam − tuned AdamW, final test loss) grows with size: the slope
       against log10 of the non-embedding parameters, one intercept per corpus; over studies
       whose decay-acts gate passed (gating on decay-helps would select on what is fitted).
  U8c  decay's benefit differs between corpora: the corpus coefficient at matched shapes.
  SZ1  the headline (tuned Adam+L2 − tuned AdamW, final test loss) grows with size: its slope
       against log10 of the non-embedding parameters, over every study that measured it.
Length axis (the number of steps T grows at a fixed model and training subset, so the epochs
grow with it and the model overfits more; ladder v3):
  LN1  the headline grows with training length: its slope against log10 epochs, read beside
       each study's overfitting rise without decay (does decoupling matter more as the model
       overfits?);
  LN2  AdamW's best timescale τ in steps against T, log10 against log10, over studies whose
       decay-helps gate passed and whose optimum lies inside the grid (below the overfitting
       onset no decay helps and the optimum is the weakest decay: no exponent can be read
       there): τ/T constant predicts slope 1 (LN2), Loshchilov & Hutter's normalised decay
       λ = λ_norm·√(b/(B·T)), i.e. a constant λ_norm = √T/τ, predicts ½ (LH5), constant in steps
       0 (LN2s);
  LN3  Adam+L2's best λ = lr·wd against T the same way, over the studies where coupled decay
       helps (tuned Adam − tuned Adam+L2 above the margin): the three rules read −1, −½ and 0
       (judged against −½, L&H's normalisation).
Data axis (the training subset grows at a fixed model and T): AdamW's best timescale τ in
steps against the training data, log10 against log10, over studies whose decay-acts gate passed
and whose optimum lies inside the grid; one slope, three readings, each within its predicted
slope ± the slope margin:
  WA2  constant in epochs (Wang & Aitchison 2025): slope 1;
  WA2s constant in steps: slope 0;
  PL1  Power Lines (Bergsma et al. 2025): τ/T ∝ (tokens per parameter)^−0.527, here with the
       unique training tokens (T and the model are fixed): slope −0.527.
"""

from __future__ import annotations

import math

import numpy as np

from .claims import Measurement, Untestable, Untested, claim
from .ladder_fits import (
    LENGTH_RULES,
    MIN_DOF,
    PREDICTIONS,
    Ladder,
    _dummies,
    _per_study,
    _untestable_fit,
)
from .stats import ols, p_beyond

USER, WA = "course article", "Wang & Aitchison 2025"
# PL1 reads Power Lines with the unique tokens of a repeated-data run: the law's authors fitted
# single-epoch runs, so that reading is this project's, not theirs
BERGSMA = "Bergsma et al. 2025 (read with unique tokens: this project's extrapolation)"


@claim(
    "U8a",
    "Limitation: AdamW brings less benefit to small models",
    USER,
    "slope of decay's benefit (tuned Adam − tuned AdamW, final test loss in nats; each study's "
    "mean over its seeds) against log10 non-embedding parameters on the size axis, one "
    "intercept per corpus, over studies whose decay-acts gate passed; what else varies along "
    "the axis (T, the decayed share, the learning-rate grid) is in the scale section",
    figure="ladder_size",
    unit="nats per decade of parameters",
    scope="ladder",
)
def measure_u8a(lad: Ladder) -> Measurement:
    fit = lad.size_fit()
    if fit["slope"] is None:
        raise _untestable_fit(fit, "a slope", "passed the decay-acts gate")
    b, margin = fit["slope"], lad.config["study"]["margin"]
    return Measurement(
        b["coef"], b["ci_lo"], b["ci_hi"], "t (OLS)", len(fit["used"]),
        f"slope {b['coef']:+.4f} nats per decade over {len(fit['used'])} studies ({fit['dof']} "
        "degrees of freedom); decay's benefit per study: "
        + _per_study(fit["all"], "benefit", "+.4f"),
        p=p_beyond(b["coef"], b["se"], fit["dof"], margin, "greater"),
    )  # fmt: skip


@claim(
    "U8c",
    "Limitation: AdamW's gains vary across data sets",
    USER,
    "difference between two corpora of decay's benefit (tuned Adam − tuned AdamW, final test "
    "loss in nats) at matched model shapes on the size axis (one intercept per shape), over "
    "studies whose decay-acts gate passed",
    figure="ladder_size",
    kind="differs",
    unit="nats",
    scope="ladder",
)
def measure_u8c(lad: Ladder) -> Measurement:
    on = lad.axis("size")
    corpora = list(dict.fromkeys(on["corpus"]))
    if len(corpora) < 2:
        raise Untested(f"the size axis has one corpus ({corpora[0]}); this needs two")
    a, b = corpora[:2]
    on = on[on["corpus"].isin([a, b]) & np.isfinite(on["benefit"].astype(float))]
    both = on.groupby("shape")["corpus"].agg(lambda c: {a, b} <= set(c))
    matched = on[on["shape"].isin(both[both].index)]
    if matched.empty:
        raise Untested(f"no model shape of the size axis was trained on both {a} and {b}")
    used = matched[matched["acts"] == "passed"]
    pairs = used.groupby("shape")["corpus"].nunique()
    used = used[used["shape"].isin(pairs[pairs == 2].index)]
    by_shape = "; ".join(
        f"{shape}: " + ", ".join(f"{r.corpus} {r.benefit:+.4f}" for r in g.itertuples())
        for shape, g in matched.groupby("shape", sort=False)
    )
    fit = {"dof": -1}  # no study of a matched pair passed its gate: nothing to fit
    if len(used):
        X, names = _dummies(used["shape"], "shape ")
        fit = ols(used["benefit"].astype(float), np.column_stack([X, used["corpus"] == b]),
                  [*names, "corpus"])  # fmt: skip
    if fit["dof"] < MIN_DOF or not math.isfinite(fit["corpus"]["se"]):
        raise Untestable(
            f"{len(used) // 2} of {len(matched) // 2} matched shapes passed the decay-acts gate on "
            f"both corpora, leaving {max(fit['dof'], 0)} residual degrees of freedom for the "
            f"difference; a fit needs {MIN_DOF}; decay's benefit: {by_shape}"
        )
    c, margin = fit["corpus"], lad.config["study"]["margin"]
    side = "greater" if c["coef"] > 0 else "less"
    return Measurement(
        c["coef"], c["ci_lo"], c["ci_hi"], "t (OLS)", len(used),
        f"{b} − {a} = {c['coef']:+.4f} nats over {len(used)} studies ({fit['dof']} degrees of "
        f"freedom); decay's benefit: {by_shape}",
        p=p_beyond(c["coef"], c["se"], fit["dof"], margin if side == "greater" else -margin,
                   side),
    )  # fmt: skip


def _timescale_slope(lad: Ladder) -> Measurement:
    """The data axis's slope of log10 best τ (steps) on log10 training tokens, and which
    readings' predicted slopes its interval holds."""
    fit = lad.data_fit()
    gate = "passed the decay-acts gate with an optimum inside the grid"
    if fit["slope"] is None:
        raise _untestable_fit(fit, "a slope", gate)
    b = fit["slope"]
    inside = [name for name, s in PREDICTIONS.items() if b["ci_lo"] <= s <= b["ci_hi"]]
    detail = (
        f"slope of log10 best τ (steps) on log10 training tokens {b['coef']:+.2f} "
        f"[{b['ci_lo']:+.2f}, {b['ci_hi']:+.2f}] over {len(fit['used'])} studies ({fit['dof']} "
        f"degrees of freedom); inside its interval: {'; '.join(inside) or 'no prediction'}; "
        "best τ per study (steps): " + _per_study(fit["all"], "tau_steps", ".3g")
    )
    return Measurement(b["coef"], b["ci_lo"], b["ci_hi"], "t (OLS)", len(fit["used"]), detail)


SLOPE = "the data axis's slope of log10 best τ (steps) on log10 training tokens"


claim(
    "WA2",
    "AdamW's best timescale τ = 1/(lr·wd), counted in epochs, stays constant as the data grow "
    "(so at a fixed number of steps it grows in proportion to the data: slope 1)",
    WA,
    SLOPE,
    figure="ladder_data",
    kind="equal",
    target=PREDICTIONS["constant in epochs (Wang & Aitchison)"],
    margin="slope_margin",
    scope="ladder",
)(_timescale_slope)


claim(
    "WA2s",
    "The alternative: AdamW's best timescale stays constant in steps (slope 0)",
    WA,
    SLOPE,
    figure="ladder_data",
    kind="equal",
    target=PREDICTIONS["constant in steps"],
    margin="slope_margin",
    same_as="WA2",
    scope="ladder",
)(_timescale_slope)


claim(
    "PL1",
    "The best timescale as a fraction of the run falls with tokens per parameter as a power "
    "law, τ/T ∝ (D/N)^−0.527, read with the unique training tokens D (at a fixed T and model: "
    "slope −0.527; an extrapolation: the law was fitted to single-epoch runs, where the tokens "
    "seen and the unique ones are the same, and read with the tokens seen it predicts WA2s's 0)",
    BERGSMA,
    SLOPE,
    figure="ladder_data",
    kind="equal",
    target=PREDICTIONS["Power Lines, unique tokens per parameter (Bergsma et al.)"],
    margin="slope_margin",
    same_as="WA2",
    scope="ladder",
)(_timescale_slope)


def _headline_slope(lad: Ladder, axis: str, x: str, per: str) -> Measurement:
    """The slope of the headline (Adam+L2 − AdamW) against log10 ``x`` on ``axis``."""
    fit = lad.axis_fit(axis, "headline", x)
    if fit["slope"] is None:
        raise _untestable_fit(fit, "a slope", "measured the headline")
    b, margin = fit["slope"], lad.config["study"]["margin"]
    beside = ""
    if axis == "length":
        beside = "; overfitting rise of tuned Adam without decay: " + _per_study(
            fit["all"], "overfit_rise", "+.3f"
        )
    return Measurement(
        b["coef"], b["ci_lo"], b["ci_hi"], "t (OLS)", len(fit["used"]),
        f"slope {b['coef']:+.4f} nats per decade of {per} over {len(fit['used'])} studies "
        f"({fit['dof']} degrees of freedom); headline per study: "
        + _per_study(fit["all"], "headline", "+.4f") + beside,
        p=p_beyond(b["coef"], b["se"], fit["dof"], margin, "greater"),
    )  # fmt: skip


HEADLINE = "the headline (tuned Adam+L2 − tuned AdamW, final test loss in nats; each study's "


@claim(
    "LN1",
    "Decoupling matters more the longer the model trains over the same data (the more it "
    "overfits): AdamW's advantage over Adam+L2 grows with the number of epochs",
    "this project's question (Loshchilov & Hutter's generalisation claim over training length)",
    HEADLINE + "mean over its seeds) against log10 epochs on the length axis (a fixed model and "
    "training subset), over every study that measured it, read beside each study's overfitting "
    "rise",
    figure="ladder_length",
    unit="nats per decade of epochs",
    scope="ladder",
)
def measure_ln1(lad: Ladder) -> Measurement:
    return _headline_slope(lad, "length", "epochs", "epochs")


@claim(
    "SZ1",
    "Decoupling matters more for larger models: AdamW's advantage over Adam+L2 grows with size",
    "this project's question (the scale ladder)",
    HEADLINE + "mean over its seeds) against log10 non-embedding parameters on the size axis, "
    "over every study that measured it",
    figure="ladder_size",
    unit="nats per decade of parameters",
    scope="ladder",
)
def measure_sz1(lad: Ladder) -> Measurement:
    return _headline_slope(lad, "size", "n_params_ne", "parameters")


def _length_exponent(lad: Ladder, y: str, rules: dict, what: str, gate: str) -> Measurement:
    """The length axis's slope of log10 ``y`` on log10 T, and which rules' slopes it holds."""
    fit = lad.axis_fit("length", y, "steps", True)
    gate = f"passed the {gate} gate with an optimum inside the grid"
    if fit["slope"] is None:
        raise _untestable_fit(fit, "an exponent", gate)
    b = fit["slope"]
    inside = [name for name, r in rules.items() if b["ci_lo"] <= r <= b["ci_hi"]]
    detail = (
        f"exponent of {what} in T {b['coef']:+.2f} [{b['ci_lo']:+.2f}, {b['ci_hi']:+.2f}] over "
        f"{len(fit['used'])} studies ({fit['dof']} degrees of freedom); inside its interval: "
        f"{'; '.join(inside) or 'no rule'}; per study: " + _per_study(fit["all"], y, ".3g")
    )
    return Measurement(b["coef"], b["ci_lo"], b["ci_hi"], "t (OLS)", len(fit["used"]), detail)


TAU_EXPONENT = (
    "the length axis's slope of log10 AdamW's best τ (steps, at its selected learning rate) on "
    "log10 T, over studies whose decay-helps gate passed with an optimum inside the grid"
)


def _tau_exponent(lad: Ladder) -> Measurement:
    return _length_exponent(lad, "tau_steps", LENGTH_RULES, "AdamW's best τ (steps)",
                            "decay-helps")  # fmt: skip


claim(
    "LN2",
    "AdamW's best timescale is a constant fraction of the run: τ/T fixed as training lengthens "
    "over the same data (exponent 1; Power Lines' τ/T = f(D/N) with the unique tokens D, "
    "which do not change along this axis)",
    BERGSMA,
    TAU_EXPONENT,
    figure="ladder_length",
    kind="equal",
    target=LENGTH_RULES["τ/T constant"],
    margin="slope_margin",
    scope="ladder",
)(_tau_exponent)


claim(
    "LH5",
    "Normalised weight decay: the best λ_norm = λ·√(B·T/b) is the same for every training "
    "length (λ = lr·wd; so the best τ grows as √T: exponent ½)",
    "Loshchilov & Hutter 2019",
    TAU_EXPONENT,
    figure="ladder_length",
    kind="equal",
    target=LENGTH_RULES["normalised decay (Loshchilov & Hutter)"],
    margin="slope_margin",
    same_as="LN2",
    scope="ladder",
)(_tau_exponent)


claim(
    "LN2s",
    "The alternative: AdamW's best timescale stays constant in steps as training lengthens "
    "(exponent 0)",
    WA,
    TAU_EXPONENT,
    figure="ladder_length",
    kind="equal",
    target=LENGTH_RULES["constant in steps"],
    margin="slope_margin",
    same_as="LN2",
    scope="ladder",
)(_tau_exponent)


@claim(
    "LN3",
    "Adam+L2's best decay follows the normalised rule too: λ = lr·wd ∝ 1/√T (exponent −½; "
    "τ/T constant reads −1, constant in steps 0)",
    "Loshchilov & Hutter 2019 (their normalisation read for L2; this project's question)",
    "the length axis's slope of log10 Adam+L2's best λ = lr·wd (its best weight decay at its "
    "selected learning rate, times that rate, so that rungs selecting other rates compare) on "
    "log10 T, over studies whose Adam+L2 decay-helps gate (tuned Adam against tuned Adam+L2: "
    "the rungs where coupled decay regularises) passed with its optimum inside the grid",
    figure="ladder_length",
    kind="equal",
    target=-LENGTH_RULES["normalised decay (Loshchilov & Hutter)"],
    margin="slope_margin",
    scope="ladder",
)
def measure_ln3(lad: Ladder) -> Measurement:
    rules = {name: -r for name, r in LENGTH_RULES.items()}
    return _length_exponent(lad, "l2_lambda", rules, "Adam+L2's best λ = lr·wd",
                            "Adam+L2 decay-helps")  # fmt: skip


# The lines the figures draw: (fits.csv's axis, the study axis, y, x, log y, predicted slopes).
