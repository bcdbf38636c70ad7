"""Study v4's design pilot, read: where each optimizer's optimum lies, how noisy a tuning cell
is, how often a selection on two tuning seeds moves, and how many evaluation seeds the margin
needs. Reads the tables ``benchmarks/pilot.py`` wrote (pilot seeds, validation split only):

    python benchmarks/pilot_design.py /work/pilot/design/core.csv /work/pilot/design/outer.csv

Printed for benchmarks/PILOT.md; nothing here reads a test split or a study seed.
"""

from __future__ import annotations

import argparse
import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats

FAMILY = {"adam_l2": "adam", "adamw": "adam"}  # the wd = 0 column of each decaying optimizer


def load(paths: list[str]) -> pd.DataFrame:
    """One row per run: optimizer, lr, weight decay, seed, final validation loss (NaN if it
    diverged) and the loss on the training data."""
    df = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    parts = df["run"].str.extract(r"/(?P<optimizer>[a-z_0-9]+)/lr(?P<lr>[^_]+)_wd(?P<wd>[^/]+)/")
    out = pd.DataFrame({
        "optimizer": parts["optimizer"],
        "lr": parts["lr"].astype(float),
        "wd": parts["wd"].astype(float),
        "seed": df["seed"],
        "val": df["final_val"],
        "train": df["train"],
    })  # fmt: skip
    return out.drop_duplicates(["optimizer", "lr", "wd", "seed"])


def cells(df: pd.DataFrame, seeds) -> pd.DataFrame:
    """Cell means over ``seeds`` (cells lacking one are dropped; a diverged seed makes NaN)."""
    d = df[df["seed"].isin(seeds)]
    g = d.groupby(["optimizer", "lr", "wd"])
    out = g["val"].agg(lambda v: v.mean() if v.notna().all() else np.nan).rename("val")
    n = g["seed"].nunique()
    return out[n == len(seeds)].reset_index()


def candidates(c: pd.DataFrame, optimizer: str) -> pd.DataFrame:
    mine = c[c["optimizer"] == optimizer]
    if optimizer in FAMILY:
        mine = pd.concat([mine, c[c["optimizer"] == FAMILY[optimizer]].assign(wd=0.0)])
    return mine.dropna(subset=["val"])


def best(c: pd.DataFrame, optimizer: str) -> tuple:
    m = candidates(c, optimizer).sort_values(["val", "lr", "wd"])
    r = m.iloc[0]
    return float(r["lr"]), float(r["wd"]), float(r["val"])


def tau_over_t(lr: float, wd: float, steps: int) -> float:
    return 1 / (lr * wd * steps) if wd else math.inf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tables", nargs="+")
    ap.add_argument("--steps", type=int, default=300, help="T of the pilot's runs")
    ap.add_argument("--margin", type=float, default=0.01)
    args = ap.parse_args()
    df = load(args.tables)
    seeds = sorted(int(s) for s in df["seed"].unique())
    full = [s for s in seeds if (df["seed"] == s).sum() == df.groupby("seed").size().max()]
    print(f"{len(df)} runs, seeds {seeds}; seeds on every cell: {full}\n")

    c_all = cells(df, full)
    print("## Best decay at each learning rate (mean over the seeds every cell has)\n")
    print("| optimizer | lr | best wd | τ/T | val | next stronger decay | strongest tried |")
    print("|---|---|---|---|---|---|---|")
    for o in ("adam", "adam_l2", "adamw"):
        for lr in sorted(c_all[c_all["optimizer"] == o]["lr"].unique()):
            row = candidates(c_all[c_all["lr"] == lr], o).sort_values("wd")
            if row.empty:
                continue
            b = row.loc[row["val"].idxmin()]
            mine = row[row["wd"] > 0]
            stronger = mine[mine["wd"] > b["wd"]].head(1)
            worse = f"{stronger['val'].iloc[0] - b['val']:+.3f}" if len(stronger) else "—"
            tau = tau_over_t(lr, b["wd"], args.steps)
            print(f"| {o} | {lr:g} | {b['wd']:.4g} | {tau:.3g} | {b['val']:.4f} | {worse} | "
                  f"{mine['wd'].max() if len(mine) else 0:.4g} |")  # fmt: skip
    print()
    for o in ("adam", "adam_l2", "adamw"):
        lr, wd, v = best(c_all, o)
        tau = tau_over_t(lr, wd, args.steps)
        print(f"{o}: best lr {lr:g}, wd {wd:.4g} (τ/T {tau:.3g}), val {v:.4f}")

    # seed noise of a cell, and of the difference between two cells on the same seeds
    print("\n## Tuning-seed noise\n")
    d = df[df["seed"].isin(full)].dropna(subset=["val"])
    sd = d.groupby(["optimizer", "lr", "wd"])["val"].std(ddof=1)
    print(f"sd of one cell over {len(full)} seeds: median {sd.median():.4f}, "
          f"90th percentile {sd.quantile(0.9):.4f}")  # fmt: skip
    near = []
    for o in ("adam_l2", "adamw"):
        lr, wd, _ = best(c_all, o)
        cand = candidates(c_all, o).sort_values("val").head(4)
        for r in cand.itertuples():
            if (r.lr, r.wd) == (lr, wd):
                continue
            a = d[(d.optimizer == o) & np.isclose(d.lr, lr) & np.isclose(d.wd, wd)].set_index(
                "seed"
            )
            other = FAMILY[o] if r.wd == 0 else o
            b = d[
                (d.optimizer == other)
                & np.isclose(d.lr, r.lr)
                & np.isclose(d.wd, r.wd if r.wd else 0)
            ]
            diff = (a["val"] - b.set_index("seed")["val"]).dropna()
            near.append((o, r.lr, r.wd, diff.mean(), diff.std(ddof=1)))
    print("paired seed sd of the difference between the best cell and its nearest rivals:")
    for o, lr, wd, m, s in near:
        print(f"  {o}: best − (lr {lr:g}, wd {wd:.4g}) = {m:+.4f}, sd {s:.4f}")

    # how often a selection on two seeds moves: every disjoint split of the seeds into halves
    print("\n## Selection on two tuning seeds: every split of the four into disjoint halves\n")
    for o in ("adam", "adam_l2", "adamw"):
        picks = []
        for half in itertools.combinations(full, len(full) // 2):
            rest = [s for s in full if s not in half]
            a, b = best(cells(df, list(half)), o), best(cells(df, rest), o)
            picks.append((a[:2], b[:2]))
        moved = sum(a != b for a, b in picks)
        chosen = sorted({p for pair in picks for p in pair})
        print(f"{o}: the two halves disagree in {moved} of {len(picks)} splits; cells chosen: "
              + ", ".join(f"(lr {lr:g}, wd {wd:.4g})" for lr, wd in chosen))  # fmt: skip

    # the headline's paired noise at the pilot's best cells, and the seeds the margin needs
    print("\n## Paired noise between optimizers at their best cells\n")
    picks = {o: best(c_all, o) for o in ("adam", "adam_l2", "adamw")}

    def values(o):
        lr, wd, _ = picks[o]
        who = FAMILY.get(o, o) if wd == 0 else o
        r = d[(d.optimizer == who) & np.isclose(d.lr, lr) & np.isclose(d.wd, wd)]
        return r.set_index("seed")["val"]

    for a, b in (("adam_l2", "adamw"), ("adam", "adamw"), ("adam", "adam_l2")):
        diff = (values(a) - values(b)).dropna()
        s = diff.std(ddof=1)
        print(f"{a} − {b}: {diff.mean():+.4f}, paired sd {s:.4f} over {len(diff)} seeds")
        for n in (4, 8, 12, 16):
            half = stats.t.ppf(0.975, n - 1) * s / math.sqrt(n)
            print(f"    {n} evaluation seeds: 95 % interval ± {half:.4f}")


if __name__ == "__main__":
    main()
