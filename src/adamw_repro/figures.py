"""Stage 5: figures. One function per figure, each drawn from the aggregated tables only, so
restyling a figure never retrains; each is saved as PDF (for the paper) and PNG (for viewing).

    python -m adamw_repro.figures heatmaps_adam --runs runs.csv --curves curves.csv \\
        --out results/figures/heatmaps_adam.pdf
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402

from . import atomic  # noqa: E402
from .aggregate import optimizer_order  # noqa: E402
from .stats import tilt  # noqa: E402

BOOTSTRAP_SEED = 0  # seaborn's bootstrap bands are random; fix them so figures are reproducible
LABELS = {
    "sgd": "SGD",
    "sgd_l2": "SGD+L2",
    "sgdw": "SGDW",
    "adam": "Adam",
    "adam_l2": "Adam+L2",
    "adamw": "AdamW",
}


# The comparison that matters most, Adam+L2 against AdamW, gets the two most distinct colours.
COLORS = {
    "sgd": "#7f7f7f",
    "sgd_l2": "#bcbd22",
    "sgdw": "#2ca02c",
    "adam": "#000000",
    "adam_l2": "#ff7f0e",
    "adamw": "#1f77b4",
}


def _palette(optimizers) -> dict:
    return {o: COLORS[o] for o in optimizers}


def _finished(runs):
    return runs[~runs["diverged"].astype(bool)]


def _absent(ax, what):
    ax.text(
        0.5,
        0.5,
        f"{what}\nnot in this study",
        ha="center",
        va="center",
        transform=ax.transAxes,
        color="0.4",
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _edges(values):
    """Cell edges in log10 space around sorted positive grid values."""
    v = np.log10(values)
    step = np.diff(v).mean() if len(v) > 1 else 1.0
    return np.concatenate([[v[0] - step / 2], (v[1:] + v[:-1]) / 2, [v[-1] + step / 2]])


def _heatmap(ax, grid: pd.DataFrame, vmin, vmax, decoupled_units: bool, title: str):
    """Final validation loss over the lr × decay grid (rows: lr, columns: decay). With
    ``decoupled_units`` the x axis is L&H's λ = lr·wd, which shears the grid."""
    lrs = np.sort(grid["lr"].unique())
    wds = np.sort(grid["weight_decay"].unique())
    if (wds <= 0).any():
        wds = wds[wds > 0]
    z = np.full((len(lrs), len(wds)), np.nan)
    dead = np.zeros_like(z, dtype=bool)
    for r in grid.itertuples():
        if r.weight_decay in wds:
            i, j = np.searchsorted(lrs, r.lr), np.searchsorted(wds, r.weight_decay)
            dead[i, j] = bool(r.diverged)
            z[i, j] = np.nan if r.diverged else r.final_val_loss
    ly, lx = _edges(lrs), _edges(wds)
    Y, X = np.meshgrid(ly, lx, indexing="ij")
    if decoupled_units:
        X = X + Y  # log10(lr·wd): each row shifts by its learning rate
    mesh = ax.pcolormesh(
        X,
        Y,
        np.ma.masked_invalid(z),
        cmap="viridis_r",
        vmin=vmin,
        vmax=vmax,
        shading="flat",
        edgecolors="white",
        linewidth=0.5,
    )
    for i in range(len(lrs)):
        for j in range(len(wds)):
            cx, cy = X[i : i + 2, j : j + 2].mean(), Y[i : i + 2, j : j + 2].mean()
            if dead[i, j]:
                ax.text(cx, cy, "×", ha="center", va="center", fontsize=12, color="crimson")
            elif np.isfinite(z[i, j]):
                ax.text(
                    cx,
                    cy,
                    f"{z[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="black" if z[i, j] < (vmin + vmax) / 2 else "white",
                )
    if np.isfinite(z).any():
        i, j = np.unravel_index(np.nanargmin(z), z.shape)
        corners = [
            (X[i, j], Y[i, j]),
            (X[i, j + 1], Y[i, j + 1]),
            (X[i + 1, j + 1], Y[i + 1, j + 1]),
            (X[i + 1, j], Y[i + 1, j]),
        ]
        ax.add_patch(Polygon(corners, fill=False, edgecolor="red", linewidth=2))
    ax.set_title(title, fontsize=9)
    ax.set_ylabel("log10 learning rate" if ax.get_subplotspec().is_first_col() else "")
    ax.set_xlabel("log10 λ = lr·weight decay" if decoupled_units else "log10 weight decay")
    return mesh


def _heatmap_panels(runs, panels):
    grids = {o: runs[runs["tuning"] & (runs["optimizer"] == o)] for o, _, _ in panels}
    ok = pd.concat([_finished(g) for g in grids.values()]) if grids else pd.DataFrame()
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.3 * len(panels), 3.2), squeeze=False, sharey=True
    )
    mesh = None
    if len(ok):
        vmin = ok["final_val_loss"].min()
        vmax = min(ok["final_val_loss"].max(), vmin + 1.0)  # worse cells saturate
    for ax, (opt, decoupled, title) in zip(axes[0], panels, strict=True):
        if grids[opt].empty or grids[opt]["weight_decay"].nunique() < 1 or not len(ok):
            _absent(ax, f"{LABELS[opt]} grid")
            continue
        mesh = _heatmap(ax, grids[opt], vmin, vmax, decoupled, title)
    if mesh is not None:
        fig.colorbar(mesh, ax=axes[0].tolist(), label="final validation loss", shrink=0.9)
    return fig


def heatmaps_adam(runs, curves):
    """Final validation loss over the tuning grids (L&H Fig. 2): Adam+L2 on (lr, wd); AdamW on
    (lr, wd) and on (lr, λ = lr·wd). Shared colour scale; × = diverged; red = best cell."""
    return _heatmap_panels(
        runs,
        [
            ("adam_l2", False, "Adam+L2 (coupled)"),
            ("adamw", False, "AdamW, PyTorch units"),
            ("adamw", True, "AdamW, L&H units"),
        ],
    )


def heatmaps_sgd(runs, curves):
    """Final validation loss over the tuning grids of SGD with L2 and SGDW, shared scale."""
    return _heatmap_panels(
        runs,
        [
            ("sgd_l2", False, "SGD+L2 (coupled)"),
            ("sgdw", False, "SGDW, PyTorch units"),
        ],
    )


def train_val_curves(runs, curves):
    """Training and validation loss of each optimizer's selected configuration: mean over the
    evaluation seeds with a 95 % bootstrap band (diverged runs left out)."""
    ids = set(_finished(runs[runs["evaluation"]])["run_id"])
    df = curves[curves["run_id"].isin(ids)]
    order = optimizer_order(df["optimizer"])
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.2), sharey=True)
    for ax, metric, title in zip(
        axes, ("train_loss", "val_loss"), ("training", "validation"), strict=True
    ):
        d = df[df["metric"] == metric]
        sns.lineplot(
            data=d,
            x="tokens",
            y="value",
            hue="optimizer",
            hue_order=order,
            palette=_palette(order),
            errorbar=("ci", 95),
            seed=BOOTSTRAP_SEED,
            ax=ax,
            legend=metric == "val_loss",
        )
        ax.set(xlabel="training tokens", ylabel="loss (nats)", title=f"{title} loss")
    if len(df):
        low = df[df["metric"].isin(["train_loss", "val_loss"])]["value"].min()
        axes[0].set_ylim(low - 0.1, low + 3.0)  # the initial loss would flatten the rest
    return fig


def final_val_loss(runs, curves):
    """Final validation loss of each optimizer's selected configuration: every evaluation seed
    as a dot, the mean as a bar."""
    df = _finished(runs[runs["evaluation"]])
    order = optimizer_order(df["optimizer"])
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    sns.pointplot(
        data=df,
        x="optimizer",
        y="final_val_loss",
        order=order,
        errorbar=None,
        color="black",
        markers="_",
        markersize=20,
        linestyle="none",
        ax=ax,
    )
    sns.swarmplot(
        data=df,
        x="optimizer",
        y="final_val_loss",
        order=order,
        hue="optimizer",
        palette=_palette(order),
        size=6,
        legend=False,
        ax=ax,
    )  # deterministic layout
    ax.set(xlabel="", ylabel="final validation loss (nats)")
    return fig


def weight_norms(runs, curves):
    """Weight-matrix norm during training at the selected learning rate, one line per weight
    decay of the tuning grid: AdamW (decoupled) and Adam+L2 (coupled)."""
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.2), sharey=True)
    for ax, opt in zip(axes, ("adamw", "adam_l2"), strict=True):
        sel = runs[runs["evaluation"] & (runs["optimizer"] == opt)]
        grid = runs[runs["tuning"] & (runs["optimizer"] == opt)]
        if sel.empty or grid.empty:
            _absent(ax, f"{LABELS[opt]} grid")
            continue
        lr = sel["lr"].iloc[0]
        ids = grid[np.isclose(grid["lr"], lr)]["run_id"]
        d = curves[curves["run_id"].isin(ids) & (curves["metric"] == "matrix_norm")].copy()
        d["weight decay"] = d["weight_decay"].map(lambda x: f"{x:g}")
        sns.lineplot(data=d, x="tokens", y="value", hue="weight decay", palette="rocket_r", ax=ax)
        ax.set(
            xlabel="training tokens", ylabel="weight-matrix norm", title=f"{LABELS[opt]}, lr {lr:g}"
        )
        ax.legend(title="weight decay", fontsize="x-small", title_fontsize="x-small")
    return fig


def best_decay_vs_lr(runs, curves):
    """Best weight decay per learning rate (parabolic interpolation along each grid row) for
    AdamW and Adam+L2, with a line of slope −1: Wang & Aitchison's constant τ = 1/(lr·wd)."""
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    plotted = False
    for opt in ("adamw", "adam_l2"):
        g = runs[runs["tuning"] & (runs["optimizer"] == opt)]
        loss = g["final_val_loss"].where(~g["diverged"].astype(bool)).to_numpy(dtype=float)
        t = tilt(g["lr"], g["weight_decay"], loss, n_boot=100)
        if not t["best"]:
            continue
        lr, wd = np.array(list(t["best"])), np.array(list(t["best"].values()))
        ax.plot(
            lr,
            wd,
            "o-",
            color=_palette([opt])[opt],
            label=f"{LABELS[opt]} (slope {t['slope']:.2f})",
        )
        if opt == "adamw":
            c = np.exp(np.mean(np.log(lr * wd)))
            ax.plot(lr, c / lr, "--", color="0.5", label="τ = 1/(lr·wd) constant (slope −1)")
        plotted = True
    if not plotted:
        _absent(ax, "lr × weight-decay grids")
        return fig
    ax.set(xscale="log", yscale="log", xlabel="learning rate", ylabel="best weight decay")
    ax.legend(fontsize="small")
    return fig


FIGURES = {
    f.__name__: f
    for f in (
        heatmaps_adam,
        heatmaps_sgd,
        train_val_curves,
        final_val_loss,
        weight_norms,
        best_decay_vs_lr,
    )
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


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("figure", choices=sorted(FIGURES))
    ap.add_argument("--runs", required=True)
    ap.add_argument("--curves", required=True)
    ap.add_argument("--out", required=True, help="PDF path; the PNG goes next to it")
    args = ap.parse_args(argv)
    sns.set_theme(context="paper", style="whitegrid")
    fig = FIGURES[args.figure](pd.read_csv(args.runs), pd.read_csv(args.curves))
    save(fig, args.out)


if __name__ == "__main__":
    main()
