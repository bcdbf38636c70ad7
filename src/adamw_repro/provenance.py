"""Where a result came from: code version, software versions, hardware, scheduler job."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from importlib.util import resolve_name
from pathlib import Path

PACKAGES = ("torch", "transformers", "tokenizers", "numpy", "snakemake")


def package_imports(module: str) -> list[Path]:
    """The files of this package that ``module`` (``"analysis.ledger"``) runs: itself and every
    package module it imports, transitively, read from the source (imports inside functions
    too), so a rule's code inputs follow the imports and cannot drift from them."""
    root = Path(__file__).parent

    def source(name: str) -> Path | None:  # "analysis.ledger" -> .../analysis/ledger.py
        path = root.joinpath(*name.split("."))
        candidates = (path.with_suffix(".py"), path / "__init__.py")
        return next((f for f in candidates if f.exists()), None)

    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        path = source(name) if name else None
        if name in seen or path is None:
            continue
        seen.add(name)
        here = f"{root.name}.{name}" if path.name != "__init__.py" else f"{root.name}.{name}.x"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                stated = "." * node.level + (node.module or "")
                target = resolve_name(stated, here.rpartition(".")[0]) if node.level else stated
                names = [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                target, names = None, []
                todo += [_inner(a.name, root.name) for a in node.names]
            else:
                continue
            if target is not None:
                inner = _inner(target, root.name)
                todo += [inner] + [f"{inner}.{n}".lstrip(".") for n in names]
    return sorted(source(name) for name in seen)


def _inner(dotted: str, package: str) -> str:
    """``adamw_repro.analysis.ledger`` -> ``analysis.ledger``; "" for other packages."""
    head, _, rest = dotted.partition(".")
    return rest if head == package else ""


def config_hash(cfg) -> str:
    """Short, stable hash of a JSON-serialisable config (key order does not matter)."""
    blob = json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


# The config sections that decide a study's numbers (not its paper's words or its resources).
STUDY_SECTIONS = ("corpus", "tokenizer", "model", "train", "optimizers", "seeds", "study")


def study_hash(cfg: dict) -> str:
    """``config_hash`` of the sections that decide a study's numbers: two runs of one study
    on different machines share it, whatever their papers, resources, TensorBoard or thread
    counts say (threads, like the machine, change only the rounding)."""
    sections = {k: cfg[k] for k in STUDY_SECTIONS}
    sections["train"] = {
        k: v for k, v in cfg["train"].items() if k not in ("tensorboard", "threads")
    }
    return config_hash(sections)


def design_hash(cfg: dict) -> str:
    """``study_hash`` without the seeds (evaluation and tuning): two draws of seeds of one study
    design share it."""
    study = {k: v for k, v in cfg["study"].items() if k != "tuning_seeds"}
    return study_hash({**cfg, "seeds": None, "study": study})


def git_state(path: str | os.PathLike = ".") -> dict:
    """Commit of the checkout holding ``path`` and whether its tracked files were modified."""

    def git(*args):
        proc = subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, timeout=10)
        return proc.stdout.strip() if proc.returncode == 0 else None

    try:
        commit = git("rev-parse", "--verify", "-q", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        commit = dirty = None
    if not commit:  # not a git checkout, or one without commits
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(dirty)}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def hardware(
    device: str, threads: int, precision: str | None, kernels: str, gpu: str | None
) -> dict:
    """The machine a run trained on: its CPU, torch's CPU kernel level (``kernels``: AVX2,
    AVX512, ...), its GPU if it used one, and the precision it trained in and why
    (``runtime.Precision.reason``). The training stage asks torch for what torch knows, so this
    module, read by every stage, imports none of the training stack."""
    return {
        "cpu": cpu_model(),
        "cpu_capability": kernels,
        "gpu": gpu if device.startswith("cuda") else None,
        "device": device,
        "threads": threads,
        "precision": precision,
    }


def collect(device: str, threads: int, precision: str | None, kernels: str, gpu=None) -> dict:
    return {
        "git": git_state(Path(__file__).parent),
        "versions": versions(),
        "hardware": hardware(device, threads, precision, kernels, gpu),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }
