"""GPU check for the paper profile (run on a machine with a CUDA GPU; prints figures to keep in
docs/performance.md):

    python benchmarks/gpu_check.py          # ~50 steps eager and compiled, 2 minutes of training
    python benchmarks/gpu_check.py --tiny   # the same code paths with a tiny model (CPU or GPU)

1. GPT-2 small (config/paper.yaml) in bf16: tokens/s, step time, peak memory and MFU (nanoGPT's
   6N + 12·L·H·Q·T FLOPs per token against the GPU's dense bf16 peak), torch.compile on and off.
2. A short training run of the same model on a local shard of random-free text (the KJV,
   GPT-2-style BPE trained here, so nothing is downloaded), printing the loss as it falls.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from adamw_repro.config import load_config  # noqa: E402
from adamw_repro.data import corpus, tokens  # noqa: E402
from adamw_repro.data.shards import TokenData  # noqa: E402
from adamw_repro.design import run_hparams  # noqa: E402
from adamw_repro.training.flops import device_peak_flops, flops_per_token  # noqa: E402
from adamw_repro.training.model import ModelConfig, build_model, count_params  # noqa: E402
from adamw_repro.training.optim import build_optimizer  # noqa: E402
from adamw_repro.training.runtime import resolve_precision  # noqa: E402
from adamw_repro.training.train import train_step  # noqa: E402


def setup(tiny: bool):
    cfg = load_config(REPO / "config" / "paper.yaml")
    model = {**cfg["model"], "vocab_size": 50257}
    batch = cfg["train"]["batch_size"]
    if tiny:
        model.update(n_layer=2, n_head=2, n_embd=64, block_size=128)
        batch = 4
    return ModelConfig.from_dict(model), batch


def step_fn(model, opt, data, mcfg, batch, device, fwd):
    # the precision the paper profile's train.precision (auto) resolves to on this device
    precision = resolve_precision(
        load_config(REPO / "config" / "paper.yaml")["train"]["precision"], device
    )
    print(f"precision: {precision.reason}")

    def step(i):
        batches = [data.batch(data.random_starts(0, i, batch))]
        loss, _ = train_step(model, fwd, opt, batches, mcfg.vocab_size, device, precision.name, 1.0)
        return loss

    return step


def throughput(mcfg, batch, data, device, compile_, steps):
    torch.manual_seed(0)
    model = build_model(mcfg).to(device)
    opt = build_optimizer("adamw", model, run_hparams("adamw", 6e-4, 0.1), fused=True)
    step = step_fn(
        model, opt, data, mcfg, batch, device, torch.compile(model) if compile_ else model
    )
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(steps + 10):
        t = time.perf_counter()
        step(i).item()  # sync
        times.append(time.perf_counter() - t)
    dt = statistics.median(times[10:])
    tps = batch * mcfg.block_size / dt
    fpt = flops_per_token(mcfg, count_params(model))
    peak = device_peak_flops(device)
    mem = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    mfu = tps * fpt / peak if peak else float("nan")
    print(
        f"compile={compile_}: {tps:,.0f} tokens/s, step {1e3 * dt:.1f} ms, peak memory "
        f"{mem:.1f} GiB, MFU {100 * mfu:.1f}% ({tps * fpt / 1e12:.1f} TFLOP/s)",
        flush=True,
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--train-seconds", type=float, default=120)
    ap.add_argument(
        "--no-compile", action="store_true", help="skip torch.compile (quick CPU check)"
    )
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        print(torch.cuda.get_device_name(), torch.__version__, flush=True)
    mcfg, batch = setup(args.tiny)
    text = corpus.load_text({"source": "kjv"})
    tok = tokens.train_bpe(text, 50257 if not args.tiny else 4096)
    shard = Path("/tmp/gpu_check_tokens.bin")
    tokens.encode(tok, text).tofile(shard)
    data = TokenData(shard, mcfg.block_size)
    for compile_ in (False,) if args.no_compile else (False, True):
        throughput(mcfg, batch, data, device, compile_, args.steps)
    torch.manual_seed(0)
    model = build_model(mcfg).to(device)
    opt = build_optimizer("adamw", model, run_hparams("adamw", 6e-4, 0.1), fused=True)
    step = step_fn(
        model, opt, data, mcfg, batch, device, model if args.no_compile else torch.compile(model)
    )
    t0, i, losses = time.time(), 0, []
    while time.time() - t0 < args.train_seconds:
        losses.append(step(i).item())
        if i % 25 == 0:
            print(
                f"step {i:5d}  {time.time() - t0:6.1f}s  loss {np.mean(losses[-25:]):.3f}",
                flush=True,
            )
        i += 1
    print(f"loss {losses[0]:.3f} -> {np.mean(losses[-25:]):.3f} in {i} steps", flush=True)


if __name__ == "__main__":
    main()
