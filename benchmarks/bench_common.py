"""What every benchmark group shares: the table of figures (``record``), the machine they were
measured on, and the project's own training loop timed per step."""

from __future__ import annotations

import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from adamw_repro.config import load_config  # noqa: E402
from adamw_repro.data.shards import TokenData  # noqa: E402
from adamw_repro.design import run_hparams  # noqa: E402
from adamw_repro.training.flops import flops_per_token, measured_matmul_flops  # noqa: E402
from adamw_repro.training.model import ModelConfig, build_model, count_params  # noqa: E402
from adamw_repro.training.optim import build_optimizer  # noqa: E402
from adamw_repro.training.runtime import resolve_precision  # noqa: E402
from adamw_repro.training.train import train_step  # noqa: E402

TRAIN = "adamw_repro.training.train"  # the training module, imported by a fresh process


ROWS: list[dict] = []


# The CPU kind every figure was measured on (filled in by main): its model, torch's kernel level
# and the probe's bf16 over fp32 matmul speed, which decides what train.precision: auto picks.
MACHINE: dict = {}


def record(group: str, variant: str, metric: str, value: float, unit: str = "") -> None:
    ROWS.append(
        {"group": group, "variant": variant, "metric": metric, "value": value, "unit": unit}
        | MACHINE
    )
    print(f"{group:<14} {variant:<34} {metric:<22} {value:>12,.3f} {unit}", flush=True)


def matmul_peak(dtype: torch.dtype, threads: int, n: int, reps: int) -> float:
    """Sustained FLOP/s of one large square matmul (the machine's practical peak)."""
    torch.set_num_threads(threads)
    return measured_matmul_flops("bf16" if dtype == torch.bfloat16 else "fp32", n, reps)


def synthetic_tokens(path: Path, vocab: int, n: int = 400_000) -> Path:
    np.random.default_rng(0).integers(0, vocab, n, dtype=np.uint16).tofile(path)
    return path


def our_loop(
    cfg: ModelConfig,
    data: TokenData,
    batch: int,
    steps: int,
    warmup: int,
    *,
    precision="bf16",
    fused=True,
    compile=False,
    attention="sdpa",
    activation="gelu_pytorch_tanh",
    threads=1,
) -> dict:
    """The training step of ``adamw_repro.training.train`` (same model, optimizer, batching,
    clipping), timed per step."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(cfg, attention=attention, activation=activation)
    opt = build_optimizer("adamw", model, run_hparams("adamw", 1e-3, 0.1), fused=fused)
    fwd = torch.compile(model) if compile else model
    times = []
    for step in range(warmup + steps):
        t = time.perf_counter()
        batches = [data.batch(data.random_starts(0, step, batch))]
        train_step(model, fwd, opt, batches, cfg.vocab_size, "cpu", precision, grad_clip=1.0)
        times.append(time.perf_counter() - t)
    step_time = statistics.median(times[warmup:])
    n = count_params(model)
    return {
        "step_s": step_time,
        "tokens_per_s": batch * cfg.block_size / step_time,
        "flops": flops_per_token(cfg, n) * batch * cfg.block_size / step_time,
    }


def profile_config(name: str) -> tuple[ModelConfig, int]:
    cfg = load_config(REPO / "config" / f"{name}.yaml")
    vocab = 50257 if name == "paper" else cfg["tokenizer"]["vocab_size"]
    m = ModelConfig.from_dict({**cfg["model"], "vocab_size": vocab})
    return m, cfg["train"]["batch_size"]


def profile_settings(name: str) -> dict:
    """The loop settings a profile trains with on this CPU (the precision its train.precision
    resolves to here, fused optimizer, attention)."""
    t = load_config(REPO / "config" / f"{name}.yaml")["train"]
    precision = resolve_precision(t["precision"], "cpu").name
    return {"precision": precision, "fused": t["fused"], "attention": t["attention"]}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
