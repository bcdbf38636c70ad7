"""The benchmark suite in its reduced mode, so it cannot rot. Its numbers are printed (run
pytest with -s to see them), not asserted: timing targets are judged from the full suite."""

import subprocess
import sys

import pandas as pd
import pytest
from helpers import REPO


@pytest.mark.slow  # runs Snakemake or the benchmarks
def test_quick_benchmark_measures_every_group(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    print(proc.stdout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = pd.read_csv(tmp_path / "bench.csv")
    groups = {"peak", "throughput", "variants", "vocabulary", "trainer", "scheduling"}
    assert groups | {"startup", "evaluation", "planning", "levers", "minimal", "compile"} <= set(
        rows["group"]
    )
    assert (rows["value"] >= 0).all()  # a share of system time can be 0
    assert (rows[rows["metric"] == "tokens/s"]["value"] > 0).all()
    assert (tmp_path / "bench.png").stat().st_size > 0
    # every figure names the CPU kind it was measured on and what auto picks there
    assert rows["capability"].notna().all() and rows["cpu"].notna().all()
    assert set(rows["auto"]) <= {"fp32", "bf16"} and (rows["bf16_speedup"] > 0).all()
    assert rows[rows["group"] == "minimal"]["variant"].str.contains("(auto)", regex=False).any()


def test_gpu_check_script_runs_its_code_paths_on_a_tiny_model():
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "gpu_check.py"),
            "--tiny",
            "--steps",
            "3",
            "--train-seconds",
            "3",
            "--no-compile",
        ],
        capture_output=True,
        text=True,
    )
    print(proc.stdout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "tokens/s" in proc.stdout and "loss" in proc.stdout
