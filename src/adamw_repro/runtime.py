"""Where and how a training process runs: the device, mixed precision, glibc's allocator, and
progress output that suits a terminal or a log file."""

from __future__ import annotations

import contextlib
import ctypes
import sys

import torch


def keep_freed_memory() -> None:
    """Stop glibc from returning activation buffers to the kernel after every step: with its
    default thresholds each step re-maps them (about 100 million page faults in one study). On
    the default model this trains 1.5x faster (benchmarks/NOTES.md); elsewhere it does nothing."""
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
            print(
                f"[{self.run_id}] step {step}/{self.total} ({100 * step / self.total:.0f}%) "
                f"loss {loss:.4f} lr {rec['lr']:.3g} {rec['tokens_per_s']:,.0f} tok/s",
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
