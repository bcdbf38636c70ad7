"""A ladder's table of studies (``studies.csv``): one row per study, with what the cross-study
claims read from it (``analysis.ladder``).

Per study: its corpus and the axes it lies on (``study.axes``), its shape and non-embedding
parameter count, its data, steps, epochs and tokens per parameter (all tokens seen, and the
unique ones); its two gates from its ``regime.csv``, the decay-helps measurement being decay's
benefit (tuned Adam − tuned AdamW, final test loss, paired by seed); the LH2 headline (tuned
Adam+L2 − tuned AdamW) where the study has Adam+L2; and AdamW's best timescale
τ = 1/(lr·wd) at its selected learning rate, the vertex of a parabola in log τ through the best
tuning cell and its neighbours (``stats.best_timescale``), with a bootstrap interval over the
tuning seeds, in steps, as a fraction of T and in epochs.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..design import non_embedding_params
from ..schedule import budget, data_and_epochs, timescale
from .stats import best_timescale_interval


def best_tau(runs: pd.DataFrame, n_boot: int) -> dict:
    """AdamW's best timescale in steps at its selected learning rate (every tuning cell there,
    both rounds), with its bootstrap interval over the tuning seeds."""
    nan = {"lr": math.nan, "tau_steps": math.nan, "tau_lo": math.nan, "tau_hi": math.nan,
           "tau_interior": False, "tau_edge_share": math.nan, "tau_cells": 0}  # fmt: skip
    adamw = runs[runs["optimizer"] == "adamw"]
    selected, tuning = adamw[adamw["evaluation"].astype(bool)], adamw[adamw["tuning"].astype(bool)]
    if selected.empty or tuning.empty:
        return nan
    lr = float(selected["lr"].iloc[0])
    at_lr = tuning[np.isclose(tuning["lr"], lr) & (tuning["weight_decay"] > 0)]
    if at_lr.empty:
        return nan | {"lr": lr}
    fit = best_timescale_interval(
        at_lr.assign(
            log_tau=np.round(np.log10(timescale(at_lr["lr"], at_lr["weight_decay"])), 6),
            value=at_lr["final_test_loss"],
        ),
        n_boot,
    )
    return {
        "lr": lr,
        "tau_steps": 10 ** fit["log_tau"],
        "tau_lo": 10 ** fit["ci_lo"],
        "tau_hi": 10 ** fit["ci_hi"],
        "tau_interior": fit["interior"],
        "tau_edge_share": fit["edge_share"],
        "tau_cells": fit["cells"],
    }


def _gate(checks: pd.DataFrame, name: str) -> dict:
    """A gate's status and measurement from the study's ``regime.csv`` ("untested" if absent)."""
    if name not in checks.index:
        return {"status": "untested", "value": math.nan, "ci_lo": math.nan, "ci_hi": math.nan}
    return {k: checks.loc[name, k] for k in ("status", "value", "ci_lo", "ci_hi")}


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
    tau = best_tau(runs, config["study"]["bootstrap_samples"])
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
        "seeds": len(config["seeds"]),
        "headline": lh2["effect"] if measured else math.nan,
        "headline_lo": lh2["ci_lo"] if measured else math.nan,
        "headline_hi": lh2["ci_hi"] if measured else math.nan,
        "overfitting": checks.loc["overfitting", "status"] if "overfitting" in checks.index else "",
        **tau,
        "tau_over_T": tau["tau_steps"] / steps.total_steps,
        "tau_epochs": tau["tau_steps"] / (steps.total_steps / epochs),
    }


def studies_table(configs: dict, runs: list, ledgers: list, regimes: list, metas: list):
    """One row per study of a ladder, in the order the config lists them."""
    rows = [
        study_row(n, configs[n], r, lg, rg, m)
        for n, r, lg, rg, m in zip(configs, runs, ledgers, regimes, metas, strict=True)
    ]
    return pd.DataFrame(rows)
