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


def _draw(folder, seeds, adamw_wd, shift):
    """A draw's runs table: Adam+L2 and AdamW selected at lr 1e-3, AdamW ``shift`` lower."""
    rows = []
    for s in seeds:
        noise = 0.001 * (s % 3)
        rows += [
            {"optimizer": "adam_l2", "lr": 1e-3, "weight_decay": 1e-3, "final_test_loss": 5.0},
            {
                "optimizer": "adamw",
                "lr": 1e-3,
                "weight_decay": adamw_wd,
                "final_test_loss": 5.0 - shift + noise,
            },  # fmt: skip
            {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "final_test_loss": 5.1},
        ]
        for r in rows[-3:]:
            r |= {"seed": s, "diverged": False, "evaluation": True, "matched": False}
        rows[-2]["matched"] = True
    (folder / "tables").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "tables" / "runs.csv", index=False)
    return folder


def test_draws_pool_only_where_they_selected_the_same_cells(tmp_path):
    """Two draws of the same cells pool their seeds (the pooled mean of the per-seed differences,
    +0.0191 here); draws that selected another AdamW cell are not pooled."""
    script = [sys.executable, str(REPO / "benchmarks" / "pool_draws.py")]
    a = _draw(tmp_path / "a", range(4), 3.33, 0.02)
    b = _draw(tmp_path / "b", range(100, 104), 3.33, 0.02)
    out = subprocess.run([*script, a, b], capture_output=True, text=True, check=True).stdout
    assert "pooled: +0.0191 [" in out and "over 8 seeds" in out, out  # (0.077 + 0.076) / 8
    c = _draw(tmp_path / "c", range(100, 104), 1.67, 0.02)
    out = subprocess.run([*script, a, c], capture_output=True, text=True, check=True).stdout
    assert out.count("not pooled, the draws selected different cells") == 3, out
