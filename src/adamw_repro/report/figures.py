"""Figures. One function per figure, each drawn from the aggregated tables only, so restyling a
figure never retrains; each is saved as PDF (for the paper) and PNG (for viewing). Their names,
captions and needs are ``catalog.FIGURES`` (light: Snakemake reads it while parsing); ``DRAW``
maps each name to its function; ``run`` draws those the figures rule names (stage.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402

from .. import atomic  # noqa: E402
from ..analysis.stats import cell_means  # noqa: E402
from ..design import search_seeds  # noqa: E402
from ..registry import LABELS, OPTIMIZERS, optimizer_order  # noqa: E402
from ..schedule import timescale  # noqa: E402
from ..stage import files  # noqa: E402

BOOTSTRAP_SEED = 0  # seaborn's bootstrap bands are random; fix them so figures are reproducible


def _palette(optimizers) -> dict:
    return {o: OPTIMIZERS[o].color for o in optimizers}


def _finished(runs):
    return runs[~runs["diverged"].astype(bool)]


def _absent(ax, what):
    ax.text(0.5, 0.5, f"{what}\nnot in this study", ha="center", va="center",
            transform=ax.transAxes, color="0.4")  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])


def _edges(values):
    """Cell edges in log10 space around sorted positive lattice values."""
    v = np.log10(values)
    step = np.diff(v).mean() if len(v) > 1 else 1.0
    return np.concatenate([[v[0] - step / 2], (v[1:] + v[:-1]) / 2, [v[-1] + step / 2]])


def _log_display(unit: str, display: str, log_lr, log_decay, steps: int):
    """log10 of a decay in the ``display`` units ("wd", or "lambda" = lr·wd) from log10 of the
    learning rate and of the decay in a grid's own units (PyTorch wd, or τ/T over T steps)."""
    lr, decay = 10.0**log_lr, 10.0**log_decay
    wd = timescale(lr, decay, steps) if unit == "decay_timescale" else decay
    return np.log10(lr * wd if display == "lambda" else wd)


AXIS_LABEL = {"wd": "log10 weight decay (PyTorch)", "lambda": "log10 λ = lr·weight decay"}


def _unit(grid: pd.DataFrame) -> str:
    """The units a grid's ``decay`` column is in: PyTorch wd, or timescale τ/T."""
    return "weight_decay" if np.allclose(grid["decay"], grid["weight_decay"]) else "decay_timescale"


def _heatmap(ax, tuning: pd.DataFrame, vmin, vmax, display: str, title: str):
    """Mean test loss over the tuning seeds on the grid's lattice of (lr, decay) cells, drawn in
    the ``display`` decay units; a timescale grid appears sheared in PyTorch units."""
    cells = cell_means(tuning)
    lrs, decays = np.sort(cells["lr"].unique()), np.sort(cells["decay"].unique())
    ly, lx = _edges(lrs), _edges(decays)
    Y, D = np.meshgrid(ly, lx, indexing="ij")
    X = _log_display(_unit(cells), display, Y, D, tuning["steps"].max())
    mesh = None
    best = cells.dropna(subset=["value"]).sort_values("value").head(1)
    for r in cells.itertuples():
        i, j = np.searchsorted(lrs, r.lr), np.searchsorted(decays, r.decay)
        corners = [(X[i, j], Y[i, j]), (X[i, j + 1], Y[i, j + 1]),
                   (X[i + 1, j + 1], Y[i + 1, j + 1]), (X[i + 1, j], Y[i + 1, j])]  # fmt: skip
        cx, cy = np.mean(corners, axis=0)
        if r.diverged:
            ax.add_patch(Polygon(corners, facecolor="0.85", edgecolor="white"))
            ax.text(cx, cy, "×", ha="center", va="center", fontsize=12, color="crimson")
            continue
        color = plt.get_cmap("viridis_r")(
            (np.clip(r.value, vmin, vmax) - vmin) / (vmax - vmin or 1)
        )
        ax.add_patch(Polygon(corners, facecolor=color, edgecolor="white", linewidth=0.5))
        ink = "black" if r.value < (vmin + vmax) / 2 else "white"
        ax.text(cx, cy, f"{r.value:.3f}", ha="center", va="center", fontsize=5.5, color=ink)
        if len(best) and (r.lr, r.decay) == (best["lr"].iloc[0], best["decay"].iloc[0]):
            ax.add_patch(Polygon(corners, fill=False, edgecolor="red", linewidth=2, clip_on=False))
    ax.set_xlim(X.min(), X.max())
    ax.set_ylim(Y.min(), Y.max())
    mesh = plt.cm.ScalarMappable(cmap="viridis_r", norm=plt.Normalize(vmin, vmax))
    ax.set_title(title, fontsize=9)
    ax.set_ylabel("log10 learning rate" if ax.get_subplotspec().is_first_col() else "")
    ax.set_xlabel(AXIS_LABEL[display])
    return mesh


def _searched(runs, study):
    """The tuning trials on the search seeds, which every searched cell has (with
    ``study.finalists`` the finalists also have the other half: their means would not compare
    like with like)."""
    seeds = search_seeds({"study": study})
    return runs[runs["tuning"].astype(bool) & runs["seed"].isin(seeds)]


def _heatmap_panels(runs, panels, study):
    runs = _searched(runs, study)
    grids = {o: runs[runs["optimizer"] == o] for o, _, _ in panels}
    values = pd.concat([cell_means(g)["value"] for g in grids.values() if len(g)] or [pd.Series()])
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.2), squeeze=False)
    mesh = None
    vmin = values.min()
    vmax = min(values.max(), vmin + 0.5)  # worse cells saturate
    for ax, (opt, display, title) in zip(axes[0], panels, strict=True):
        if grids[opt].empty or values.dropna().empty:
            _absent(ax, f"{LABELS[opt]} grid")
            continue
        mesh = _heatmap(ax, grids[opt], vmin, vmax, display, title)
    if mesh is not None:
        fig.colorbar(
            mesh, ax=axes[0].tolist(), label="test loss (mean over the search seeds)", shrink=0.9
        )
    return fig


def heatmaps_adam(runs, curves, study, rows):
    return _heatmap_panels(
        runs,
        [
            ("adam_l2", "wd", "Adam+L2 (coupled)"),
            ("adamw", "lambda", "AdamW, L&H units λ"),
            ("adamw", "wd", "AdamW, PyTorch units"),
        ],
        study,
    )


def heatmaps_sgd(runs, curves, study, rows):
    return _heatmap_panels(
        runs, [("sgd_l2", "wd", "SGD+L2 (coupled)"), ("sgdw", "wd", "SGDW, PyTorch units")], study
    )


def lr_sweep(runs, curves, study, rows):
    """Each optimizer's best decay at every learning rate (chosen on validation), its test loss
    against the learning rate: a dot per tuning seed, the line through their means, a ring at
    the selected learning rate (cf. Loshchilov & Hutter, Fig. 2-3, top rows)."""
    t = _finished(runs[runs["tuning"].astype(bool)])
    best = (  # an untuned profile's empty column reads back from CSV as floats
        t.assign(who=t["lr_best_for"].fillna("").astype(str).str.split())
        .explode("who")
        .dropna(subset=["who"])
    )
    order = optimizer_order(best["who"])
    fig, (ax, below) = plt.subplots(2, 1, figsize=(5.4, 5.0), sharex=True,
                                    gridspec_kw={"height_ratios": [3, 2]})  # fmt: skip
    if best.empty:
        _absent(ax, "a learning-rate grid")
        _absent(below, "a learning-rate grid")
        return fig
    for k, o in enumerate(order):
        mine = best[best["who"] == o]
        color = OPTIMIZERS[o].color
        shift = 1 + 0.04 * (k - (len(order) - 1) / 2)  # side by side at one learning rate
        ax.scatter(mine["lr"] * shift, mine["final_test_loss"], s=9, alpha=0.45, color=color,
                   linewidths=0)  # fmt: skip
        means = mine.groupby("lr")["final_test_loss"].mean()
        ax.plot(means.index, means.to_numpy(), marker="o", ms=3.5, color=color, label=LABELS[o])
        chosen = runs[runs["evaluation"].astype(bool) & (runs["optimizer"] == o)]["lr"]
        if len(chosen) and chosen.iloc[0] in means.index:
            lr = chosen.iloc[0]
            ax.scatter([lr], [means[lr]], s=90, facecolor="none", edgecolor=color, linewidths=1.4)
    low = best.groupby(["who", "lr"])["final_test_loss"].mean().min()
    ax.set_ylim(low - 0.05, low + 0.6)  # a diverging learning rate would flatten the rest
    ax.set(xscale="log", ylabel="test loss at the best decay\n(tuning runs)")
    ax.legend(fontsize=7)
    effect = rows[rows["kind"] == "lr_effect"].sort_values("lr")
    if effect.empty:
        _absent(below, "Adam+L2 or AdamW")
    else:
        yerr = np.vstack([effect["value"] - effect["ci_lo"], effect["ci_hi"] - effect["value"]])
        below.errorbar(effect["lr"], effect["value"], yerr=yerr, fmt="o-", color="0.2", ms=3.5,
                       capsize=3)  # fmt: skip
        margin = study["margin"]
        below.axhspan(-margin, margin, color="0.85", zorder=0)
        below.axhline(0, color="0.3", linewidth=0.8)
        below.set_ylabel("Adam+L2 − AdamW\n(test loss, nats)")
    below.set(xscale="log", xlabel="learning rate (log scale)")
    lrs = sorted(best["lr"].unique())
    below.set_xticks(lrs, [f"{lr:g}" for lr in lrs])  # the searched learning rates, not decades
    below.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    return fig


def _seed_curves(ax, df, metric, order, title, legend):
    d = df[df["metric"] == metric]
    sns.lineplot(data=d, x="step", y="value", hue="optimizer", hue_order=order,
                 palette=_palette(order), errorbar=("ci", 95), seed=BOOTSTRAP_SEED, ax=ax,
                 legend=legend)  # fmt: skip
    ax.set(xlabel="step", ylabel="loss (nats)", title=title)


def train_test_curves(runs, curves, study, rows):
    ids = set(_finished(runs[runs["evaluation"]])["run_id"])
    df = curves[curves["run_id"].isin(ids)]
    order = optimizer_order(df["optimizer"])
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.2), sharey=True)
    _seed_curves(axes[0], df, "train_loss", order, "training loss (batches)", False)
    _seed_curves(axes[1], df, "test_loss", order, "test loss", True)
    if len(df):
        low = df[df["metric"].isin(["train_loss", "test_loss"])]["value"].min()
        axes[0].set_ylim(low - 0.1, low + 2.5)  # the initial loss would flatten the rest
    return fig


def _per_seed(runs, metric, label):
    df = _finished(runs[runs["evaluation"]])
    order = optimizer_order(df["optimizer"])
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    sns.pointplot(data=df, x="optimizer", y=metric, order=order, errorbar=None, color="black",
                  markers="_", markersize=20, linestyle="none", ax=ax)  # fmt: skip
    sns.swarmplot(data=df, x="optimizer", y=metric, order=order, hue="optimizer",
                  palette=_palette(order), size=5, legend=False, ax=ax)  # fmt: skip
    ax.set(xlabel="", ylabel=label)
    return fig


def final_test_loss(runs, curves, study, rows):
    return _per_seed(runs, "final_test_loss", "final test loss (nats)")


def final_test_accuracy(runs, curves, study, rows):
    return _per_seed(runs, "final_test_acc", "final test top-1 accuracy")


def weight_norms(runs, curves, study, rows):
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.2), sharey=True)
    for ax, opt in zip(axes, ("adamw", "adam_l2"), strict=True):
        sel = runs[runs["evaluation"] & (runs["optimizer"] == opt)]
        grid = runs[runs["tuning"] & (runs["optimizer"] == opt)]
        if sel.empty or grid.empty:
            _absent(ax, f"{LABELS[opt]} grid")
            continue
        lr, seed = sel["lr"].iloc[0], grid["seed"].min()
        ids = grid[np.isclose(grid["lr"], lr) & (grid["seed"] == seed)]["run_id"]
        d = curves[curves["run_id"].isin(ids) & (curves["metric"] == "decayed_norm")].copy()
        decay = grid.set_index("run_id")["decay"]
        d["decay"] = d["run_id"].map(decay).map(lambda x: f"{x:g}")
        name = "τ/T" if _unit(grid) == "decay_timescale" else "weight decay"
        sns.lineplot(data=d, x="step", y="value", hue="decay", palette="rocket_r", ax=ax)
        ax.set(xlabel="step", ylabel="decayed-weight norm", title=f"{LABELS[opt]}, lr {lr:g}")
        ax.legend(title=name, fontsize="x-small", title_fontsize="x-small")
    return fig


def basin_valleys(runs, curves, study, rows):
    """The map's valleys behind LH1 and U8b: every searched cell (colour: its mean test loss
    over the search seeds), each row's best decay with its 95 % interval (hollow: at the row's
    end), the fitted slope through the interior ones, and what "λ fixed" and "wd fixed" would
    draw through the same middle."""
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6), layout="constrained")
    searched = _searched(runs, study)
    for ax, opt in zip(axes, ("adamw", "adam_l2"), strict=True):
        t = searched[(searched["optimizer"] == opt) & (searched["weight_decay"] > 0)]
        cells = cell_means(t).dropna(subset=["value"]) if len(t) else pd.DataFrame()
        v = rows[(rows["kind"] == "valley") & (rows["optimizer"] == opt)]
        if cells.empty or v.empty:
            _absent(ax, f"{LABELS[opt]} decay grid")
            continue
        units = v["units"].iloc[0]
        x = np.log10(cells["lr"])
        y = np.log10(cells["weight_decay"]) + (x if units == "lambda" else 0)
        sc = ax.scatter(x, y, c=cells["value"], cmap="viridis_r", s=28, marker="s")
        vx = np.log10(v["lr"].to_numpy())
        yerr = np.vstack([v["value"] - v["ci_lo"], v["ci_hi"] - v["value"]])
        ax.errorbar(vx, v["value"], yerr=yerr, fmt="none", ecolor="red", capsize=3)
        inside = v["interior"].astype(bool).to_numpy()
        ax.scatter(vx[inside], v["value"][inside], color="red", zorder=3, label="row's best decay")
        ax.scatter(vx[~inside], v["value"][~inside], facecolor="white", edgecolor="red", zorder=3)
        slope = rows[(rows["kind"] == "slope") & (rows["optimizer"] == opt)]
        if inside.sum() >= 3 and len(slope) and np.isfinite(slope["value"].iloc[0]):
            mx, my = vx[inside].mean(), v["value"][inside].mean()
            xs = np.array([vx.min(), vx.max()])
            b, lo, hi = (slope[k].iloc[0] for k in ("value", "ci_lo", "ci_hi"))
            ax.plot(xs, my + b * (xs - mx), color="red",
                    label=f"slope {b:+.2f} [{lo:+.2f}, {hi:+.2f}]")  # fmt: skip
            lines = (("λ fixed", 0.0, (0, (4, 2))), ("wd fixed", 1.0, (0, (1, 1.5))))
            for name, ref, style in lines:  # slopes in λ; one less in wd
                ref = ref if units == "lambda" else ref - 1.0
                ax.plot(xs, my + ref * (xs - mx), color="0.3", lw=0.9, ls=style, label=name)
        ax.legend(fontsize="x-small")
        ax.set(xlabel="log10 learning rate", ylabel=AXIS_LABEL[units])
        ax.set_title(LABELS[opt])
        fig.colorbar(sc, ax=ax, label="test loss (search seeds)")
    return fig


def transfer_regret(runs, curves, study, rows):
    """LH5: the regret of a decay tuned at one learning rate and used one or two grid steps
    away, per optimizer (held fixed in λ for AdamW, in wd for Adam+L2): a dot per pair of rows,
    the bar their mean with its 95 % interval."""
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    pairs = rows[rows["kind"] == "regret"]
    means = rows[rows["kind"] == "regret_mean"].set_index("optimizer")
    order = [o for o in ("adam_l2", "adamw") if o in set(pairs["optimizer"])]
    if not order:
        _absent(ax, "a map with two rows")
        return fig
    for k, o in enumerate(order):
        p = pairs[pairs["optimizer"] == o]
        lrs = np.sort(np.unique(p[["lr", "lr_to"]].to_numpy()))
        ratio = np.min(lrs[1:] / lrs[:-1])  # one grid step
        steps = np.abs(np.round(np.log(p["lr_to"] / p["lr"]) / np.log(ratio))).astype(int)
        for j, (step, marker) in enumerate(((1, "o"), (2, "s"))):
            mine = p[steps == step]
            label = f"{step} step{'s' if step > 1 else ''} apart" if k == 0 else None
            ax.scatter(np.full(len(mine), k + 0.12 * (j - 0.5)), mine["value"], marker=marker,
                       s=14, color=OPTIMIZERS[o].color, alpha=0.7, label=label)  # fmt: skip
        m = means.loc[o]
        yerr = [[m["value"] - m["ci_lo"]], [m["ci_hi"] - m["value"]]]
        ax.errorbar([k + 0.35], [m["value"]], yerr=yerr, fmt="D", color="black", capsize=4)
    units = {"lambda": "λ fixed", "wd": "wd fixed"}
    labels = [
        f"{LABELS[o]}\n({units[pairs[pairs['optimizer'] == o]['units'].iloc[0]]})" for o in order
    ]
    ax.set_xticks(range(len(order)), labels)
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.set_ylabel("transfer regret, test loss (nats)")
    ax.legend(fontsize=7)
    return fig


def generalization(runs, curves, study, rows):
    """LH6 (cf. Loshchilov & Hutter, Fig. 3): at each learning rate in contention, test loss
    against the loss on the training data along each optimizer's decay path, the cells of
    every tuning seed (mean over them), the wd = 0 column (Adam) shared by both."""
    effect = rows[rows["kind"] == "lr_effect"]
    lrs = sorted(effect[effect["contention"].astype(bool)]["lr"]) if len(effect) else []
    fig, axes = plt.subplots(1, max(1, len(lrs)), figsize=(3.2 * max(1, len(lrs)), 3.2),
                             squeeze=False, sharey=True)  # fmt: skip
    if not lrs:
        _absent(axes[0][0], "Adam+L2 and AdamW maps")
        return fig
    t = _finished(runs[runs["tuning"].astype(bool)])
    every = len(study["tuning_seeds"])
    for ax, lr in zip(axes[0], lrs, strict=True):
        at = t[np.isclose(t["lr"], lr)]
        for o in ("adam_l2", "adamw"):
            path = at[(at["optimizer"] == o) | (at["optimizer"] == "adam")]
            cells = path.groupby(["optimizer", "weight_decay"]).agg(
                train=("final_train_loss", "mean"), test=("final_test_loss", "mean"),
                seeds=("seed", "nunique")).reset_index()  # fmt: skip
            cells = cells[cells["seeds"] == every].sort_values("train")
            ax.plot(cells["train"], cells["test"], marker="o", ms=3.5, color=OPTIMIZERS[o].color,
                    label=LABELS[o])  # fmt: skip
        ax.set(title=f"lr {lr:g}", xlabel="loss on the training data")
    axes[0][0].set_ylabel("test loss")
    axes[0][0].legend(fontsize=7)
    return fig


DRAW = {  # one drawing function per figure of catalog.FIGURES
    "heatmaps_adam": heatmaps_adam,
    "heatmaps_sgd": heatmaps_sgd,
    "basin_valleys": basin_valleys,
    "lr_sweep": lr_sweep,
    "train_test_curves": train_test_curves,
    "final_test_loss": final_test_loss,
    "final_test_accuracy": final_test_accuracy,
    "weight_norms": weight_norms,
    "transfer_regret": transfer_regret,
    "generalization": generalization,
}


def save(fig, pdf_path: str | Path) -> None:
    """PDF and PNG side by side, without timestamps so reruns give identical bytes."""
    pdf_path = Path(pdf_path)
    with atomic.atomic_path(pdf_path) as tmp:
        fig.savefig(
            tmp, format="pdf", bbox_inches="tight", metadata={"CreationDate": None, "ModDate": None}
        )
    with atomic.atomic_path(pdf_path.with_suffix(".png")) as tmp:
        fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def run(input, output, params) -> None:
    """The figures rule: each figure its output list names (``<name>.pdf``, drawn by
    ``DRAW[name]``) as PDF and PNG (stage.py)."""
    sns.set_theme(context="paper", style="whitegrid")
    redo = atomic.redo_stage("the stage that wrote it")
    runs = atomic.read_table(input["runs"], redo, ["run_id"])
    curves = atomic.read_table(input["curves"], redo, ["metric"])
    rows = atomic.read_table(input["map"], redo, ["kind"], empty_ok=True)
    study = json.loads(params["study"])
    for pdf in files(output["pdf"]):
        save(DRAW[Path(pdf).stem](runs, curves, study, rows), pdf)
