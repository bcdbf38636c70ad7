"""Statistics for the study: seed summaries, paired comparisons, Holm's correction, the best
timescale of a row, the weight-norm law, spikes and verdicts.

All intervals are 95 %. Means over seeds get a percentile bootstrap interval; paired differences
(same seed = same initialisation and data order) get Student's t interval, a paired t-test and,
from six seeds on, a Wilcoxon signed-rank test (below six its smallest possible p-value is
above 0.03, so it could never reject). The map's valleys are read row by row in ``rows``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ..registry import optimizer_order

CONFIDENCE = 0.95
CELL = ("lr", "weight_decay", "decay")  # a tuning cell, its decay in config units


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


WILCOXON_MIN_N = 6


def paired(a, b) -> dict:
    """Paired comparison of ``a − b`` (arrays aligned by seed): mean difference, t interval,
    paired t-test and (n ≥ 6) Wilcoxon p-values, and on how many seeds ``a`` was lower."""
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
            out["p_ttest"] = 1.0 if out["mean_diff"] == 0 else 0.0
        else:
            lo, hi = stats.t.interval(CONFIDENCE, n - 1, loc=d.mean(), scale=stats.sem(d))
            out["ci_lo"], out["ci_hi"] = float(lo), float(hi)
            out["p_ttest"] = float(stats.ttest_rel(a, b).pvalue)
        if n >= WILCOXON_MIN_N and np.any(d != 0):
            out["p_wilcoxon"] = float(stats.wilcoxon(a, b).pvalue)
    return out


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN entries stay NaN and do not
    count towards the family size)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    order = idx[np.argsort(p[idx], kind="mergesort")]
    m, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def cell_means(runs: pd.DataFrame, metric: str = "final_test_loss", by=CELL) -> pd.DataFrame:
    """One row per tuning cell (the columns ``by``): ``metric`` averaged over the tuning seeds
    as ``value``, NaN if any seed diverged."""
    c = (
        runs.assign(diverged=runs["diverged"].astype(bool))
        .groupby(list(by), as_index=False)
        .agg(value=(metric, "mean"), diverged=("diverged", "any"))
    )
    c.loc[c["diverged"], "value"] = np.nan
    return c


def ols(y, X, names) -> dict:
    """Least squares of ``y`` on the columns of ``X`` (named ``names``): per coefficient its
    estimate, standard error and 95 % t interval on len(y) − k degrees of freedom (NaN where
    the design is rank-deficient or has no residual degrees of freedom)."""
    y, X = np.asarray(y, dtype=float), np.asarray(X, dtype=float)
    dof = len(y) - X.shape[1]
    nan = {"coef": math.nan, "se": math.nan, "ci_lo": math.nan, "ci_hi": math.nan}
    out = {"n": len(y), "dof": dof, **{name: dict(nan) for name in names}}
    if dof < 1 or np.linalg.matrix_rank(X) < X.shape[1]:
        return out
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    cov = float(resid @ resid) / dof * np.linalg.inv(X.T @ X)
    t = stats.t.ppf(0.5 + CONFIDENCE / 2, dof)
    for k, name in enumerate(names):
        se = math.sqrt(cov[k, k])
        out[name] = {
            "coef": coef[k],
            "se": se,
            "ci_lo": coef[k] - t * se,
            "ci_hi": coef[k] + t * se,
        }
    return out


def p_beyond(coef: float, se: float, dof: int, threshold: float, side: str) -> float:
    """One-sided p-value of the t-test that a coefficient lies above (``side`` "greater") or
    below ("less") ``threshold``: below 0.025 exactly when its 95 % interval does."""
    if not (math.isfinite(se) and se > 0 and dof >= 1):
        return math.nan
    t = (coef - threshold) / se
    return float(stats.t.sf(t, dof) if side == "greater" else stats.t.cdf(t, dof))


def best_timescale(log_tau, loss) -> dict:
    """Where a loss is lowest along log10 τ (one value per τ): the vertex of the parabola through
    the best cell and its two neighbours, which lies between them; where the best cell is an end
    of the grid, that cell (``interior`` False: the optimum lies at or beyond the end)."""
    order = np.argsort(np.asarray(log_tau, dtype=float))
    x, z = (np.asarray(v, dtype=float)[order] for v in (log_tau, loss))
    ok = np.isfinite(z)
    x, z = x[ok], z[ok]
    if len(x) == 0:
        return {"log_tau": math.nan, "interior": False}
    k = int(np.argmin(z))
    if k == 0 or k == len(x) - 1:
        return {"log_tau": float(x[k]), "interior": False}
    c2, c1, _ = np.polyfit(x[k - 1 : k + 2], z[k - 1 : k + 2], 2)
    return {"log_tau": float(-c1 / (2 * c2)), "interior": True}


def best_timescale_interval(tuning: pd.DataFrame, n_boot: int, seed: int = 0) -> dict:
    """``best_timescale`` of AdamW's tuning runs at one learning rate (columns ``log_tau``,
    ``value``, ``diverged``; one row per run) from each cell's mean over its seeds, with a 95 %
    interval from a parametric bootstrap: every cell's mean is redrawn with the seed noise
    pooled over the cells (Student's t on the pooled degrees of freedom, since two or three
    seeds a cell cannot show values beyond their own), and the optimum found again, best cell
    included. Also the share of redraws whose optimum lies at a grid end. A cell with a
    diverged seed is left out, as in ``cell_means``."""
    cells = [g for _, g in tuning.groupby("log_tau") if not g["diverged"].astype(bool).any()]
    out = {"log_tau": math.nan, "interior": False, "ci_lo": math.nan, "ci_hi": math.nan,
           "edge_share": math.nan, "cells": len(cells)}  # fmt: skip
    if not cells:
        return out
    x = np.array([g["log_tau"].iloc[0] for g in cells])
    means = np.array([g["value"].mean() for g in cells])
    out |= best_timescale(x, means)
    dof = sum(len(g) - 1 for g in cells)
    if dof < 1:
        return out
    pooled = math.sqrt(sum(((g["value"] - g["value"].mean()) ** 2).sum() for g in cells) / dof)
    sem = pooled / np.sqrt([len(g) for g in cells])
    draws = means + sem * np.random.default_rng(seed).standard_t(dof, (n_boot, len(cells)))
    boots = [best_timescale(x, row) for row in draws]
    logs = np.array([b["log_tau"] for b in boots])
    out["ci_lo"], out["ci_hi"] = (float(v) for v in np.percentile(logs, [2.5, 97.5]))
    out["edge_share"] = float(np.mean([not b["interior"] for b in boots]))
    return out


def norm_law(log_ratio, log_norm, cell, matrix, n_boot: int = 2000, seed: int = 0) -> dict:
    """Exponent b of norm ∝ (lr/wd)^b, one intercept per weight matrix (matrices differ in size)
    and one common slope, by least squares in log-log; bootstrap interval over cells (a cell's
    matrices move together). A draw is a count per cell, and a fit needs only each cell's sums
    per matrix, so all draws are a few matrix products (2.2-3.5 s a call with a resampled frame
    per draw, about 0.02 s this way, the same numbers to 1e-15)."""
    c, cells = pd.factorize(pd.Series(list(cell)))
    m, mats = pd.factorize(pd.Series(list(matrix)))
    x, y = np.asarray(log_ratio, dtype=float), np.asarray(log_norm, dtype=float)
    out = {"slope": math.nan, "ci_lo": math.nan, "ci_hi": math.nan, "cells": len(cells)}
    # centred per matrix first, so that a draw's sums of squares lose no digits to cancellation
    rows = np.bincount(m)  # per matrix
    x, y = x - (np.bincount(m, x) / rows)[m], y - (np.bincount(m, y) / rows)[m]

    def per_cell(v):  # cells x matrices: the sum of v over each cell's rows of each matrix
        sums = np.zeros((len(cells), len(mats)))
        np.add.at(sums, (c, m), v)
        return sums

    n1, sx1, sy1, sxx1, sxy1 = (per_cell(v) for v in (np.ones_like(x), x, y, x * x, x * y))

    def slopes(k):  # draws x cells (how often each cell is drawn) -> each draw's slope
        n, sx, sy = k @ n1, k @ sx1, k @ sy1
        safe = np.where(n > 0, n, 1.0)
        sxx = (k @ sxx1 - sx * sx / safe).sum(1)  # within-matrix sums (fixed effects)
        sxy = (k @ sxy1 - sx * sy / safe).sum(1)
        flat = sxx <= 1e-12 * n.sum(1)  # one value of lr/wd in every matrix: no slope
        return np.where(flat, math.nan, sxy / np.where(flat, 1.0, sxx))

    if len(cells) < 3 or not np.isfinite(full := slopes(np.ones((1, len(cells))))[0]):
        return out
    out["slope"] = float(full)
    rng = np.random.default_rng(seed)
    picks = np.array([rng.choice(len(cells), len(cells)) for _ in range(n_boot)])
    counts = np.zeros((n_boot, len(cells)))
    np.add.at(counts, (np.arange(n_boot)[:, None], picks), 1.0)
    boots = slopes(counts)
    boots = boots[np.isfinite(boots)]
    out["ci_lo"], out["ci_hi"] = (float(v) for v in np.percentile(boots, [2.5, 97.5]))
    return out


def log_sd_ratio(a, b) -> dict:
    """log(sd_a / sd_b) of two samples with the F-distribution interval of their variance ratio
    (normal samples; with a handful of seeds the interval is wide, as it should be)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    out = {"diff": math.nan, "ci_lo": math.nan, "ci_hi": math.nan}
    if len(a) < 2 or len(b) < 2 or min(a.var(ddof=1), b.var(ddof=1)) == 0:
        return out
    r = a.var(ddof=1) / b.var(ddof=1)
    f = stats.f(len(a) - 1, len(b) - 1)
    lo, hi = r / f.ppf(0.5 + CONFIDENCE / 2), r / f.ppf(0.5 - CONFIDENCE / 2)
    out["diff"], out["ci_lo"], out["ci_hi"] = (0.5 * math.log(v) for v in (r, lo, hi))
    return out


def bootstrap_diff(a, b, stat, n_boot: int = 2000, seed: int = 0) -> dict:
    """``stat(a) − stat(b)`` for two independent samples, with a percentile bootstrap interval
    (each sample resampled on its own)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    out = {"diff": float(stat(a) - stat(b)), "ci_lo": math.nan, "ci_hi": math.nan}
    if len(a) < 2 or len(b) < 2:
        return out
    rng = np.random.default_rng(seed)
    boots = np.array([
        stat(a[rng.integers(0, len(a), len(a))]) - stat(b[rng.integers(0, len(b), len(b))])
        for _ in range(n_boot)
    ])  # fmt: skip
    boots = boots[np.isfinite(boots)]  # e.g. the log of a zero spread of a resample
    if len(boots):
        out["ci_lo"], out["ci_hi"] = (float(v) for v in np.percentile(boots, [2.5, 97.5]))
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


REPRODUCED, SMALLER, NOT_REPRODUCED, REVERSED, CONTRADICTED, INCONCLUSIVE = (
    "reproduced",
    "real but smaller than claimed",
    "not reproduced",
    "reversed",
    "contradicted",
    "inconclusive",
)


def verdict(lo: float, hi: float, kind: str, margin: float, target: float = 0.0) -> str:
    """The claims ledger's decision rule, applied to an effect's 95 % interval [lo, hi]; the
    margin m is the smallest effect of interest, stated before the study.

    ``greater`` (the claim predicts an effect above target t): reproduced if the interval lies
    above t + m; real but smaller than claimed if it lies above t and below t + m; not
    reproduced if it lies inside t ± m (no effect of a size that matters, either way);
    contradicted if it lies below t − m (an effect of that size the other way); reversed if it
    lies below t but not wholly below t − m (resolved the other way, by less than the margin or
    by an unresolved amount); otherwise inconclusive.
    ``equal`` (the claim predicts effect ≈ t): reproduced if the interval lies inside t ± m;
    contradicted if it lies entirely outside; otherwise inconclusive.
    """
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return INCONCLUSIVE
    if kind == "greater":
        if lo > target + margin:
            return REPRODUCED
        if lo > target and hi < target + margin:
            return SMALLER
        if lo > target - margin and hi < target + margin:
            return NOT_REPRODUCED
        if hi < target - margin:
            return CONTRADICTED
        if hi < target:
            return REVERSED
        return INCONCLUSIVE
    if kind == "equal":
        if target - margin < lo and hi < target + margin:
            return REPRODUCED
        if hi <= target - margin or lo >= target + margin:
            return CONTRADICTED
        return INCONCLUSIVE
    raise ValueError(f"unknown claim kind {kind!r}")


def detectable(sd: float, n: int, margin: float, power: float = 0.8) -> float:
    """The smallest true effect whose 95 % t interval over ``n`` paired seeds (noise ``sd``)
    clears ``margin`` with probability ``power``: margin + (t_0.975 + t_power)·sd/√n."""
    if not (n > 1 and math.isfinite(sd)):
        return math.nan
    t = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) + stats.t.ppf(power, n - 1)
    return margin + t * sd / math.sqrt(n)


def p_above(differences, threshold: float) -> float:
    """One-sided p-value of the t-test of "mean ≤ threshold" (NaN for fewer than two values):
    below 0.025 exactly when the 95 % t interval lies above ``threshold``."""
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return math.nan
    if d.std(ddof=1) == 0:
        return 0.0 if d.mean() > threshold else 1.0
    return float(stats.ttest_1samp(d, threshold, alternative="greater").pvalue)


METRICS = ["final_test_loss", "final_train_loss", "gen_gap", "final_test_acc", "final_decayed_norm"]


def optimizer_stats(runs: pd.DataFrame, n_boot: int) -> pd.DataFrame:
    """Per optimizer and metric of its evaluation runs: mean, std and bootstrap interval over
    the finished seeds (the stats.csv table)."""
    evaluated = runs[runs["evaluation"]]
    rows = []
    for opt in optimizer_order(evaluated["optimizer"]):
        r = evaluated[evaluated["optimizer"] == opt]
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
