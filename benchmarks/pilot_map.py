"""Map of where weight decay matters on the CPU budget, measured before the study's regime is fixed.

    python benchmarks/pilot_map.py --out /tmp/map            # about 30 minutes on 2 cores

Each cell of the map is the default study's setting with one factor changed, the factors that
theory says decay's effect depends on: the share of parameters that are decayed (depth and width
at a fixed vocabulary, the tied embedding decayed or not), epochs over the training subset, the
number of steps T, and the learning-rate schedule. In every cell Adam runs at four learning rates
and AdamW at three learning rates times two decay timescales (τ = T/4 and T); the cell then gets

  gain        tuned Adam − tuned AdamW (validation loss, each at its own best setting; AdamW's
              candidates include its wd = 0 column, Adam itself, so the gain is >= 0),
  acts        at Adam's best learning rate, the largest |AdamW(τ) − Adam| over the τ grid: does
              decay change the loss at all (two-sided),
  s_per_run   median wall seconds of one run (1 thread), for the study's time budget.

Seeds are the pilot's (9000+, never an evaluation or tuning seed) and only the validation split is
read. One seed per cell: the paired seed-to-seed sd of a loss difference was 0.003-0.005 nats in
the v2 pilot, small against the 0.03-nat gain this map looks for. The per-run rows go to
``<out>/runs.csv`` and the map to ``<out>/map.csv``; the committed copy of the map is
``benchmarks/pilot_map.csv``, which the paper draws in its regime section.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "src"))

from pilot import PILOT_SEEDS, one_run, prepare, spec_for  # noqa: E402

from adamw_repro.config import study_configs, validate_config  # noqa: E402
from adamw_repro.model import ModelConfig, build_model  # noqa: E402
from adamw_repro.optim import param_groups  # noqa: E402
from adamw_repro.schedule import budget  # noqa: E402

# (axis, cell, overlay on the default study). Every cell changes one factor of the default.
CELLS = [
    ("default", "default", {}),
    ("decayed share", "embeddings decayed", {"train": {"decay_embeddings": True}}),
    ("decayed share", "4 layers", {"model": {"n_layer": 4}}),
    ("decayed share", "width 256", {"model": {"n_embd": 256}}),
    ("epochs", "48 epochs (6.4k tokens)", {"train": {"data_tokens": 6400}}),
    ("epochs", "3 epochs (102k tokens)", {"train": {"data_tokens": 102400}}),
    ("steps", "T = 600 (24 epochs)", {"train": {"tokens": 614400}}),
    ("schedule", "linear to zero", {"train": {"schedule": "linear", "min_lr_ratio": 0.0}}),
    ("schedule", "constant, 20 % cool-down", {"train": {"schedule": "wsd", "min_lr_ratio": 0.0}}),
]
ADAM_LRS = [1e-3, 2e-3, 4e-3, 8e-3]
ADAMW_LRS = [2e-3, 4e-3, 8e-3]
TAUS = [0.25, 1.0]  # in units of T


def overlay(cfg: dict, change: dict) -> dict:
    out = copy.deepcopy(cfg)
    for section, values in change.items():
        out[section] = {**out[section], **values}
    return out


def cell_jobs(cfg: dict, cell: str, data: dict, out: Path, seed: int) -> list:
    T = budget(cfg["train"], cfg["model"]["block_size"]).total_steps
    tag = (
        cell.replace(" ", "_").replace(",", "").replace("%", "pc").replace("(", "").replace(")", "")
    )
    n = cfg["train"]["data_tokens"]
    specs = [spec_for(cfg, "adam", lr, 0.0, seed, n, tag) for lr in ADAM_LRS]
    for lr, tau in itertools.product(ADAMW_LRS, TAUS):
        wd = float(f"{1 / (lr * tau * T):.4g}")
        specs.append(spec_for(cfg, "adamw", lr, wd, seed, n, tag))
    rows = []
    for s in specs:
        s["cell"] = cell
        rows.append((s, data, str(out / "runs" / s["run_id"])))
    return rows


def summarize(runs: pd.DataFrame, cells: dict) -> pd.DataFrame:
    rows = []
    for (axis, cell), g in runs.groupby(["axis", "cell"], sort=False):
        adam = g[g.optimizer == "adam"].set_index("lr")["final_val"]
        adamw = g[g.optimizer == "adamw"]
        best_lr = adam.idxmin()
        tuned_adamw = min(adamw["final_val"].min(), adam.min())
        at_lr = adamw[adamw.lr == best_lr]["final_val"]
        acts = (at_lr - adam[best_lr]).abs().max() if len(at_lr) else float("nan")
        cfg = cells[cell]
        rows.append(
            {
                "axis": axis,
                "cell": cell,
                "decayed_share": g["decayed_share"].iloc[0],
                "epochs": g["epochs"].iloc[0],
                "T": g["T"].iloc[0],
                "adam_best_lr": best_lr,
                "adam_val": adam.min(),
                "adamw_val": tuned_adamw,
                "gain": adam.min() - tuned_adamw,
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
    cells, work, meta = {}, [], {}
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
        work += cell_jobs(cfg, cell, data, args.out, PILOT_SEEDS[0])
    print(f"{len(cells)} cells, {len(work)} runs", flush=True)
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(one_run, work))
    rows = []
    for (spec, _, _), r in zip(work, results, strict=True):
        rows.append(
            {
                **meta[spec["cell"]],
                "cell": spec["cell"],
                "optimizer": spec["optimizer"],
                "lr": spec["hparams"]["lr"],
                "weight_decay": spec["hparams"].get("weight_decay", 0.0),
                **{k: r[k] for k in ("final_val", "best_val", "train", "norm", "wall")},
            }
        )
    runs = pd.DataFrame(rows)
    runs.to_csv(args.out / "runs.csv", index=False)
    m = summarize(runs, cells)
    m.to_csv(args.out / "map.csv", index=False)
    pd.set_option("display.width", 200)
    print(m.to_string(index=False, float_format=lambda x: f"{x:.4g}"))


if __name__ == "__main__":
    main()
