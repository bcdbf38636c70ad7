"""Floating-point work and peaks, for throughput and model FLOP utilisation (MFU)."""

from __future__ import annotations

import statistics
import time

import torch

from .model import ModelConfig

# Dense bf16 peak FLOP/s by GPU name, from the vendors' data sheets, for MFU.
GPU_PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12}


def flops_per_token(cfg: ModelConfig, n_params: int) -> int:
    """Training FLOPs per token, nanoGPT/PaLM estimate: 6N + 12·L·H·Q·T (Q = head dim)."""
    q = cfg.n_embd // cfg.n_head
    return 6 * n_params + 12 * cfg.n_layer * cfg.n_head * q * cfg.block_size


def device_peak_flops(device: str) -> float | None:
    """Dense bf16 peak of the GPU from its data sheet (for MFU); None on CPU or unknown GPUs."""
    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in GPU_PEAK_BF16.items() if k in name), None)


def measured_matmul_flops(precision: str, n: int = 1024, reps: int = 8) -> float:
    """Sustained FLOP/s of an n×n matmul on this CPU with the current threads: its practical
    peak, the denominator of MFU where no vendor figure exists (about 0.1 s)."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times)
