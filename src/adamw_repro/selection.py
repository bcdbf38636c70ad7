"""Stage 3b: pick each optimizer's configuration from its tuning trials, on validation loss only.

Ties go to the smaller learning rate, then the smaller weight decay, so the choice never depends
on file order. An optimizer whose trials all diverged gets no selection (``null``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from . import atomic
from .study import is_tuned, trials


def select_best(runs: pd.DataFrame) -> dict:
    """{optimizer: {lr, weight_decay, final_val_loss, trials, diverged_trials} or None}."""
    out = {}
    for opt, r in runs.groupby("optimizer", sort=False):
        ok = r[~r["diverged"].astype(bool)]
        entry = None
        if len(ok):
            best = ok.sort_values(["final_val_loss", "lr", "weight_decay"], kind="mergesort").iloc[
                0
            ]
            entry = {
                "lr": float(best["lr"]),
                "weight_decay": float(best["weight_decay"]),
                "final_val_loss": float(best["final_val_loss"]),
            }
        out[opt] = entry and {**entry, "trials": len(r), "diverged_trials": len(r) - len(ok)}
    return out


def selection_for(config: dict, summary_paths: list[str]) -> dict:
    """The selection for a study; without tuning, each optimizer's single configured point."""
    if not is_tuned(config):
        return {
            o: {
                "lr": lr,
                "weight_decay": wd,
                "final_val_loss": None,
                "trials": 0,
                "diverged_trials": 0,
            }
            for o in config["optimizers"]
            for lr, wd in trials(config, o)
        }
    cols = ["optimizer", "lr", "weight_decay", "diverged", "final_val_loss"]
    runs = pd.DataFrame(
        [{k: json.loads(Path(p).read_text())[k] for k in cols} for p in summary_paths]
    )
    selection = select_best(runs)
    return {o: selection.get(o) for o in config["optimizers"]}  # config order


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="the resolved config, as JSON")
    ap.add_argument("--summaries", nargs="*", default=[], help="summaries of the tuning trials")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    selection = selection_for(json.loads(args.config), args.summaries)
    atomic.write_json(args.out, selection)
    for opt, s in selection.items():
        print(
            f"{opt}: "
            + ("all trials diverged" if s is None else f"lr {s['lr']:g}, wd {s['weight_decay']:g}")
        )


if __name__ == "__main__":
    main()
