"""The Snakemake DAG end to end on the smoke profile (slow: about a minute each)."""

import subprocess
import sys

import pandas as pd
import pytest
import yaml
from helpers import REPO

pytestmark = pytest.mark.slow


def snakemake(workdir, configfile, *extra, check=True):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "-d",
            str(workdir),
            "--configfile",
            str(configfile),
            "--cores",
            "2",
            *extra,
        ],
        capture_output=True,
        text=True,
    )
    if check and proc.returncode != 0:
        raise AssertionError(proc.stdout[-3000:] + proc.stderr[-3000:])
    return proc


def pdf_text(path):
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("smoke")
    snakemake(work, REPO / "config" / "smoke.yaml")
    return work


def test_smoke_dag_produces_a_pdf_with_the_table_numbers(smoke_run):
    cfg = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    runs = pd.read_csv(smoke_run / "results/tables/runs.csv")
    assert len(runs) == len(cfg["optimizers"]) * len(cfg["seeds"])
    table = pd.read_csv(smoke_run / "results/tables/results.csv")
    assert list(table["optimizer"]) == ["sgd", "sgdw", "adam", "adam_l2", "adamw"]
    text = pdf_text(smoke_run / "results/paper/paper.pdf")
    flat = " ".join(text.split())
    for row in table.itertuples():
        line = next(ln for ln in text.splitlines() if ln.split()[:1] == [row.optimizer])
        assert f"{row.val_loss_mean:.3f} ± {row.val_loss_std:.3f}" in line
        assert f"{row.perplexity_mean:.2f} ± {row.perplexity_std:.2f}" in line
        assert f"{row.val_acc_mean:.3f}" in line
    # every run's mean feeds the abstract's comparison sentence
    aw = table.set_index("optimizer").loc["adamw", "val_loss_mean"]
    assert f"mean validation loss of {aw:.3f} nats" in flat
    for fig in ("val_loss_curves", "final_val_loss"):
        assert (smoke_run / f"results/figures/{fig}.png").stat().st_size > 10_000


def test_diverging_run_is_recorded_and_the_dag_completes(tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    cfg["optimizers"] = {"sgd": {"lr": 1e12}, "adamw": {"lr": 0.01, "weight_decay": 0.1}}
    cfg["seeds"] = [0]
    cfg["train"]["grad_clip"] = 0.0
    config = tmp_path / "diverge.yaml"
    config.write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, config)
    runs = pd.read_csv(tmp_path / "results/tables/runs.csv").set_index("optimizer")
    assert bool(runs.loc["sgd", "diverged"]) and not bool(runs.loc["adamw", "diverged"])
    assert runs.loc["sgd", "diverged_reason"] == "non-finite loss"
    table = pd.read_csv(tmp_path / "results/tables/results.csv").set_index("optimizer")
    assert table.loc["sgd", "diverged"] == 1 and pd.isna(table.loc["sgd", "val_loss_mean"])
    flat = " ".join(pdf_text(tmp_path / "results/paper/paper.pdf").split())
    assert "1 of 2 runs diverged and are excluded from the means below" in flat
