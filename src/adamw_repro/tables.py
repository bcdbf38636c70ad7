"""Stage 6: tables, as CSV (full precision) and LaTeX (booktabs): the results of each optimizer's
selected configuration over the evaluation seeds, and the search space with the choices made."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from . import atomic
from .aggregate import optimizer_order
from .latex import Latex, escape, num, sci


def results_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per optimizer: its selected hyperparameters, seed count, diverged runs, and mean ± std over
    the finished evaluation seeds of final validation loss, perplexity and next-token accuracy."""
    runs = runs[runs["evaluation"]]
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


def search_space(config: dict, selection: dict) -> pd.DataFrame:
    """Per optimizer: the grids searched, the trial count, and what was selected."""
    rows = []
    for opt in optimizer_order(config["optimizers"]):
        hp, sel = config["optimizers"][opt], selection.get(opt)
        rows.append(
            {
                "optimizer": opt,
                "lr_grid": " ".join(f"{x:g}" for x in hp["lr"]),
                "weight_decay_grid": " ".join(f"{x:g}" for x in hp.get("weight_decay", [])),
                "trials": len(hp["lr"]) * len(hp.get("weight_decay", [0])),
                "diverged_trials": sel["diverged_trials"] if sel else None,
                "selected_lr": sel["lr"] if sel else None,
                "selected_weight_decay": sel["weight_decay"] if sel else None,
            }
        )
    return pd.DataFrame(rows)


def search_space_latex(table: pd.DataFrame) -> str:
    def grid(s):
        values = [float(x) for x in s.split()] if s else []
        if not values:
            return Latex("---")
        if len(values) > 5:  # long 1-D grids: their extent, not every point
            return Latex(f"{len(values)} values, {sci(min(values))} to {sci(max(values))}")
        return Latex(", ".join(sci(x) for x in values))

    cells = pd.DataFrame(
        {
            "Optimizer": [escape(o) for o in table["optimizer"]],
            "lr grid": [grid(s) for s in table["lr_grid"]],
            "wd grid": [grid(s) for s in table["weight_decay_grid"]],
            "Trials": table["trials"].astype(int),
            "Selected lr": [sci(x) if pd.notna(x) else Latex("---") for x in table["selected_lr"]],
            "Selected wd": [
                sci(x) if pd.notna(x) else Latex("---") for x in table["selected_weight_decay"]
            ],
        }
    )
    return cells.style.hide(axis="index").to_latex(
        hrules=True, column_format="lp{4.2cm}p{3.6cm}rll"
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", required=True)
    ap.add_argument("--config", required=True, help="the optimizers section, as JSON")
    ap.add_argument("--selection", required=True)
    ap.add_argument("--out-csv", required=True)
    ap.add_argument("--out-tex", required=True)
    ap.add_argument("--out-search-csv", required=True)
    ap.add_argument("--out-search-tex", required=True)
    args = ap.parse_args(argv)
    table = results_table(pd.read_csv(args.runs))
    atomic.write_text(args.out_csv, table.to_csv(index=False))
    atomic.write_text(args.out_tex, to_latex(table))
    space = search_space(json.loads(args.config), json.loads(Path(args.selection).read_text()))
    atomic.write_text(args.out_search_csv, space.to_csv(index=False))
    atomic.write_text(args.out_search_tex, search_space_latex(space))


if __name__ == "__main__":
    main()
