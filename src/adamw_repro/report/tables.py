"""Tables, as CSV (full precision) and LaTeX (booktabs): the results of each optimizer's selected
configuration over the evaluation seeds, and the search space with the choices made."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from .. import atomic
from ..config import decay_key
from ..design import extension_groups, grid
from ..registry import optimizer_order
from .latex import Latex, escape, num, sci


def results_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per optimizer: its selected hyperparameters, seed count, diverged runs, and mean ± std over
    the finished evaluation seeds of final test loss, perplexity and next-token accuracy."""
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
                "test_loss_mean": ok["final_test_loss"].mean(),
                "test_loss_std": ok["final_test_loss"].std(ddof=1),
                "perplexity_mean": ok["final_perplexity"].mean(),
                "perplexity_std": ok["final_perplexity"].std(ddof=1),
                "test_acc_mean": ok["final_test_acc"].mean(),
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
            "Test loss": [
                _pm(m, s)
                for m, s in zip(table["test_loss_mean"], table["test_loss_std"], strict=True)
            ],
            "Perplexity": [
                _pm(m, s, 2)
                for m, s in zip(table["perplexity_mean"], table["perplexity_std"], strict=True)
            ],
            "Top-1 acc.": [num(x) for x in table["test_acc_mean"]],
        }
    )
    return cells.style.hide(axis="index").to_latex(hrules=True, column_format="lllrrrr")


def search_space(config: dict, selection: dict) -> pd.DataFrame:
    """Per optimizer: the grids searched (decay in the units the config states it), the trial
    count of each round, and what was selected, with any grid edge it still lies on."""
    groups = extension_groups(config)
    rows = []
    for opt in optimizer_order(config["optimizers"]):
        hp, sel, g = config["optimizers"][opt], selection["selected"].get(opt), grid(config, opt)
        extra = [r for n in selection["extensions"] for r in groups[n] if r.optimizer == opt]
        seeds = len(config["study"]["tuning_seeds"])
        rows.append(
            {
                "optimizer": opt,
                "lr_grid": " ".join(f"{x:g}" for x in g.lrs),
                "decay_unit": {"decay_timescale": "tau/T"}.get(decay_key(hp), decay_key(hp) or ""),
                "decay_grid": " ".join(f"{x:g}" for x in g.decays) if g.unit else "",
                "trials": len(g.cells()) * seeds,
                "extension_trials": len(extra),
                "diverged_cells": sel["diverged_trials"] if sel else None,
                "selected_lr": sel["lr"] if sel else None,
                "selected_weight_decay": sel["weight_decay"] if sel else None,
                "selected_decay": sel["decay"] if sel else None,
                "edges": ", ".join(sel["edges"]) if sel else "",
            }
        )
    return pd.DataFrame(rows)


def search_space_latex(table: pd.DataFrame) -> str:
    def grid_cell(s, unit=""):
        values = [float(x) for x in s.split()] if isinstance(s, str) and s else []
        if not values:
            return Latex("---")
        prefix = "$\\tau/T$: " if unit == "tau/T" else ""
        if len(values) > 5:  # long 1-D grids: their extent, not every point
            return Latex(f"{prefix}{len(values)} values, {sci(min(values))} to {sci(max(values))}")
        return Latex(prefix + ", ".join(sci(x) for x in values))

    def selected(lr, wd, edges):
        if pd.isna(lr):
            return Latex("---")
        mark = "$^\\dagger$" if isinstance(edges, str) and edges else ""
        return Latex(f"{sci(lr)}, {sci(wd)}{mark}")

    cells = pd.DataFrame(
        {
            "Optimizer": [escape(o) for o in table["optimizer"]],
            "lr grid": [grid_cell(s) for s in table["lr_grid"]],
            "decay grid": [
                grid_cell(s, u)
                for s, u in zip(table["decay_grid"], table["decay_unit"], strict=True)
            ],
            "Trials": [
                Latex(f"{t} + {e}" if e else f"{t}")
                for t, e in zip(table["trials"], table["extension_trials"], strict=True)
            ],
            "Selected lr, wd": [
                selected(lr, wd, e)
                for lr, wd, e in zip(
                    table["selected_lr"],
                    table["selected_weight_decay"],
                    table["edges"],
                    strict=True,
                )
            ],
        }
    )
    return cells.style.hide(axis="index").to_latex(hrules=True, column_format="lp{3.6cm}p{4.2cm}rl")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", required=True)
    ap.add_argument("--config", required=True, help="the resolved config, as JSON")
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
