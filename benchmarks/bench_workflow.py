"""Benchmark groups of the workflow around the loop: process start-up, evaluation passes, the
plan Snakemake builds, and stage times read from a finished DAG."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml
from bench_common import REPO, TRAIN, profile_config, record, synthetic_tokens

from adamw_repro.config import load_config
from adamw_repro.data.shards import TokenData
from adamw_repro.training.model import build_model


def run_startup(args, tmp: Path) -> None:
    """What every training process pays before its first step: Python, torch, transformers."""
    times = []
    for _ in range(1 if args.quick else 5):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {TRAIN}"], check=True, cwd=REPO)
        times.append(time.perf_counter() - t)
    record("startup", f"python -c 'import {TRAIN}'", "seconds", statistics.median(times))


def run_evaluation(args, tmp: Path) -> None:
    """One evaluation pass (validation loss and accuracy) over the profile's eval_tokens."""
    from adamw_repro.training.train import evaluate

    name = "smoke" if args.quick else "config"
    cfg, batch = profile_config(name)
    train = load_config(REPO / "config" / f"{name}.yaml")["train"]
    data = TokenData(synthetic_tokens(tmp / "eval.bin", cfg.vocab_size), cfg.block_size)
    model = build_model(cfg, attention=train["attention"])
    starts = data.fixed_starts(train["eval_tokens"])
    times = []
    for _ in range(2 if args.quick else 5):
        t = time.perf_counter()
        evaluate(model, data, starts, batch, cfg.vocab_size, "cpu", train["precision"])
        times.append(time.perf_counter() - t)
    tag = f"{'smoke' if args.quick else 'default'}, {train['eval_tokens']} tokens"
    record("evaluation", tag, "seconds per pass", statistics.median(times))


def run_planning(args, tmp: Path) -> None:
    """`snakemake -n` on a 1000-run sweep: 10 learning rates × 100 weight decays for AdamW, and
    on a ladder of three studies of the default grid. --quick: a 20-run sweep and no ladder
    (tests/test_scale.py dry-runs the same ladder)."""
    n_wd = 2 if args.quick else 100
    cfg = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    cfg["optimizers"] = {
        "adamw": {
            "lr": [10 ** (-4 + i / 3) for i in range(10)],
            "weight_decay": [10 ** (-3 + i / 20) for i in range(n_wd)],
        }
    }
    for runs_per_job in (1, 8):
        cfg["resources"] = {"train": {"runs_per_job": runs_per_job}}
        path = tmp / f"sweep{runs_per_job}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        seconds = _plan(path, tmp / "sweep", 1 if args.quick else 3)
        tag = f"snakemake -n, {10 * n_wd} tuning runs, {runs_per_job} per job"
        record("planning", tag, "seconds", seconds)
    if args.quick:
        return
    seconds = _plan(ladder_of_three(tmp / "ladder3.yaml"), tmp / "ladder", 3)
    record("planning", "snakemake -n, ladder of 3 studies x the default grid", "seconds", seconds)


def ladder_of_three(path: Path) -> Path:
    """The default study's grid at three model sizes, as one ladder config written to ``path``."""
    ladder = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    ladder["studies"] = [
        {"name": "small"},
        {"name": "medium", "model": {"n_layer": 4, "n_embd": 192}},
        {"name": "large", "model": {"n_layer": 5, "n_head": 5, "n_embd": 320}},
    ]
    path.write_text(yaml.safe_dump(ladder))
    return path


def _plan(configfile: Path, workdir: Path, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "snakemake",
                "-s",
                str(REPO / "Snakefile"),
                "-d",
                str(workdir),
                "-n",
                "--quiet",
                "--configfile",
                str(configfile),
            ],
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run_dag_stages(dag_dir: Path) -> None:
    """Wall time per stage of a finished DAG run, from Snakemake's benchmark files."""
    bench = dag_dir / "results" / "benchmarks"
    files = list(bench.rglob("*.tsv"))
    if not files:
        print(f"(no Snakemake benchmark files under {bench}; run the DAG first)")
        return
    rows = []
    for f in files:
        stage = f.relative_to(bench).parts[0].removesuffix(".tsv")
        rows.append({"stage": stage, "s": pd.read_csv(f, sep="\t")["s"].iloc[0]})
    df = pd.DataFrame(rows).groupby("stage")["s"].agg(["sum", "count"])
    for stage, r in df.iterrows():
        record("dag", f"{stage} ({int(r['count'])} jobs)", "job-seconds", r["sum"])
    record("dag", "all stages", "job-seconds", df["sum"].sum())
