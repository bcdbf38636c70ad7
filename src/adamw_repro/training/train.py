"""Train GPT-2 replicas: one run per (optimizer, hyperparameters, seed), several per process.

Deterministic on CPU: the seed fixes the initialisation and the data order (batch ``s`` is drawn
from an RNG seeded with (seed, s), the same for every optimizer, so runs of one seed are paired).
The checkpoint is the loop's whole state (``LoopState`` plus weights, optimizer state and RNG),
so a killed run resumes and ends bit-identical to one never interrupted. SIGTERM (SLURM
preemption, ``scancel``) writes a checkpoint before exiting. A non-finite loss ends the run as
diverged; its outputs are still written so the DAG goes on.

What a run evaluates is in its spec: ``evaluate.curve`` lists the splits scored every
``train.eval_interval`` steps, ``evaluate.final`` those scored at the end; a split also in
``evaluate.whole`` is scored at the end on all of it rather than on the ``train.eval_tokens``
windows the curve uses (the reported test numbers then carry no sampling noise). Splits: ``val``
(selection), ``test`` (reported numbers) and ``train`` (fixed windows of the training data the run
saw, for the generalization gap).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import atomic
from ..data.corpus import SPLITS
from ..data.shards import TokenData, redo_tokens, verify_all
from ..schedule import budget, lr_multiplier
from .checkpoint import (
    LoopState,
    is_finished,
    load_checkpoint,
    preemption,
    run_hash,
    save_checkpoint,
)
from .model import ModelConfig, build_model, lm_logits
from .optim import build_optimizer, decayed_parameters
from .runtime import (
    EventLog,
    Precision,
    Progress,
    autocast,
    keep_freed_memory,
    resolve_device,
    resolve_precision,
    to_device,
)
from .summary import summarize


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


def weight_norm(params) -> torch.Tensor:
    """The L2 norm of ``params`` taken together."""
    return torch.linalg.vector_norm(torch.stack([p.detach().norm() for p in params]))


def _finite(x: float) -> float | None:
    """JSON has no NaN/inf: non-finite values are stored as null."""
    return x if math.isfinite(x) else None


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


@dataclass(frozen=True)
class TrainConfig:
    """The ``train`` section of a spec; every default lives in the config schema."""

    batch_size: int
    grad_accum: int
    tokens: int
    data_tokens: int
    data_chunks: int
    warmup_fraction: float
    schedule: str
    min_lr_ratio: float
    grad_clip: float
    eval_interval: int  # 0: no curve, only the final evaluation
    eval_tokens: int
    log_interval: int
    checkpoint_interval: int
    keep_checkpoint: bool
    decay_embeddings: bool
    precision: str
    fused: bool
    compile: bool
    attention: str
    device: str

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


class Setup:
    """Everything a run trains with: its configs, device, step budget, data, model, optimizer."""

    def __init__(self, spec: dict, data_paths: dict[str, str], meta: dict):
        self.spec, self.hp, self.seed = spec, spec["hparams"], spec["seed"]
        self.mcfg = ModelConfig.from_dict({**spec["model"], "vocab_size": meta["vocab_size"]})
        self.tcfg = t = TrainConfig.from_dict(spec["train"])
        self.device = resolve_device(t.device)
        if self.device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True  # TF32 for any fp32 matmul left over
            torch.backends.cudnn.allow_tf32 = True
        # the spec says what was asked for (auto, fp32, bf16); this is what the machine trains in
        self.precision = resolve_precision(t.precision, self.device)
        self.spec_hash = run_hash(spec, meta)
        self.steps = budget(spec["train"], self.mcfg.block_size)
        T = self.mcfg.block_size
        split_tokens = TokenData(data_paths["train"], T).n_tokens
        if t.data_tokens > split_tokens:
            # the run would train on the whole split while the paper counts epochs (and the
            # ladder τ in epochs) from the configured number: refused before any step, not
            # clamped. Checked here, not in the data stage: a new parameter of the tokenize rule
            # would retokenize, and so retrain, every finished study.
            raise SystemExit(
                f"error: train.data_tokens: {t.data_tokens:,} is more than the training split's "
                f"{split_tokens:,} tokens; set it to at most that (or 0 for all of it)"
            )
        self.data = {
            "train": TokenData(data_paths["train"], T, t.data_tokens, t.data_chunks),
            "val": TokenData(data_paths["val"], T),
            "test": TokenData(data_paths["test"], T),
        }
        self.windows = {name: d.fixed_starts(t.eval_tokens) for name, d in self.data.items()}
        self.whole = {
            name: self.data[name].tiling_starts() for name in spec["evaluate"].get("whole", [])
        }
        torch.manual_seed(self.seed)
        self.model = build_model(self.mcfg, attention=t.attention).to(self.device)
        self.optimizer = build_optimizer(
            spec["optimizer"], self.model, self.hp, t.decay_embeddings, t.fused
        )
        # the tensors this run's decay acts on (its curve of decayed_norm; across runs the tables
        # take final_decayed_norm from final_param_norms over the study's set: design.decayed_norm)
        self.decayed = decayed_parameters(self.model, t.decay_embeddings)
        self.fwd_model = torch.compile(self.model) if t.compile else self.model

    def lr(self, step: int) -> float:
        s, t = self.steps, self.tcfg
        return self.hp["lr"] * lr_multiplier(
            step, s.total_steps, s.warmup_steps, t.schedule, t.min_lr_ratio
        )

    def batches(self, step: int) -> list:
        """The micro-batches of one step, drawn from an RNG seeded with (seed, micro-batch)."""
        t, train = self.tcfg, self.data["train"]
        first = step * t.grad_accum
        return [
            train.batch(train.random_starts(self.seed, first + m, t.batch_size))
            for m in range(t.grad_accum)
        ]

    def evaluation(self, step: int, splits, final: bool = False) -> dict:
        """Loss (and accuracy) on the fixed windows of ``splits``; at the ``final`` evaluation
        also on the whole of each split in ``evaluate.whole`` (``<split>_whole_loss``), so that
        the curve's last point is measured on the same windows as the rest of the curve."""
        rec = {"step": step, "tokens": step * self.steps.tokens_per_step}
        t, V = self.tcfg, self.mcfg.vocab_size
        targets = [(name, self.windows[name], name) for name in splits]
        if final:
            targets += [(name, starts, f"{name}_whole") for name, starts in self.whole.items()]
        for name, starts, key in targets:
            r = evaluate(
                self.model, self.data[name], starts, t.batch_size, V, self.device,
                self.precision.name,
            )  # fmt: skip
            key = "train_eval" if key == "train" else key
            rec[f"{key}_loss"] = _finite(r["loss"])
            if name != "train":
                rec[f"{key}_acc"] = r["acc"]
        return rec

    def record(self, state: LoopState, lr: float, loss_sum, grad_norm, seconds: float) -> dict:
        """The metric record of a log interval (one host sync for the summed loss)."""
        per_step = self.steps.tokens_per_step
        rec = {
            "step": state.step,
            "tokens": state.step * per_step,
            "lr": lr,
            "train_loss": _finite((loss_sum / state.steps_in_interval).item()),
            "grad_norm": _finite(grad_norm.item()),
            "weight_norm": _finite(weight_norm(self.model.parameters()).item()),
            "decayed_norm": _finite(weight_norm(self.decayed).item()),
            "tokens_per_s": state.steps_in_interval * per_step / seconds,
        }
        if rec["train_loss"] is None or rec["grad_norm"] is None:
            rec["diverged"] = True
        return rec


def resume(run: Setup, ckpt: Path) -> LoopState:
    """The loop's state from the run's checkpoint, or a fresh one; a resumed run keeps the
    precision it started in."""
    run_id = run.spec["run_id"]
    state = load_checkpoint(ckpt, run.model, run.optimizer, run.spec_hash, run.device)
    if state.step:
        print(f"[{run_id}] resumed from checkpoint at step {state.step}", flush=True)
    if state.precision:
        run.precision = Precision(state.precision, state.precision_reason)
    else:
        state.precision, state.precision_reason = run.precision.name, run.precision.reason
        if run.precision.warning:
            print(f"[{run_id}] {run.precision.warning}", file=sys.stderr, flush=True)
    print(f"[{run_id}] precision: {run.precision.reason}", flush=True)
    return state


def train_run(
    spec: dict,
    data_paths: dict[str, str],
    meta_path: str,
    out_dir: str,
    checkpoint_path: str,
    threads: int = 1,
    tensorboard: str | None = None,
) -> dict:
    """Train the run described by ``spec`` on the token folders ``data_paths`` (split -> path)
    and write ``metrics.jsonl`` and ``summary.json`` into ``out_dir``. Resumes from
    ``checkpoint_path`` if it holds a checkpoint of the same spec. With ``tensorboard``, the
    metric records also go to TensorBoard event files in that folder as they are made."""
    t_start = time.time()
    torch.set_num_threads(threads)
    run = Setup(spec, data_paths, json.loads(Path(meta_path).read_text()))
    model, optimizer, t, T = run.model, run.optimizer, run.tcfg, run.steps.total_steps
    ckpt, run_id = Path(checkpoint_path), spec["run_id"]
    state = resume(run, ckpt)
    preempt, progress = preemption(), Progress(run_id, T, state.step)
    events = EventLog(tensorboard, state.step, state.history)
    loss_sum = torch.tensor(state.loss_sum, device=run.device)  # on the device: no sync per step
    t_interval = time.perf_counter()
    while state.step < T and not state.diverged:
        if t.eval_interval and state.step % t.eval_interval == 0:
            t_eval = time.perf_counter()
            state.history.append(run.evaluation(state.step, spec["evaluate"]["curve"]))
            events.add(state.history[-1])
            t_interval += time.perf_counter() - t_eval  # evaluation time is not training time
        lr = run.lr(state.step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, grad_norm = train_step(
            model, run.fwd_model, optimizer, run.batches(state.step), run.mcfg.vocab_size,
            run.device, run.precision.name, t.grad_clip,
        )  # fmt: skip
        loss_sum += loss
        state.step += 1
        state.steps_in_interval += 1
        rec = None
        if state.step % t.log_interval == 0 or state.step == T:
            rec = run.record(state, lr, loss_sum, grad_norm, time.perf_counter() - t_interval)
            state.history.append(rec)
            events.add(rec)
            loss_sum.zero_()
            t_interval, state.steps_in_interval = time.perf_counter(), 0
        progress.update(state.step, rec)
        due = state.step % t.checkpoint_interval == 0 and state.step < T
        if preempt.requested or (due and not state.diverged):
            state.loss_sum = loss_sum.item()
            elapsed = replace(state, elapsed_s=state.elapsed_s + time.time() - t_start)
            save_checkpoint(ckpt, elapsed, model, optimizer, run.spec_hash)
            if preempt.requested:
                progress.close()
                events.close()
                print(
                    f"[{run_id}] SIGTERM: checkpoint written at step {state.step}; exiting",
                    flush=True,
                )
                sys.exit(143)
    progress.close()
    if not state.diverged:
        state.history.append(run.evaluation(state.step, spec["evaluate"]["final"], final=True))
        events.add(state.history[-1])
    events.close()
    return finish(run, state, out_dir, ckpt, time.time() - t_start)


def finish(run: Setup, state: LoopState, out_dir: str, ckpt: Path, seconds: float) -> dict:
    """Write the run's metrics and summary (summary last: its presence means done), drop the
    checkpoint unless asked to keep it, and say how the run ended."""
    summary = summarize(run.spec, state, run.model, run.mcfg, run.device, torch.get_num_threads())
    summary["wall_time_s"] = state.elapsed_s + seconds
    summary["config_hash"] = run.spec_hash
    out = Path(out_dir)
    atomic.write_jsonl(out / "metrics.jsonl", state.history)
    atomic.write_json(out / "summary.json", summary)
    if not run.tcfg.keep_checkpoint:
        ckpt.unlink(missing_ok=True)
    result = (
        f"DIVERGED ({summary['diverged_reason']})"
        if summary["diverged"]
        else f"final validation loss {summary['final_val_loss']:.4f}"
    )
    print(f"[{summary['run_id']}] done: {result}, {summary['wall_time_s']:.1f}s", flush=True)
    return summary


def train_runs(
    runs: list[tuple[dict, str, str, str | None]],
    data_paths: dict[str, str],
    meta_path: str,
    threads: int = 1,
) -> None:
    """Train ``runs`` (spec, out_dir, checkpoint, TensorBoard folder or None) one after another
    in this process: a job of several runs pays the ~4 s of Python, torch and transformers
    start-up once.

    A finished run's files wait in ``<checkpoint>.finished/`` until the last run is done and
    only then move to their ``out_dir``: Snakemake deletes every output of a failed or killed
    job, and this way a crash still loses only the run in progress, since its last checkpoint.
    """
    meta = atomic.read_json(meta_path, redo_tokens(Path(data_paths["train"])), ["vocab_size"])
    verify_all(data_paths, meta)  # a truncated or altered shard stops the job here, named
    staged = [Path(ckpt).with_suffix(".finished") for _, _, ckpt, _ in runs]
    for k, ((spec, _, ckpt, events), stage) in enumerate(zip(runs, staged, strict=True), 1):
        if len(runs) > 1:
            print(f"[job] run {k}/{len(runs)}: {spec['run_id']}", flush=True)
        if is_finished(stage, spec, meta):
            print(f"[{spec['run_id']}] finished before this job was interrupted; kept", flush=True)
            continue
        train_run(spec, data_paths, meta_path, str(stage), ckpt, threads, events)
        if preemption().requested and k < len(runs):  # arrived during its final evaluation
            print(
                f"[job] SIGTERM: {spec['run_id']} finished and kept; exiting before the next run",
                flush=True,
            )
            sys.exit(143)
    for (_, out_dir, _, _), stage in zip(runs, staged, strict=True):
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        os.replace(stage / "metrics.jsonl", out / "metrics.jsonl")
        os.replace(stage / "summary.json", out / "summary.json")  # last: its presence means done
        stage.rmdir()


def read_spec(path: str) -> dict:
    """A run's spec file, written by run_spec from the config. One that is damaged (not JSON,
    keys missing, another run's) is removed, with one line naming it: Snakemake would not
    rewrite it on its own (its params did not change), and without it the next run of the
    workflow writes it again."""
    redo = "removed: run the workflow again and run_spec writes it from the config"
    try:
        spec = atomic.read_json(path, redo, ["run_id", "optimizer", "train", "model", "hparams"])
        where = Path(path)  # the workflow's layout: results/runs/<run id>/spec.json
        if where.name == "spec.json" and not where.parent.as_posix().endswith(spec["run_id"]):
            raise atomic.DamagedFile(path, f"is the spec of {spec['run_id']}", redo)
    except atomic.DamagedFile:
        Path(path).unlink(missing_ok=True)
        raise
    return spec


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", required=True, action="append", help="a run's spec file (JSON)")
    ap.add_argument("--out-dir", required=True, action="append", help="per --spec, in order")
    ap.add_argument("--checkpoint", required=True, action="append", help="per --spec, in order")
    ap.add_argument(
        "--tensorboard", action="append", help="per --spec, in order: its event-file folder"
    )
    for split in SPLITS:
        ap.add_argument(f"--{split}-tokens", required=True, help=f"folder of {split} shards")
    ap.add_argument("--meta", required=True, help="meta.json of the token files")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if not len(args.spec) == len(args.out_dir) == len(args.checkpoint):
        ap.error("give one --out-dir and one --checkpoint per --spec")
    if args.tensorboard and len(args.tensorboard) != len(args.spec):
        ap.error("give one --tensorboard per --spec, or none")
    keep_freed_memory()
    events = args.tensorboard or [None] * len(args.spec)
    specs = [read_spec(p) for p in args.spec]
    runs = list(zip(specs, args.out_dir, args.checkpoint, events, strict=True))
    paths = {split: getattr(args, f"{split}_tokens") for split in SPLITS}
    train_runs(runs, paths, args.meta, args.threads)


if __name__ == "__main__":
    main()
