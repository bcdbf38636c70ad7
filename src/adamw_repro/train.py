"""Stage 3: train one GPT-2 replica under one optimizer, hyperparameter setting and seed.

Deterministic on CPU: the seed fixes the initialisation and the data order (batch ``s`` is drawn
from an RNG seeded with (seed, s), the same for every optimizer, so runs of one seed are paired).
Checkpoints hold everything the loop needs (weights, optimizer state, RNG, metrics so far), so a
killed run resumes and ends bit-identical to one never interrupted. SIGTERM (SLURM preemption,
``scancel``) writes a checkpoint before exiting. A non-finite loss ends the run as diverged; its
outputs are still written so the DAG goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import atomic, provenance
from .model import ModelConfig, build_model, count_params, flops_per_token, lm_logits
from .optim import build_optimizer, lr_multiplier
from .tokens import shard_paths

# Dense bf16 peak FLOP/s by GPU name, from the vendors' data sheets, for MFU.
GPU_PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12}


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 16  # sequences per micro-batch
    grad_accum: int = 1  # micro-batches per optimizer step
    tokens: int = 600_000  # training budget in tokens
    data_tokens: int = (
        0  # train on the first N tokens of the split only (0: all), for multi-epoch regimes
    )
    warmup_fraction: float = 0.05
    schedule: str = "cosine"  # or "constant"
    min_lr_ratio: float = 0.1  # cosine floor, as a fraction of the peak learning rate
    grad_clip: float = 1.0  # 0 disables clipping
    eval_interval: int = 50  # steps between evaluations; 0: only the final one
    eval_tokens: int = 32_768  # size of the fixed validation (and training) evaluation subsets
    log_interval: int = 10  # steps between metric records
    checkpoint_interval: int = 100  # steps between checkpoints
    decay_embeddings: bool = True  # nanoGPT decays the (tied) token embedding too
    precision: str = "fp32"  # or "bf16" (autocast; weights and optimizer state stay fp32)
    fused: bool = True  # torch's fused Adam/AdamW kernels
    compile: bool = False  # torch.compile the model
    attention: str = (
        "sdpa"  # "sdpa" (fused kernel; best on GPU) or "eager" (faster for small CPU models)
    )
    device: str = "auto"  # "auto" (CUDA if present), "cpu" or "cuda"
    keep_checkpoint: bool = False  # keep the last checkpoint after the run finished

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def tokens_per_step(self, block_size: int) -> int:
        return self.batch_size * self.grad_accum * block_size

    def total_steps(self, block_size: int) -> int:
        return max(1, self.tokens // self.tokens_per_step(block_size))


class TokenData:
    """Token shards (a folder of uint16 files, or one file) read through memmaps: batches are
    gathered without loading the corpus. A window start is a global index over every shard's
    valid starts, so no window crosses a shard boundary."""

    def __init__(self, path: str | os.PathLike, block_size: int, limit: int = 0):
        self.shards, left = [], limit or float("inf")
        for p in shard_paths(path):  # ``limit``: the first tokens of the split only
            ids = np.memmap(p, dtype=np.uint16, mode="r")
            self.shards.append(ids[: int(min(len(ids), left))])
            left -= len(self.shards[-1])
            if left <= 0:
                break
        self.block_size = block_size
        # a start s reads shard[s : s + T + 1]: len − T valid starts per shard
        windows = [max(0, len(ids) - block_size) for ids in self.shards]
        self.offsets = np.concatenate([[0], np.cumsum(windows)])
        self.n_windows = int(self.offsets[-1])
        if self.n_windows < 1:
            n = sum(len(ids) for ids in self.shards)
            raise ValueError(f"{path}: {n} tokens cannot fill one context of {block_size}")

    def locate(self, starts):
        """(shard index, offset in that shard) of global window starts."""
        shard = np.searchsorted(self.offsets, starts, side="right") - 1
        return shard, starts - self.offsets[shard]

    def batch(self, starts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        shard, offset = self.locate(np.asarray(starts))
        rows = np.empty((len(offset), self.block_size + 1), dtype=np.int64)
        span = np.arange(self.block_size + 1)
        for k in np.unique(shard):  # one fancy-indexed gather per shard in the batch
            sel = shard == k
            rows[sel] = self.shards[k][offset[sel, None] + span]
        chunk = torch.from_numpy(rows)
        return chunk[:, :-1], chunk[:, 1:]

    def random_starts(self, seed: int, step: int, n: int) -> np.ndarray:
        return np.random.default_rng([seed, step]).integers(0, self.n_windows, size=n)

    def fixed_starts(self, n_tokens: int) -> np.ndarray:
        """Evenly spaced windows covering the split: the same evaluation subset for every run."""
        n = max(1, min(n_tokens // self.block_size, self.n_windows))
        return np.linspace(0, self.n_windows - 1, n).astype(np.int64)


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


@torch.no_grad()
def evaluate(model, data: TokenData, starts, batch_size, vocab_size, device, precision) -> dict:
    """Mean next-token loss (nats) and top-1 accuracy over the fixed windows ``starts``."""
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    for i in range(0, len(starts), batch_size):
        x, y = (t.to(device) for t in data.batch(starts[i : i + batch_size]))
        with autocast(device, precision):
            logits = lm_logits(model, x, vocab_size)
        logits = logits.float()  # one cast for both: argmax over bf16 is 3x slower on CPU
        loss_sum += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
        correct += (logits.argmax(-1) == y).sum().item()
        count += y.numel()
    model.train()
    return {"loss": loss_sum / count, "acc": correct / count}


def weight_norm(model, matrices_only: bool = False) -> torch.Tensor:
    """L2 norm over all parameters, or over the weight matrices only (the tensors that decay)."""
    norms = [p.detach().norm() for p in model.parameters() if p.dim() >= 2 or not matrices_only]
    return torch.linalg.vector_norm(torch.stack(norms))


def _finite(x: float) -> float | None:
    """JSON has no NaN/inf: non-finite values are stored as null."""
    return x if math.isfinite(x) else None


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


def train_step(model, fwd_model, optimizer, batches, vocab_size, device, precision, grad_clip):
    """One optimizer step over the micro-batches ``batches`` (gradients accumulated, then
    clipped). Returns the step's mean loss and pre-clip gradient norm as tensors: no host sync.
    The benchmarks time this same function."""
    loss_sum = torch.zeros((), device=device)
    for x, y in batches:
        x, y = to_device(x, device), to_device(y, device)
        with autocast(device, precision):
            logits = lm_logits(fwd_model, x, vocab_size)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten()) / len(batches)
        loss.backward()
        loss_sum += loss.detach()
    params = list(model.parameters())
    if grad_clip > 0:
        grad_norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
    else:
        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params])
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss_sum, grad_norm


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


def run_hash(spec: dict, meta: dict) -> str:
    """Identifies a run's result: its spec and the token data it trains on."""
    return provenance.config_hash({**spec, "data": meta})


def train_run(
    spec: dict,
    train_path: str,
    val_path: str,
    meta_path: str,
    out_dir: str,
    checkpoint_path: str,
    threads: int = 1,
) -> dict:
    """Train the run described by ``spec`` and write ``metrics.jsonl`` and ``summary.json`` into
    ``out_dir``. Resumes from ``checkpoint_path`` if it holds a checkpoint of the same spec."""
    t_start = time.time()
    torch.set_num_threads(threads)
    meta = json.loads(Path(meta_path).read_text())
    mcfg = ModelConfig.from_dict({**spec["model"], "vocab_size": meta["vocab_size"]})
    tcfg = TrainConfig.from_dict(spec["train"])
    device = resolve_device(tcfg.device)
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # TF32 for any fp32 matmul left over
        torch.backends.cudnn.allow_tf32 = True
    run_id, seed, hp = spec["run_id"], spec["seed"], spec["hparams"]
    spec_hash = run_hash(spec, meta)
    T, V = mcfg.block_size, mcfg.vocab_size
    tokens_per_step = tcfg.tokens_per_step(T)
    train_data = TokenData(train_path, T, tcfg.data_tokens)
    val_data = TokenData(val_path, T)
    eval_sets = {  # fixed subsets: every run of the study is scored on the same windows
        "val": (val_data, val_data.fixed_starts(tcfg.eval_tokens)),
        "train_eval": (train_data, train_data.fixed_starts(tcfg.eval_tokens)),
    }
    total_steps = tcfg.total_steps(T)
    warmup_steps = min(total_steps - 1, round(tcfg.warmup_fraction * total_steps))

    torch.manual_seed(seed)
    model = build_model(mcfg, attention=tcfg.attention).to(device)
    n_params = count_params(model)
    optimizer = build_optimizer(spec["optimizer"], model, hp, tcfg.decay_embeddings, tcfg.fused)
    fwd_model = torch.compile(model) if tcfg.compile else model

    # Loop state; all of it goes into the checkpoint.
    step, history, resumed_from, elapsed_before = 0, [], [], 0.0
    loss_sum, steps_in_interval = torch.zeros((), device=device), 0
    ckpt = Path(checkpoint_path)
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        if state["spec_hash"] == spec_hash:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
            step, history = state["step"], state["history"]
            loss_sum, steps_in_interval = state["loss_sum"].to(device), state["steps_in_interval"]
            elapsed_before = state["elapsed_s"]
            resumed_from = state["resumed_from"] + [step]
            print(f"[{run_id}] resumed from checkpoint at step {step}", flush=True)
        else:
            print(f"[{run_id}] ignoring a checkpoint written for another config", flush=True)

    def save_checkpoint():
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "step": step,
            "history": history,
            "loss_sum": loss_sum,
            "steps_in_interval": steps_in_interval,
            "spec_hash": spec_hash,
            "elapsed_s": elapsed_before + time.time() - t_start,
            "resumed_from": resumed_from,
        }
        with atomic.atomic_path(ckpt) as tmp:
            torch.save(state, tmp)

    def evaluation_record(final=False):
        """Validation loss and accuracy; at the end also the loss on the training subset (the
        training curve itself comes from the logged batch losses, at no extra cost)."""
        rec = {"step": step, "tokens": step * tokens_per_step}
        for name, (data, starts) in eval_sets.items():
            if name == "train_eval" and not final:
                continue
            r = evaluate(model, data, starts, tcfg.batch_size, V, device, tcfg.precision)
            rec[f"{name}_loss"] = _finite(r["loss"])
            if name == "val":
                rec["val_acc"] = r["acc"]
        return rec

    preempted = False

    def on_sigterm(signum, frame):
        nonlocal preempted
        preempted = True

    signal.signal(signal.SIGTERM, on_sigterm)
    progress = Progress(run_id, total_steps, step)
    diverged = any(r.get("diverged") for r in history)
    t_interval = time.perf_counter()
    while step < total_steps and not diverged:
        if tcfg.eval_interval and step % tcfg.eval_interval == 0:
            t_eval = time.perf_counter()
            history.append(evaluation_record())
            t_interval += time.perf_counter() - t_eval  # evaluation time is not training time
        lr = hp["lr"] * lr_multiplier(
            step, total_steps, warmup_steps, tcfg.schedule, tcfg.min_lr_ratio
        )
        for group in optimizer.param_groups:
            group["lr"] = lr
        batches = [
            train_data.batch(
                train_data.random_starts(seed, step * tcfg.grad_accum + m, tcfg.batch_size)
            )
            for m in range(tcfg.grad_accum)
        ]
        loss, grad_norm = train_step(
            model, fwd_model, optimizer, batches, V, device, tcfg.precision, tcfg.grad_clip
        )
        loss_sum += loss
        step += 1
        steps_in_interval += 1
        rec = None
        if step % tcfg.log_interval == 0 or step == total_steps:
            dt = time.perf_counter() - t_interval
            rec = {
                "step": step,
                "tokens": step * tokens_per_step,
                "lr": lr,
                "train_loss": _finite(
                    (loss_sum / steps_in_interval).item()
                ),  # one sync per interval
                "grad_norm": _finite(grad_norm.item()),
                "weight_norm": _finite(weight_norm(model).item()),
                "matrix_norm": _finite(weight_norm(model, matrices_only=True).item()),
                "tokens_per_s": steps_in_interval * tokens_per_step / dt,
            }
            if rec["train_loss"] is None or rec["grad_norm"] is None:
                rec["diverged"] = diverged = True
            history.append(rec)
            loss_sum.zero_()
            t_interval, steps_in_interval = time.perf_counter(), 0
        progress.update(step, rec)
        if preempted:
            save_checkpoint()
            progress.close()
            print(f"[{run_id}] SIGTERM: checkpoint written at step {step}; exiting", flush=True)
            sys.exit(143)
        if step % tcfg.checkpoint_interval == 0 and step < total_steps and not diverged:
            save_checkpoint()
    progress.close()

    if not diverged:
        history.append(evaluation_record(final=True))
    final = next((r for r in reversed(history) if "val_loss" in r), {})  # none if it diverged
    reason = None
    if diverged or final["val_loss"] is None:
        reason = "non-finite loss"
    elif final["val_loss"] > math.log(V):
        reason = "final validation loss above the uniform predictor's ln(V)"
    ok = reason is None
    throughput = [r["tokens_per_s"] for r in history if "tokens_per_s" in r]
    tps = statistics.median(throughput) if throughput else None
    fpt = flops_per_token(mcfg, n_params)
    peak = device_peak_flops(device) or (
        measured_matmul_flops(tcfg.precision) if device == "cpu" else None
    )
    summary = {
        "run_id": run_id,
        "optimizer": spec["optimizer"],
        "lr": hp["lr"],
        "weight_decay": hp.get("weight_decay", 0.0),
        "seed": seed,
        "diverged": not ok,
        "diverged_reason": reason,
        "diverged_step": next((r["step"] for r in history if r.get("diverged")), None),
        "final_val_loss": final["val_loss"] if ok else None,
        "final_val_acc": final["val_acc"] if ok else None,
        "final_train_loss": final["train_eval_loss"] if ok else None,
        "final_perplexity": math.exp(final["val_loss"]) if ok else None,
        "best_val_loss": min(
            (r["val_loss"] for r in history if r.get("val_loss") is not None), default=None
        ),
        "final_matrix_norm": next(
            (r["matrix_norm"] for r in reversed(history) if "matrix_norm" in r), None
        ),
        "final_param_norms": {
            n: p.detach().norm().item() for n, p in model.named_parameters() if p.dim() >= 2
        },
        "final_weight_norm": next(
            (r["weight_norm"] for r in reversed(history) if "weight_norm" in r), None
        ),
        "steps": step,
        "total_steps": total_steps,
        "tokens": step * tokens_per_step,
        "n_params": n_params,
        "flops_per_token": fpt,
        "tokens_per_s": tps,
        "achieved_flops": tps * fpt if tps else None,
        "mfu": tps * fpt / peak if tps and peak else None,
        "peak_flops": peak,
        "wall_time_s": elapsed_before + time.time() - t_start,
        "resumed_from_steps": resumed_from,
        "config": spec,
        "config_hash": spec_hash,
        "provenance": provenance.collect(device, threads),
    }
    out = Path(out_dir)
    atomic.write_jsonl(out / "metrics.jsonl", history)
    atomic.write_json(out / "summary.json", summary)  # written last: its presence means done
    if not tcfg.keep_checkpoint:
        ckpt.unlink(missing_ok=True)
    result = f"final val loss {final['val_loss']:.4f}" if ok else f"DIVERGED ({reason})"
    print(f"[{run_id}] done: {result}, {summary['wall_time_s']:.1f}s", flush=True)
    return summary


def train_runs(
    runs: list[tuple[dict, str, str]],
    train_path: str,
    val_path: str,
    meta_path: str,
    threads: int = 1,
) -> None:
    """Train ``runs`` (spec, out_dir, checkpoint) one after another in this process: a job of
    several runs pays the ~4 s of Python, torch and transformers start-up once.

    A finished run's files wait in ``<checkpoint>.finished/`` until the last run is done and
    only then move to their ``out_dir``: Snakemake deletes every output of a failed or killed
    job, and this way a crash still loses only the run in progress, since its last checkpoint.
    """
    meta = json.loads(Path(meta_path).read_text())
    staged = [Path(ckpt).with_suffix(".finished") for _, _, ckpt in runs]
    for k, ((spec, _, ckpt), stage) in enumerate(zip(runs, staged, strict=True), 1):
        if len(runs) > 1:
            print(f"[job] run {k}/{len(runs)}: {spec['run_id']}", flush=True)
        if is_finished(stage, spec, meta):
            print(f"[{spec['run_id']}] finished before this job was interrupted; kept", flush=True)
            continue
        train_run(spec, train_path, val_path, meta_path, str(stage), ckpt, threads)
    for (_, out_dir, _), stage in zip(runs, staged, strict=True):
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        os.replace(stage / "metrics.jsonl", out / "metrics.jsonl")
        os.replace(stage / "summary.json", out / "summary.json")  # last: its presence means done
        stage.rmdir()


def is_finished(stage: Path, spec: dict, meta: dict) -> bool:
    """Whether ``stage`` holds the complete result of this very spec on this data."""
    try:
        summary = json.loads((stage / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return (stage / "metrics.jsonl").exists() and summary["config_hash"] == run_hash(spec, meta)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", required=True, action="append", help="a run spec, as JSON")
    ap.add_argument("--out-dir", required=True, action="append", help="per --spec, in order")
    ap.add_argument("--checkpoint", required=True, action="append", help="per --spec, in order")
    ap.add_argument("--train-tokens", required=True)
    ap.add_argument("--val-tokens", required=True)
    ap.add_argument("--meta", required=True, help="meta.json of the token files")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if not len(args.spec) == len(args.out_dir) == len(args.checkpoint):
        ap.error("give one --out-dir and one --checkpoint per --spec")
    runs = list(zip(map(json.loads, args.spec), args.out_dir, args.checkpoint, strict=True))
    train_runs(runs, args.train_tokens, args.val_tokens, args.meta, args.threads)


if __name__ == "__main__":
    main()
