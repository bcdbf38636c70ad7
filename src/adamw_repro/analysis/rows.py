"""The learning-rate × decay map read row by row (Loshchilov & Hutter's Fig. 2 and 3).

A row is one decaying optimizer at one learning rate: its tuning cells along the decay axis.
Successive halving and the map's refinement give some cells more seeds than others, and the
seeds are shared by the row's cells, so each row's final test losses are fitted as a cell
effect plus a seed effect (least squares; the residual variance is the seed noise left once
each seed's own level is taken out). A parametric bootstrap redraws the cell effects from
their fitted covariance (Student's t on the residual degrees of freedom). From the rows:

``valleys``         where each row's loss is lowest along log10 decay: the vertex of the
                    parabola through the row's best cell and its two neighbours, or that cell
                    where it is the row's weakest or strongest (censored: the optimum may lie
                    beyond);
``valley_slope``    how the valley moves with the learning rate, d log10(best decay) /
                    d log10(lr), over the rows whose optimum is interior, in λ = lr·wd (Loshchilov
                    & Hutter's units for decoupled decay) and in PyTorch's wd (one less);
``regret``          the decay chosen at one learning rate (the best cell of its row) used one or
                    two grid steps away, held fixed in Loshchilov & Hutter's units (λ for
                    decoupled decay, the L2 coefficient wd for coupled), minus the best loss
                    there, read off that row by interpolation in log decay;
``lr_headline``     Adam+L2 − AdamW at every learning rate, each at its best decay there;
``equal_train``     the test loss at equal loss on the training data, along each optimizer's
                    decay path at one learning rate (Loshchilov & Hutter's Fig. 3).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..registry import OPTIMIZERS, decay_free_member
from .stats import paired

RNG_SEED = 0


def decay_units(optimizer: str) -> str:
    """The units Loshchilov & Hutter hold a decay fixed in: λ = lr·wd for decay multiplied by
    the learning rate (PyTorch's AdamW, SGDW), the weight decay itself for L2 and for
    ``adamw_independent`` (whose weight decay is their λ)."""
    decoupled = OPTIMIZERS[optimizer].decay == "decoupled"
    return "lambda" if decoupled and optimizer != "adamw_independent" else "wd"


def log_decay(optimizer: str, lr, weight_decay, units: str | None = None):
    """log10 of a decay in ``units`` ("lambda" or "wd"; the optimizer's own by default)."""
    units = units or decay_units(optimizer)
    wd = np.log10(np.asarray(weight_decay, dtype=float))
    return wd + np.log10(np.asarray(lr, dtype=float)) if units == "lambda" else wd


def row_runs(tuning: pd.DataFrame, lr: float) -> pd.DataFrame:
    """A row's finished tuning runs (decayed cells only); a cell with a diverged seed is left
    out whole, as the selection leaves it out."""
    row = tuning[np.isclose(tuning["lr"], lr) & (tuning["weight_decay"] > 0)]
    bad = row.groupby("weight_decay")["diverged"].transform(lambda d: d.astype(bool).any())
    return row[~bad.astype(bool)]


def fit_row(row: pd.DataFrame, metric: str = "final_test_loss") -> dict | None:
    """Cell effects plus seed effects by least squares over a row's runs. Returns the cells'
    weight decays (ascending), their levels (the effect plus the mean seed effect: a cell's
    loss on the row's average seed), their covariance, the residual degrees of freedom and the
    seeds each cell has; None for a row of fewer than three cells."""
    wds = np.sort(row["weight_decay"].unique())
    if len(wds) < 3:
        return None
    seeds = np.sort(row["seed"].unique())
    c = np.searchsorted(wds, row["weight_decay"].to_numpy())
    s = np.searchsorted(seeds, row["seed"].to_numpy())
    X = np.zeros((len(row), len(wds) + len(seeds) - 1))
    X[np.arange(len(row)), c] = 1.0
    X[s > 0, len(wds) + s[s > 0] - 1] = 1.0
    y = row[metric].to_numpy(dtype=float)
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    dof = len(y) - np.linalg.matrix_rank(X)
    shift = coef[len(wds) :].sum() / len(seeds)  # the mean seed effect (the first seed's is 0)
    out = {"wd": wds, "level": coef[: len(wds)] + shift, "dof": int(dof),
           "seeds": [int((c == k).sum()) for k in range(len(wds))], "cov": None}  # fmt: skip
    if dof >= 1:
        sigma2 = float(((y - X @ coef) ** 2).sum()) / dof
        out["cov"] = sigma2 * np.linalg.pinv(X.T @ X)[: len(wds), : len(wds)]
    return out


def draw_levels(fit: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` redraws of a row's levels from their fitted covariance, Student's t on the row's
    residual degrees of freedom (n × cells; the fitted levels, repeated, without a covariance)."""
    if fit["cov"] is None:
        return np.tile(fit["level"], (n, 1))
    vals, vecs = np.linalg.eigh(fit["cov"])
    root = vecs * np.sqrt(np.clip(vals, 0, None))
    z = rng.standard_normal((n, len(fit["level"]))) @ root.T
    scale = np.sqrt(fit["dof"] / rng.chisquare(fit["dof"], (n, 1)))
    return fit["level"] + z * scale


def vertex(x: np.ndarray, level: np.ndarray) -> tuple[float, bool]:
    """Where ``level`` is lowest along ``x`` (ascending): the vertex of the parabola through
    the lowest point and its two neighbours, kept between them; at an end, that end (False:
    censored)."""
    k = int(np.argmin(level))
    if k == 0 or k == len(x) - 1:
        return float(x[k]), False
    c2, c1, _ = np.polyfit(x[k - 1 : k + 2], level[k - 1 : k + 2], 2)
    return float(np.clip(-c1 / (2 * c2), x[k - 1], x[k + 1])), True


def valleys(tuning: pd.DataFrame, optimizer: str, n_boot: int) -> pd.DataFrame:
    """One row per learning rate of a decaying optimizer's map: the best log10 decay in its
    own units (``decay_units``) with a 95 % bootstrap interval, whether it is interior, and
    the row's cells and seeds."""
    rows, units, rng = [], decay_units(optimizer), np.random.default_rng(RNG_SEED)
    for lr in sorted(tuning["lr"].unique()):
        fit = fit_row(row_runs(tuning, lr))
        if fit is None:
            continue
        x = log_decay(optimizer, lr, fit["wd"], units)
        best, interior = vertex(x, fit["level"])
        draws = np.array([vertex(x, lv)[0] for lv in draw_levels(fit, n_boot, rng)])
        lo, hi = np.percentile(draws, [2.5, 97.5]) if fit["cov"] is not None else (math.nan,) * 2
        rows.append(
            {"optimizer": optimizer, "lr": float(lr), "units": units, "log_decay": best,
             "ci_lo": float(lo), "ci_hi": float(hi), "interior": interior, "cells": len(x),
             "min_seeds": min(fit["seeds"]), "max_seeds": max(fit["seeds"]),
             "best_loss": float(fit["level"].min())}
        )  # fmt: skip
    return pd.DataFrame(rows)


def valley_slope(tuning: pd.DataFrame, optimizer: str, n_boot: int) -> dict:
    """d log10(best decay) / d log10(lr) over the rows whose optimum is interior (least
    squares), in the optimizer's own units and in the other (λ = lr·wd differs from wd by
    log10 lr, so the slopes differ by one), with a 95 % interval from redrawing every row
    together. NaN with fewer than three interior rows."""
    units, rng = decay_units(optimizer), np.random.default_rng(RNG_SEED)
    fits = []
    for lr in sorted(tuning["lr"].unique()):
        fit = fit_row(row_runs(tuning, lr))
        if fit is not None:
            x = log_decay(optimizer, lr, fit["wd"], units)
            fits.append((lr, x, fit, vertex(x, fit["level"])))
    used = [(lr, x, fit) for lr, x, fit, (_, interior) in fits if interior]
    censored = [float(lr) for lr, *_, v in fits if not v[1]]
    out = {"units": units, "slope": math.nan, "ci_lo": math.nan, "ci_hi": math.nan,
           "rows": len(used), "censored": censored}  # fmt: skip
    if len(used) < 3:
        return out
    log_lr = np.log10([lr for lr, *_ in used])
    best = np.array([vertex(x, fit["level"])[0] for _, x, fit in used])
    out["slope"] = float(np.polyfit(log_lr, best, 1)[0])
    draws = np.column_stack(
        [[vertex(x, lv)[0] for lv in draw_levels(fit, n_boot, rng)] for _, x, fit in used]
    )
    slopes = np.polyfit(log_lr, draws.T, 1)[0]
    out["ci_lo"], out["ci_hi"] = (float(v) for v in np.percentile(slopes, [2.5, 97.5]))
    return out


def _interp(x: np.ndarray, level: np.ndarray, at: float) -> float:
    """A row's level at ``at`` by linear interpolation in log decay; NaN outside the row."""
    if not x[0] - 1e-9 <= at <= x[-1] + 1e-9:
        return math.nan
    return float(np.interp(at, x, level))


def regret(tuning: pd.DataFrame, optimizer: str, steps: tuple[int, ...], lr_ratio: float,
           n_boot: int, units: str | None = None) -> dict:  # fmt: skip
    """Transfer regret: for every pair of rows ``steps`` grid steps apart (either direction),
    the loss at the second row's learning rate with the first row's best decay (held fixed in
    ``units``, the optimizer's own by default), minus the second row's best; averaged over the
    pairs whose transferred decay lies within the second row's searched decays. The point
    estimate, a 95 % interval from redrawing every row together, each pair's regret, and the
    draws (to compare two optimizers on the same footing)."""
    units, rng = units or decay_units(optimizer), np.random.default_rng(RNG_SEED)
    rows = {}
    for lr in sorted(tuning["lr"].unique()):
        fit = fit_row(row_runs(tuning, lr))
        if fit is not None:
            rows[float(lr)] = (log_decay(optimizer, lr, fit["wd"], units), fit)
    lrs = sorted(rows)
    pairs = [(a, b) for a in lrs for b in lrs if round(abs(math.log(b / a, lr_ratio))) in steps]
    out = {"units": units, "pairs": [], "regret": math.nan, "ci_lo": math.nan,
           "ci_hi": math.nan, "draws": np.array([])}  # fmt: skip

    def one(levels: dict) -> list[float]:
        values = []
        for a, b in pairs:
            xa, xb = rows[a][0], rows[b][0]
            chosen = xa[int(np.argmin(levels[a]))]
            values.append(_interp(xb, levels[b], chosen) - float(np.min(levels[b])))
        return values

    point = one({lr: fit["level"] for lr, (_, fit) in rows.items()})
    keep = [i for i, v in enumerate(point) if math.isfinite(v)]
    if not keep:
        return out
    out["pairs"] = [(pairs[i][0], pairs[i][1], point[i]) for i in keep]
    out["regret"] = float(np.mean([point[i] for i in keep]))
    draws = {lr: draw_levels(fit, n_boot, rng) for lr, (_, fit) in rows.items()}
    means = np.array([np.nanmean(np.array(one({lr: d[k] for lr, d in draws.items()}))[keep])
                      for k in range(n_boot)])  # fmt: skip
    out["draws"] = means
    out["ci_lo"], out["ci_hi"] = (float(v) for v in np.percentile(means, [2.5, 97.5]))
    return out


def per_seed_cell(runs: pd.DataFrame, optimizer: str, lr: float, wd: float) -> pd.DataFrame:
    """The tuning runs of one cell (the wd = 0 column is the decay-free member's cell), by
    seed."""
    who = optimizer if wd > 0 else decay_free_member(optimizer) or optimizer
    t = runs[runs["tuning"] & (runs["optimizer"] == who) & np.isclose(runs["lr"], lr)]
    t = t[np.isclose(t["weight_decay"], wd) & ~t["diverged"].astype(bool)]
    return t.set_index("seed").sort_index()


def lr_headline(runs: pd.DataFrame, per_lr: dict, a: str = "adam_l2", b: str = "adamw") -> list:
    """At every learning rate both optimizers searched, ``a`` − ``b`` on the test loss, the
    loss on the training data and the gap, each at its best decay there (chosen on validation:
    the selection's ``per_lr``), paired by the tuning seeds both cells have, with t intervals."""
    best = {o: {e["lr"]: e["weight_decay"] for e in per_lr.get(o, [])} for o in (a, b)}
    out = []
    for lr in sorted(set(best[a]) & set(best[b])):
        ra = per_seed_cell(runs, a, lr, best[a][lr])
        rb = per_seed_cell(runs, b, lr, best[b][lr])
        seeds = ra.index.intersection(rb.index)
        if len(seeds) < 2:
            continue
        row = {"lr": lr, "wd_a": best[a][lr], "wd_b": best[b][lr], "n": len(seeds)}
        for key, metric in (("test", "final_test_loss"), ("train", "final_train_loss")):
            p = paired(ra.loc[seeds, metric], rb.loc[seeds, metric])
            row |= {key: p["mean_diff"], f"{key}_lo": p["ci_lo"], f"{key}_hi": p["ci_hi"]}
        out.append(row)
    return out


def _path(runs: pd.DataFrame, optimizer: str, lr: float, seed: int) -> pd.DataFrame:
    """One optimizer's decay path at one learning rate on one seed: its finished decayed cells
    and its family's wd = 0 cell, as (training loss, test loss) sorted by training loss."""
    base = decay_free_member(optimizer)
    t = runs[runs["tuning"] & np.isclose(runs["lr"], lr) & (runs["seed"] == seed)]
    t = t[(t["optimizer"] == optimizer) | ((t["optimizer"] == base) & (t["weight_decay"] == 0))]
    t = t[~t["diverged"].astype(bool)].dropna(subset=["final_train_loss", "final_test_loss"])
    return t[["final_train_loss", "final_test_loss"]].sort_values("final_train_loss")


def equal_train(runs: pd.DataFrame, lrs: list[float], seeds: list[int],
                a: str = "adam_l2", b: str = "adamw", points: int = 9) -> dict:  # fmt: skip
    """Test loss at equal loss on the training data (Loshchilov & Hutter's Fig. 3): at each
    learning rate of ``lrs`` and each seed, both decay paths (``_path``) read as test loss
    against training loss and interpolated over the training losses both reach; ``a`` − ``b``
    averaged over that common range. Per seed, the mean over the learning rates where the range
    is not empty; the seeds are the replicates (t interval)."""
    per_seed, used = {}, 0
    for seed in seeds:
        diffs = []
        for lr in lrs:
            pa, pb = _path(runs, a, lr, seed), _path(runs, b, lr, seed)
            if len(pa) < 2 or len(pb) < 2:
                continue
            lo = max(pa["final_train_loss"].min(), pb["final_train_loss"].min())
            hi = min(pa["final_train_loss"].max(), pb["final_train_loss"].max())
            if not lo < hi:
                continue
            grid = np.linspace(lo, hi, points)
            ta = np.interp(grid, pa["final_train_loss"], pa["final_test_loss"])
            tb = np.interp(grid, pb["final_train_loss"], pb["final_test_loss"])
            diffs.append(float(np.mean(ta - tb)))
            used += 1
        if diffs:
            per_seed[seed] = float(np.mean(diffs))
    return {"per_seed": pd.Series(per_seed, dtype=float).sort_index(), "comparisons": used}


def basin_width(tuning: pd.DataFrame, optimizer: str, lr: float, margin: float,
                n_boot: int) -> dict | None:  # fmt: skip
    """How wide the good basin of one row is: the decades of decay over which the row's level,
    interpolated linearly in log decay between its cells, lies within ``margin`` of its lowest
    point; whether that region reaches a row's end (then the width is a lower bound); and the
    width's bootstrap draws. None for a row of fewer than three cells."""
    fit = fit_row(row_runs(tuning, lr))
    if fit is None:
        return None
    x = log_decay(optimizer, lr, fit["wd"])
    fine = np.linspace(x[0], x[-1], 401)

    def width(level: np.ndarray) -> tuple[float, bool]:
        f = np.interp(fine, x, level)
        near = f <= f.min() + margin
        return float(near.mean() * (x[-1] - x[0])), bool(near[0] or near[-1])

    value, censored = width(fit["level"])
    rng = np.random.default_rng(RNG_SEED)
    draws = np.array([width(lv)[0] for lv in draw_levels(fit, n_boot, rng)])
    return {"lr": float(lr), "width": value, "censored": censored, "cells": len(x),
            "draws": draws}  # fmt: skip


MAP_COLUMNS = ["kind", "optimizer", "units", "lr", "lr_to", "value", "ci_lo", "ci_hi", "loss",
               "interior", "contention", "n"]  # fmt: skip


def map_table(ev) -> pd.DataFrame:
    """``map.csv``, what the figures and the paper read of the map (``ev``: a study's
    ``Evidence``), one row per: ``valley`` (a row's best log10 decay), ``slope`` (the valley's
    slope in the optimizer's own units), ``regret`` (one transfer pair) and ``regret_mean``,
    ``lr_effect`` and ``lr_effect_train`` (Adam+L2 − AdamW at each learning rate, test loss
    and loss on the training data)."""
    out = []

    def add(kind, optimizer="", **values):
        out.append({"kind": kind, "optimizer": optimizer, **values})

    for o in [o for o in ("adam_l2", "adamw") if o in ev.optimizers] if ev.tuned else []:
        for r in valleys(ev.tuning(o), o, ev.n_boot).itertuples():
            add("valley", o, units=r.units, lr=r.lr, value=r.log_decay, ci_lo=r.ci_lo,
                ci_hi=r.ci_hi, loss=r.best_loss, interior=r.interior, n=r.min_seeds)  # fmt: skip
        s = ev.valley_slope(o)
        add("slope", o, units=s["units"], value=s["slope"], ci_lo=s["ci_lo"], ci_hi=s["ci_hi"],
            n=s["rows"])  # fmt: skip
        r = ev.regret(o)
        for a, b, v in r["pairs"]:
            add("regret", o, units=r["units"], lr=a, lr_to=b, value=v)
        add("regret_mean", o, units=r["units"], value=r["regret"], ci_lo=r["ci_lo"],
            ci_hi=r["ci_hi"], n=len(r["pairs"]))  # fmt: skip
    contention = set(ev.contention_lrs()) if ev.tuned else set()
    for e in lr_headline(ev.runs, ev.selection.get("per_lr", {})):
        for kind, key in (("lr_effect", "test"), ("lr_effect_train", "train")):
            add(kind, "adam_l2 - adamw", lr=e["lr"], value=e[key], ci_lo=e[f"{key}_lo"],
                ci_hi=e[f"{key}_hi"], contention=e["lr"] in contention, n=e["n"])  # fmt: skip
    return pd.DataFrame(out, columns=MAP_COLUMNS)
