"""Map of where weight decay matters on the CPU budget, measured before the study's regime is fixed.

    python benchmarks/pilot_map.py --out /tmp/map            # about 45 minutes on 2 cores

Each cell of the map is the default study's setting with one factor changed, the factors that
theory says decay's effect depends on: the share of parameters that are decayed (depth and width
at a fixed vocabulary, the tied embedding decayed or not), epochs over the training subset, the
number of steps T, and the learning-rate schedule. Map v2 (study v4): two pilot seeds per run,
and AdamW's timescales as wide as the study's grid. In every cell Adam runs at four learning
rates (one factor-2 step further where the best of the two seeds' mean is an end), AdamW at
Adam's best learning rate and twice it, at τ/T from 1/256 to 1 (factor 4), and the cell gets

  gain        tuned Adam − tuned AdamW (validation loss, mean of the two seeds, each optimizer
              at its own best setting; AdamW's candidates include its wd = 0 column, Adam
              itself, so the gain is >= 0); gain_a and gain_b the same on each seed alone;
  acts        at Adam's best learning rate, the largest |AdamW(τ) − Adam| over the τ grid (two
              seeds' means): does decay change the loss at all (two-sided);
  noise       the seed-to-seed sd of the paired difference tuned Adam − tuned AdamW at the
              cells the mean chose, |d_a − d_b| / √2 (one degree of freedom: a rough scale);
  s_per_run   median wall seconds of one run (1 thread), for the study's time budget.

Seeds are the pilot's (9000 and 9001, never an evaluation or tuning seed) and only the
validation split is read. The per-run rows go to ``<out>/runs.csv`` and the map to
``<out>/map.csv``; the committed copy of the map is ``benchmarks/pilot_map.csv``, which the paper
draws in its regime section.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "src"))

from pilot import PILOT_SEEDS, one_run, prepare, spec_for  # noqa: E402

from adamw_repro.config import study_configs, validate_config  # noqa: E402
from adamw_repro.schedule import budget  # noqa: E402
from adamw_repro.training.model import ModelConfig, build_model  # noqa: E402
from adamw_repro.training.optim import param_groups  # noqa: E402

# (axis, cell, overlay on the study's regime: 3 epochs of a 102,400-token subset in T = 300
# steps, config/config.yaml). Every other cell changes one factor of it. (Map v1 was drawn
# around study v2's regime, 12 epochs of 25,600 tokens; its CSV is in git history.)
CELLS = [
    ("default", "study regime (3 epochs of 102k tokens)", {}),
    ("decayed share", "embeddings decayed", {"train": {"decay_embeddings": True}}),
    ("decayed share", "4 layers", {"model": {"n_layer": 4}}),
    ("decayed share", "width 256", {"model": {"n_embd": 256}}),
    ("epochs", "48 epochs (6.4k tokens)", {"train": {"data_tokens": 6400}}),
    ("epochs", "1.5 epochs (205k tokens)", {"train": {"data_tokens": 204800}}),
    ("epochs", "1 epoch (307k tokens)", {"train": {"data_tokens": 307200}}),
    ("steps", "T = 600 (6 epochs)", {"train": {"tokens": 614400}}),
    ("schedule", "linear to zero", {"train": {"schedule": "linear", "min_lr_ratio": 0.0}}),
    ("schedule", "constant, 20 % cool-down", {"train": {"schedule": "wsd", "min_lr_ratio": 0.0}}),
]
ADAM_LRS = [1e-3, 2e-3, 4e-3, 8e-3]  # extended by one factor-2 step where the best is an end
TAUS = [1 / 256, 1 / 64, 1 / 16, 1 / 4, 1.0]  # in units of T: the study's span (config.yaml)
SEEDS = PILOT_SEEDS[:2]


def overlay(cfg: dict, change: dict) -> dict:
    out = copy.deepcopy(cfg)
    for section, values in change.items():
        out[section] = {**out[section], **values}
    return out


def tag_of(cell: str) -> str:
    """The cell's folder name under ``<out>/runs``."""
    for old, new in ((" ", "_"), (",", ""), ("%", "pc"), ("(", ""), (")", "")):
        cell = cell.replace(old, new)
    return cell


def jobs_for(cfg, cell, data, out, optimizer, lrs, taus=(0.0,)) -> list:
    T = budget(cfg["train"], cfg["model"]["block_size"]).total_steps
    n = cfg["train"]["data_tokens"]
    jobs = []
    for lr, tau, seed in itertools.product(lrs, taus, SEEDS):
        wd = float(f"{1 / (lr * tau * T):.4g}") if tau else 0.0
        spec = spec_for(cfg, optimizer, lr, wd, seed, n, tag_of(cell))
        jobs.append(({**spec, "cell": cell}, data, str(out / "runs" / spec["run_id"])))
    return jobs


def run_all(jobs: list, workers: int) -> list[dict]:
    with ProcessPoolExecutor(workers) as pool:
        results = list(pool.map(one_run, jobs))
    return [
        {
            "cell": spec["cell"],
            "optimizer": spec["optimizer"],
            "lr": spec["hparams"]["lr"],
            "weight_decay": spec["hparams"].get("weight_decay", 0.0),
            "seed": spec["seed"],
            **{k: r[k] for k in ("final_val", "best_val", "best_step", "train", "norm", "wall")},
        }
        for (spec, _, _), r in zip(jobs, results, strict=True)
    ]


def best_lr(rows: list[dict], cell: str) -> float:
    adam = pd.DataFrame([r for r in rows if r["cell"] == cell and r["optimizer"] == "adam"])
    means = adam.groupby("lr")["final_val"].mean()  # NaN (a diverged seed) never wins
    return float(means.idxmin())


def _tuned(g: pd.DataFrame) -> tuple:
    """(tuned Adam, tuned AdamW, Adam's best lr, AdamW's best cell) over the rows ``g``, on cell
    means (a cell with a diverged seed is out); AdamW's candidates include Adam's cells."""
    means = g.groupby(["optimizer", "lr", "weight_decay"])["final_val"].agg(
        lambda v: v.mean() if v.notna().all() else np.nan
    )
    adam = means["adam"].droplevel("weight_decay")
    adamw = pd.concat([means["adamw"], means["adam"]]).dropna()
    return adam.min(), adamw.min(), adam.idxmin(), adamw.idxmin()


def _cell(g: pd.DataFrame, optimizer: str, lr: float, wd: float) -> pd.Series:
    """One cell's validation loss per seed."""
    at = (g.optimizer == optimizer) & np.isclose(g.lr, lr) & np.isclose(g.weight_decay, wd)
    return g[at].set_index("seed")["final_val"]


def summarize(runs: pd.DataFrame, cells: dict) -> pd.DataFrame:
    rows = []
    for (axis, cell), g in runs.groupby(["axis", "cell"], sort=False):
        adam_val, adamw_val, lr, (w_lr, w_wd) = _tuned(g)
        per_seed = {s: _tuned(h) for s, h in g.groupby("seed")}
        gains = [a - w for a, w, *_ in per_seed.values()]
        # the seed-to-seed spread of the paired difference at the cells the mean chose
        d = _cell(g, "adam", lr, 0.0) - _cell(g, "adamw" if w_wd > 0 else "adam", w_lr, w_wd)
        adam_at = _cell(g, "adam", lr, 0.0).mean()
        decayed = g[(g.optimizer == "adamw") & np.isclose(g.lr, lr)]
        at_lr = decayed.groupby("weight_decay")["final_val"].mean()
        acts = (at_lr - adam_at).abs().max() if len(at_lr) else float("nan")
        T = g["T"].iloc[0]
        cfg = cells[cell]
        rows.append(
            {
                "axis": axis,
                "cell": cell,
                "decayed_share": g["decayed_share"].iloc[0],
                "epochs": g["epochs"].iloc[0],
                "T": T,
                "adam_best_lr": lr,
                "adam_val": adam_val,
                "adamw_val": adamw_val,
                "gain": adam_val - adamw_val,
                "gain_a": gains[0],
                "gain_b": gains[-1],
                "noise": float(abs(d.iloc[0] - d.iloc[-1]) / np.sqrt(2)) if len(d) == 2 else np.nan,
                "adamw_best_lr": w_lr,
                "adamw_best_tau": 1 / (w_lr * w_wd * T) if w_wd > 0 else np.inf,
                "acts": acts,
                "turn_up": float((g["final_val"] - g["best_val"]).median()),
                "gap": float((g["final_val"] - g["train"]).median()),
                "s_per_run": float(g["wall"].median()),
                "n_layer": cfg["model"]["n_layer"],
                "n_embd": cfg["model"]["n_embd"],
            }
        )
    return pd.DataFrame(rows)


def decayed_share(cfg: dict, vocab_size: int) -> float:
    """Share of the parameters (position embeddings aside) in the decay group."""
    model = build_model(ModelConfig.from_dict({**cfg["model"], "vocab_size": vocab_size}))
    decay, rest = (
        sum(p.numel() for p in g["params"])
        for g in param_groups(model, 1.0, cfg["train"]["decay_embeddings"])
    )
    pos = model.transformer.wpe.weight.numel()
    return (decay - pos * cfg["train"]["decay_embeddings"]) / (decay + rest - pos)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--cells", nargs="*", help="cell names to run (default: all)")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    base = study_configs(validate_config(yaml.safe_load(Path(args.config).read_text())))[""]
    data = prepare(base, args.out)
    cells, meta = {}, {}
    for axis, cell, change in CELLS:
        if args.cells and cell not in args.cells:
            continue
        cfg = overlay(base, change)
        b = budget(cfg["train"], cfg["model"]["block_size"])
        cfg["train"]["eval_interval"] = max(1, b.total_steps // 6)
        cells[cell] = cfg
        meta[cell] = {
            "axis": axis,
            "decayed_share": decayed_share(cfg, base["tokenizer"]["vocab_size"]),
            "epochs": b.tokens / cfg["train"]["data_tokens"],
            "T": b.total_steps,
        }
    go = lambda jobs: run_all(jobs, args.jobs)  # noqa: E731
    # 1. Adam over the lr grid, one step further where its best lies at an end
    rows = go([j for c, cfg in cells.items()
               for j in jobs_for(cfg, c, data, args.out, "adam", ADAM_LRS)])  # fmt: skip
    more = []
    for c, cfg in cells.items():
        lr = best_lr(rows, c)
        if lr in (ADAM_LRS[0], ADAM_LRS[-1]):
            more += jobs_for(
                cfg, c, data, args.out, "adam", [lr / 2 if lr == ADAM_LRS[0] else lr * 2]
            )
    rows += go(more)
    # 2. AdamW at Adam's best lr and twice it (where decay's gain lay in map v1 and study v3),
    # at each τ
    decayed = []
    for c, cfg in cells.items():
        lr = best_lr(rows, c)
        decayed += jobs_for(cfg, c, data, args.out, "adamw", [lr, lr * 2], TAUS)
    rows += go(decayed)
    print(f"{len(cells)} cells, {len(rows)} runs", flush=True)
    for r in rows:
        r |= meta[r["cell"]]
    runs = pd.DataFrame(rows)
    runs.to_csv(args.out / "runs.csv", index=False)
    m = summarize(runs, cells)
    m.to_csv(args.out / "map.csv", index=False)
    pd.set_option("display.width", 200)
    print(m.to_string(index=False, float_format=lambda x: f"{x:.4g}"))


if __name__ == "__main__":
    main()
