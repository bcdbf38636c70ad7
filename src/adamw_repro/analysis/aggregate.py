"""Gather every run into tidy tables.

``runs.csv``: one row per run with its final metrics and the roles it plays in the study.
``curves.csv``: the metric streams in long format (run, step, tokens, metric, value).
``param_norms.csv``: the final norm of every weight matrix of every run (``final_decayed_norm``
in ``runs.csv`` is taken from them over the tensors the study decays). ``timing.csv``:
wall-clock figures, kept apart because they differ between otherwise identical reruns while
everything else is bit-reproducible.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .. import atomic
from ..design import decay_of, decayed_norm, roles
from ..registry import DECAYING, OPTIMIZERS, decay_free_member, optimizer_order
from ..stage import files

KEYS = ["run_id", "optimizer", "lr", "weight_decay", "decay_embeddings", "seed"]
RESULTS = [
    "diverged",
    "diverged_reason",
    "diverged_step",
    "final_val_loss",
    "final_val_acc",
    "final_test_loss",
    "final_test_acc",
    "final_train_loss",
    "final_perplexity",
    "best_test_loss",
    "best_test_step",
    "final_curve_test_loss",
    "final_weight_norm",
    "steps",
    "tokens",
    "n_params",
    "flops_per_token",
    "config_hash",
]
TIMING = [
    "tokens_per_s",
    "achieved_flops",
    "mfu",
    "peak_flops",
    "wall_time_s",
    "resumed_from_steps",
    "precision",
]
CURVE_METRICS = [
    "lr",
    "train_loss",
    "grad_norm",
    "weight_norm",
    "decayed_norm",
    "val_loss",
    "val_acc",
    "test_loss",
    "test_acc",
    "train_eval_loss",
]


def _sorted(df: pd.DataFrame, extra: list[str]) -> pd.DataFrame:
    rank = {o: i for i, o in enumerate(OPTIMIZERS)}
    df = df.assign(_rank=df["optimizer"].map(rank))
    order = ["_rank", "lr", "weight_decay", "decay_embeddings", "seed", *extra]
    return df.sort_values(order, kind="mergesort").drop(columns="_rank")


def provenance_summary(summaries: list[dict]) -> dict:
    """What the runs were made with; a list wherever the runs disagree (e.g. two commits)."""

    def distinct(get):
        values = sorted({json.dumps(get(s), sort_keys=True) for s in summaries})
        return [json.loads(v) for v in values]

    p = [s["provenance"] for s in summaries]
    return {
        "commits": sorted({x["git"]["commit"] or "unknown" for x in p}),
        "dirty": any(x["git"]["dirty"] for x in p),
        "versions": distinct(lambda s: s["provenance"]["versions"]),
        "hardware": distinct(lambda s: s["provenance"]["hardware"]),
        "slurm_jobs": sum(x["slurm_job_id"] is not None for x in p),
        "config_hashes": len({s["config_hash"] for s in summaries}),
    }


def _metrics(path: Path, redo: str, summary: dict) -> list[dict]:
    """A run's metric records; one line naming the file where they cannot be read or stop
    before the run's last step (a file cut at a line boundary)."""
    try:
        records = [json.loads(line) for line in path.read_text().splitlines()]
    except OSError as e:
        raise atomic.DamagedFile(path, f"cannot be read ({e.strerror})", redo) from e
    except ValueError as e:
        raise atomic.DamagedFile(path, f"has a line that is not valid JSON ({e})", redo) from e
    if not records:
        raise atomic.DamagedFile(path, "has no records", redo)
    last = max((r.get("step", -1) for r in records if isinstance(r, dict)), default=-1)
    if not summary["diverged"] and last != summary["steps"]:
        problem = f"ends at step {last}, before the run's last step {summary['steps']}"
        raise atomic.DamagedFile(path, problem, redo)
    return records


def lr_best_for(runs: pd.DataFrame, config: dict, selection: dict) -> list[str]:
    """Per run, the optimizers whose best tuning cell at its learning rate it is (space
    separated; the per-learning-rate figure): a decay-free optimizer's every cell, and each
    decaying optimizer's best decay there (the wd = 0 column's cell where that won)."""
    best = {}
    for o, entries in selection.get("per_lr", {}).items():
        base = decay_free_member(o)
        for e in entries:
            who = o if e["weight_decay"] > 0 else base
            best.setdefault((who, e["lr"], e["weight_decay"]), []).append(o)
    free = {o for o in config["optimizers"] if o not in DECAYING}
    out = []
    for r in runs.itertuples():
        names = best.get((r.optimizer, r.lr, r.weight_decay), []) if r.tuning else []
        names = ([r.optimizer] if r.tuning and r.optimizer in free else []) + names
        out.append(" ".join(optimizer_order(names)))
    return out


def collect(summary_paths: list[str], config: dict, selection: dict):
    """Tables (runs, curves, parameter norms, timing) and the provenance summary of the runs'
    summary files."""
    rows, timing, curves, norms, summaries = [], [], [], [], []
    decays_embeddings = config["train"]["decay_embeddings"]
    for path in summary_paths:
        s = atomic.read_json(path, atomic.redo_run(path), KEYS + RESULTS + TIMING)
        summaries.append(s)
        key = {k: s[k] for k in KEYS}
        # over the tensors the study decays, the same for every run (a run's own curve of
        # decayed_norm leaves the embeddings out where it decays nothing)
        norm = {"final_decayed_norm": decayed_norm(s["final_param_norms"], decays_embeddings)}
        rows.append({**key, **{k: s[k] for k in RESULTS}, **norm})
        t = {**key, **{k: s[k] for k in TIMING}}
        t["resumed_from_steps"] = " ".join(map(str, t["resumed_from_steps"]))
        timing.append(t)
        norms += [{**key, "param": n, "norm": v} for n, v in sorted(s["final_param_norms"].items())]
        for rec in _metrics(Path(path).parent / "metrics.jsonl", atomic.redo_run(path), s):
            for metric in CURVE_METRICS:
                if metric in rec:
                    curves.append(
                        {
                            **key,
                            "step": rec["step"],
                            "tokens": rec["tokens"],
                            "metric": metric,
                            "value": rec[metric],
                        }
                    )
    runs = _sorted(pd.DataFrame(rows), [])
    for role, members in roles(config, selection).items():
        runs[role] = runs["run_id"].isin({r.run_id for r in members})
    runs["lr_best_for"] = lr_best_for(runs, config, selection)
    runs["gen_gap"] = runs["final_test_loss"] - runs["final_train_loss"]
    runs["lr_x_wd"] = runs["lr"] * runs["weight_decay"]  # L&H's λ for adamw/sgdw
    # the run's decay in config units (τ/T for a timescale grid; 0 without decay)
    runs["decay"] = [
        decay_of(config, r.optimizer, r.lr, r.weight_decay) or 0.0 for r in runs.itertuples()
    ]
    curve_df = _sorted(pd.DataFrame(curves), ["metric", "step"])
    norm_df = _sorted(pd.DataFrame(norms), ["param"])
    return runs, curve_df, norm_df, _sorted(pd.DataFrame(timing), []), provenance_summary(summaries)


def run(input, output, params) -> None:
    """The aggregate rule: every run's summary into the study's tables (stage.py)."""
    redo = atomic.redo_stage("the selection")
    selection = atomic.read_json(input["selection"], redo, ("selected", "rounds", "finalists"))
    tables = collect(files(input["summaries"]), json.loads(params["config"]), selection)
    runs, curves, norms, timing, prov = tables
    atomic.write_json(output["provenance"], prov)
    for df, name in ((runs, "runs"), (curves, "curves"), (norms, "norms"), (timing, "timing")):
        atomic.write_text(output[name], df.to_csv(index=False))
    print(f"{len(runs)} runs ({int(runs['diverged'].sum())} diverged), {len(curves)} curve points")
