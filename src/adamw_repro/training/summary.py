"""A finished run's summary (``summary.json``): its identity, how it ended, its final metrics and
norms, its size, speed and MFU, and where and how it ran."""

from __future__ import annotations

import math
import statistics

import torch

from .. import provenance
from ..schedule import budget
from .checkpoint import LoopState
from .flops import device_peak_flops, flops_per_token
from .model import ModelConfig, count_params
from .runtime import cpu_peak_flops


def last(history: list[dict], key: str):
    """The last value of ``key`` in the run's records."""
    return next((r[key] for r in reversed(history) if r.get(key) is not None), None)


def ending(state: LoopState, vocab_size: int) -> tuple[str | None, dict, float | None]:
    """How the run ended: why it counts as diverged (None if it did not), its final metrics (the
    test numbers on the whole split where it was scored), and the test curve's last point."""
    # Diverged: the training failed, not the model overfitted (a memorizing model's held-out
    # loss may well end above ln V; that is a result, not a failure).
    final = state.history[-1] if not state.diverged else {}
    reason = None
    if state.diverged or final.get("val_loss") is None:
        reason = "non-finite loss"
    elif last(state.history, "train_loss") > math.log(vocab_size):
        reason = "final training loss above the uniform predictor's ln(V)"
    ok = reason is None
    final_metric = {
        key: final.get(key) if ok else None
        for key in ("val_loss", "val_acc", "test_loss", "test_acc", "train_eval_loss")
    }
    curve_end = final_metric["test_loss"]  # the curve's last point, on its windows
    for key in ("test_loss", "test_acc"):  # reported: the whole split where it was scored
        whole = key.replace("test", "test_whole")
        if ok and final.get(whole) is not None:
            final_metric[key] = final[whole]
    return reason, final_metric, curve_end


def summarize(spec: dict, state: LoopState, model, mcfg: ModelConfig, device, threads) -> dict:
    """The run's summary: its identity, final metrics, norms, size, speed and provenance."""
    history = state.history
    reason, final_metric, curve_end = ending(state, mcfg.vocab_size)
    ok = reason is None
    curve = [(r["test_loss"], r["step"]) for r in history if r.get("test_loss") is not None]
    throughput = [r["tokens_per_s"] for r in history if "tokens_per_s" in r]
    tps = statistics.median(throughput) if throughput else None
    n_params = count_params(model)
    fpt = flops_per_token(mcfg, n_params)
    tcfg = spec["train"]
    peak = device_peak_flops(device) or (
        cpu_peak_flops(state.precision) if device == "cpu" else None
    )
    return {
        "run_id": spec["run_id"],
        "optimizer": spec["optimizer"],
        "lr": spec["hparams"]["lr"],
        "weight_decay": spec["hparams"].get("weight_decay", 0.0),
        "decay_embeddings": tcfg["decay_embeddings"],
        "seed": spec["seed"],
        "diverged": not ok,
        "diverged_reason": reason,
        "diverged_step": next((r["step"] for r in history if r.get("diverged")), None),
        "final_val_loss": final_metric["val_loss"],
        "final_val_acc": final_metric["val_acc"],
        "final_test_loss": final_metric["test_loss"],
        "final_test_acc": final_metric["test_acc"],
        "final_train_loss": final_metric["train_eval_loss"],
        "final_perplexity": math.exp(test_loss)
        if (test_loss := final_metric["test_loss"])
        else None,
        # the test curve (its fixed windows): its lowest point and its last, whose difference
        # is how far the run overfitted by its end
        "best_test_loss": min(curve)[0] if ok and curve else None,
        "best_test_step": min(curve)[1] if ok and curve else None,
        "final_curve_test_loss": curve_end,
        "final_weight_norm": last(history, "weight_norm"),
        "final_param_norms": {
            n: p.detach().norm().item() for n, p in model.named_parameters() if p.dim() >= 2
        },
        "steps": state.step,
        "total_steps": budget(tcfg, mcfg.block_size).total_steps,
        "tokens": state.step * budget(tcfg, mcfg.block_size).tokens_per_step,
        "n_params": n_params,
        "flops_per_token": fpt,
        "tokens_per_s": tps,
        "achieved_flops": tps * fpt if tps else None,
        "mfu": tps * fpt / peak if tps and peak else None,
        "peak_flops": peak,
        "resumed_from_steps": state.resumed_from,
        "precision": state.precision,
        "config": spec,
        "provenance": provenance.collect(
            device,
            threads,
            state.precision_reason,
            torch.backends.cpu.get_cpu_capability(),
            torch.cuda.get_device_name() if device.startswith("cuda") else None,
        ),
    }
