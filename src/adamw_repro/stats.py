"""Statistics for the study: seed summaries, paired comparisons, basin tilt, norm law, spikes.

All intervals are 95 %. Means over seeds get a percentile bootstrap interval; paired differences
(same seed = same initialisation and data order) get Student's t interval, which stays honest
for the three to five seeds a study affords, plus a paired t-test and a Wilcoxon signed-rank
test. Grid-shape quantities (tilt, norm law) get a bootstrap over learning-rate rows or cells.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


def describe(values, n_boot: int = 2000, seed: int = 0) -> dict:
    """Mean, sample std and percentile-bootstrap CI of the mean (NaN where undefined)."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    out = {"n": len(x), "mean": math.nan, "std": math.nan, "ci_lo": math.nan, "ci_hi": math.nan}
    if len(x):
        out["mean"] = float(x.mean())
    if len(x) > 1:
        out["std"] = float(x.std(ddof=1))
        if np.ptp(x) == 0:
            out["ci_lo"] = out["ci_hi"] = out["mean"]
        else:
            ci = stats.bootstrap(
                (x,),
                np.mean,
                n_resamples=n_boot,
                confidence_level=CONFIDENCE,
                method="percentile",
                rng=np.random.default_rng(seed),
            ).confidence_interval
            out["ci_lo"], out["ci_hi"] = float(ci.low), float(ci.high)
    return out


def paired(a, b) -> dict:
    """Paired comparison of ``a − b`` (arrays aligned by seed): mean difference, t interval,
    paired t-test and Wilcoxon p-values, and on how many seeds ``a`` was lower."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = a - b
    n = len(d)
    out = {
        "n": n,
        "mean_diff": float(d.mean()) if n else math.nan,
        "std_diff": math.nan,
        "ci_lo": math.nan,
        "ci_hi": math.nan,
        "p_ttest": math.nan,
        "p_wilcoxon": math.nan,
        "wins": int((d < 0).sum()),
        "ties": int((d == 0).sum()),
    }
    if n > 1:
        out["std_diff"] = float(d.std(ddof=1))
        if out["std_diff"] == 0:
            out["ci_lo"] = out["ci_hi"] = out["mean_diff"]
        else:
            lo, hi = stats.t.interval(CONFIDENCE, n - 1, loc=d.mean(), scale=stats.sem(d))
            out["ci_lo"], out["ci_hi"] = float(lo), float(hi)
            out["p_ttest"] = float(stats.ttest_rel(a, b).pvalue)
        if np.any(d != 0):
            out["p_wilcoxon"] = float(stats.wilcoxon(a, b).pvalue)
    return out


def best_log_decay(log_decay: np.ndarray, loss: np.ndarray) -> float:
    """Location of the loss minimum along one row of the grid, in log decay: the vertex of the
    parabola through the best point and its neighbours (a grid of decades would otherwise move
    the optimum in steps of a decade), or the best point itself at an edge."""
    order = np.argsort(log_decay)
    x, y = log_decay[order], np.where(np.isfinite(loss[order]), loss[order], np.inf)
    i = int(np.argmin(y))
    if i == 0 or i == len(x) - 1 or not np.isfinite(y[i - 1] + y[i + 1]):
        return float(x[i])
    a, b, c = np.polyfit(x[i - 1 : i + 2], y[i - 1 : i + 2], 2)
    if a <= 0:
        return float(x[i])
    return float(np.clip(-b / (2 * a), x[i - 1], x[i + 1]))


def tilt(lr, decay, loss, n_boot: int = 2000, seed: int = 0) -> dict:
    """Tilt of the good basin: slope of log(best decay) against log(lr), one best decay per
    learning-rate row. 0 = axis-aligned (the best decay does not depend on the learning rate);
    -1 = diagonal along lr × decay = const. Bootstrap interval over rows."""
    lr, decay, loss = (np.asarray(v, dtype=float) for v in (lr, decay, loss))
    keep = decay > 0
    lr, decay, loss = lr[keep], decay[keep], loss[keep]
    # a row can locate its best decay only if it has two or more decays, one of them finished
    rows = np.array(
        [
            r
            for r in np.unique(lr)
            if len(np.unique(decay[lr == r])) > 1 and np.isfinite(loss[lr == r]).any()
        ]
    )
    out = {
        "slope": math.nan,
        "ci_lo": math.nan,
        "ci_hi": math.nan,
        "rows": len(rows),
        "best": {},
        "samples": np.array([]),
    }
    if len(rows) < 2:
        return out
    x = np.log10(rows)
    y = np.array([best_log_decay(np.log10(decay[lr == r]), loss[lr == r]) for r in rows])
    out["best"] = {float(r): float(10**v) for r, v in zip(rows, y, strict=True)}
    out["slope"] = float(np.polyfit(x, y, 1)[0])
    rng = np.random.default_rng(seed)
    slopes = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(rows), len(rows))
        if len(np.unique(idx)) > 1:
            slopes.append(np.polyfit(x[idx], y[idx], 1)[0])
    out["ci_lo"], out["ci_hi"] = (float(v) for v in np.percentile(slopes, [2.5, 97.5]))
    out["samples"] = np.asarray(slopes)
    return out


def power_law(x, y, n_boot: int = 2000, seed: int = 0) -> dict:
    """Exponent b of y ∝ x^b by least squares in log-log, with a bootstrap interval over points."""
    lx, ly = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    out = {"slope": math.nan, "ci_lo": math.nan, "ci_hi": math.nan, "n": len(lx), "r2": math.nan}
    if len(lx) < 3 or np.ptp(lx) == 0:
        return out
    b, a = np.polyfit(lx, ly, 1)
    out["slope"] = float(b)
    resid = ly - (a + b * lx)
    out["r2"] = float(1 - resid.var() / ly.var()) if ly.var() > 0 else math.nan
    rng = np.random.default_rng(seed)
    slopes = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(lx), len(lx))
        if np.ptp(lx[idx]) > 0:
            slopes.append(np.polyfit(lx[idx], ly[idx], 1)[0])
    out["ci_lo"], out["ci_hi"] = (float(v) for v in np.percentile(slopes, [2.5, 97.5]))
    return out


def count_spikes(losses, threshold: float = 0.1) -> int:
    """Loss spikes in one run: logged training losses more than ``threshold`` (relative) above
    the lowest loss logged before them; a non-finite loss counts as one."""
    spikes, low = 0, math.inf
    for v in losses:
        if v is None or not np.isfinite(v):
            return spikes + 1
        if v > low * (1 + threshold):
            spikes += 1
        low = min(low, v)
    return spikes


def verdict(lo: float, hi: float, kind: str, margin: float, target: float = 0.0) -> str:
    """The claims ledger's decision rule, applied to an effect's 95 % interval [lo, hi].

    ``greater``: the claim predicts effect > target. Reproduced if the whole interval lies above
    target; not reproduced if it lies below target + margin (no effect of meaningful size in the
    predicted direction); inconclusive otherwise.
    ``equal``: the claim predicts effect ≈ target. Reproduced if the interval lies within
    target ± margin; not reproduced if it lies entirely outside; inconclusive otherwise.
    """
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive"
    if kind == "greater":
        if lo > target:
            return "reproduced"
        if hi < target + margin:
            return "not reproduced"
        return "inconclusive"
    if kind == "equal":
        if target - margin < lo and hi < target + margin:
            return "reproduced"
        if hi <= target - margin or lo >= target + margin:
            return "not reproduced"
        return "inconclusive"
    raise ValueError(f"unknown claim kind {kind!r}")
