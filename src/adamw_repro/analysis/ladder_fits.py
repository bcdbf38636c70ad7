"""The fits a ladder's claims and figures read: each axis's studies (``study.axes``), a slope of
one of their numbers against the log10 of another with one intercept per corpus, and the lines
the figures draw through it (``fits.csv``)."""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd

from .claims import Measurement, Untestable, Untested
from .stats import ols

MIN_DOF = 2  # residual degrees of freedom a cross-study fit needs before it is reported
# Predicted slopes of log10 best τ (steps) against log10 training tokens on the data axis.
PREDICTIONS = {
    "constant in epochs (Wang & Aitchison)": 1.0,
    "constant in steps": 0.0,
    # Bergsma et al. (arXiv 2505.13738) fit τ/T = 1.084·TPP^−0.527 over single-epoch runs (as
    # reported in summaries of the paper; its exponent is what this reading tests)
    "Power Lines, unique tokens per parameter (Bergsma et al.)": -0.527,
}


# Predicted slopes of log10 best τ (steps) against log10 T on the length axis (fixed data).
LENGTH_RULES = {
    "τ/T constant": 1.0,
    "normalised decay (Loshchilov & Hutter)": 0.5,
    "constant in steps": 0.0,
}
# gates of the length axis's exponents: the optimizer's decay helps there (tuned Adam against
# it), and its optimum is inside the grid: (gate column, interior column) per best decay
HELPS_INSIDE = {"tau_steps": ("helps", "tau_interior"), "l2_lambda": ("l2_helps", "l2_wd_interior")}


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

    @functools.cache  # noqa: B019
    def axis_fit(self, axis: str, y: str, x: str, log_y: bool = False) -> dict:
        """``y`` against log10 ``x`` on ``axis``; a best decay (``HELPS_INSIDE``) over the
        studies whose own decay-helps gate passed and whose optimum lies inside the grid, anything
        else over every study that measured it."""
        on = self.axis(axis)
        on = on[np.isfinite(on[y].astype(float))] if y in on else on.iloc[:0]
        if on.empty:
            raise Untested(f"no study of the {axis} axis measured {y.replace('_', ' ')}")
        used = on
        if y in HELPS_INSIDE:
            gate, inside = HELPS_INSIDE[y]
            used = on[(on[gate] == "passed") & on[inside].astype(bool)]
        spec = (y, x, log_y)
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


LINES = (
    ("size", "size", "benefit", "n_params_ne", False, {}),
    ("size headline", "size", "headline", "n_params_ne", False, {}),
    ("data", "data", "tau_steps", "data_tokens", True, PREDICTIONS),
    ("length headline", "length", "headline", "epochs", False, {}),
    ("length tau", "length", "tau_steps", "steps", True, LENGTH_RULES),
    ("length l2", "length", "l2_lambda", "steps", True,
     {name: -r for name, r in LENGTH_RULES.items()}),
)  # fmt: skip


def _fitter(lad: Ladder, axis: str, y: str, x: str, log_y: bool):
    if (axis, y) == ("size", "benefit"):
        return lad.size_fit
    if axis == "data":
        return lad.data_fit
    return functools.partial(lad.axis_fit, axis, y, x, log_y)


def fit_lines(lad: Ladder, points: int = 50) -> pd.DataFrame:
    """The lines the ladder's figures draw (``LINES``): each fit (with its 95 % band) over the
    studies it used, and each rule's predicted slope through the fit's value at the middle of
    the axis (log scale). Empty where an axis has no fit."""
    rows = []
    for axis, on, y_name, x_name, log_name, predicted in LINES:
        try:
            fit = _fitter(lad, on, y_name, x_name, log_name)()
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
            if predicted:
                for name, s in predicted.items():
                    for g in grid:
                        y = back(centre + s * (g - lx.mean()))
                        rows.append(dict(axis=axis, corpus=corpus, line=name, x=10**g, y=y,
                                         lo=math.nan, hi=math.nan))  # fmt: skip
    return pd.DataFrame(rows, columns=["axis", "corpus", "line", "x", "y", "lo", "hi"])
