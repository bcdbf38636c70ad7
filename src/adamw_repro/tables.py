"""Stage 6: the results table, as CSV (full precision) and LaTeX (booktabs)."""

from __future__ import annotations

import argparse

import pandas as pd

from . import atomic
from .aggregate import optimizer_order
from .latex import Latex, escape, num, sci


def results_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per optimizer: its hyperparameters, seed count, diverged runs, and mean ± std over the
    non-diverged seeds of final validation loss, perplexity and next-token accuracy."""
    rows = []
    for opt in optimizer_order(runs["optimizer"]):
        r = runs[runs["optimizer"] == opt]
        ok = r[~r["diverged"].astype(bool)]
        rows.append(
            {
                "optimizer": opt,
                "lr": r["lr"].iloc[0],
                "weight_decay": r["weight_decay"].iloc[0],
                "seeds": len(r),
                "diverged": int(r["diverged"].astype(bool).sum()),
                "val_loss_mean": ok["final_val_loss"].mean(),
                "val_loss_std": ok["final_val_loss"].std(ddof=1),
                "perplexity_mean": ok["final_perplexity"].mean(),
                "perplexity_std": ok["final_perplexity"].std(ddof=1),
                "val_acc_mean": ok["final_val_acc"].mean(),
            }
        )
    return pd.DataFrame(rows)


def _pm(mean, std, digits=3) -> Latex:
    return Latex(f"{num(mean, digits)} $\\pm$ {num(std, digits)}")


def to_latex(table: pd.DataFrame) -> str:
    cells = pd.DataFrame(
        {
            "Optimizer": [escape(o) for o in table["optimizer"]],
            "lr": [sci(x) for x in table["lr"]],
            "wd": [sci(x) for x in table["weight_decay"]],
            "Seeds": [
                Latex(f"{s - d}/{s}")
                for s, d in zip(table["seeds"], table["diverged"], strict=True)
            ],
            "Val. loss": [
                _pm(m, s)
                for m, s in zip(table["val_loss_mean"], table["val_loss_std"], strict=True)
            ],
            "Perplexity": [
                _pm(m, s, 2)
                for m, s in zip(table["perplexity_mean"], table["perplexity_std"], strict=True)
            ],
            "Top-1 acc.": [num(x) for x in table["val_acc_mean"]],
        }
    )
    return cells.style.hide(axis="index").to_latex(hrules=True, column_format="lllrrrr")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", required=True)
    ap.add_argument("--out-csv", required=True)
    ap.add_argument("--out-tex", required=True)
    args = ap.parse_args(argv)
    table = results_table(pd.read_csv(args.runs))
    atomic.write_text(args.out_csv, table.to_csv(index=False))
    atomic.write_text(args.out_tex, to_latex(table))


if __name__ == "__main__":
    main()
