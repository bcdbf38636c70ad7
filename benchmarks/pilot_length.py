"""Pilot for ladder v3's training-length axis (issue 36), before its design is fixed.

    python benchmarks/pilot_length.py --out /tmp/length      # about 26 minutes on 2 cores
    # part 2: past the onset, stronger decays, and Adam's learning rate (about 35 minutes)
    python benchmarks/pilot_length.py --out /tmp/length --lengths 424 600 849 \
        --timescales 0.00390625 0.015625 0.0625 0.25 1 --l2-decays 0.001 0.004 0.016 0.064 0.256 \
        --adam-lrs 0.0005 0.002

The question: over the default study's training subset (12,800 tokens) and model, at which
number of steps does Adam without decay start to overfit (its validation loss rises from its
minimum before the end), and where do AdamW's best timescale τ = 1/(lr·wd) and Adam+L2's best
decay lie as the epochs grow? Three rules predict how AdamW's best τ moves with T at fixed data:
τ/T constant (exponent 1), Loshchilov & Hutter's normalised decay (τ ∝ √T, exponent ½), and
constant in steps (exponent 0); the axis's grids must hold every rule's τ at every length.

Every length runs at the learning rate that both of study v5's seed draws selected for all
three optimizers (1e-3): Adam (wd = 0), AdamW at τ/T from 1/16 to 4 (factor 4), Adam+L2 at wd
from 2.5e-4 to 1.6e-2 (factor 4). Seeds are the pilot's (9000, 9001: never an evaluation or
tuning seed) and only the validation split is read. Rows go to ``<out>/runs.csv``; the table
it prints (per length: Adam's rise, each decayed optimizer's best cell and its gain over Adam)
is copied into benchmarks/PILOT.md.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "src"))

from pilot import PILOT_SEEDS, prepare, spec_for  # noqa: E402
from pilot_map import run_all  # noqa: E402

from adamw_repro.config import study_configs, validate_config  # noqa: E402
from adamw_repro.schedule import budget  # noqa: E402

LENGTHS = [38, 75, 150, 300, 600]  # steps: about 3 to 48 epochs of the 12,800-token subset
LR = 1e-3
TIMESCALES = [1 / 16, 1 / 4, 1, 4]  # AdamW's τ/T
L2_DECAYS = [2.5e-4, 1e-3, 4e-3, 1.6e-2]  # Adam+L2's wd


def length_config(base: dict, steps: int) -> dict:
    """The default study's config trained for ``steps`` steps over the same data."""
    cfg = copy.deepcopy(base)
    per_step = budget(cfg["train"], cfg["model"]["block_size"]).tokens_per_step
    cfg["train"]["tokens"] = steps * per_step
    cfg["train"]["eval_interval"] = max(1, steps // 12)  # a curve fine enough to see the rise
    return cfg


def jobs(base: dict, data: dict, out: Path, seeds: list[int], grids: dict) -> list:
    """Every run: at each length, Adam, AdamW and Adam+L2 over their decay grids at ``LR``,
    and Adam alone at the other learning rates of ``grids["adam_lrs"]``."""
    found = []
    for steps in grids["lengths"]:
        cfg = length_config(base, steps)
        settings = [("adam", LR, 0.0)] + [("adam", lr, 0.0) for lr in grids["adam_lrs"]]
        settings += [("adamw", LR, float(f"{1 / (LR * tau * steps):.4g}"))
                     for tau in grids["timescales"]]  # fmt: skip
        settings += [("adam_l2", LR, wd) for wd in grids["l2_decays"]]
        for (optimizer, lr, wd), seed in ((s, seed) for s in settings for seed in seeds):
            spec = spec_for(cfg, optimizer, lr, wd, seed, cfg["train"]["data_tokens"], f"T{steps}")
            found.append(({**spec, "cell": steps}, data, str(out / "runs" / spec["run_id"])))
    return found


def table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per length: epochs, Adam's rise from its minimum and where the minimum lay, and each
    decayed optimizer's best cell (seed means) with its gain over Adam, each seed alone too."""
    out = []
    for steps, g in runs.groupby("cell"):
        lrs = g[g["optimizer"] == "adam"].groupby("lr")["final_val"].mean()
        g = g[np.isclose(g["lr"], LR)]  # the decay grids' learning rate
        adam = g[g["optimizer"] == "adam"]
        row = {"T": steps, "epochs": steps * 1024 / 12800,
               "adam_best_lr": lrs.idxmin(), "adam_lrs": " ".join(f"{lr:g}" for lr in lrs.index),
               "adam_val": adam["final_val"].mean(),
               "adam_rise": (adam["final_val"] - adam["best_val"]).mean(),
               "adam_rise_min": (adam["final_val"] - adam["best_val"]).min(),
               "adam_best_step": adam["best_step"].mean()}  # fmt: skip
        for optimizer in ("adamw", "adam_l2"):
            o = g[g["optimizer"] == optimizer]
            means = o.groupby("weight_decay")["final_val"].mean()
            wd = means.idxmin()
            per_seed = o[o["weight_decay"] == wd].set_index("seed")["final_val"]
            gain = adam.set_index("seed")["final_val"] - per_seed
            row[f"{optimizer}_wd"] = wd
            row[f"{optimizer}_edge"] = wd in (means.index.min(), means.index.max())
            row[f"{optimizer}_gain"] = gain.mean()
            row[f"{optimizer}_gain_min"] = gain.min()
        row["adamw_tau_over_T"] = 1 / (LR * row["adamw_wd"] * steps)
        row["adamw_tau_steps"] = 1 / (LR * row["adamw_wd"])
        out.append(row)
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seeds", type=int, nargs="+", default=PILOT_SEEDS[:2])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--lengths", type=int, nargs="+", default=LENGTHS, help="steps")
    ap.add_argument("--timescales", type=float, nargs="+", default=TIMESCALES, help="AdamW τ/T")
    ap.add_argument("--l2-decays", type=float, nargs="+", default=L2_DECAYS, help="Adam+L2 wd")
    ap.add_argument("--adam-lrs", type=float, nargs="*", default=[], help="Adam alone, besides LR")
    args = ap.parse_args()
    grids = {k: getattr(args, k) for k in ("lengths", "timescales", "l2_decays", "adam_lrs")}
    base = study_configs(validate_config(yaml.safe_load(Path(args.config).read_text())))[""]
    data = prepare(base, args.out)
    found = jobs(base, data, args.out, args.seeds, grids)
    print(f"{len(found)} runs over {len(args.lengths)} lengths", flush=True)
    runs = pd.DataFrame(run_all(found, args.jobs))
    tag = "" if args.lengths == LENGTHS else "_" + "_".join(map(str, args.lengths))
    runs.to_csv(args.out / f"runs{tag}.csv", index=False)
    t = table(runs)
    t.to_csv(args.out / f"length{tag}.csv", index=False)
    pd.set_option("display.width", 220)
    print(t.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print("Adam's seed spread at each length (sd of final val over seeds):")
    adam = runs[(runs["optimizer"] == "adam") & np.isclose(runs["lr"], LR)]
    print(adam.groupby("cell")["final_val"].agg(np.std).to_string())


if __name__ == "__main__":
    main()
