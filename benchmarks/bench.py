"""Benchmark suite: where the pipeline's time goes, in figures. Not part of the DAG.

    python benchmarks/bench.py                 # full: every measurement (about 15 minutes)
    python benchmarks/bench.py --quick         # seconds: every code path, tiny sizes (CI)
    python benchmarks/bench.py --dag-dir .     # also read stage times from a finished DAG run

Prints each figure as it is measured and writes ``benchmarks/results/bench.csv`` and
``bench.png``. The measurements live in ``bench_loops.py`` (training loops side by side) and
``bench_workflow.py`` (start-up, evaluation, planning, DAG stages); ``bench_common.py`` holds
what they share. All throughput figures are medians over steps after warm-up, measured in one
process side by side, since these machines are shared and noisy: compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import torch
from bench_common import MACHINE, REPO, ROWS
from bench_loops import (
    run_compile,
    run_levers,
    run_minimal,
    run_parity,
    run_scheduling,
    run_throughput,
)
from bench_workflow import run_dag_stages, run_evaluation, run_planning, run_startup

from adamw_repro.provenance import cpu_model
from adamw_repro.training.runtime import cpu_bf16_speedup, keep_freed_memory, resolve_precision

# Measurement groups in the order they run (--groups picks some; parity is skipped by --quick).
GROUPS = {
    "throughput": run_throughput,  # also peak, variants, vocabulary and the Trainer comparison
    "scheduling": run_scheduling,
    "startup": run_startup,
    "evaluation": run_evaluation,
    "levers": run_levers,
    "minimal": run_minimal,
    "compile": run_compile,
    "parity": run_parity,
    "planning": run_planning,
}


def plot(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.DataFrame(ROWS)
    v = df[(df["group"] == "variants") & (df["metric"] == "tokens/s")]
    if v.empty:
        return
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(v) + 1))
    ax.barh(v["variant"], v["value"], color="tab:blue")
    ax.set_xlabel("training tokens/s (median step)")
    fig.tight_layout()
    fig.savefig(out, dpi=120, metadata={"Software": None})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks every path in seconds")
    ap.add_argument("--threads", type=int, default=1, help="threads per training process")
    ap.add_argument("--dag-dir", type=Path, help="a folder where the DAG ran, for stage times")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--groups", nargs="+", choices=sorted(GROUPS), help="run only these groups")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    MACHINE.update(
        cpu=cpu_model(),
        capability=torch.backends.cpu.get_cpu_capability(),
        bf16_speedup=cpu_bf16_speedup(),
        auto=resolve_precision("auto", "cpu").name,
    )
    print(f"{os.cpu_count()} CPUs, torch {torch.__version__}, {args.threads} thread(s) per loop")
    print(
        f"{MACHINE['cpu']}, torch kernels {MACHINE['capability']}: bf16 matmul "
        f"{MACHINE['bf16_speedup']:.2g}x fp32, so train.precision: auto -> {MACHINE['auto']}"
    )
    keep_freed_memory()  # measure as the study trains (the levers group compares both, apart)
    chosen = set(args.groups or GROUPS)
    with tempfile.TemporaryDirectory() as tmp:
        for name, run in GROUPS.items():
            if name in chosen and not (args.quick and name == "parity"):
                run(args, Path(tmp))
    if args.dag_dir:
        run_dag_stages(args.dag_dir)
    pd.DataFrame(ROWS).to_csv(args.out / "bench.csv", index=False)
    plot(args.out / "bench.png")
    print(json.dumps({"csv": str(args.out / "bench.csv")}))


if __name__ == "__main__":
    main()
