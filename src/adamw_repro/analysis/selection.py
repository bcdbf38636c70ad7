"""Pick each optimizer's configuration from its tuning trials, on validation loss only.

A cell's score is its mean final validation loss over the tuning seeds (a cell with a diverged
seed counts as diverged). A decaying optimizer's candidates include its family's wd = 0 column
(the decay-free member's cells: Adam's for AdamW and Adam+L2), so tuned AdamW and tuned Adam+L2
are never worse on validation than tuned Adam, and "tuned against tuned" compares like with
like. Ties go to the smaller learning rate, then the smaller weight decay, so the choice never
depends on file order. Two steps, each a Snakemake checkpoint:

``edges``   after the first round: each optimizer's best cell, and the extension groups needed
            where it lies on an edge of its grid;
``select``  after the second: the best cell of the first round and its extensions, and the
            edges of the searched grid it still lies on (reported in the paper).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import pandas as pd

from .. import atomic
from ..design import edges, extension_groups, grid, is_tuned, needed_extensions
from ..registry import decay_free_member
from .stats import cell_means

COLUMNS = ["optimizer", "lr", "weight_decay", "seed", "diverged", "final_val_loss"]


def scores(summary_paths: list[str]) -> pd.DataFrame:
    """Each tuning cell's mean validation loss over its seeds, from the trials' summaries."""
    trials = pd.DataFrame(
        [
            {k: atomic.read_json(p, atomic.redo_run(p), COLUMNS)[k] for k in COLUMNS}
            for p in summary_paths
        ],
        columns=COLUMNS,
    )
    return cell_means(trials, "final_val_loss", by=("optimizer", "lr", "weight_decay"))


def decay_values(config: dict) -> dict[tuple[str, float, float], float]:
    """(optimizer, lr, weight_decay) -> the cell's decay in config units, for every cell of the
    grids and their possible extensions."""
    lookup = {}
    for o in config["optimizers"]:
        g = grid(config, o)
        lrs = [*g.lrs, *(g.beyond("lr", s) for s in ("low", "high") if g.extendable("lr"))]
        decays = [
            *g.decays,
            *(g.beyond("decay", s) for s in ("low", "high") if g.extendable("decay")),
        ]
        for lr in lrs:
            for d in decays:
                lookup[o, lr, g.weight_decay(lr, d)] = d
    return lookup


def wd0_column(config: dict, optimizer: str) -> str | None:
    """The optimizer whose cells are ``optimizer``'s wd = 0 candidates, if it is in the study."""
    base = decay_free_member(optimizer)
    return base if base in config["optimizers"] else None


def best_cells(config: dict, cells: pd.DataFrame) -> dict:
    """{optimizer: its best finished candidate (lr, weight_decay, decay, final_val_loss, trials,
    diverged_trials, wd0_column) or None if every candidate diverged}; ``cells`` from
    ``scores``. A pick from the wd = 0 column has weight_decay 0 and decay None."""
    decay = decay_values(config)
    out = {}
    for o in config["optimizers"]:
        mine = cells[cells["optimizer"] == o]
        base = wd0_column(config, o)
        column = cells[cells["optimizer"] == base].assign(weight_decay=0.0) if base else None
        candidates = pd.concat([mine, column]) if base else mine
        ok = candidates[~candidates["diverged"]].sort_values(
            ["value", "lr", "weight_decay"], kind="mergesort"
        )
        if ok.empty:
            out[o] = None
            continue
        b = ok.iloc[0]
        lr, wd = float(b["lr"]), float(b["weight_decay"])
        out[o] = {
            "lr": lr,
            "weight_decay": wd,
            "decay": decay[o, lr, wd] if wd > 0 or base is None else None,
            "final_val_loss": float(b["value"]),
            "trials": int(len(mine)),
            "diverged_trials": int(mine["diverged"].sum()),
            "wd0_column": base,
        }
    return out


def first_round(config: dict, summary_paths: list[str]) -> dict:
    """Each optimizer's best first-round cell, its edges, and the extensions to train."""
    if not is_tuned(config):
        return {"best": {}, "extensions": []}
    best = best_cells(config, scores(summary_paths))
    extensions = []
    for o, b in best.items():
        if b is not None:
            b["edges"] = edges(grid(config, o), b["lr"], b["decay"])
            if config["study"]["extend_edges"]:
                extensions += needed_extensions(o, b["edges"])
    assert set(extensions) <= set(extension_groups(config)), extensions
    return {"best": best, "extensions": extensions}


def searched_edges(config: dict, cells: pd.DataFrame, optimizer: str, best: dict) -> list[str]:
    """Edges of the searched grid (first round plus extensions) that ``best`` still lies on."""
    decay = decay_values(config)
    mine = cells[cells["optimizer"] == optimizer]
    searched = replace(
        grid(config, optimizer),
        lrs=tuple(sorted(set(mine["lr"]))),
        decays=tuple(sorted({decay[optimizer, r.lr, r.weight_decay] for r in mine.itertuples()})),
    )
    sides = edges(searched, best["lr"], best["decay"])
    return [f"{axis} {side}" for axis, side in sides.items() if side]


def select(config: dict, summary_paths: list[str], first: dict) -> dict:
    """The final selection; without tuning, each optimizer's single configured point."""
    if not is_tuned(config):
        selected = {}
        for o in config["optimizers"]:
            g = grid(config, o)
            ((lr, d),) = g.cells()
            selected[o] = {
                "lr": lr,
                "weight_decay": g.weight_decay(lr, d),
                "decay": d,
                "final_val_loss": None,
                "trials": 0,
                "diverged_trials": 0,
                "edges": [],
            }
        return {"selected": selected, "extensions": [], "first_round": first}
    cells = scores(summary_paths)
    selected = best_cells(config, cells)
    for o, b in selected.items():
        if b is not None:
            b["edges"] = searched_edges(config, cells, o, b)
    return {"selected": selected, "extensions": first["extensions"], "first_round": first}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=["edges", "select"])
    ap.add_argument("--config", required=True, help="the resolved config, as JSON")
    ap.add_argument("--summaries", nargs="*", default=[], help="summaries of the tuning trials")
    ap.add_argument("--first-round", help="the edges step's output (for select)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    config = json.loads(args.config)
    if args.step == "edges":
        result = first_round(config, args.summaries)
        for o, b in result["best"].items():
            where = ", ".join(f"{a} {s}" for a, s in (b or {}).get("edges", {}).items() if s)
            print(f"{o}: best first-round cell " + (f"on the {where} edge" if where else "inside"))
        print(f"extensions: {', '.join(result['extensions']) or 'none'}")
    else:
        edges_found = atomic.read_json(args.first_round, atomic.redo_stage("the edge search"))
        result = select(config, args.summaries, edges_found)
        for o, s in result["selected"].items():
            print(
                f"{o}: "
                + (
                    "all trials diverged"
                    if s is None
                    else f"lr {s['lr']:g}, wd {s['weight_decay']:g}"
                )
                + (f" (still on the {', '.join(s['edges'])} edge)" if s and s["edges"] else "")
            )
    atomic.write_json(args.out, result)


if __name__ == "__main__":
    main()
