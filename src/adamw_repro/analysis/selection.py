"""Pick each optimizer's configuration from its tuning trials, on validation loss only.

A cell's score is its mean final validation loss over a set of tuning seeds (a cell with a
diverged seed counts as diverged). A decaying optimizer's candidates include its family's
wd = 0 column (the decay-free member's cells: Adam's for AdamW and Adam+L2), so tuned AdamW and
tuned Adam+L2 are never worse on validation than tuned Adam, and "tuned against tuned" compares
like with like. Ties go to the smaller learning rate, then the smaller weight decay, so the
choice never depends on file order. Three steps, each a Snakemake checkpoint:

``round``      after the grid and each earlier round, on the search seeds: each optimizer's
               best cell, and the cells one grid step beyond an edge it lies on (a learning
               rate past the searched ones; at a learning rate in contention whose best decay
               is the strongest searched, the next stronger decay; where a learning rate in
               contention is the last searched, the best cell there one step beyond it);
``finalists``  after the last round: at every learning rate in contention (within one step of
               a family member's best), each optimizer's ``study.finalists`` best decays, to be
               trained on the second half of the tuning seeds (successive halving);
``select``     the best cell over every tuning seed (the finalists' cells where there are
               finalists), the choice each half of the tuning seeds makes on its own, each
               decaying optimizer's best decay at every searched learning rate, AdamW's at
               Adam+L2's selected learning rate (the matched comparison), and the edges of the
               searched grid each choice still lies on.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from .. import atomic
from ..design import (
    Cell,
    cell,
    cells_of,
    decay_of,
    grid,
    grid_cells,
    is_tuned,
    search_seeds,
    tuning_halves,
)
from ..registry import OPTIMIZERS, decay_free_member
from ..stage import files
from .stats import cell_means

COLUMNS = ["optimizer", "lr", "weight_decay", "seed", "diverged", "final_val_loss"]


def trials(summary_paths: list[str]) -> pd.DataFrame:
    """One row per tuning trial, from the trials' summaries."""
    return pd.DataFrame(
        [
            {k: atomic.read_json(p, atomic.redo_run(p), COLUMNS)[k] for k in COLUMNS}
            for p in summary_paths
        ],
        columns=COLUMNS,
    )


def cells_over(config: dict, runs: pd.DataFrame, seeds: list[int]) -> pd.DataFrame:
    """Each cell that has a trial on every one of ``seeds``: its mean validation loss over
    them (``value``, NaN if one diverged) and its decay in config units."""
    mine = runs[runs["seed"].isin(seeds)]
    counts = mine.groupby(["optimizer", "lr", "weight_decay"])["seed"].nunique()
    full = counts[counts == len(seeds)].index
    mine = mine.set_index(["optimizer", "lr", "weight_decay"]).loc[full].reset_index()
    out = cell_means(mine, "final_val_loss", by=("optimizer", "lr", "weight_decay"))
    decay = [decay_of(config, r.optimizer, r.lr, r.weight_decay) for r in out.itertuples()]
    return out.assign(decay=pd.Series(decay, index=out.index, dtype=object))


def candidates(config: dict, cells: pd.DataFrame, optimizer: str) -> pd.DataFrame:
    """An optimizer's cells and, for a decaying one, its family's wd = 0 column (weight decay 0,
    decay None) where that member is in the study."""
    mine = cells[cells["optimizer"] == optimizer]
    base = decay_free_member(optimizer)
    if base is None or base not in config["optimizers"]:
        return mine
    column = cells[cells["optimizer"] == base].assign(weight_decay=0.0, decay=None)
    return pd.concat([mine, column]) if len(mine) else column


def best_row(cands: pd.DataFrame) -> pd.Series | None:
    ok = cands[~cands["diverged"].astype(bool)]
    if ok.empty:
        return None
    return ok.sort_values(["value", "lr", "weight_decay"], kind="mergesort").iloc[0]


def _decay(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _choice(row: pd.Series, n_seeds: int) -> dict:
    return {
        "lr": float(row["lr"]),
        "weight_decay": float(row["weight_decay"]),
        "decay": _decay(row["decay"]),
        "final_val_loss": float(row["value"]),
        "seeds": n_seeds,
    }


def choose(config: dict, cells: pd.DataFrame, n_seeds: int) -> dict:
    """{optimizer: its best candidate (``_choice``), or None if every candidate diverged}."""
    out = {}
    for o in config["optimizers"]:
        row = best_row(candidates(config, cells, o))
        out[o] = None if row is None else _choice(row, n_seeds)
    return out


def best_at(config: dict, cells: pd.DataFrame, optimizer: str, lr: float) -> pd.Series | None:
    """The optimizer's best candidate among ``cells`` at one learning rate (None: none there
    trained without diverging)."""
    return best_row(candidates(config, cells[np.isclose(cells["lr"], lr)], optimizer))


def family_of(optimizer: str) -> str:
    return OPTIMIZERS[optimizer].family


def contention_lrs(config: dict, cells: pd.DataFrame, best: dict) -> dict[str, list[float]]:
    """Per family: the learning rates within one searched step of some member's best, where
    the selection and the matched comparison are decided."""
    out = {}
    for o, b in best.items():
        family = family_of(o)
        searched = cells[cells["optimizer"].map(family_of) == family]["lr"]
        lrs = sorted(set(searched))
        rows = out.setdefault(family, set())
        if b is not None:
            i = lrs.index(b["lr"])
            rows.update(lrs[max(0, i - 1) : i + 2])
    return {f: sorted(rows) for f, rows in out.items()}


def edges_of(config: dict, cells: pd.DataFrame, optimizer: str, choice: dict | None) -> list[str]:
    """Edges of the searched grid (``cells``: every searched cell) that a choice still lies
    on: "lr low", "lr high" (no searched learning rate beyond it), "strongest decay" (no
    stronger decay searched at its learning rate). The weak end of the decay axis is closed by
    the wd = 0 column."""
    if choice is None:
        return []
    g, mine = grid(config, optimizer), cells[cells["optimizer"] == optimizer]
    out = []
    lrs = sorted(set(mine["lr"]) | {choice["lr"]})
    if len(g.lrs) > 1:
        out += ["lr low"] * (choice["lr"] <= lrs[0]) + ["lr high"] * (choice["lr"] >= lrs[-1])
    if g.unit and len(g.decays) > 1 and choice["decay"] is not None:
        row = mine[np.isclose(mine["lr"], choice["lr"])]
        strongest = max(g.strength(d) for d in row["decay"])
        if g.strength(choice["decay"]) >= strongest:
            out.append("strongest decay")
    return out


def searched_cells(config: dict, rounds: list[dict]) -> list[Cell]:
    return grid_cells(config) + [c for r in rounds for c in cells_of(r["cells"])]


def search_round(config: dict, runs: pd.DataFrame, rounds: list[dict]) -> dict:
    """One extension round, after the grid and ``rounds`` (the earlier rounds' outputs): each
    optimizer's best cell on the search seeds, and the cells one grid step beyond every edge a
    best cell lies on that were not searched yet."""
    seeds = search_seeds(config)
    cells = cells_over(config, runs, seeds)
    best = choose(config, cells, len(seeds))
    rows = contention_lrs(config, cells, best)
    new = set()
    for o, b in best.items():
        if b is None:
            continue
        g = grid(config, o)
        b["edges"] = edges_of(config, cells, o, b)
        if {"lr low", "lr high"} & set(b["edges"]):
            lr = g.step("lr", b["lr"], -1 if "lr low" in b["edges"] else 1)
            new |= _new_row(config, o, lr, b["decay"])
        if config["study"]["map"]:
            new |= _row_edges(config, cells, o)
        for lr in rows[family_of(o)] if g.unit else []:
            row = best_at(config, cells, o, lr)
            if row is None or _decay(row["decay"]) is None:
                continue
            choice = _choice(row, len(seeds))
            if "strongest decay" in edges_of(config, cells, o, choice):
                new.add(cell(config, o, lr, g.step("decay", choice["decay"], 1)))
        new |= _bracket(config, cells, o, rows[family_of(o)])
    new -= set(searched_cells(config, rounds))
    return {"best": best, "cells": [c.as_dict() for c in sorted(new)]}


def row_best(config: dict, cells: pd.DataFrame, optimizer: str, lr: float) -> pd.Series | None:
    """A decaying optimizer's best decayed cell at one learning rate (its own cells only, not
    the wd = 0 column: where the loss is lowest along the decay axis of the map's row)."""
    mine = cells[(cells["optimizer"] == optimizer) & np.isclose(cells["lr"], lr)]
    return best_row(mine)


def _row_edges(config: dict, cells: pd.DataFrame, optimizer: str) -> set[Cell]:
    """The map's rows: at every learning rate the optimizer searched, one decay step beyond its
    best decayed cell where that is the row's strongest (or weakest) searched decay."""
    g = grid(config, optimizer)
    if not g.unit:
        return set()
    mine, out = cells[cells["optimizer"] == optimizer], set()
    for lr in sorted(set(mine["lr"])):
        best = row_best(config, cells, optimizer, lr)
        if best is None:
            continue
        strengths = [g.strength(d) for d in mine[np.isclose(mine["lr"], lr)]["decay"]]
        here = g.strength(best["decay"])
        for side, end in ((1, max(strengths)), (-1, min(strengths))):
            if here == end:  # a row of one decay is both ends
                out.add(cell(config, optimizer, lr, g.step("decay", best["decay"], side)))
    return out


def _bracket(config: dict, cells: pd.DataFrame, optimizer: str, rows: list[float]) -> set[Cell]:
    """Where a learning rate in contention is the lowest or highest the optimizer searched,
    its best cell there one step further: the finalists' selection, on every tuning seed, may
    pick any learning rate in contention, and each then has a searched one beyond it."""
    g, mine = grid(config, optimizer), cells[cells["optimizer"] == optimizer]
    if len(g.lrs) < 2 or mine.empty or not rows:
        return set()
    lrs, out = sorted(set(mine["lr"])), set()
    for lr, side in ((rows[0], -1), (rows[-1], 1)):
        if lr != (lrs[0] if side < 0 else lrs[-1]):
            continue
        row = best_at(config, cells, optimizer, lr)
        decay = _decay(row["decay"]) if row is not None else None
        if decay is not None or not g.unit:
            out.add(cell(config, optimizer, g.step("lr", lr, side), decay or 0.0))
    return out


def _new_row(config: dict, optimizer: str, lr: float, decay: float | None) -> set[Cell]:
    """The cells a new learning rate gets: the best cell's decay and one step either side (the
    two weakest of the grid where it was the wd = 0 column), and the family's wd = 0 column
    there."""
    g = grid(config, optimizer)
    if not g.unit:
        return {cell(config, optimizer, lr, 0.0)}
    if decay is None:  # the weakest two, or the one of a one-point grid (decays ascend)
        decays = g.decays[:2] if g.unit == "weight_decay" else g.decays[-2:]
    else:
        decays = [g.step("decay", decay, k) for k in (-1, 0, 1)]
    out = {cell(config, optimizer, lr, d) for d in decays}
    base = decay_free_member(optimizer)
    if base in config["optimizers"]:
        out.add(cell(config, base, lr, 0.0))
    return out


def finalists(config: dict, runs: pd.DataFrame) -> dict:
    """After the last search round: ``finalists``, the cells that also train on the second half
    of the tuning seeds (successive halving; none without ``study.finalists``): at every
    learning rate in contention (with ``study.map``, every searched one), each decaying
    optimizer's ``study.finalists`` best decays and the decay-free member's cell; and with
    ``study.map``, ``refined``: the decays half a grid step either side of each row's best
    decayed cell, which train on every tuning seed."""
    out = {"finalists": [], "refined": []}
    if not is_tuned(config):
        return out
    seeds = search_seeds(config)
    cells = cells_over(config, runs, seeds)
    if config["study"]["map"]:
        out["refined"] = [c.as_dict() for c in sorted(_refinement(config, cells))]
    k = config["study"]["finalists"]
    if not k:
        return out
    contention = contention_lrs(config, cells, choose(config, cells, len(seeds)))
    for o in config["optimizers"]:
        mine = cells[(cells["optimizer"] == o) & ~cells["diverged"].astype(bool)]
        rows = sorted(set(mine["lr"])) if config["study"]["map"] else contention[family_of(o)]
        for lr in rows:
            at = mine[np.isclose(mine["lr"], lr)].sort_values(["value", "weight_decay"])
            out["finalists"] += [
                Cell(o, float(r.lr), float(r.weight_decay), _decay(r.decay)).as_dict()
                for r in at.head(k if grid(config, o).unit else 1).itertuples()
            ]
    return out


def _refinement(config: dict, cells: pd.DataFrame) -> set[Cell]:
    """The map's fine cells: at every searched learning rate, the decays half a grid step
    either side of each decaying optimizer's best decayed cell there, where not searched."""
    out = set()
    for o in config["optimizers"]:
        g = grid(config, o)
        if not g.unit:
            continue
        for lr in sorted(set(cells[cells["optimizer"] == o]["lr"])):
            best = row_best(config, cells, o, lr)
            if best is not None:
                out |= {cell(config, o, lr, g.step("decay", best["decay"], k)) for k in (-0.5, 0.5)}
    searched = {(c.optimizer, c.lr, c.weight_decay) for c in cells.itertuples()}
    return {c for c in out if (c.optimizer, c.lr, c.weight_decay) not in searched}


def per_lr(config: dict, final: pd.DataFrame, searched: pd.DataFrame) -> dict:
    """Each decaying optimizer's best decay at every learning rate it searched, the wd = 0
    column included: among the cells trained on every tuning seed where it has some there
    (``final``), on the search seeds elsewhere (``searched``)."""
    n_final, n_searched = sum(map(len, tuning_halves(config))), len(search_seeds(config))
    out = {}
    for o in config["optimizers"]:
        if not grid(config, o).unit:
            continue
        entries = []
        for lr in sorted(set(searched[searched["optimizer"] == o]["lr"])):
            in_final = ((final["optimizer"] == o) & np.isclose(final["lr"], lr)).any()
            table, n = (final, n_final) if in_final else (searched, n_searched)
            row = best_at(config, table, o, lr)
            if row is not None:
                choice = _choice(row, n)
                edges = edges_of(config, searched, o, choice)
                choice["edges"] = [e for e in edges if not e.startswith("lr ")]  # a row's own
                entries.append(choice)
        out[o] = entries
    return out


def select(config: dict, runs: pd.DataFrame, rounds: list[dict], chosen: dict) -> dict:
    """The final selection and what it rests on (``chosen``: the finalists step's output);
    without tuning, each optimizer's single configured point."""
    base = {"rounds": rounds, "finalists": chosen.get("finalists", []),
            "refined": chosen.get("refined", []), "half_a": None, "half_b": None,
            "per_lr": {}, "matched": None}  # fmt: skip
    if not is_tuned(config):
        selected = {}
        for o in config["optimizers"]:
            ((lr, d),) = grid(config, o).cells()
            c = cell(config, o, lr, d)
            selected[o] = {"lr": c.lr, "weight_decay": c.weight_decay, "decay": c.decay,
                           "final_val_loss": None, "seeds": 0, "trials": 0,
                           "diverged_trials": 0, "edges": []}  # fmt: skip
        return base | {"selected": selected}
    first, second = tuning_halves(config)
    seeds = first + second
    searched = cells_over(config, runs, search_seeds(config))
    final = cells_over(config, runs, seeds)
    selected = choose(config, final, len(seeds))
    for o, s in selected.items():
        if s is not None:
            own = runs[runs["optimizer"] == o]
            s["trials"], s["diverged_trials"] = len(own), int(own["diverged"].astype(bool).sum())
            s["edges"] = edges_of(config, searched, o, s)
    halves = {}
    for name, half in (("half_a", first), ("half_b", second)):
        halves[name] = choose(config, cells_over(config, runs, half), len(half)) if half else None
    lr_best = per_lr(config, final, searched)
    matched = None
    if selected.get("adam_l2") and "adamw" in config["optimizers"]:
        lr = selected["adam_l2"]["lr"]
        there = [e for e in lr_best.get("adamw", []) if math.isclose(e["lr"], lr)]
        matched = {"lr": lr, "adamw": there[0] if there else None}
    return base | {"selected": selected, **halves, "per_lr": lr_best, "matched": matched}


def _read(paths: list[str], what: str) -> list[dict]:
    return [atomic.read_json(p, atomic.redo_stage(what)) for p in paths]


def _print_choices(label: str, chosen: dict) -> None:
    for o, s in chosen.items():
        if s is None:
            print(f"{label}{o}: all trials diverged")
            continue
        where = f" (on the {', '.join(s['edges'])} edge)" if s.get("edges") else ""
        print(
            f"{label}{o}: lr {s['lr']:g}, wd {s['weight_decay']:g} over {s['seeds']} seeds{where}"
        )


def run(input, output, params) -> None:
    """A search step (``params["step"]``: round, finalists or select) from the trials' summaries
    and the earlier steps' files (``rounds``, ``finalists``) it reads (stage.py)."""
    config, step = json.loads(params["config"]), params["step"]
    runs = trials(files(input["summaries"]))
    rounds = _read(files(input.get("rounds", [])), "the search rounds")
    if step == "round":
        result = search_round(config, runs, rounds)
        _print_choices("best so far, ", result["best"])
        print(f"extension round {len(rounds) + 1}: {len(result['cells'])} new cells")
    elif step == "finalists":
        result = finalists(config, runs)
        print(f"{len(result['finalists'])} finalist cells, {len(result['refined'])} refined")
    else:
        (chosen,) = _read(files(input.get("finalists", [])), "the finalists") or [{}]
        result = select(config, runs, rounds, chosen)
        _print_choices("", result["selected"])
    atomic.write_json(output["result"], result)
