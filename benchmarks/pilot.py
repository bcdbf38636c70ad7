"""Pilot for sizing the default study's regime, on seeds and data the study never reports.

    python benchmarks/pilot.py --out /tmp/pilot            # about 10 minutes on 2 cores

Question it answers before any verdict is seen: with this model, which training-subset size and
token budget make the unregularized model overfit (validation loss turning up, a large
train/validation gap), and does AdamW's decay act there (a gain over no decay at τ = 1/(lr·wd)
between T/16 and 4T)? It also measures the seed-to-seed spread of paired differences, which
sizes the number of evaluation seeds. Runs use the pilot seeds 9000+ (never an evaluation or
tuning seed) and score on the validation split only; the test split is not read. Its printed
table is copied into benchmarks/PILOT.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from adamw_repro.config import study_configs, validate_config  # noqa: E402
from adamw_repro.data import corpus, tokens  # noqa: E402
from adamw_repro.data.shards import ShardWriter  # noqa: E402
from adamw_repro.design import decayed_norm, run_hparams  # noqa: E402
from adamw_repro.schedule import budget  # noqa: E402

PILOT_SEEDS = [9000, 9001, 9002, 9003, 9004, 9005]


def prepare(cfg: dict, out: Path) -> dict:
    """The study's splits and tokenizer, written under ``out`` (shards as the pipeline writes)."""
    paths = {s: out / "tokens" / s for s in ("train", "val", "test")}
    meta = out / "tokens" / "meta.json"
    if not meta.exists():
        text = corpus.load_text(cfg["corpus"])
        parts = corpus.split_text(
            text, cfg["corpus"]["heldout_fraction"], cfg["corpus"]["heldout_chunks"]
        )
        tok = tokens.train_bpe(parts["train"], cfg["tokenizer"]["vocab_size"])
        for split, path in paths.items():
            w = ShardWriter(path, 10**9)
            w.write(tokens.encode(tok, parts[split]))
            w.close()
        meta.write_text(json.dumps({"vocab_size": tok.get_vocab_size()}))
    return {"paths": {k: str(v) for k, v in paths.items()}, "meta": str(meta)}


def one_run(job) -> dict:
    from adamw_repro.training.runtime import keep_freed_memory
    from adamw_repro.training.train import train_run

    keep_freed_memory()
    spec, data, out = job
    done = Path(out, "summary.json")
    if done.exists() and json.loads(done.read_text())["run_id"] == spec["run_id"]:
        s = json.loads(done.read_text())  # finished by an earlier, interrupted pilot
    else:
        s = train_run(spec, data["paths"], data["meta"], out, out + ".pt", threads=1)
    curve = [
        json.loads(line)
        for line in Path(out, "metrics.jsonl").read_text().splitlines()
        if "val_loss" in line
    ]
    vals = [(r["val_loss"], r["step"]) for r in curve if r.get("val_loss") is not None]
    return {
        "run": spec["run_id"],
        "seed": spec["seed"],
        "final_val": s["final_val_loss"],
        "best_val": min(vals)[0] if vals else None,
        "best_step": min(vals)[1] if vals else None,
        "train": s["final_train_loss"],
        "norm": decayed_norm(s["final_param_norms"], spec["train"]["decay_embeddings"]),
        "wall": s["wall_time_s"],
    }


def spec_for(cfg, optimizer, lr, wd, seed, data_tokens, tag) -> dict:
    train = {**cfg["train"], "data_tokens": data_tokens}
    hp = run_hparams(optimizer, lr, wd)
    curve = ["val"] if train["eval_interval"] else []
    return {
        "run_id": f"{tag}/{optimizer}/lr{lr:g}_wd{wd:g}/seed{seed}",
        "optimizer": optimizer,
        "hparams": hp,
        "seed": seed,
        "model": cfg["model"],
        "train": train,
        "evaluate": {"curve": curve, "final": ["val", "train"]},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    ap.add_argument("--study", default="", help="a ladder config's study to pilot (its overlay)")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--data-tokens", type=int, nargs="+", default=[25_000, 50_000, 100_000])
    ap.add_argument("--tokens", type=int, default=300_000, help="training tokens per run")
    ap.add_argument("--lrs", type=float, nargs="*", default=[1e-3, 3e-3, 1e-2])
    ap.add_argument("--baseline", default="adam", help="optimizer without decay run at --lrs")
    ap.add_argument("--taus", type=float, nargs="*", default=[1 / 16, 1 / 4, 1.0])
    ap.add_argument("--l2", type=float, nargs="*", default=[1e-4, 1e-3, 1e-2])
    ap.add_argument(
        "--decay-lrs", type=float, nargs="+", default=[3e-3], help="lrs of the decay runs"
    )
    ap.add_argument("--batch-size", type=int, help="sequences per step (default: the config's)")
    ap.add_argument("--decay-embeddings", action="store_true", help="decay the embeddings too")
    ap.add_argument("--seeds", type=int, default=1, help="pilot seeds per setting")
    ap.add_argument(
        "--no-curve", action="store_true", help="score each run once, at its end (as tuning does)"
    )
    ap.add_argument("--csv", default="pilot.csv", help="the table's file name under --out")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    raw = yaml.safe_load(Path(args.config).read_text())
    studies = study_configs(validate_config(raw))
    if args.study not in studies:
        ap.error(f"--study: {args.study!r} is not one of {', '.join(map(repr, studies))}")
    cfg = studies[args.study]
    cfg["train"] = {**cfg["train"], "tokens": args.tokens, "eval_interval": 0}
    cfg["train"]["decay_embeddings"] = args.decay_embeddings
    if args.batch_size:
        cfg["train"]["batch_size"] = args.batch_size
    T = budget(cfg["train"], cfg["model"]["block_size"]).total_steps
    cfg["train"]["eval_interval"] = 0 if args.no_curve else max(1, T // 12)
    data = prepare(cfg, args.out)
    jobs = []
    for n, seed in itertools.product(args.data_tokens, PILOT_SEEDS[: args.seeds]):
        tag = f"data{n}"
        for lr in args.lrs:
            jobs.append(spec_for(cfg, args.baseline, lr, 0.0, seed, n, tag))
        for lr, tau in itertools.product(args.decay_lrs, args.taus):
            wd = 1 / (lr * tau * T)
            jobs.append(spec_for(cfg, "adamw", lr, float(f"{wd:.4g}"), seed, n, tag))
        for lr, wd in itertools.product(args.decay_lrs, args.l2):
            jobs.append(spec_for(cfg, "adam_l2", lr, wd, seed, n, tag))
    print(
        f"T = {T} steps of {budget(cfg['train'], cfg['model']['block_size']).tokens_per_step}"
        f" tokens; {len(jobs)} runs",
        flush=True,
    )
    work = [(s, data, str(args.out / "runs" / s["run_id"])) for s in jobs]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(one_run, work))
    import pandas as pd

    df = pd.DataFrame(rows)
    df["overfit"] = df["final_val"] - df["best_val"]
    df["gap"] = df["final_val"] - df["train"]
    pd.set_option("display.width", 200)
    print(df.drop(columns="wall").to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    print(f"median wall per run {np.median(df['wall']):.1f} s")
    df.to_csv(args.out / args.csv, index=False)


if __name__ == "__main__":
    main()
