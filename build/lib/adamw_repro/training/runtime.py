"""Where and how a training process runs: the device, the precision this machine trains fastest
in, glibc's allocator, and progress output that suits a terminal or a log file."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import atomic
from ..provenance import cpu_model
from .flops import measured_matmul_flops


def keep_freed_memory() -> None:
    """Stop glibc from returning activation buffers to the kernel after every step: with its
    default thresholds each step re-maps them (about 100 million page faults in one study). On
    the default model this trains 1.5x faster (docs/performance.md); elsewhere it does nothing."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    for option, value in ((-3, 1 << 30), (-1, 1 << 30), (-2, 256 << 20)):
        mallopt(option, value)  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, M_TOP_PAD


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: train.device is 'cuda' but no CUDA device is available")
    return name


def to_device(t: torch.Tensor, device: str) -> torch.Tensor:
    """Host to GPU through pinned memory, so the copy overlaps with compute (nanoGPT)."""
    return t.pin_memory().to(device, non_blocking=True) if device == "cuda" else t


# `train.precision: auto` takes bf16 autocast on a CPU only where a probe measures its matmuls at
# least this much faster than fp32's: a clear gain pays for bf16's small numerical cost (0.002
# nats on the default, docs/performance.md). CPU flags cannot decide it: an AVX-512 CPU without
# bf16 instructions reports the same capability ("AVX512") and oneDNN still accepts bf16 there,
# but emulates it. The kinds measured so far sit far from the threshold (bf16 over fp32 matmul
# speed: AVX2 0.011-0.015, AVX-512 without bf16 instructions 0.18-0.27, with them about 4.4).
BF16_MIN_SPEEDUP = 1.5
# A matmul of the default model's MLP (batch x context rows, width 128, 4 x width): the probe
# times the shapes the study trains with, not a large square matmul that favours bf16 more.
PROBE_SHAPE = (1024, 128, 512)


@dataclass(frozen=True)
class Precision:
    """The precision a run trains in, and why: its provenance (``auto -> fp32: ...``)."""

    name: str  # "fp32" or "bf16" (autocast, fp32 weights and optimizer state)
    reason: str
    warning: str | None = None  # said once at the start of a run that asked for a slow choice


def choose_precision(
    requested: str, device: str, bf16_speedup: float | None = None, cuda_bf16: bool = False
) -> Precision:
    """Resolve ``train.precision`` (auto, fp32 or bf16) on ``device``, given what the machine
    offers: on a GPU whether it supports bf16, on a CPU the measured speed of its bf16 matmuls
    relative to fp32 (``bf16_speedup``, from ``cpu_bf16_speedup``)."""
    if requested == "fp32":
        return Precision("fp32", "fp32, as configured")
    if device.startswith("cuda"):
        native = cuda_bf16
        why = "the GPU supports bf16" if native else "the GPU has no bf16 support"
        slow = f"train.precision is bf16 but {why}"
    else:
        native = bf16_speedup >= BF16_MIN_SPEEDUP
        why = f"bf16 matmul {bf16_speedup:.2g}x the speed of fp32 on this CPU" + (
            "" if native else " (no native bf16)"
        )
        slow = (
            f"train.precision is bf16, but this CPU has no native bf16: its bf16 matmuls run "
            f"{1 / bf16_speedup:.2g}x slower than fp32"
        )
    if requested == "auto":
        chosen = "bf16" if native else "fp32"
        return Precision(chosen, f"auto -> {chosen}: {why}")
    if not native:
        fix = "set train.precision: auto (or fp32) to train in fp32"
        return Precision("bf16", f"bf16, as configured; {why}", f"warning: {slow}; {fix}")
    return Precision("bf16", "bf16, as configured")


def probe_cache() -> Path:
    """Where measured machine facts are kept: ``$ADAMW_REPRO_CACHE``, else the user's cache."""
    root = os.environ.get("ADAMW_REPRO_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "adamw-repro"
    )
    return Path(root) / "machine.json"


def machine_key(*parts) -> str:
    """One machine as its probes see it: CPU model, torch's kernel choice (the environment
    variables that override it included), torch version, threads, and ``parts``."""
    env = [os.environ.get(v, "") for v in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")]
    cap = torch.backends.cpu.get_cpu_capability()
    fields = [cpu_model(), cap, *env, torch.__version__, torch.get_num_threads(), *parts]
    return "|".join(map(str, fields))


def cached(key: str, measure):
    """``measure()`` once per machine and key, kept in ``probe_cache()``; every process of a
    study (and every later study) then reads the same value, so a run's precision and its
    provenance do not depend on one noisy measurement. Without a writable cache, measured anew."""
    path = probe_cache()
    try:
        facts = json.loads(path.read_text())
    except (OSError, ValueError):
        facts = {}
    if key not in facts:
        facts[key] = measure()
        with contextlib.suppress(OSError):
            atomic.write_json(path, facts)
    return facts[key]


def _matmul_seconds(dtype: torch.dtype, budget_s: float = 0.15) -> float:
    m, k, n = PROBE_SHAPE
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    a @ b  # first call: oneDNN's kernel selection
    times, t_end = [], time.perf_counter() + budget_s
    while time.perf_counter() < t_end or len(times) < 2:
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def cpu_bf16_speedup() -> float:
    """bf16 over fp32 matmul speed on this CPU with the current threads (about 0.5 s, once per
    machine: ``cached``)."""
    return cached(
        machine_key("bf16 matmul speed-up", *PROBE_SHAPE),
        lambda: round(_matmul_seconds(torch.float32) / _matmul_seconds(torch.bfloat16), 3),
    )


def cpu_peak_flops(precision: str) -> float:
    """This CPU's sustained matmul FLOP/s in ``precision``, MFU's denominator, measured once per
    machine (``cached``): in emulated bf16 one measurement takes seconds, which every run of a
    smoke profile used to pay again (10 of its 11 minutes on an AVX2 CPU)."""
    return cached(machine_key("matmul FLOP/s", precision), lambda: measured_matmul_flops(precision))


def resolve_precision(requested: str, device: str) -> Precision:
    """``train.precision`` on this machine (``choose_precision`` with what it measures)."""
    if requested == "fp32":  # needs no probe
        return choose_precision(requested, device)
    if device.startswith("cuda"):
        return choose_precision(requested, device, cuda_bf16=torch.cuda.is_bf16_supported())
    return choose_precision(requested, device, bf16_speedup=cpu_bf16_speedup())


def autocast(device: str, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Progress:
    """A tqdm bar on a terminal; in a log file, a plain line about every 5% of the run."""

    def __init__(self, run_id: str, total: int, start: int):
        self.run_id, self.total = run_id, total
        self.every = max(1, total // 20)
        self.next_line = start + self.every
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, desc=run_id, unit="step")

    def update(self, step: int, rec: dict | None) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if rec and rec["train_loss"] is not None:
                self.bar.set_postfix(loss=f"{rec['train_loss']:.3f}")
        elif rec and (step >= self.next_line or step == self.total):
            self.next_line = step + self.every
            loss = rec["train_loss"] if rec["train_loss"] is not None else float("nan")
            left = (self.total - step) * rec["tokens"] / max(step, 1) / rec["tokens_per_s"]
            print(
                f"[{self.run_id}] step {step}/{self.total} ({100 * step / self.total:.0f}%) "
                f"loss {loss:.4f} lr {rec['lr']:.3g} {rec['tokens_per_s']:,.0f} tok/s, "
                f"{left:.0f} s of training left",
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class EventLog:
    """A run's metric records as TensorBoard event files (``train.tensorboard``), written while it
    trains so ``tensorboard --logdir results/`` shows the curves live; without a folder, nothing.
    Opening purges the folder's events from ``start_step`` on (all of them for a fresh start), so
    a resumed or restarted curve never doubles back, and re-adds the checkpoint's own records
    from that step (``history``), which the purge also removed."""

    def __init__(self, logdir: str | None, start_step: int, history: list[dict]):
        self.writer = None
        if logdir:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(logdir, purge_step=start_step, flush_secs=10)
            for rec in history:
                if rec["step"] >= start_step:
                    self.add(rec)

    def add(self, rec: dict) -> None:
        if self.writer is None:
            return
        for key, value in rec.items():
            if key not in ("step", "tokens") and isinstance(value, int | float):
                if not isinstance(value, bool):
                    self.writer.add_scalar(key, value, rec["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
