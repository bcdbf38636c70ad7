"""Tuning protocol: runs of a study, selection on validation loss, roles."""

import json

import pandas as pd
import pytest

from adamw_repro.config import ConfigError, validate_config
from adamw_repro.selection import select_best, selection_for
from adamw_repro.study import (
    Run,
    ablation_runs,
    all_runs,
    selected_runs,
    tuning_batches,
    tuning_runs,
)

CONFIG = {
    "optimizers": {
        "adam": {"lr": [1e-3, 3e-3, 1e-2, 3e-2]},
        "adamw": {"lr": [1e-3, 1e-2], "weight_decay": [0.1, 1.0]},
    },
    "seeds": [0, 1],
    "study": {"tuning_seed": 7},
}


def test_every_optimizer_gets_the_same_number_of_trials_at_the_tuning_seed():
    cfg = validate_config(CONFIG)
    runs = tuning_runs(cfg)
    assert len(runs) == 8 and {r.seed for r in runs} == {7}
    assert sum(r.optimizer == "adam" for r in runs) == sum(r.optimizer == "adamw" for r in runs)
    assert Run("adamw", 1e-2, 1.0, 7) in runs and all(
        r.weight_decay == 0 for r in runs if r.optimizer == "adam"
    )


def test_tuning_batches_split_each_optimizers_trials_into_jobs():
    cfg = validate_config({**CONFIG, "resources": {"train": {"runs_per_job": 3}}})
    batches = tuning_batches(cfg)
    assert {name: len(runs) for name, runs in batches.items()} == {
        "tune_adam_0": 3,
        "tune_adam_1": 1,
        "tune_adamw_0": 3,
        "tune_adamw_1": 1,
    }
    assert all(r.optimizer == name.split("_")[1] for name, runs in batches.items() for r in runs)
    every = [r for runs in batches.values() for r in runs]
    assert sorted(every) == sorted(tuning_runs(cfg)) and len(set(every)) == len(every)
    assert tuning_batches(validate_config(CONFIG)) == {}  # default: one run per job


def test_unequal_budgets_and_a_shared_seed_are_refused():
    bad = json.loads(json.dumps(CONFIG))
    bad["optimizers"]["adam"]["lr"] = [1e-3, 3e-3]
    with pytest.raises(
        ConfigError, match=r"optimizers.adam: 2 tuning trials but optimizers.adamw has 4"
    ):
        validate_config(bad)
    bad = dict(CONFIG, seeds=[0, 7])
    with pytest.raises(ConfigError, match="study.tuning_seed: 7 is also an evaluation seed"):
        validate_config(bad)


def test_selection_picks_the_true_minimum_and_breaks_ties_deterministically():
    table = pd.DataFrame(
        [
            ("adamw", 1e-3, 0.1, False, 5.30),
            ("adamw", 1e-3, 1.0, False, 5.10),
            ("adamw", 1e-2, 0.1, False, 5.10),  # tie with (1e-3, 1.0): the smaller lr wins
            ("adamw", 1e-2, 1.0, True, None),
            ("adam", 1e-2, 0.0, True, None),
            ("adam", 3e-2, 0.0, False, 5.50),
            ("adam", 1e-3, 0.0, False, 5.20),
            ("adam", 3e-3, 0.0, False, 5.19),
        ],
        columns=["optimizer", "lr", "weight_decay", "diverged", "final_val_loss"],
    )
    sel = select_best(table)
    assert sel["adamw"] == {
        "lr": 1e-3,
        "weight_decay": 1.0,
        "final_val_loss": 5.10,
        "trials": 4,
        "diverged_trials": 1,
    }
    assert (sel["adam"]["lr"], sel["adam"]["diverged_trials"]) == (3e-3, 1)
    assert select_best(table.iloc[::-1]) == sel  # file order does not matter
    dead = table.assign(diverged=True)
    assert select_best(dead) == {"adamw": None, "adam": None}


def test_selected_and_ablation_runs_and_their_union():
    cfg = validate_config(CONFIG)
    sel = {"adam": {"lr": 1e-3, "weight_decay": 0.0}, "adamw": {"lr": 1e-3, "weight_decay": 1.0}}
    assert selected_runs(cfg, sel) == [
        Run("adam", 1e-3, 0.0, 0),
        Run("adam", 1e-3, 0.0, 1),
        Run("adamw", 1e-3, 1.0, 0),
        Run("adamw", 1e-3, 1.0, 1),
    ]
    abl = ablation_runs(cfg, sel)
    assert set(abl) == {Run("adamw", 1e-3, 0.0, s) for s in (0, 1)} | {
        Run("adam", 1e-3, 0.0, s) for s in (0, 1)
    }
    # adam's selection equals the ablation's adam runs: the union counts them once
    assert len(all_runs(cfg, sel)) == 8 + 4 + 2
    assert selected_runs(cfg, {"adam": None, "adamw": sel["adamw"]}) == selected_runs(cfg, sel)[2:]


def test_untuned_config_runs_its_single_point_on_every_seed():
    cfg = validate_config(
        {"optimizers": {"adamw": {"lr": 3e-3, "weight_decay": 0.1}}, "seeds": [0, 1]}
    )
    assert tuning_runs(cfg) == []
    sel = selection_for(cfg, [])
    assert sel == {
        "adamw": {
            "lr": 3e-3,
            "weight_decay": 0.1,
            "final_val_loss": None,
            "trials": 0,
            "diverged_trials": 0,
        }
    }
    assert [r.run_id for r in selected_runs(cfg, sel)] == [
        "adamw/lr0.003_wd0.1/seed0",
        "adamw/lr0.003_wd0.1/seed1",
    ]
