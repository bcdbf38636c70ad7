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

import pandas as pd

from adamw_repro.analysis.stats import paired

# (name, role and optimizer of a, role and optimizer of b): the difference a − b, paired by seed
COMPARISONS = (
    ("LH2: Adam+L2 - AdamW, tuned", ("evaluation", "adam_l2"), ("evaluation", "adamw")),
    ("LH2m: Adam+L2 - AdamW at Adam+L2's lr", ("evaluation", "adam_l2"), ("matched", "adamw")),
    ("decay helps: Adam - AdamW, tuned", ("evaluation", "adam"), ("evaluation", "adamw")),
)


def cell(runs: pd.DataFrame, role: str, optimizer: str) -> pd.DataFrame:
    mine = runs[runs[role].astype(bool) & (runs["optimizer"] == optimizer)]
    return mine[~mine["diverged"].astype(bool)]


def pairs(runs: pd.DataFrame, a, b) -> tuple[tuple, pd.DataFrame]:
    """The cells compared and their final test losses, one row per seed both finished."""
    ra, rb = cell(runs, *a), cell(runs, *b)
    cells = tuple(
        (float(r["lr"].iloc[0]), float(r["weight_decay"].iloc[0])) if len(r) else None
        for r in (ra, rb)
    )
    losses = {k: r.set_index("seed")["final_test_loss"] for k, r in (("a", ra), ("b", rb))}
    return cells, pd.DataFrame(losses).dropna()


def summary(both: pd.DataFrame, margin: float) -> str:
    """The ledger's paired comparison of a − b (analysis.stats.paired: the t interval)."""
    p = paired(both["a"], both["b"])
    lo, hi = p["ci_lo"], p["ci_hi"]
    tie = "a tie within the margin" if -margin < lo and hi < margin else "no tie"
    return (
        f"{p['mean_diff']:+.4f} [{lo:+.4f}, {hi:+.4f}] over {p['n']} seeds (sd "
        f"{p['std_diff']:.4f}; interval half-width {(hi - lo) / 2:.4f}; {tie} at ±{margin:g})"
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--margin", type=float, default=0.01)
    args = ap.parse_args(argv)
    draws = {p: pd.read_csv(p / "tables" / "runs.csv") for p in args.results}
    for name, a, b in COMPARISONS:
        print(name)
        found = {p: pairs(runs, a, b) for p, runs in draws.items()}
        for p, (cells, both) in found.items():
            print(f"  {p}: cells {cells}: {summary(both, args.margin)}")
        if len({cells for cells, _ in found.values()}) > 1:
            print("  pooled: not pooled, the draws selected different cells")
            continue
        pooled = pd.concat([both for _, both in found.values()], ignore_index=True)
        print(f"  pooled: {summary(pooled, args.margin)}")


if __name__ == "__main__":
    main()
