"""Tables, as CSV (full precision) and LaTeX (booktabs): the results of each optimizer's selected
configuration over the evaluation seeds, and the search space with the choices made."""

from __future__ import annotations

import json

import pandas as pd

from .. import atomic
from ..config import decay_key
from ..design import cells_of, finalist_seeds, grid, grid_cells, search_seeds
from ..registry import optimizer_order
from .latex import Latex, escape, num, sci


def _summary(r: pd.DataFrame, optimizer: str, role: str) -> dict:
    ok = r[~r["diverged"].astype(bool)]
    out = {
        "optimizer": optimizer,
        "role": role,
        "lr": r["lr"].iloc[0],
        "weight_decay": r["weight_decay"].iloc[0],
        "seeds": len(r),
        "diverged": int(r["diverged"].astype(bool).sum()),
    }
    for name, column in (("train_loss", "final_train_loss"), ("test_loss", "final_test_loss"),
                         ("gap", "gen_gap"), ("perplexity", "final_perplexity")):  # fmt: skip
        out[f"{name}_mean"], out[f"{name}_std"] = ok[column].mean(), ok[column].std(ddof=1)
    return out | {"test_acc_mean": ok["final_test_acc"].mean()}


def results_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per optimizer, its selected configuration over the evaluation seeds: hyperparameters,
    seed count, diverged runs, and mean ± std over the finished seeds of the final loss on the
    training data it saw, the test loss, their gap, perplexity and next-token accuracy; then
    AdamW at Adam+L2's selected learning rate with its best decay there (role "matched"), where
    that is not AdamW's own selection."""
    chosen = runs[runs["evaluation"]]
    rows = [_summary(chosen[chosen["optimizer"] == o], o, "selected")
            for o in optimizer_order(chosen["optimizer"])]  # fmt: skip
    matched = runs[runs["matched"] & ~runs["evaluation"]]
    if len(matched):
        rows.append(_summary(matched, "adamw", "matched"))
    return pd.DataFrame(rows)


def _pm(mean, std, digits=3) -> Latex:
    return Latex(f"{num(mean, digits)} $\\pm$ {num(std, digits)}")


def to_latex(table: pd.DataFrame) -> str:
    names = [
        escape(o) if role == "selected" else Latex(f"{escape(o)} (at Adam+$L_2$'s lr)")
        for o, role in zip(table["optimizer"], table["role"], strict=True)
    ]
    columns = {"Training loss": "train_loss", "Test loss": "test_loss", "Gap": "gap"}
    cells = pd.DataFrame(
        {
            "Optimizer": names,
            "lr": [sci(x) for x in table["lr"]],
            "wd": [sci(x) for x in table["weight_decay"]],
            "Seeds": [
                Latex(f"{s - d}/{s}")
                for s, d in zip(table["seeds"], table["diverged"], strict=True)
            ],
            **{
                label: [
                    _pm(m, sd) for m, sd in zip(table[f"{c}_mean"], table[f"{c}_std"], strict=True)
                ]
                for label, c in columns.items()
            },
            "Top-1 acc.": [num(x) for x in table["test_acc_mean"]],
        }
    )
    return cells.style.hide(axis="index").to_latex(hrules=True, column_format="lllrrrrr")


def search_space(config: dict, selection: dict) -> pd.DataFrame:
    """Per optimizer: the grids searched (decay in the units the config states it), the trials
    of the grid, the extension rounds and the finalists, and what was selected, with any edge
    of the searched grid it still lies on."""
    extended = [c for r in selection["rounds"] for c in cells_of(r["cells"])]
    finalists = cells_of(selection["finalists"])
    first = grid_cells(config)
    n_search, n_final = len(search_seeds(config)), len(finalist_seeds(config))
    rows = []
    for opt in optimizer_order(config["optimizers"]):
        hp, sel, g = config["optimizers"][opt], selection["selected"].get(opt), grid(config, opt)

        def mine(cells, opt=opt):
            return sum(c.optimizer == opt for c in cells)

        rows.append(
            {
                "optimizer": opt,
                "lr_grid": " ".join(f"{x:g}" for x in g.lrs),
                "decay_unit": {"decay_timescale": "tau/T"}.get(decay_key(hp), decay_key(hp) or ""),
                "decay_grid": " ".join(f"{x:g}" for x in g.decays) if g.unit else "",
                "trials": mine(first) * n_search,
                "extension_trials": mine(extended) * n_search,
                "finalist_trials": mine(finalists) * n_final,
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
                Latex(" + ".join(str(n) for n in (t, e, f) if n) or "0")
                for t, e, f in zip(
                    table["trials"],
                    table["extension_trials"],
                    table["finalist_trials"],
                    strict=True,
                )
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


def run(input, output, params) -> None:
    """The results_table rule: the results and search-space tables, as CSV and LaTeX
    (stage.py)."""
    table = results_table(atomic.read_table(input["runs"], atomic.redo_stage("the aggregation")))
    atomic.write_text(output["csv"], table.to_csv(index=False))
    atomic.write_text(output["tex"], to_latex(table))
    selection = atomic.read_json(input["selection"], atomic.redo_stage("the selection"))
    space = search_space(json.loads(params["config"]), selection)
    atomic.write_text(output["search_csv"], space.to_csv(index=False))
    atomic.write_text(output["search_tex"], search_space_latex(space))
