"""Shared test helpers (imported by tests; fixtures live in conftest.py)."""

import copy
import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path

from adamw_repro import atomic
from adamw_repro.config import validate_config
from adamw_repro.design import make_run, train_spec
from adamw_repro.registry import DECAYING
from adamw_repro.training import checks
from adamw_repro.training.model import ModelConfig

REPO = Path(__file__).resolve().parents[1]

# A ladder's cross-study claims, in the order the ledger registers them (analysis.ladder_claims)
LADDER_CLAIMS = ["U8a", "U8c", "WA2", "WA2s", "PL1", "LN1", "SZ1", "LN2", "LH5", "LN2s", "LN3"]
TINY_MODEL = {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 16}
TINY_TRAIN = {
    "batch_size": 4,
    "tokens": 4 * 16 * 30,
    "eval_interval": 10,
    "eval_tokens": 256,
    "log_interval": 5,
    "checkpoint_interval": 10,
    "precision": "fp32",
}


def make_spec(optimizer="adamw", lr=3e-3, weight_decay=0.1, seed=0, **train_overrides):
    """A validated run spec for a tiny model (an evaluation run: scored on the test split every
    ``eval_interval`` steps), as the Snakemake rule would build it."""
    hp = {"lr": lr}
    if optimizer in DECAYING:
        hp["weight_decay"] = weight_decay
    cfg = validate_config(
        {
            "model": TINY_MODEL,
            "train": {**TINY_TRAIN, **train_overrides},
            "optimizers": {optimizer: hp},
            "seeds": [seed],
        }
    )
    return train_spec(cfg, make_run(cfg, optimizer, lr, hp.get("weight_decay", 0.0), seed))


def model_config(vocab_size, **model) -> ModelConfig:
    """A ModelConfig from a ``model`` section, the schema filling in what is not given."""
    cfg = validate_config({"model": model, "optimizers": {"adam": {"lr": 1e-3}}, "seeds": [0]})
    return ModelConfig.from_dict({**cfg["model"], "vocab_size": vocab_size})


def data_paths(token_files) -> dict:
    return {split: token_files[split] for split in ("train", "val", "test")}


def without_timing(records):
    """Metric records minus wall-clock fields, the only ones allowed to differ between reruns."""
    out = copy.deepcopy(records)
    for r in out:
        r.pop("tokens_per_s", None)
    return out


def pipeline_workdir(tmp_path: Path) -> Path:
    """A scratch folder to run the Snakemake DAG in (results/ and logs/ land there)."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(REPO / "config", work / "config")
    return work


def snakemake(workdir, *args, env=None, check=True, timeout=1800):
    """Run this repository's workflow in ``workdir``; on failure, fail with its output's tail."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stdout[-4000:] + proc.stderr[-4000:])
    return proc


@functools.cache
def optimizer_checks() -> dict:
    """The optimizers' exact checks (training.checks), measured once per test session."""
    return checks.measure()


def write_optimizer_checks(path: Path) -> str:
    """The checks file the optimizer_checks rule writes, at ``path``; returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(path, optimizer_checks())
    return str(path)


def smoke(workdir, configfile, *extra, **kwargs):
    """The workflow on two cores with ``configfile`` (passed last: it takes several values)."""
    return snakemake(workdir, "--cores", "2", *extra, "--configfile", str(configfile), **kwargs)


def pdf_text(path):
    """The PDF's text, with LaTeX's typographic apostrophes and dashes back in ASCII."""
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return out.replace("’", "'").replace("‘", "'")


def package_module(code: str) -> str | None:
    """The package module a rule's code runs: ``python -m adamw_repro.X`` in its command, or
    the module a stage script imports ``run`` from (not the first ``from adamw_repro`` line:
    every script also imports ``adamw_repro.stage``)."""
    m = re.search(r"python -m adamw_repro\.([\w.]+)|from adamw_repro\.([\w.]+) import run\b", code)
    return m and (m.group(1) or m.group(2))
