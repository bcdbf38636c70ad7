"""Pool the headline comparisons of several seed draws of one study design, where they allow it.

Each draw (a study run with its own tuning and evaluation seeds) selects its own cells. Where
every draw selected the same cell for both optimizers of a comparison, the evaluation runs of
all draws are paired runs of the same two configurations on disjoint seeds, so their per-seed
differences pool into one sample: more seeds for the same question (issue 35's power for a
tie). Where the draws selected different cells, nothing is pooled and the script says so.

usage: python benchmarks/pool_draws.py RESULTS_DIR [RESULTS_DIR ...] [--margin 0.01]
(each RESULTS_DIR holds tables/runs.csv of one draw)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

# (name, role and optimizer of a, role and optimizer of b): the difference a − b, paired by seed
COMPARISONS = (
    ("LH2: Adam+L2 - AdamW, tuned", ("evaluation", "adam_l2"), ("evaluation", "adamw")),
    ("LH2m: Adam+L2 - AdamW at Adam+L2's lr", ("evaluation", "adam_l2"), ("matched", "adamw")),
    ("decay helps: Adam - AdamW, tuned", ("evaluation", "adam"), ("evaluation", "adamw")),
)


def cell(runs: pd.DataFrame, role: str, optimizer: str) -> pd.DataFrame:
    mine = runs[runs[role].astype(bool) & (runs["optimizer"] == optimizer)]
    return mine[~mine["diverged"].astype(bool)]


def differences(runs: pd.DataFrame, a, b) -> tuple[tuple, pd.Series]:
    """The cells compared and the per-seed differences of final test loss."""
    ra, rb = cell(runs, *a), cell(runs, *b)
    cells = tuple(
        (float(r["lr"].iloc[0]), float(r["weight_decay"].iloc[0])) if len(r) else None
        for r in (ra, rb)
    )
    d = ra.set_index("seed")["final_test_loss"] - rb.set_index("seed")["final_test_loss"]
    return cells, d.dropna()


def summary(d: pd.Series, margin: float) -> str:
    n, mean, sd = len(d), d.mean(), d.std(ddof=1)
    half = stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)
    tie = "a tie within the margin" if -margin < mean - half and mean + half < margin else "no tie"
    return (
        f"{mean:+.4f} [{mean - half:+.4f}, {mean + half:+.4f}] over {n} seeds (sd {sd:.4f}; "
        f"interval half-width {half:.4f}; {tie} at ±{margin:g})"
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--margin", type=float, default=0.01)
    args = ap.parse_args(argv)
    draws = {p: pd.read_csv(p / "tables" / "runs.csv") for p in args.results}
    for name, a, b in COMPARISONS:
        print(name)
        found = {p: differences(runs, a, b) for p, runs in draws.items()}
        for p, (cells, d) in found.items():
            print(f"  {p}: cells {cells}: {summary(d, args.margin)}")
        if len({cells for cells, _ in found.values()}) > 1:
            print("  pooled: not pooled, the draws selected different cells")
            continue
        pooled = pd.concat([d for _, d in found.values()], ignore_index=True)
        print(f"  pooled: {summary(pooled, args.margin)}")


if __name__ == "__main__":
    main()
