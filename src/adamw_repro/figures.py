"""Stage 5: figures. One function per figure, each drawn from the aggregated tables only, so
restyling a figure never retrains; each is saved as PDF (for the paper) and PNG (for viewing).

    python -m adamw_repro.figures val_loss_curves --runs runs.csv --curves curves.csv \
        --out results/figures/val_loss_curves.pdf
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from . import atomic  # noqa: E402
from .aggregate import optimizer_order  # noqa: E402

BOOTSTRAP_SEED = 0  # seaborn's bootstrap bands are random; fix them so figures are reproducible


def _palette(optimizers) -> dict:
    colors = sns.color_palette("colorblind", 8)
    order = ["sgd", "sgd_l2", "sgdw", "adam", "adam_l2", "adamw"]
    return {o: colors[order.index(o)] for o in optimizers}


def val_loss_curves(runs: pd.DataFrame, curves: pd.DataFrame):
    """Validation loss against training tokens per optimizer: mean over seeds with a 95%
    bootstrap band; diverged runs are left out."""
    ok_ids = set(runs.loc[~runs["diverged"].astype(bool), "run_id"])
    df = curves[(curves["metric"] == "val_loss") & curves["run_id"].isin(ok_ids)]
    order = optimizer_order(df["optimizer"])
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    sns.lineplot(
        data=df,
        x="tokens",
        y="value",
        hue="optimizer",
        hue_order=order,
        palette=_palette(order),
        errorbar=("ci", 95),
        seed=BOOTSTRAP_SEED,
        ax=ax,
    )
    ax.set(xlabel="training tokens", ylabel="validation loss (nats)")
    lo = df.groupby("optimizer")["value"].min().min()
    ax.set_ylim(
        lo - 0.1, min(df["value"].max(), lo + 3.0)
    )  # the initial loss would flatten the rest
    ax.legend(title=None, fontsize="small")
    return fig


def final_val_loss(runs: pd.DataFrame, curves: pd.DataFrame):
    """Final validation loss per optimizer: every seed as a dot, the mean as a bar."""
    df = runs[~runs["diverged"].astype(bool)]
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
    sns.swarmplot(  # deterministic placement, unlike stripplot's random jitter
        data=df,
        x="optimizer",
        y="final_val_loss",
        order=order,
        hue="optimizer",
        palette=_palette(order),
        size=6,
        legend=False,
        ax=ax,
    )
    ax.set(xlabel="", ylabel="final validation loss (nats)")
    return fig


FIGURES = {f.__name__: f for f in (val_loss_curves, final_val_loss)}


def save(fig, pdf_path: str | Path) -> None:
    """PDF and PNG side by side, without timestamps so reruns give identical bytes."""
    pdf_path = Path(pdf_path)
    fig.tight_layout()
    with atomic.atomic_path(pdf_path) as tmp:
        fig.savefig(tmp, format="pdf", metadata={"CreationDate": None, "ModDate": None})
    with atomic.atomic_path(pdf_path.with_suffix(".png")) as tmp:
        fig.savefig(tmp, format="png", dpi=150, metadata={"Software": None})
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
