"""The plan the workflow prints before its first job: runs, tokens and a time estimate."""

import json
import math

import pytest
import yaml
from helpers import REPO

from adamw_repro.config import validate_config
from adamw_repro.design import all_runs, tuning_runs
from adamw_repro.training import plan


@pytest.fixture
def smoke():
    """The smoke profile with the default profile's map, whose refined cells the plan counts."""
    raw = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    raw["study"]["map"] = True
    return validate_config(raw)


def _selection(config):
    chosen = {"adam": (0.01, 0.0), "adam_l2": (0.01, 0.001), "adamw": (0.01, 5.0)}
    return {
        "selected": {o: {"lr": lr, "weight_decay": wd} for o, (lr, wd) in chosen.items()},
        "rounds": [
            {"cells": [{"optimizer": "adam", "lr": 0.005, "weight_decay": 0.0, "decay": None}]}
        ],
        "finalists": [{"optimizer": "adam", "lr": 0.01, "weight_decay": 0.0, "decay": None}],
        "half_a": None,
        "half_b": None,
        "matched": None,
    }


def test_before_tuning_the_plan_knows_the_first_round_and_bounds_the_rest(smoke, tmp_path):
    known, later, maybe = plan.planned_runs(smoke, tmp_path)
    assert known == tuning_runs(smoke) and {r.seed for r in known} == {1000}  # the first half
    # the finalists (at most every grid cell, each optimizer's one best decay per lr) on the
    # other half; then per evaluation seed each optimizer's selection, AdamW without decay, Adam
    # at AdamW's lr, AdamW at Adam+L2's lr, and the embedding-decay flip of Adam+L2 and AdamW
    # on every tuning seed the map's two refined decays of each decaying optimizer's rows
    refined = 2 * 2 * 2 * len(smoke["study"]["tuning_seeds"])
    assert len(later) == 6 * 1 + refined + len(smoke["seeds"]) * (3 + 1 + 1 + 1 + 2)
    # one extension round: per decaying optimizer a new lr (3 decays and Adam's cell) and a
    # stronger decay at each of its 2 lrs, Adam one lr; and each half's selection, if it moved
    assert len(maybe) == (6 + 6 + 1) + 2 * 3 * len(smoke["seeds"])


def test_once_selection_ran_the_plan_is_exact(smoke, tmp_path):
    (tmp_path / "study").mkdir()
    selection = _selection(smoke)
    (tmp_path / "study" / "selection.json").write_text(json.dumps(selection))
    known, later, maybe = plan.planned_runs(smoke, tmp_path)
    assert known == all_runs(smoke, selection) and later == maybe == []


def test_estimate_is_the_work_to_do_at_the_measured_speed(smoke, tmp_path, monkeypatch):
    """Training tokens plus a third of the evaluated tokens at the measured tokens/s, plus each
    job's start-up, shared among the jobs that run at once; finished runs cost nothing."""
    monkeypatch.setattr(plan, "_tokens_per_s", lambda config, label, lines: 1000.0)
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "selection.json").write_text(json.dumps(_selection(smoke)))
    runs = all_runs(smoke, _selection(smoke))
    done = set(runs[:2])
    lines = plan.announce({"": smoke}, lambda s: tmp_path, lambda s, r: r in done, 4, True)
    todo = [r for r in runs if r not in done]
    work = sum(a + b / 3 for a, b in (plan.run_cost(smoke, r) for r in todo))
    jobs = math.ceil(len(todo) / smoke["resources"]["train"]["runs_per_job"])
    seconds = (work / 1000 + plan.JOB_START_S * jobs) / 4  # 4 cores, 1 thread per job
    assert lines[0].startswith(f"plan: {len(todo)} training runs to go now")
    assert "2 finished before" in lines[0]
    assert lines[-1].startswith(f"plan: about {plan.duration(seconds)} of training")


def test_a_ladder_plan_says_where_each_study_stands(smoke, tmp_path, monkeypatch):
    """A ladder's plan adds a line per study: its runs done of those known or expected, and
    its share of the time to go; the shares add up to the total, and a study whose every run
    is done reads "trained" (rerun after an interruption: where it stopped)."""
    monkeypatch.setattr(plan, "_tokens_per_s", lambda config, label, lines: 1000.0)
    for name in ("a", "b"):
        (tmp_path / name / "study").mkdir(parents=True)
        (tmp_path / name / "study" / "selection.json").write_text(json.dumps(_selection(smoke)))
    runs = all_runs(smoke, _selection(smoke))
    lines = plan.announce({"a": smoke, "b": smoke}, lambda s: tmp_path / s,
                          lambda s, r: s == "a", 2, True)  # fmt: skip
    assert lines[-2] == f"plan: study a: {len(runs)} of about {len(runs)} runs done; trained"
    total = lines[-3].removeprefix("plan: about ").split(" of training")[0]  # all of it is b's
    assert (
        lines[-1]
        == f"plan: study b: 0 of about {len(runs)} runs done; about {total} of training to go"
    )


def test_a_run_costs_its_training_tokens_and_its_evaluation_passes(smoke):
    run = tuning_runs(smoke)[0]
    train, evaluated = plan.run_cost(smoke, run)
    assert train == smoke["train"]["tokens"]
    # a tuning run without curves: validation, test and the training data at the end
    assert evaluated == 3 * smoke["train"]["eval_tokens"]


def test_on_a_cluster_the_plan_gives_no_time_from_this_machine(smoke, tmp_path):
    lines = plan.announce({"": smoke}, lambda s: tmp_path, lambda s, r: False, None, False)
    assert lines[-1] == "plan: training runs as cluster jobs: no time estimate from this machine"


@pytest.mark.parametrize("shape", [(1, 2, 32, 32, 512), (12, 12, 768, 1024, 50257)])
def test_flops_per_token_counts_the_parameters_the_model_has(shape):
    """The plan's torch-free count against the real model's parameters and training.flops."""
    from helpers import model_config

    from adamw_repro.training.flops import flops_per_token
    from adamw_repro.training.model import build_model, count_params

    layers, heads, width, context, vocab = shape
    model = {"n_layer": layers, "n_head": heads, "n_embd": width, "block_size": context}
    cfg = model_config(vocab, **model)
    kind = {"kind": "bpe", "vocab_size": vocab} if vocab != 50257 else {"kind": "gpt2"}
    config = validate_config({"model": {**model, "vocab_multiple": cfg.vocab_multiple},
                              "tokenizer": kind, "optimizers": {"adam": {"lr": 1e-3}},
                              "seeds": [0]})  # fmt: skip
    n = count_params(build_model(cfg))
    assert plan.flops_per_token(config) == flops_per_token(cfg, n)


def test_a_gpu_study_gets_gpu_hours_from_its_flops(smoke, tmp_path):
    gpu = {**smoke, "train": {**smoke["train"], "device": "cuda"}}
    lines = plan.announce({"": gpu}, lambda s: tmp_path, lambda s, r: False, None, False)
    known, later, maybe = plan.planned_runs(gpu, tmp_path)
    flops = sum(
        plan.flops_per_token(gpu) * (a + b / 3)
        for a, b in (plan.run_cost(gpu, r) for r in known + later)
    )
    hours = flops / (plan.GPU_PEAK * plan.GPU_MFU) / 3600
    line = next(ln for ln in lines if "GPU-hours" in ln)
    assert line.startswith(f"plan: GPU studies: about {hours:,.1f} GPU-hours of training")
    assert "EFLOP" in line and "{" not in line
