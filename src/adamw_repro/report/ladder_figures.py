"""The figures across studies: a ladder's (decay's benefit and the headline against size,
AdamW's best timescale against the data, each data-axis study's tuning curve, and the length
axis's headline and best decays against training length), drawn from the cross-study tables
(analysis.ladder), and the pilot map that chose the default's regime, from its committed CSV.
Saved as ``figures.save`` saves a study's figures; ``run`` draws them for the ladder_figures and
pilot_map_figure rules (stage.py).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns

from .. import atomic
from ..analysis.stats import cell_means
from ..schedule import timescale
from ..stage import files
from .figures import plt, save


def _on_axis(studies: pd.DataFrame, axis: str) -> pd.DataFrame:
    return studies[studies["axes"].str.split().map(lambda a: axis in a)]


def _size_ticks(ax, values):
    """Ticks at the studies' own sizes, not at powers of ten."""
    xs = sorted(set(values))
    ax.set_xticks(xs, [f"{v / 1e6:.3g}M" if v >= 1e6 else f"{v / 1e3:.3g}k" for v in xs])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _value_ticks(ax, values):
    """Ticks at the studies' own values (steps, epochs), not at powers of ten, and limits around
    them (a panel whose rungs measured nothing has no data to set a log axis's limits)."""
    xs = sorted(set(values))
    ax.set_xlim(xs[0] / 1.25, xs[-1] * 1.25)
    ax.set_xticks(xs, [f"{v:.3g}" for v in xs])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _points(ax, g, x, y, lo, hi, used, color, at_end=None):
    """A study's value with its interval; hollow where it was not used in the fit (its gate did
    not pass), a triangle where it lies at an end of the grid (a bound, not a point)."""
    yerr = np.vstack([g[y] - g[lo], g[hi] - g[y]])
    ax.errorbar(g[x], g[y], yerr=yerr, fmt="none", ecolor=color, capsize=3, zorder=2)
    at_end = np.zeros(len(g), bool) if at_end is None else at_end
    for fill, take in ((color, used), ("white", ~used)):
        for where, marker in ((~at_end, "o"), (at_end, "^")):
            m = take & where
            ax.scatter(g[x][m], g[y][m], facecolor=fill, edgecolor=color, marker=marker, zorder=3)


def _fit_line(ax, fits, axis, corpus, color, label=None):
    f = fits[(fits["axis"] == axis) & (fits["corpus"] == corpus) & (fits["line"] == "fit")]
    if not f.empty:
        ax.plot(f["x"], f["y"], color=color, label=label, zorder=1)
        ax.fill_between(f["x"], f["lo"], f["hi"], color=color, alpha=0.15, linewidth=0)


def ladder_size(studies, fits, runs):
    """The size axis, one colour per corpus, with the fits: decay's benefit (U8a; hollow where
    the decay-acts gate did not pass) and the headline, Adam+L2 − AdamW (SZ1)."""
    on = _on_axis(studies, "size")
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.3), sharex=True)
    panels = (("benefit", "size", "tuned Adam − tuned AdamW"),
              ("headline", "size headline", "tuned Adam+L2 − tuned AdamW"))  # fmt: skip
    for ax, (y, line, label) in zip(axes, panels, strict=True):
        groups = on.sort_values("n_params_ne").groupby("corpus", sort=False)
        for k, (corpus, g) in enumerate(groups):
            color = sns.color_palette()[k]
            used = (g["acts"] == "passed").to_numpy() if y == "benefit" else np.ones(len(g), bool)
            _points(ax, g, "n_params_ne", y, f"{y}_lo", f"{y}_hi", used, color)
            _fit_line(ax, fits, line, corpus, color)
            ax.plot([], [], color=color, label=corpus)
        ax.axhline(0, color="0.3", linewidth=0.8)
        ax.set_xscale("log")
        _size_ticks(ax, on["n_params_ne"])
        ax.set(xlabel="non-embedding parameters (log scale)",
               ylabel=f"{label},\nfinal test loss (nats)")  # fmt: skip
    axes[0].legend(title="corpus", fontsize=7)
    fig.tight_layout()
    return fig


def _rules(ax, fits, axis, corpus):
    """The rules' predicted slopes drawn through the fit's middle (grey, one dash each)."""
    styles = iter([(0, (4, 2)), (0, (1, 1.5)), (0, (6, 2, 1, 2))])
    lines = fits[(fits["axis"] == axis) & (fits["corpus"] == corpus)]
    for name, line in lines[lines["line"] != "fit"].groupby("line", sort=False):
        ax.plot(line["x"], line["y"], color="0.35", linestyle=next(styles), lw=1, label=name)


def ladder_length(studies, fits, runs):
    """The length axis (a fixed model and training subset, T growing): (a) the headline,
    Adam+L2 − AdamW, and decay's benefit against epochs, with the overfitting rise of Adam
    without decay; (b) AdamW's best τ in steps and (c) Adam+L2's best weight decay against T,
    each with its fit and the three rules' slopes (hollow: decay-helps gate not passed;
    triangles: the optimum at an end of the grid)."""
    on = _on_axis(studies, "length").sort_values("steps")
    corpus = on["corpus"].iloc[0]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    blue, orange, grey = sns.color_palette()[0], sns.color_palette()[1], "0.45"
    every = np.ones(len(on), bool)
    _points(axes[0], on, "epochs", "headline", "headline_lo", "headline_hi", every, blue)
    _fit_line(axes[0], fits, "length headline", corpus, blue, "Adam+L2 − AdamW")
    _points(axes[0], on, "epochs", "benefit", "benefit_lo", "benefit_hi", every, orange)
    axes[0].plot([], [], color=orange, marker="o", ls="none", label="Adam − AdamW")
    rise = axes[0].twinx()
    rise.plot(on["epochs"], on["overfit_rise"], color=grey, marker="s", ms=3, lw=1)
    rise.set_ylabel("overfitting rise of Adam (nats)", color=grey)
    rise.grid(False)
    axes[0].axhline(0, color="0.3", linewidth=0.8)
    axes[0].set(xscale="log", xlabel="epochs (log scale)",
                ylabel="tuned against tuned,\nfinal test loss (nats)")  # fmt: skip
    _value_ticks(axes[0], on["epochs"])
    axes[0].legend(fontsize=6, loc="upper left")
    helps = (on["helps"] == "passed").to_numpy()
    for ax, (y, ok, line, label) in zip(axes[1:], (
        ("tau_steps", "tau_interior", "length tau", "AdamW's best τ = 1/(lr·wd), steps"),
        ("l2_lambda", "l2_wd_interior", "length l2", "Adam+L2's best λ = lr·wd"),
    ), strict=True):  # fmt: skip
        inside = on[ok].astype(bool).to_numpy()
        lo, hi = ("tau_lo", "tau_hi") if y == "tau_steps" else ("l2_lambda_lo", "l2_lambda_hi")
        _points(ax, on, "steps", y, lo, hi, helps & inside, blue, ~inside)
        _fit_line(ax, fits, line, corpus, blue, "fit")
        _rules(ax, fits, line, corpus)
        measured = (on[y] > 0).any()  # a log scale needs a value (a rung may have none)
        ax.set(xscale="log", yscale="log" if measured else "linear",
               xlabel="T, steps (log scale)", ylabel=f"{label} (log scale)")  # fmt: skip
        if not measured:
            ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", va="center")
        _value_ticks(ax, on["steps"])
        if ax.get_legend_handles_labels()[1]:  # no fit, no lines: nothing to name
            ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    return fig


def ladder_data(studies, fits, runs):
    """AdamW's best timescale against the training data on the data axis, with the fit and the
    three readings' predicted slopes drawn through its middle."""
    on = _on_axis(studies, "data")
    fig, ax = plt.subplots(figsize=(5.4, 3.5))
    for k, (corpus, g) in enumerate(on.sort_values("data_tokens").groupby("corpus", sort=False)):
        color = sns.color_palette()[k]
        used = ((g["acts"] == "passed") & g["tau_interior"].astype(bool)).to_numpy()
        at_end = ~g["tau_interior"].astype(bool).to_numpy()
        _points(ax, g, "data_tokens", "tau_steps", "tau_lo", "tau_hi", used, color, at_end)
        _fit_line(ax, fits, "data", corpus, color, label=f"fit ({corpus})")
        if k == 0:
            _rules(ax, fits, "data", corpus)
    ax.set(xscale="log", yscale="log", xlabel="training tokens (log scale)",
           ylabel="best τ = 1/(lr·wd), steps (log scale)")  # fmt: skip
    _size_ticks(ax, on["data_tokens"])
    ax.legend(fontsize=6, loc="best")
    return fig


def ladder_curves(studies, fits, runs):
    """Each data-axis study's AdamW tuning cells at its learning rate: test loss against τ/T,
    relative to Adam at the same learning rate (the wd = 0 column), mean over tuning seeds."""
    on = _on_axis(studies, "data").sort_values("data_tokens")
    fig, ax = plt.subplots(figsize=(5.0, 3.3))
    colors = sns.color_palette("viridis", len(on))
    for color, r in zip(colors, on.itertuples(), strict=True):
        t = runs[(runs["study"] == r.study) & runs["tuning"].astype(bool)]
        t = t[np.isclose(t["lr"], r.lr)]
        base = cell_means(t[t["optimizer"] == "adam"])["value"].mean()
        w = cell_means(t[(t["optimizer"] == "adamw") & (t["weight_decay"] > 0)])
        w = w.assign(tau=timescale(w["lr"], w["weight_decay"], r.steps)).sort_values("tau")
        ax.plot(w["tau"], w["value"] - base, marker="o", ms=3, color=color,
                label=f"{r.epochs:.3g} epoch{'' if r.epochs == 1 else 's'}")  # fmt: skip
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.set(xscale="log", xlabel="τ / T (log scale)",
           ylabel="AdamW − Adam at the same lr,\ntest loss (nats)")  # fmt: skip
    ax.legend(fontsize=7, title="data axis")
    return fig


LADDER_DRAW = {
    "ladder_size": ladder_size,
    "ladder_data": ladder_data,
    "ladder_curves": ladder_curves,
    "ladder_length": ladder_length,
}


def pilot_map(cells: pd.DataFrame, chosen: str, margin: float):
    """The pilot's map (benchmarks/pilot_map.py): per cell, decay's tuned-vs-tuned gain, the
    size of decay's effect at a fixed learning rate, and the seconds per run; the study's
    regime highlighted."""
    cells = cells.iloc[::-1]  # first cell on top
    y = np.arange(len(cells))
    colors = ["#d62728" if c == chosen else "0.55" for c in cells["cell"]]
    fig, axes = plt.subplots(1, 3, figsize=(9, 0.32 * len(cells) + 1.2), sharey=True,
                             gridspec_kw={"width_ratios": [3, 3, 2]})  # fmt: skip
    panels = (
        ("gain", "tuned Adam − tuned AdamW\n(validation loss, nats)", 3 * margin),
        ("acts", "largest |AdamW(τ) − Adam|\nat Adam's lr (nats)", margin),
        ("s_per_run", "seconds per run\n(1 thread)", None),
    )
    for ax, (col, label, line) in zip(axes, panels, strict=True):
        ax.barh(y, cells[col], color=colors)
        if col == "gain" and {"gain_a", "gain_b"} <= set(cells):  # each seed alone (map v2)
            for seed in ("gain_a", "gain_b"):
                ax.scatter(cells[seed], y, color="black", s=8, zorder=3)
        if line is not None:
            ax.axvline(line, color="k", ls="--", lw=0.8)
        ax.set_xlabel(label)
    axes[0].set_yticks(y, [f"{a}: {c}" for a, c in zip(cells["axis"], cells["cell"], strict=True)])
    fig.tight_layout()
    return fig


def run(input, output, params) -> None:
    """The ladder_figures rule: each figure its output list names (``<name>.pdf``, drawn by
    ``LADDER_DRAW[name]``); the pilot_map_figure rule: the pilot map (``params["figure"]``).
    As PDF and PNG (stage.py)."""
    sns.set_theme(context="paper", style="whitegrid")
    if params.get("figure") == "pilot_map":
        cells = pd.read_csv(input["csv"])
        save(pilot_map(cells, params["chosen"], params["margin"]), output["pdf"])
        return
    redo = atomic.redo_stage("the stage that wrote it")
    runs = atomic.read_table(input["runs"], redo, ["run_id"])
    studies, fits = pd.read_csv(input["studies"]), pd.read_csv(input["fits"])
    for pdf in files(output["pdf"]):
        save(LADDER_DRAW[Path(pdf).stem](studies, fits, runs), pdf)
