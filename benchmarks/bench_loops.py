"""Benchmark groups that time training loops side by side in one process: throughput (peak,
variants, vocabulary, the transformers Trainer), the CPU levers, a minimal PyTorch GPT,
``torch.compile``, loss parity of the fast path, and how two cores are best scheduled."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_common import (
    REPO,
    matmul_peak,
    our_loop,
    peak_rss_mb,
    profile_config,
    profile_settings,
    record,
    synthetic_tokens,
)

from adamw_repro.config import load_config
from adamw_repro.data.shards import TokenData
from adamw_repro.design import run_hparams
from adamw_repro.training.model import ModelConfig, build_model
from adamw_repro.training.optim import build_optimizer


def trainer_loop(
    cfg: ModelConfig,
    data: TokenData,
    batch: int,
    steps: int,
    warmup: int,
    *,
    precision="bf16",
    threads=1,
) -> dict:
    """The same model, optimizer, batch and data through a plain ``transformers.Trainer``."""
    from transformers import Trainer, TrainerCallback, TrainingArguments

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(cfg)
    opt = build_optimizer("adamw", model, run_hparams("adamw", 1e-3, 0.1), fused=True)

    class Windows(torch.utils.data.Dataset):
        def __len__(self):
            return (warmup + steps) * batch

        def __getitem__(self, i):
            start = data.random_starts(0, i // batch, batch)[i % batch]
            x, _ = data.batch(np.array([start]))
            return {"input_ids": x[0], "labels": x[0]}  # Trainer's loss shifts labels itself

    stamps = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=batch,
            max_steps=warmup + steps,
            max_grad_norm=1.0,
            bf16=precision == "bf16",
            use_cpu=True,
            report_to=[],
            save_strategy="no",
            logging_strategy="no",
            dataloader_num_workers=0,
            disable_tqdm=True,
        )
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
        Trainer(
            model=model,
            args=args,
            train_dataset=Windows(),
            optimizers=(opt, sched),
            callbacks=[Clock()],
        ).train()
    step_time = statistics.median(np.diff(stamps[warmup - 1 :]))
    return {"step_s": step_time, "tokens_per_s": batch * cfg.block_size / step_time}


def run_throughput(args, tmp: Path) -> None:
    threads = args.threads
    n = 512 if args.quick else 2048
    peaks = {}
    for dtype, label in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        peaks[label] = matmul_peak(dtype, threads, n, 3 if args.quick else 10)
        record("peak", f"matmul {n}x{n} {label}, {threads} thr", "GFLOP/s", peaks[label] / 1e9)
    steps, warmup = (3, 1) if args.quick else (20, 5)
    profiles = ["smoke"] if args.quick else ["smoke", "config", "paper"]
    for name in [p for p in profiles if (REPO / "config" / f"{p}.yaml").exists()]:
        cfg, batch = profile_config(name)
        if name == "paper":  # 124M parameters on a CPU: one sequence per step keeps it in minutes
            batch, steps, warmup = 1, 20, 2
        data = TokenData(synthetic_tokens(tmp / f"{name}.bin", cfg.vocab_size), cfg.block_size)
        label = "default" if name == "config" else name
        settings = profile_settings(name)
        tag = f"{label} ours ({settings['precision']}, {settings['attention']})"
        r = our_loop(cfg, data, batch, steps, warmup, threads=threads, **settings)
        record("throughput", tag, "tokens/s", r["tokens_per_s"])
        record("throughput", tag, "step ms", 1e3 * r["step_s"])
        record("throughput", tag, "GFLOP/s", r["flops"] / 1e9)
        record("throughput", tag, "% of fp32 peak", 100 * r["flops"] / peaks["fp32"])
        record("throughput", tag, "% of bf16 peak", 100 * r["flops"] / peaks["bf16"])
        record("throughput", f"{label}", "peak RSS MB (process)", peak_rss_mb())
    cfg, batch = profile_config("smoke" if args.quick else "config")
    data = TokenData(synthetic_tokens(tmp / "variants.bin", cfg.vocab_size), cfg.block_size)
    label = "smoke" if args.quick else "default"
    base = our_loop(cfg, data, batch, steps, warmup, precision="fp32", fused=False, threads=threads)
    record("variants", f"{label} fp32 foreach eager sdpa", "tokens/s", base["tokens_per_s"])
    variants = {
        "bf16 foreach": dict(precision="bf16", fused=False),
        "fp32 fused": dict(precision="fp32", fused=True),
        "bf16 fused": dict(precision="bf16", fused=True),
        "bf16 fused, eager attention": dict(precision="bf16", fused=True, attention="eager"),
        "fp32 fused, eager attention": dict(precision="fp32", fused=True, attention="eager"),
        "bf16 fused, 2 threads": dict(precision="bf16", fused=True, threads=2),
        "fp32 foreach, 2 threads": dict(precision="fp32", fused=False, threads=2),
    }
    if not args.quick:
        variants["bf16 fused, torch.compile"] = dict(precision="bf16", fused=True, compile=True)
    for v, kw in variants.items():
        kw.setdefault("threads", threads)
        r = our_loop(cfg, data, batch, steps, warmup, **kw)
        record("variants", f"{label} {v}", "tokens/s", r["tokens_per_s"])
        record(
            "variants",
            f"{label} {v}",
            "speed-up vs fp32 foreach",
            r["tokens_per_s"] / base["tokens_per_s"],
        )
    # The output layer and its softmax grow with the vocabulary: the configured one against twice
    # its size, in the configured settings.
    settings = profile_settings("smoke" if args.quick else "config")
    big = ModelConfig.from_dict({**cfg.to_dict(), "vocab_size": 2 * cfg.vocab_size})
    big_data = TokenData(synthetic_tokens(tmp / "big.bin", big.vocab_size), cfg.block_size)
    for c, d in ((cfg, data), (big, big_data)):
        r = our_loop(c, d, batch, steps, warmup, threads=threads, **settings)
        record("vocabulary", f"{label} at vocabulary {c.vocab_size}", "tokens/s", r["tokens_per_s"])
    # Side by side with transformers.Trainer: same model, optimizer object, batch and data.
    # (1) the same precision and attention, so only the loops differ; (2) our loop as the
    # profile configures it against a plain Trainer (its default fp32).
    plain = None
    for precision in ("fp32", "bf16"):
        ours = our_loop(cfg, data, batch, steps, warmup, precision=precision, threads=threads)
        hf = trainer_loop(cfg, data, batch, steps, warmup, precision=precision, threads=threads)
        plain = plain or hf["tokens_per_s"]
        tag = f"{label} {precision} sdpa"
        record("trainer", f"{tag}: ours", "tokens/s", ours["tokens_per_s"])
        record("trainer", f"{tag}: Trainer", "tokens/s", hf["tokens_per_s"])
        record("trainer", tag, "ours / Trainer", ours["tokens_per_s"] / hf["tokens_per_s"])
    ours = our_loop(cfg, data, batch, steps, warmup, threads=threads, **settings)
    record("trainer", f"{label} ours as configured", "tokens/s", ours["tokens_per_s"])
    record(
        "trainer", f"{label} configured / plain fp32 Trainer", "ratio", ours["tokens_per_s"] / plain
    )


def run_parity(args, tmp: Path) -> None:
    """Loss parity on the real default data: one AdamW run of the default budget, the configured
    fast path (bf16 autocast, eager attention, one-kernel GELU) against fp32 + sdpa and against
    transformers' own eight-op GELU, same seed."""
    import contextlib
    import io

    import adamw_repro.training.train as train
    from adamw_repro.data import corpus, tokens
    from adamw_repro.design import Run, train_spec
    from adamw_repro.training import model

    cfg = load_config(REPO / "config" / "config.yaml")
    parts = corpus.split_text(
        corpus.load_text(cfg["corpus"]),
        cfg["corpus"]["heldout_fraction"],
        cfg["corpus"]["heldout_chunks"],
    )
    tok = tokens.train_bpe(parts["train"], cfg["tokenizer"]["vocab_size"])
    paths = {}
    for split, text in parts.items():
        paths[split] = str(tmp / f"{split}.bin")
        Path(paths[split]).write_bytes(tokens.encode(tok, text).tobytes())
    (tmp / "meta.json").write_text(json.dumps({"vocab_size": tok.get_vocab_size()}))
    fast = (profile_settings("config")["precision"], cfg["train"]["attention"], "gelu_pytorch_tanh")
    losses = {}
    for precision, attention, activation in (fast, ("fp32", "sdpa", "gelu_pytorch_tanh"),
                                             (*fast[:2], "gelu_new")):  # fmt: skip
        cfg["train"].update(precision=precision, attention=attention)
        spec = train_spec(cfg, Run("adamw", 2e-3, 1.7, 0))
        build = model.build_model
        train.build_model = lambda c, attention, b=build, a=activation: b(c, attention, a)
        with contextlib.redirect_stdout(io.StringIO()):
            s = train.train_run(spec, paths, str(tmp / "meta.json"),
                                str(tmp / f"out-{precision}-{attention}-{activation}"),
                                str(tmp / "ckpt.pt"))  # fmt: skip
        train.build_model = build
        losses[precision, attention, activation] = s["final_test_loss"]
        tag = f"default adamw, {precision} {attention} {activation}"
        record("parity", tag, "final test loss", s["final_test_loss"])
    ref = losses[fast]
    for key, loss in losses.items():
        if key != fast:
            record("parity", f"configured − ({' '.join(key)})", "nats", ref - loss)


LEVER = """
import json, resource, sys, time
sys.path.insert(0, {bench!r})
import bench_common as bench
if {alloc}:
    from adamw_repro.training.runtime import keep_freed_memory
    keep_freed_memory()
cfg, batch = bench.profile_config({profile!r})
data = bench.TokenData(bench.synthetic_tokens(bench.Path({tmp!r}) / "lever.bin", cfg.vocab_size),
                       cfg.block_size)
t0 = resource.getrusage(resource.RUSAGE_SELF)
r = bench.our_loop(cfg, data, batch, {steps}, {warmup}, precision={precision!r}, fused=True,
                   attention="eager", activation={activation!r})
t1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"tokens_per_s": r["tokens_per_s"], "minflt": t1.ru_minflt - t0.ru_minflt,
                  "sys": t1.ru_stime - t0.ru_stime, "cpu": t1.ru_utime + t1.ru_stime
                  - t0.ru_utime - t0.ru_stime}}))
"""


def run_levers(args, tmp: Path) -> None:
    """The two CPU levers the study trains with, on and off, each in a fresh process (allocator
    settings are process-wide): one-kernel GELU against transformers' gelu_new, and glibc's
    allocator keeping freed activation buffers (runtime.keep_freed_memory) against its defaults.
    Reports tokens/s, minor page faults per step and the share of system time."""
    profile = "smoke" if args.quick else "config"
    steps, warmup = (3, 1) if args.quick else (40, 5)
    # --quick checks each setting once, in two fresh processes instead of four (each spends ~7 s
    # importing): the baseline, then both levers on
    levers = [(a, k) for a in ("gelu_new", "gelu_pytorch_tanh") for k in (False, True)]
    if args.quick:
        levers = [levers[0], levers[-1]]
    for precision in ("fp32",) if args.quick else ("bf16", "fp32"):
        base = None
        for activation, alloc in levers:
            code = LEVER.format(bench=str(REPO / "benchmarks"), alloc=alloc, profile=profile,
                                tmp=str(tmp), steps=steps, warmup=warmup, precision=precision,
                                activation=activation)  # fmt: skip
            out = subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO,
                                 capture_output=True, text=True).stdout  # fmt: skip
            r = json.loads(out.strip().splitlines()[-1])
            tag = f"{precision} {activation}, {'kept' if alloc else 'default'} allocator"
            base = base or r["tokens_per_s"]
            record("levers", tag, "tokens/s", r["tokens_per_s"])
            record("levers", tag, "speed-up vs gelu_new default", r["tokens_per_s"] / base)
            record("levers", tag, "minor faults per step", r["minflt"] / (steps + warmup))
            record("levers", tag, "% system time", 100 * r["sys"] / max(r["cpu"], 1e-9))


def _loop_in_process(args):
    cfg, path, batch, steps, warmup = args
    data = TokenData(path, cfg.block_size)
    return our_loop(cfg, data, batch, steps, warmup, threads=1)["tokens_per_s"]


class MinimalGPT(torch.nn.Module):
    """A plain PyTorch GPT of the project's shape, for comparison: Linear layers, PyTorch's
    tanh GELU, fused scaled-dot-product attention, pre-LayerNorm blocks, tied embeddings."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        nn, c = torch.nn, cfg.n_embd
        self.n_head = cfg.n_head
        self.wte = nn.Embedding(cfg.padded_vocab_size, c)
        self.wpe = nn.Embedding(cfg.block_size, c)
        self.blocks = nn.ModuleList(
            nn.ModuleDict(
                {
                    "ln1": nn.LayerNorm(c),
                    "qkv": nn.Linear(c, 3 * c),
                    "proj": nn.Linear(c, c),
                    "ln2": nn.LayerNorm(c),
                    "fc": nn.Linear(c, 4 * c),
                    "out": nn.Linear(4 * c, c),
                }
            )
            for _ in range(cfg.n_layer)
        )
        self.ln_f = nn.LayerNorm(c)
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx):
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.blocks:
            q, k, v = b["qkv"](b["ln1"](x)).view(B, T, 3, self.n_head, -1).transpose(1, 3).unbind(2)
            y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + b["proj"](y.transpose(1, 2).reshape(B, T, -1))
            x = x + b["out"](torch.nn.functional.gelu(b["fc"](b["ln2"](x)), approximate="tanh"))
        return self.ln_f(x) @ self.wte.weight.T


def minimal_loop(cfg, data, batch, steps, warmup, precision, threads) -> float:
    """Tokens/s of MinimalGPT with the same optimizer, batching, loss and clipping."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = MinimalGPT(cfg)
    opt = build_optimizer("adamw", model, run_hparams("adamw", 1e-3, 0.1), fused=True)
    times = []
    for step in range(warmup + steps):
        t = time.perf_counter()
        x, y = data.batch(data.random_starts(0, step, batch))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(x)[..., : cfg.vocab_size]
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t)
    return batch * cfg.block_size / statistics.median(times[warmup:])


def run_minimal(args, tmp: Path) -> None:
    """The project's loop and model (as configured) against MinimalGPT, side by side, in both
    precisions; the rows of the precision train.precision: auto picks on this CPU say so."""
    name = "smoke" if args.quick else "config"
    cfg, batch = profile_config(name)
    data = TokenData(synthetic_tokens(tmp / "minimal.bin", cfg.vocab_size), cfg.block_size)
    steps, warmup = (3, 1) if args.quick else (40, 5)
    settings = profile_settings(name)
    attention, auto = settings["attention"], settings["precision"]
    for precision in ("fp32", "bf16"):
        for threads in (1, 2):
            ours = our_loop(cfg, data, batch, steps, warmup, precision=precision,
                            attention=attention, threads=threads)["tokens_per_s"]  # fmt: skip
            mini = minimal_loop(cfg, data, batch, steps, warmup, precision, threads)
            tag = f"{precision}{' (auto)' if precision == auto else ''}, {threads} thread(s)"
            record("minimal", f"{tag}: ours", "tokens/s", ours)
            record("minimal", f"{tag}: minimal GPT", "tokens/s", mini)
            record("minimal", tag, "ours / minimal", ours / mini)


def run_compile(args, tmp: Path) -> None:
    """torch.compile on the CPU: steady-state tokens/s and the first step's compile time, for
    two model instances in one process (a job trains several runs; the second reuses the first's
    compiled code)."""
    name = "smoke" if args.quick else "config"
    cfg, batch = profile_config(name)
    data = TokenData(synthetic_tokens(tmp / "compile.bin", cfg.vocab_size), cfg.block_size)
    steps, warmup = (3, 1) if args.quick else (60, 10)
    settings = profile_settings(name)
    for precision in ("bf16", "fp32"):
        settings["precision"] = precision
        plain = our_loop(cfg, data, batch, steps, warmup, **settings)
        record("compile", f"{precision} eager", "tokens/s", plain["tokens_per_s"])
        for k in (1, 2):
            t = time.perf_counter()
            c = our_loop(cfg, data, batch, steps, warmup, compile=True, **settings)
            tag = f"{precision} compiled, model instance {k}"
            record("compile", tag, "tokens/s", c["tokens_per_s"])
            record("compile", tag, "speed-up", c["tokens_per_s"] / plain["tokens_per_s"])
            record("compile", tag, "loop seconds incl. compile", time.perf_counter() - t)


def run_scheduling(args, tmp: Path) -> None:
    """Two cores: one training job with 2 threads, or two 1-thread jobs side by side?"""
    from concurrent.futures import ProcessPoolExecutor

    cfg, batch = profile_config("smoke" if args.quick else "config")
    path = synthetic_tokens(tmp / "sched.bin", cfg.vocab_size)
    steps, warmup = (3, 1) if args.quick else (30, 5)
    one = our_loop(cfg, TokenData(path, cfg.block_size), batch, steps, warmup, threads=2)
    record("scheduling", "1 job x 2 threads", "total tokens/s", one["tokens_per_s"])
    with ProcessPoolExecutor(2) as pool:
        both = list(pool.map(_loop_in_process, [(cfg, path, batch, steps, warmup)] * 2))
    record("scheduling", "2 jobs x 1 thread, concurrent", "total tokens/s", sum(both))
    record("scheduling", "2 jobs x 1 thread / 1 job x 2", "ratio", sum(both) / one["tokens_per_s"])
