"""What a workflow run is about to train, said before it starts: how many runs and tokens, the
precision this machine trains in, and about how long it will take here, so a user on a slow
machine learns in the first minute that the study takes an hour, not after it.

The speed is measured, not guessed: a few training steps of each study's model in the precision
``train.precision`` resolves to here, once per machine (``runtime.cached``). The estimate counts
what is still to run (finished runs are skipped by Snakemake too), evaluation passes at a third
of a training token's cost (a forward pass without backward) and each job's start-up.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections import Counter
from pathlib import Path

from .. import atomic
from ..design import (
    FINALISTS_FILE,
    SELECTION_FILE,
    ablation_runs,
    all_runs,
    finalist_runs,
    finalist_seeds,
    grid,
    grid_cells,
    non_embedding_params,
    padded_vocab,
    round_file,
    run_hparams,
    runs_of,
    search_runs,
    search_seeds,
    selected_runs,
    train_spec,
)
from ..provenance import config_hash
from ..schedule import budget

# Importing torch and transformers in each training process: 4.2-5.4 s (docs/performance.md).
JOB_START_S = 5.0
# An evaluated token against a trained one (forward only against forward, backward and the
# optimizer step): a 16,384-token evaluation pass took 0.19-0.27 s where training on as many
# tokens took about 0.85 s (docs/performance.md, "Start-up, evaluation and runs per job").
FORWARD_SHARE = 1 / 3
# A GPU study's estimate: an H100's dense bf16 peak (data sheet) at the model FLOP utilisation
# nanoGPT-style training of GPT-2 small reaches on it (about 45 %; benchmarks/gpu_check.py
# measures it on the GPU at hand).
GPU_PEAK, GPU_MFU = 989e12, 0.45


def planned_runs(config: dict, study_dir: Path) -> tuple[list, list, list]:
    """A study's runs as far as they are known now (``study_dir``: its ``results/`` folder):
    those known by name (all of them once selection has run); stand-ins for the runs still to
    be chosen (the finalists, at every learning rate of the grid, and the evaluation and
    ablation runs, with the right seeds, so the right cost); and stand-ins for the most the
    search may still add (every extension round's largest set of cells, and each half's
    selection rerun on the evaluation seeds where it differs from the final one)."""
    if (study_dir / SELECTION_FILE).exists():
        selected = atomic.read_json(study_dir / SELECTION_FILE, atomic.redo_stage("the selection"))
        return all_runs(config, selected), [], []
    done, later, maybe = [], [], []
    rounds = config["study"]["extension_rounds"] if grid_cells(config) else 0
    for k in range(1, rounds + 1):
        path = study_dir / round_file(k)
        if path.exists():
            done.append(atomic.read_json(path, atomic.redo_stage("the search rounds"), ["cells"]))
        else:
            maybe += _largest_round(config)
    known = search_runs(config, done)  # the grid and the rounds that ran
    if (study_dir / FINALISTS_FILE).exists():
        found = atomic.read_json(study_dir / FINALISTS_FILE, atomic.redo_stage("the finalists"))
        known += finalist_runs(config, found)
    else:
        later += _finalist_stand_ins(config)
    # Every optimizer's evaluation seeds and every ablation, as if each selection decayed.
    guess = {"selected": {o: {"lr": 1.0, "weight_decay": 1.0} for o in config["optimizers"]},
             "matched": {"adamw": {"lr": 2.0, "weight_decay": 1.0}}}  # fmt: skip
    later += selected_runs(config, guess)
    later += [r for runs in ablation_runs(config, guess).values() for r in runs]
    if len(config["study"]["tuning_seeds"]) > 1 and grid_cells(config):
        other = {o: {"lr": 3.0, "weight_decay": 1.0} for o in config["optimizers"]}
        maybe += 2 * selected_runs(config, {"selected": other})
    return known, later, maybe


def _finalist_stand_ins(config: dict) -> list:
    """Stand-ins for what the finalists step will add: ``study.finalists`` cells of each
    optimizer at every learning rate of its grid on the second half of the tuning seeds, and
    with ``study.map`` two refined decays a row on every tuning seed."""
    k, out = config["study"]["finalists"], []

    def within(c, n):  # at most n cells of each optimizer per learning rate
        return c.decay is None or grid(config, c.optimizer).decays.index(c.decay) < n

    if finalist_seeds(config):
        cells = [c for c in grid_cells(config) if within(c, k)]
        out += runs_of(config, cells, finalist_seeds(config))
    if config["study"]["map"]:  # one cell a row, twice: the row's two refined decays
        rows = [c for c in grid_cells(config) if c.decay is not None and within(c, 1)]
        out += runs_of(config, rows * 2, search_seeds(config) + finalist_seeds(config))
    return out


def _largest_round(config: dict) -> list:
    """Stand-ins for the most cells one extension round can add: per optimizer a new learning
    rate's cells (three decays and the wd = 0 column) and a stronger decay at every learning
    rate of its grid."""
    cells = []
    for o in config["optimizers"]:
        g = grid(config, o)
        n = (4 + len(g.lrs)) if g.unit else 1
        cells += [c for c in grid_cells(config) if c.optimizer == o][:1] * n
    return runs_of(config, cells, search_seeds(config))


def run_cost(config: dict, run) -> tuple[int, int]:
    """Training tokens and evaluated tokens of one run."""
    spec = train_spec(config, run)
    t, T = spec["train"], config["model"]["block_size"]
    steps = budget(t, T)
    n_curve = math.ceil(steps.total_steps / t["eval_interval"]) if t["eval_interval"] else 0
    passes = n_curve * len(spec["evaluate"]["curve"]) + len(spec["evaluate"]["final"])
    return steps.tokens, passes * t["eval_tokens"]


def flops_per_token(config: dict) -> float:
    """Training FLOPs per token without building the model (``training.flops``' nanoGPT
    estimate, 6N + 12·L·H·Q·T with H·Q = the width): N counted as ``model.count_params`` does,
    without the position embedding, the vocabulary padded as the model pads it."""
    m = config["model"]
    vocab = config["tokenizer"]["vocab_size"] if config["tokenizer"]["kind"] == "bpe" else 50257
    n = non_embedding_params(m) + padded_vocab(vocab, m["vocab_multiple"]) * m["n_embd"]
    return 6 * n + 12 * m["n_layer"] * m["n_embd"] * m["block_size"]


def measure_tokens_per_s(config: dict, precision: str, device: str, steps: int = 6) -> float:
    """Training tokens/s of a study's model on this machine: median of a few steps of the real
    training step on random tokens, after one warm-up step."""
    import torch

    from .model import ModelConfig, build_model
    from .optim import build_optimizer
    from .train import train_step

    t = config["train"]
    vocab = config["tokenizer"]["vocab_size"] if config["tokenizer"]["kind"] == "bpe" else 50257
    cfg = ModelConfig.from_dict({**config["model"], "vocab_size": vocab})
    torch.manual_seed(0)
    model = build_model(cfg, attention=t["attention"]).to(device)
    opt = build_optimizer("adamw", model, run_hparams("adamw", 1e-3, 0.1), fused=t["fused"])
    x = torch.randint(0, vocab, (t["batch_size"], cfg.block_size + 1))
    batches = [(x[:, :-1], x[:, 1:])] * t["grad_accum"]
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        train_step(model, model, opt, batches, vocab, device, precision, t["grad_clip"])
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return t["batch_size"] * t["grad_accum"] * cfg.block_size / statistics.median(times[1:])


def announce(studies: dict, results_dir, is_done, cores: int | None, local: bool) -> list[str]:
    """The plan's lines: runs and tokens to train, the precision, and (training on this
    machine) an estimate of the wall time. ``results_dir(study)`` is a study's results folder,
    ``is_done(study, run)`` whether a run's summary exists; ``cores`` the cores Snakemake may
    use, ``local`` whether training jobs run on this machine."""
    lines, runs, tokens, seconds, flops = [], Counter(), Counter(), Counter(), Counter()
    progress = {}  # a ladder's studies: (runs done, runs known or expected, seconds to go)
    for name, config in studies.items():
        known, later, maybe = planned_runs(config, Path(results_dir(name)))
        parts = {"todo": [r for r in known if not is_done(name, r)], "later": later, "maybe": maybe}
        runs["done"] += len(known) - len(parts["todo"])
        busy = local and any(parts.values())
        tps = _tokens_per_s(config, f"study {name}: " if name else "", lines) if busy else None
        per_job = config["resources"]["train"]["runs_per_job"]
        for part, members in parts.items():
            costs = [run_cost(config, r) for r in members]
            runs[part] += len(members)
            tokens[part] += sum(a for a, _ in costs)
            if config["train"]["device"] == "cuda":
                f = flops_per_token(config)
                flops[part] += sum(f * (a + FORWARD_SHARE * b) for a, b in costs)
            if tps:
                work = sum(a + FORWARD_SHARE * b for a, b in costs)
                seconds[part] += work / tps + JOB_START_S * math.ceil(len(members) / per_job)
        before = len(known) - len(parts["todo"])
        progress[name] = (before, len(known) + len(later), seconds["todo"] + seconds["later"])
    lines.insert(0, f"plan: {_runs_line(runs, tokens)}")
    if flops:
        hours = [sum(flops[p] for p in parts) / (GPU_PEAK * GPU_MFU) / 3600
                 for parts in (("todo", "later"), ("todo", "later", "maybe"))]  # fmt: skip
        few, most = (f"{h:,.1f}" if h < 10 else f"{h:,.0f}" for h in hours)
        lines.append(
            f"plan: GPU studies: about {few} GPU-hours of training, up to {most} with every "
            f"extension ({sum(flops.values()) / 1e18:,.1f} EFLOP at "
            f"most, 6N + 12·L·H·Q·T per token, at {GPU_MFU:.0%} of an H100's bf16 peak: an "
            "estimate from FLOPs)"
        )
    if not local:
        lines.append("plan: training runs as cluster jobs: no time estimate from this machine")
    elif seconds:
        parallel = max(1, (cores or 1) // max(c["train"]["threads"] for c in studies.values()))
        expected = (seconds["todo"] + seconds["later"]) / parallel
        eta = f"plan: about {duration(expected)} of training on this machine"
        if runs["maybe"]:
            most = expected + seconds["maybe"] / parallel
            eta += f", up to {duration(most)} at most"
        lines.append(f"{eta} ({parallel} jobs at a time; each job logs its tokens/s)")
        if len(studies) > 1:  # where a ladder stands, study by study (rerun: where it stopped)
            lines += _study_lines(progress, parallel)
    return lines


def _study_lines(progress: dict, parallel: int) -> list[str]:
    """One line per study of a ladder: its runs done of those known or expected, and its share
    of the training time to go."""
    out, elapsed = [], 0.0
    for name, (done, total, cumulative) in progress.items():
        share, elapsed = (cumulative - elapsed) / parallel, cumulative
        left = f"about {duration(share)} of training to go" if share else "trained"
        out.append(f"plan: study {name}: {done} of about {total} runs done; {left}")
    return out


def _runs_line(runs: Counter, tokens: Counter) -> str:
    """The plan's first line: the runs to train now, finished before, and those that follow."""
    now = f"{runs['todo']} training runs to go now ({tokens['todo'] / 1e6:.1f}M tokens)"
    if runs["done"]:
        now += f", {runs['done']} finished before"
    if runs["later"]:
        now += (
            f"; then about {runs['later']} finalist, evaluation and ablation runs "
            f"({tokens['later'] / 1e6:.1f}M)"
        )
    if runs["maybe"]:
        now += (
            f", and up to {runs['maybe']} more where the search meets a grid edge or a half of "
            "the tuning seeds selects otherwise"
        )
    return now


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _tokens_per_s(config: dict, label: str, lines: list[str]) -> float | None:
    """A study's measured training speed here (cached per machine and shape), with a line on the
    precision it trains in; None where its training cannot run on this machine (a GPU study on
    a machine without one)."""
    try:  # Snakemake may run without the training stack (its jobs have their own environments)
        import torch
    except ModuleNotFoundError:
        lines.append(f"plan: {label}torch is not installed where Snakemake runs: no time estimate")
        return None

    from .runtime import cached, machine_key, resolve_device, resolve_precision

    t = config["train"]
    if t["device"] == "cuda" and not torch.cuda.is_available():
        lines.append(f"plan: {label}trains on a GPU this machine lacks: no time estimate")
        return None
    device = resolve_device(t["device"])
    threads = torch.get_num_threads()
    torch.set_num_threads(t["threads"])  # measured as a training job runs
    try:
        precision = resolve_precision(t["precision"], device)
        # what sets a step's speed: the model's shape and vocabulary, the batch, the kernels
        shape = [config["model"], config["tokenizer"]["vocab_size"]]
        shape += [t[k] for k in ("batch_size", "grad_accum", "attention", "fused", "compile")]
        tps = cached(
            machine_key("training tokens/s", device, precision.name, config_hash(shape)),
            lambda: round(measure_tokens_per_s(config, precision.name, device)),
        )
    finally:
        torch.set_num_threads(threads)
    lines.append(f"plan: {label}precision {precision.reason}; {tps:,} training tokens/s per job")
    if precision.warning:
        lines.append(f"plan: {label}{precision.warning}")
    return tps


def main(argv=None) -> None:
    """Print a profile's plan without running it: its runs and tokens, and for GPU studies the
    GPU-hours its FLOPs come to (e.g. ``python -m adamw_repro.training.plan config/paper.yaml``)."""
    import argparse

    from ..config import load_config, study_configs

    ap = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    ap.add_argument("config", help="a profile, e.g. config/paper.yaml")
    ap.add_argument("--results", default="results", help="where its results are, if anywhere")
    args = ap.parse_args(argv)
    studies = study_configs(load_config(args.config))
    root = Path(args.results)

    def folder(name: str) -> Path:
        return root / name if name else root

    def done(name: str, run) -> bool:
        return (folder(name) / "runs" / run.run_id / "summary.json").exists()

    print("\n".join(announce(studies, folder, done, os.cpu_count(), True)))


if __name__ == "__main__":
    main()
