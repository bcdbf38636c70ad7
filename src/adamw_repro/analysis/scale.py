"""A ladder's table of studies (``studies.csv``): one row per study, with what the cross-study
claims read from it (``analysis.ladder``).

Per study: its corpus and the axes it lies on (``study.axes``), its shape, its non-embedding
parameter count and the share of all parameters that weight decay acts on, its data, steps,
epochs and tokens per parameter (all tokens seen, and the unique ones); its gates from its
``regime.csv``, the overfitting rise of tuned Adam without decay, and decay's benefit (tuned
Adam − tuned AdamW, final test loss, paired by seed); the LH2 headline (tuned Adam+L2 − tuned
AdamW) where the study has Adam+L2; AdamW's best timescale τ = 1/(lr·wd) at its selected
learning rate, the vertex of a parabola in log τ through the best tuning cell and its
neighbours (``stats.best_timescale``), with a bootstrap interval over the tuning seeds, in
steps, as a fraction of T, in epochs and as Loshchilov & Hutter's normalised decay
λ_norm = λ·√T (λ = lr·wd = 1/τ per step; their λ_norm·√(b/(B·T)) with b/(B·T) = 1/T steps);
and Adam+L2's best weight decay at its selected learning rate, found the same way (and as
λ = lr·wd, comparable between studies whose selected learning rates differ).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..design import decayed_params, non_embedding_params, padded_vocab
from ..schedule import budget, data_and_epochs, timescale
from .stats import best_timescale_interval


def best_decay(runs: pd.DataFrame, optimizer: str, axis, n_boot: int) -> dict:
    """An optimizer's best decay at its selected learning rate on the log10 ``axis`` (a function
    of the learning rate and weight decay columns): the parabola's vertex through every
    positive-decay tuning cell there (both rounds), with its bootstrap interval over the
    tuning seeds; NaN where the study has no such cells."""
    out = {"lr": math.nan, "at": math.nan, "lo": math.nan, "hi": math.nan, "interior": False,
           "edge_share": math.nan, "cells": 0}  # fmt: skip
    mine = runs[runs["optimizer"] == optimizer]
    selected, tuning = mine[mine["evaluation"].astype(bool)], mine[mine["tuning"].astype(bool)]
    if selected.empty or tuning.empty:
        return out
    out["lr"] = lr = float(selected["lr"].iloc[0])
    at_lr = tuning[np.isclose(tuning["lr"], lr) & (tuning["weight_decay"] > 0)]
    if at_lr.empty:
        return out
    log_x = np.round(np.log10(axis(at_lr["lr"], at_lr["weight_decay"])), 6)
    fit = best_timescale_interval(
        at_lr.assign(log_tau=log_x, value=at_lr["final_test_loss"]), n_boot
    )
    return out | {"at": 10 ** fit["log_tau"], "lo": 10 ** fit["ci_lo"], "hi": 10 ** fit["ci_hi"],
                  "interior": fit["interior"], "edge_share": fit["edge_share"],
                  "cells": fit["cells"]}  # fmt: skip


def best_tau(runs: pd.DataFrame, n_boot: int) -> dict:
    """AdamW's best timescale in steps at its selected learning rate (``best_decay``)."""
    b = best_decay(runs, "adamw", timescale, n_boot)
    return {"lr": b["lr"], "tau_steps": b["at"], "tau_lo": b["lo"], "tau_hi": b["hi"],
            "tau_interior": b["interior"], "tau_edge_share": b["edge_share"],
            "tau_cells": b["cells"]}  # fmt: skip


def best_l2(runs: pd.DataFrame, n_boot: int) -> dict:
    """Adam+L2's best weight decay at its selected learning rate (``best_decay``), and as
    λ = lr·wd."""
    b = best_decay(runs, "adam_l2", lambda lr, wd: wd, n_boot)
    # λ = lr·wd, which a best wd read at another learning rate does not move with
    return {"l2_lr": b["lr"], "l2_wd": b["at"], "l2_wd_lo": b["lo"], "l2_wd_hi": b["hi"],
            "l2_lambda": b["lr"] * b["at"], "l2_lambda_lo": b["lr"] * b["lo"],
            "l2_lambda_hi": b["lr"] * b["hi"], "l2_wd_interior": b["interior"]}  # fmt: skip


def _gate(checks: pd.DataFrame, name: str) -> dict:
    """A gate's status and measurement from the study's ``regime.csv`` ("untested" if absent)."""
    if name not in checks.index:
        return {"status": "untested", "value": math.nan, "ci_lo": math.nan, "ci_hi": math.nan}
    return {k: checks.loc[name, k] for k in ("status", "value", "ci_lo", "ci_hi")}


def decayed_share(config: dict, runs: pd.DataFrame, meta: dict) -> float:
    """The share of the model's parameters that weight decay acts on; the embeddings' size
    matters only where they decay (meta.json has the vocabulary, the model pads its rows to
    ``model.vocab_multiple``). A run's ``n_params``, like nanoGPT's count, leaves out the
    position embeddings, so they are added back: the share is of every parameter."""
    model, decays = config["model"], config["train"]["decay_embeddings"]
    vocab = padded_vocab(meta["vocab_size"], model["vocab_multiple"]) if decays else 0
    total = int(runs["n_params"].iloc[0]) + model["block_size"] * model["n_embd"]
    return decayed_params(model, vocab, decays) / total


def study_row(name: str, config: dict, runs, ledger, regime, meta) -> dict:
    """One study of the ladder in one row."""
    train, model = config["train"], config["model"]
    steps = budget(train, model["block_size"])
    data_tokens, epochs = data_and_epochs(train, model["block_size"], meta)
    n_ne = non_embedding_params(model)
    checks = regime.set_index("check")
    acts, helps = _gate(checks, "decay acts"), _gate(checks, "decay helps")
    lh2 = ledger.set_index("id").loc["LH2"] if "LH2" in set(ledger["id"]) else None
    measured = lh2 is not None and lh2["verdict"] != "untested"
    n_boot = config["study"]["bootstrap_samples"]
    tau, overfit = best_tau(runs, n_boot), _gate(checks, "overfitting")
    l2_helps = _gate(checks, "decay helps Adam+L2")
    return {
        "study": name,
        "corpus": config["corpus"]["source"],
        "axes": " ".join(config["study"]["axes"]) or "none",
        "shape": f"{model['n_layer']}x{model['n_embd']}",
        "n_params": int(runs["n_params"].iloc[0]),
        "n_params_ne": n_ne,
        "data_tokens": int(data_tokens),
        "steps": steps.total_steps,
        "epochs": epochs,
        "tokens_per_param": steps.tokens / n_ne,
        "unique_tokens_per_param": data_tokens / n_ne,
        "acts": acts["status"],
        "acts_effect": acts["value"],
        "acts_lo": acts["ci_lo"],
        "acts_hi": acts["ci_hi"],
        "helps": helps["status"],
        "benefit": helps["value"],
        "benefit_lo": helps["ci_lo"],
        "benefit_hi": helps["ci_hi"],
        "l2_helps": l2_helps["status"],  # coupled decay's own gate (tuned Adam − Adam+L2)
        "l2_benefit": l2_helps["value"],
        "l2_benefit_lo": l2_helps["ci_lo"],
        "l2_benefit_hi": l2_helps["ci_hi"],
        "seeds": len(config["seeds"]),
        "headline": lh2["effect"] if measured else math.nan,
        "headline_lo": lh2["ci_lo"] if measured else math.nan,
        "headline_hi": lh2["ci_hi"] if measured else math.nan,
        "overfitting": overfit["status"],
        "overfit_rise": overfit["value"],
        "overfit_lo": overfit["ci_lo"],
        "overfit_hi": overfit["ci_hi"],
        "decayed_share": decayed_share(config, runs, meta),
        **tau,
        "tau_over_T": tau["tau_steps"] / steps.total_steps,
        "tau_epochs": tau["tau_steps"] / (steps.total_steps / epochs),
        # λ_norm = √T/τ: a longer τ is a weaker decay, so τ's upper end is λ_norm's lower one
        "lambda_norm": math.sqrt(steps.total_steps) / tau["tau_steps"],
        "lambda_norm_lo": math.sqrt(steps.total_steps) / tau["tau_hi"],
        "lambda_norm_hi": math.sqrt(steps.total_steps) / tau["tau_lo"],
        **best_l2(runs, n_boot),
    }


def studies_table(configs: dict, runs: list, ledgers: list, regimes: list, metas: list):
    """One row per study of a ladder, in the order the config lists them."""
    rows = [
        study_row(n, configs[n], r, lg, rg, m)
        for n, r, lg, rg, m in zip(configs, runs, ledgers, regimes, metas, strict=True)
    ]
    return pd.DataFrame(rows)
