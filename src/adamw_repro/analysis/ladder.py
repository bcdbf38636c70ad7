"""The cross-study stage of a ladder: the claims no single study can judge, registered with the
claims engine (``scope="ladder"``) and judged like a study's.

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

import functools
import json
import math

import numpy as np
import pandas as pd

from .. import atomic
from ..stage import files
from .claims import Measurement, Untestable, Untested, build_ledger, claim
from .scale import studies_table
from .stats import ols, p_beyond

USER, WA = "course article", "Wang & Aitchison 2025"
# PL1 reads Power Lines with the unique tokens of a repeated-data run: the law's authors fitted
# single-epoch runs, so that reading is this project's, not theirs
BERGSMA = "Bergsma et al. 2025 (read with unique tokens: this project's extrapolation)"
MIN_DOF = 2  # residual degrees of freedom a cross-study fit needs before it is reported
# Predicted slopes of log10 best τ (steps) against log10 training tokens on the data axis.
PREDICTIONS = {
    "constant in epochs (Wang & Aitchison)": 1.0,
    "constant in steps": 0.0,
    # Bergsma et al. (arXiv 2505.13738) fit τ/T = 1.084·TPP^−0.527 over single-epoch runs (as
    # reported in summaries of the paper; its exponent is what this reading tests)
    "Power Lines, unique tokens per parameter (Bergsma et al.)": -0.527,
}


def _dummies(values: pd.Series, prefix: str) -> tuple[np.ndarray, list[str]]:
    """One indicator column per level of ``values`` (the levels in order of appearance)."""
    levels = list(dict.fromkeys(values))
    return np.column_stack([values == v for v in levels]).astype(float), [
        f"{prefix}{v}" for v in levels
    ]


def _per_study(studies: pd.DataFrame, column: str, fmt: str) -> str:
    def value(x: float) -> str:
        return f"{x:{fmt}}" if math.isfinite(x) else "not measured"

    return ", ".join(f"{r.study} {value(getattr(r, column))}" for r in studies.itertuples())


class Ladder:
    """What the ladder's claims read: the table of studies, and the main study's config (whose
    ``study`` section holds the margins)."""

    def __init__(self, studies: pd.DataFrame, config: dict):
        self.studies, self.config = studies, config

    def axis(self, name: str) -> pd.DataFrame:
        on = self.studies[self.studies["axes"].str.split().map(lambda a: name in a)]
        if on.empty:
            raise Untested(f"the ladder has no {name} axis (no study lists it in study.axes)")
        return on

    @functools.cache  # noqa: B019 (one Ladder per stage; the cache dies with it)
    def size_fit(self) -> dict:
        """Decay's benefit against log10 non-embedding parameters on the size axis."""
        on = self.axis("size")
        on = on[np.isfinite(on["benefit"].astype(float))]
        if on.empty:
            raise Untested("no study of the size axis measured decay's benefit (Adam and AdamW)")
        used = on[on["acts"] == "passed"]
        spec = ("benefit", "n_params_ne", False)
        return {"all": on, "used": used, "spec": spec, **self._fit(used, *spec)}

    @functools.cache  # noqa: B019
    def data_fit(self) -> dict:
        """log10 best τ in steps against log10 training tokens on the data axis."""
        on = self.axis("data")
        on = on[np.isfinite(on["tau_steps"].astype(float))]
        if on.empty:
            raise Untested("no study of the data axis measured AdamW's best timescale")
        used = on[(on["acts"] == "passed") & on["tau_interior"].astype(bool)]
        spec = ("tau_steps", "data_tokens", True)
        return {"all": on, "used": used, "spec": spec, **self._fit(used, *spec)}

    @staticmethod
    def _fit(studies: pd.DataFrame, y: str, x: str, log_y: bool = False) -> dict:
        """OLS of ``y`` on log10 ``x`` with one intercept per corpus; ``slope`` None without
        ``MIN_DOF`` residual degrees of freedom (or a second value of ``x``)."""
        if studies.empty or studies[x].nunique() < 2:  # no slope without two values of x
            return {"slope": None, "dof": 0, "names": []}
        X, names = _dummies(studies["corpus"], "corpus ")
        X = np.column_stack([X, np.log10(studies[x].astype(float))])
        values = studies[y].astype(float)
        fit = ols(np.log10(values) if log_y else values, X, [*names, "slope"])
        enough = fit["dof"] >= MIN_DOF and math.isfinite(fit["slope"]["se"])
        slope = fit["slope"] if enough else None
        return {"slope": slope, "dof": fit["dof"], "names": names, "fit": fit}


def _not_enough(fit: dict, what: str, gate: str) -> str:
    used, every = fit["used"], fit["all"]
    return (
        f"{len(used)} of {len(every)} studies ({', '.join(used['study']) or 'none'}) {gate}, "
        f"leaving {max(fit['dof'], 0)} residual degrees of freedom for {what}; a fit needs "
        f"{MIN_DOF}"
    )


def _untestable_fit(fit: dict, what: str, gate: str) -> Untestable:
    """Too few gated studies: the fit over every study of the axis that measured the quantity
    (gates and grid ends aside), reported without a verdict."""
    every = Ladder._fit(fit["all"], *fit["spec"])
    detail, m = _not_enough(fit, what, gate), None
    if every["slope"] is not None:
        b = every["slope"]
        m = Measurement(b["coef"], b["ci_lo"], b["ci_hi"], "t (OLS)", len(fit["all"]))
        detail += (
            f"; measured regardless over all {len(fit['all'])} studies, without a verdict: slope "
            f"{b['coef']:+.3g} [{b['ci_lo']:+.3g}, {b['ci_hi']:+.3g}]"
        )
    return Untestable(detail, m)


@claim(
    "U8a",
    "Limitation: AdamW brings less benefit to small models",
    USER,
    "slope of decay's benefit (tuned Adam − tuned AdamW, final test loss in nats; each study's "
    "mean over its seeds) against log10 non-embedding parameters on the size axis, one "
    "intercept per corpus, over studies whose decay-acts gate passed; confounded with T, the "
    "decayed share and the learning-rate grid, and floored at 0 (see the scale section)",
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


def fit_lines(lad: Ladder, points: int = 50) -> pd.DataFrame:
    """The lines the ladder's figures draw: each axis's fit (with its 95 % band) over the
    studies it used, and on the data axis each reading's predicted slope through the fit's
    value at the middle of the axis (log scale). Empty where an axis has no fit."""
    rows = []
    for axis, fitter in (("size", lad.size_fit), ("data", lad.data_fit)):
        try:
            fit = fitter()
        except Untested:
            continue
        if fit["slope"] is None:
            continue
        f, used, (_, x, log_y) = fit["fit"], fit["used"], fit["spec"]
        back = (lambda v: 10**v) if log_y else (lambda v: v)  # noqa: E731
        lx = np.log10(used[x].astype(float))
        grid = np.linspace(lx.min(), lx.max(), points)
        for corpus in dict.fromkeys(used["corpus"]):
            a = f[f"corpus {corpus}"]
            b = f["slope"]
            centre = a["coef"] + b["coef"] * lx.mean()
            line = a["coef"] + b["coef"] * grid
            # the slope's interval, pivoting about the centre of the studies used
            ends = [centre + s * (grid - lx.mean()) for s in (b["ci_lo"], b["ci_hi"])]
            lo, hi = np.minimum(*ends), np.maximum(*ends)
            for g, y, l_, h in zip(grid, line, lo, hi, strict=True):
                rows.append(dict(axis=axis, corpus=corpus, line="fit", x=10**g, y=back(y),
                                 lo=back(l_), hi=back(h)))  # fmt: skip
            if axis == "data":
                for name, s in PREDICTIONS.items():
                    for g in grid:
                        y = back(centre + s * (g - lx.mean()))
                        rows.append(dict(axis=axis, corpus=corpus, line=name, x=10**g, y=y,
                                         lo=math.nan, hi=math.nan))  # fmt: skip
    return pd.DataFrame(rows, columns=["axis", "corpus", "line", "x", "y", "lo", "hi"])


def build(configs: dict, runs: list, ledgers: list, regimes: list, metas: list):
    """(studies, cross-study ledger, fit lines, joined ledgers, joined runs) of a ladder."""
    names = list(configs)
    studies = studies_table(configs, runs, ledgers, regimes, metas)
    lad = Ladder(studies, configs[names[0]])
    ledger = pd.DataFrame(build_ledger(lad, scope="ladder"))
    joined_ledgers = pd.concat(
        [lg.assign(study=n) for n, lg in zip(names, ledgers, strict=True)], ignore_index=True
    )
    joined_runs = pd.concat(
        [r.assign(study=n) for n, r in zip(names, runs, strict=True)], ignore_index=True
    )
    return studies, ledger, fit_lines(lad), joined_ledgers, joined_runs


def run(input, output, params) -> None:
    """The ladder rule: every study's tables into the cross-study tables and ledger; each input
    holds one file per study, in the order of ``params["configs"]`` (stage.py)."""
    configs = dict(json.loads(params["configs"]))  # the studies' order, which the files follow
    inputs = {name: files(input[name]) for name in ("runs", "ledgers", "regimes", "metas")}
    if any(len(paths) != len(configs) for paths in inputs.values()):
        raise ValueError("the ladder stage needs one runs, ledger, regime and meta file per study")
    tables = build(
        configs,
        *([pd.read_csv(p) for p in inputs[name]] for name in ("runs", "ledgers", "regimes")),
        [atomic.read_json(p, atomic.redo_stage("the data stage")) for p in inputs["metas"]],
    )
    for frame, name in zip(tables, ("studies", "ledger", "fits", "ledgers", "runs"), strict=True):
        atomic.write_text(output[name], frame.to_csv(index=False))
    studies, ledger = tables[:2]
    for r in studies.itertuples():
        print(f"{r.study:>12} [{r.axes}]: {r.n_params_ne:>9,} non-embedding params, "
              f"{r.epochs:.1f} epochs, T {r.steps}; decay acts {r.acts}, benefit "
              f"{r.benefit:+.4f} [{r.benefit_lo:+.4f}, {r.benefit_hi:+.4f}]; best τ "
              f"{r.tau_steps:.3g} steps [{r.tau_lo:.3g}, {r.tau_hi:.3g}]")  # fmt: skip
    for r in ledger.itertuples():
        print(f"{r.id:>4} {r.verdict:<15} {r.claim}")
