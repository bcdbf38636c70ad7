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
from pathlib import Path

PACKAGES = ("torch", "transformers", "tokenizers", "numpy", "snakemake")


def package_imports(module: str) -> list[Path]:
    """The files of this package that ``module`` (``"ledger"``) runs: itself and every package
    module it imports, transitively, read from the source (imports inside functions too), so a
    rule's code inputs follow the imports and cannot drift from them."""
    package = Path(__file__).parent
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen or not (package / f"{name}.py").exists():
            continue
        seen.add(name)
        for node in ast.walk(ast.parse((package / f"{name}.py").read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level == 1:  # from .x import y, from . import x
                inner = node.module or ""
            elif node.level == 0 and (node.module or "").split(".")[0] == package.name:
                inner = node.module.partition(".")[2]  # from adamw_repro.x import y
            else:
                continue
            todo += [inner.split(".")[0]] if inner else [a.name for a in node.names]
    return sorted(package / f"{name}.py" for name in seen)


def config_hash(cfg) -> str:
    """Short, stable hash of a JSON-serialisable config (key order does not matter)."""
    blob = json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


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


def hardware(device: str, threads: int, precision: str | None = None) -> dict:
    """The machine a run trained on, with torch's CPU kernel level (AVX2, AVX512, ...) and the
    precision it trained in and why (``runtime.Precision.reason``)."""
    import torch

    gpu = torch.cuda.get_device_name() if device.startswith("cuda") else None
    return {
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "gpu": gpu,
        "device": device,
        "threads": threads,
        "precision": precision,
    }


def collect(device: str, threads: int, precision: str | None = None) -> dict:
    return {
        "git": git_state(Path(__file__).parent),
        "versions": versions(),
        "hardware": hardware(device, threads, precision),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }
