"""The study design: fair grids, the runs of each role, selection on validation loss and the
bounded extension round when an optimum sits on a grid edge."""

import json

import pandas as pd
import pytest

from adamw_repro.analysis.selection import best_cells, first_round, select
from adamw_repro.analysis.stats import cell_means
from adamw_repro.config import ConfigError, validate_config
from adamw_repro.design import (
    Run,
    ablation_runs,
    all_runs,
    batches,
    edges,
    evaluation_settings,
    extension_groups,
    grid,
    needed_extensions,
    selected_runs,
    total_steps,
    train_spec,
    training_jobs,
    tuning_runs,
)

LRS = [1e-3, 2e-3, 4e-3]
CONFIG = {
    "optimizers": {
        "adam": {"lr": LRS},
        "adam_l2": {"lr": LRS, "weight_decay": [1e-4, 4e-4, 1.6e-3]},
        "adamw": {"lr": LRS, "decay_timescale": [0.25, 1.0, 4.0]},
    },
    "seeds": [0, 1],
    "train": {"tokens": 16 * 64 * 100},  # T = 100 steps
    "study": {"tuning_seeds": [7, 8]},
}


def test_adamw_timescales_resolve_to_pytorch_weight_decay_per_learning_rate():
    cfg = validate_config(CONFIG)
    g = grid(cfg, "adamw")
    assert total_steps(cfg) == 100 and g.unit == "decay_timescale"
    # τ = 1/(lr·wd) = (τ/T)·T: wd = 1/(lr · τ/T · T), rounded to the 6 digits of its path
    assert g.weight_decay(2e-3, 1.0) == 5.0 and g.weight_decay(1e-3, 0.25) == 40.0
    assert g.weight_decay(4e-3, 4.0) == pytest.approx(1 / (4e-3 * 400), rel=1e-6)
    r = Run.parse("adamw", f"lr0.004_wd{g.weight_decay(4e-3, 4.0):g}", "8")
    assert r.weight_decay == g.weight_decay(4e-3, 4.0)  # the path names the run exactly


def test_every_cell_is_trained_on_every_tuning_seed_and_adam_is_the_zero_column():
    cfg = validate_config(CONFIG)
    runs = tuning_runs(cfg)
    assert len(runs) == (3 + 9 + 9) * 2 and {r.seed for r in runs} == {7, 8}
    adam = [r for r in runs if r.optimizer == "adam"]
    assert {r.lr for r in adam} == set(LRS) and all(r.weight_decay == 0 for r in adam)
    assert {r.lr for r in runs if r.optimizer == "adamw"} == set(LRS)  # one shared lr grid


@pytest.mark.parametrize(
    "change, message",
    [
        ({"adam_l2": {"lr": [1e-3, 2e-3], "weight_decay": [1e-4]}}, "share one learning-rate grid"),
        (
            {"adam_l2": {"lr": LRS, "weight_decay": [1e-4, 1e-3, 1e-2]}},
            "decay grids of a family must match",
        ),  # 2 points per decade against AdamW's 1.66
        ({"adamw": {"lr": LRS, "decay_timescale": [1.0], "weight_decay": [0.1]}}, "not both"),
        ({"adamw": {"lr": LRS}}, "one is required"),
    ],
)
def test_unfair_or_ambiguous_grids_are_refused_with_the_key_named(change, message):
    bad = json.loads(json.dumps(CONFIG))
    bad["optimizers"].update(change)
    with pytest.raises(ConfigError, match=message) as e:
        validate_config(bad)
    assert str(e.value).startswith("optimizers.")


def test_a_tuning_seed_may_not_be_an_evaluation_seed():
    with pytest.raises(ConfigError, match="study.tuning_seeds: 7 is also an evaluation seed"):
        validate_config({**CONFIG, "seeds": [0, 7]})


def _trials(cfg, loss_of):
    """Summaries of a study's tuning runs whose validation loss is ``loss_of(run)``."""
    return pd.DataFrame(
        [
            dict(optimizer=r.optimizer, lr=r.lr, weight_decay=r.weight_decay, seed=r.seed,
                 diverged=False, final_val_loss=loss_of(r))
            for r in tuning_runs(cfg)
        ]
    )  # fmt: skip


def _write(tmp_path, df):
    paths = []
    for k, row in enumerate(df.to_dict("records")):
        p = tmp_path / f"{k}.json"
        p.write_text(json.dumps(row))
        paths.append(str(p))
    return paths


def test_an_edge_optimum_triggers_exactly_one_extension_in_its_direction(tmp_path):
    cfg = validate_config(CONFIG)

    # AdamW's loss falls towards the highest lr and the weakest decay (largest τ); Adam+L2's
    # optimum is inside its grid; Adam's at the lowest lr
    def loss(r):
        if r.optimizer == "adamw":
            return 5 - r.lr * 10 + r.weight_decay * 1e-3
        if r.optimizer == "adam_l2":
            return 5 + abs(r.lr - 2e-3) + abs(r.weight_decay - 4e-4)
        return 5 + r.lr

    first = first_round(cfg, _write(tmp_path, _trials(cfg, loss)))
    assert first["best"]["adamw"]["edges"] == {"lr": "high", "decay": "high"}
    assert first["best"]["adam_l2"]["edges"] == {"lr": None, "decay": None}
    assert sorted(first["extensions"]) == sorted(
        ["extend_adamw_lrhigh", "extend_adamw_decayhigh", "extend_adamw_lrhigh_decayhigh",
         "extend_adam_lrlow"]
    )  # fmt: skip
    groups = extension_groups(cfg)
    row = groups["extend_adamw_lrhigh"]  # one new lr (4e-3 × 2) at every decay, both seeds
    assert {r.lr for r in row} == {8e-3} and len(row) == 3 * 2
    column = groups["extend_adamw_decayhigh"]  # τ/T 4 × 4 = 16 at every grid lr
    assert {r.lr for r in column} == set(LRS) and len(column) == 3 * 2
    assert column[0].weight_decay == pytest.approx(1 / (1e-3 * 16 * 100), rel=1e-5)
    assert len(groups["extend_adamw_lrhigh_decayhigh"]) == 2  # the corner, both seeds


def test_an_interior_optimum_triggers_no_extension(tmp_path):
    cfg = validate_config({**CONFIG, "optimizers": {"adam": {"lr": LRS}}})
    first = first_round(cfg, _write(tmp_path, _trials(cfg, lambda r: abs(r.lr - 2e-3))))
    assert first["extensions"] == [] and first["best"]["adam"]["lr"] == 2e-3
    assert needed_extensions("adam", {"lr": None, "decay": None}) == []


def test_second_round_selects_over_both_rounds_and_reports_a_remaining_edge(tmp_path):
    cfg = validate_config({**CONFIG, "optimizers": {"adam": {"lr": LRS}}})
    first = first_round(cfg, _write(tmp_path, _trials(cfg, lambda r: -r.lr)))
    assert first["extensions"] == ["extend_adam_lrhigh"]
    extended = extension_groups(cfg)["extend_adam_lrhigh"]
    rows = _trials(cfg, lambda r: -r.lr)
    more = pd.DataFrame(
        [dict(optimizer="adam", lr=r.lr, weight_decay=0.0, seed=r.seed, diverged=False,
              final_val_loss=-r.lr) for r in extended]
    )  # fmt: skip
    sel = select(cfg, _write(tmp_path, pd.concat([rows, more])), first)
    assert sel["selected"]["adam"]["lr"] == 8e-3 and sel["selected"]["adam"]["edges"] == ["lr high"]
    assert sel["extensions"] == ["extend_adam_lrhigh"]
    assert set(extended) <= set(all_runs(cfg, sel))


def test_a_decaying_optimizer_can_select_its_familys_wd0_column(tmp_path):
    """Tuned Adam+L2 and tuned AdamW are never worse on validation than tuned Adam: where every
    decayed cell is worse, each selects Adam's best cell, at weight decay 0."""
    cfg = validate_config(CONFIG)

    def loss(r):
        return 5 + abs(r.lr - 2e-3) + (0.1 if r.weight_decay > 0 else 0.0)

    first = first_round(cfg, _write(tmp_path, _trials(cfg, loss)))
    for o in ("adam_l2", "adamw"):
        b = first["best"][o]
        assert (b["lr"], b["weight_decay"], b["decay"]) == (2e-3, 0.0, None), o
        assert b["wd0_column"] == "adam" and b["trials"] == 3 * 3  # its own cells only
        assert b["edges"] == {"lr": None, "decay": None}  # the column ends the decay axis
    assert first["extensions"] == []
    sel = select(cfg, _write(tmp_path, _trials(cfg, loss)), first)
    assert Run("adamw", 2e-3, 0.0, 0) in selected_runs(cfg, sel)
    # without Adam in the study there is no column to borrow
    alone = validate_config({**CONFIG, "optimizers": {"adamw": CONFIG["optimizers"]["adamw"]}})
    b = first_round(alone, _write(tmp_path, _trials(alone, loss)))["best"]["adamw"]
    assert b["weight_decay"] > 0 and b["wd0_column"] is None


def test_selection_reads_the_mean_over_tuning_seeds_and_a_diverged_seed_disqualifies():
    cfg = validate_config({**CONFIG, "optimizers": {"adam": {"lr": LRS}}})
    trials = pd.DataFrame(
        [
            ("adam", 1e-3, 0.0, 7, False, 5.0), ("adam", 1e-3, 0.0, 8, False, 5.4),  # mean 5.2
            ("adam", 2e-3, 0.0, 7, False, 5.1), ("adam", 2e-3, 0.0, 8, False, 5.2),  # 5.15
            ("adam", 4e-3, 0.0, 7, False, 4.0), ("adam", 4e-3, 0.0, 8, True, None),  # diverged
        ],
        columns=["optimizer", "lr", "weight_decay", "seed", "diverged", "final_val_loss"],
    )  # fmt: skip
    cell = ("optimizer", "lr", "weight_decay")
    cells = cell_means(trials, "final_val_loss", by=cell)
    best = best_cells(cfg, cells)["adam"]
    assert best["lr"] == 2e-3 and best["final_val_loss"] == pytest.approx(5.15)
    assert best["trials"] == 3 and best["diverged_trials"] == 1
    backwards = cell_means(
        trials.iloc[::-1], "final_val_loss", by=("optimizer", "lr", "weight_decay")
    )
    assert best_cells(cfg, backwards) == best_cells(cfg, cells)


def test_selected_and_ablation_runs():
    cfg = validate_config(CONFIG)
    sel = {
        "selected": {
            "adam": {"lr": 1e-3, "weight_decay": 0.0},
            "adam_l2": {"lr": 2e-3, "weight_decay": 4e-4},
            "adamw": {"lr": 2e-3, "weight_decay": 5.0},
        },
        "extensions": [],
    }
    assert [r.run_id for r in selected_runs(cfg, sel)][:2] == [
        "adam/lr0.001_wd0/seed0",
        "adam/lr0.001_wd0/seed1",
    ]
    abl = ablation_runs(cfg, sel)
    assert abl["no_decay"] == [Run("adamw", 2e-3, 0.0, s) for s in (0, 1)]
    assert abl["adam_identity"] == [Run("adam", 2e-3, 0.0, s) for s in (0, 1)]
    flipped = abl["embeddings"]  # the embedding decay the other way round: on here
    assert {(r.optimizer, r.decay_embeddings) for r in flipped} == {
        ("adam_l2", True),
        ("adamw", True),
    }
    assert flipped[0].run_id == "adam_l2/lr0.002_wd0.0004_emb/seed0"
    assert Run.parse("adam_l2", "lr0.002_wd0.0004_emb", 0) == flipped[0]
    assert len(all_runs(cfg, sel)) == len(set(all_runs(cfg, sel)))


def test_specs_say_what_a_run_evaluates():
    cfg = validate_config(CONFIG)
    tuning = train_spec(cfg, Run("adamw", 2e-3, 5.0, 7))
    assert tuning["evaluate"] == {"curve": [], "final": ["val", "test"]}
    assert tuning["train"]["eval_interval"] == 0 and tuning["hparams"]["weight_decay"] == 5.0
    ev = train_spec(cfg, Run("adamw", 2e-3, 5.0, 0, decay_embeddings=True))
    assert ev["evaluate"] == {
        "curve": ["test"],
        "final": ["val", "test", "train"],
        "whole": ["test"],  # reported numbers: the whole test split, no sampling noise
    }
    assert ev["train"]["decay_embeddings"] is True and "decay_timescale" not in ev["hparams"]
    assert "weight_decay" not in train_spec(cfg, Run("adam", 1e-3, 0.0, 0))["hparams"]


def job_runs(job, setting=None):
    """The runs a job's ids name (the setting filled in), as run_spec parses each path."""
    parts = (i.format(setting=setting).split("/") for i in job.run_ids)
    return [Run.parse(o, part, seed.removeprefix("seed")) for o, part, seed in parts]


def test_jobs_batch_tuning_every_possible_extension_and_the_evaluation_seeds():
    cfg = validate_config({**CONFIG, "resources": {"train": {"runs_per_job": 4}}})
    jobs = {job.name: job for job in training_jobs(cfg)}
    tuned = [r for name, job in jobs.items() if name.startswith("tune_") for r in job_runs(job)]
    assert tuned == tuning_runs(cfg)  # each once
    assert all(len(job.run_ids) <= 4 for job in jobs.values())
    assert all(
        len({i.split("/")[0] for i in job.run_ids}) == 1
        for name, job in jobs.items()
        if not name.startswith("tune_")
    )
    extension = {n.rsplit("_", 1)[0] for n in jobs if n.startswith("extend_")}
    assert extension == set(extension_groups(cfg))
    ev = jobs["evaluate_adamw_0"]  # the setting is a wildcard, filled in after selection
    assert ev.run_ids == ("adamw/{setting}/seed0", "adamw/{setting}/seed1")
    assert job_runs(ev, "lr0.002_wd5_emb") == [Run("adamw", 2e-3, 5.0, s, True) for s in (0, 1)]
    one = {job.name: job for job in training_jobs(validate_config(CONFIG))}  # one run per job
    assert all(len(job.run_ids) == 1 for job in one.values())
    assert sum(n.startswith("tune_") for n in one) == len(tuning_runs(cfg))


def test_each_phase_fills_the_cores_it_runs_on():
    """Jobs of at most runs_per_job runs, as many per phase as the next multiple of the jobs
    that run at once, unless that leaves a job with a single run where two would fit."""

    def sizes(runs, size, slots):
        return [len(b) for b in batches(list(range(runs)), size, slots, "t").values()]

    assert sizes(72, 8, 1) == [8] * 9
    assert sorted(sizes(72, 8, 2)) == [7] * 8 + [8] * 2  # 10 jobs: no core idles a whole job
    assert [r for b in batches(list(range(72)), 8, 2, "t").values() for r in b] == list(range(72))
    assert sizes(8, 8, 2) == [4, 4] and sizes(8, 8, 16) == [2] * 4 and sizes(2, 4, 2) == [2]
    assert sizes(5, 1, 2) == [1] * 5  # one run per job stays one run per job
    assert sizes(0, 8, 2) == []
    seeds = list(range(20, 28))
    cfg = validate_config({**CONFIG, "seeds": seeds, "resources": {"train": {"runs_per_job": 8}}})
    # 3 selections and 4 ablations (AdamW without decay, Adam at its lr, 2 embedding flips)
    assert evaluation_settings(cfg) == 7
    selection = {"selected": {"adam": {"lr": 1e-3, "weight_decay": 0.0}}, "extensions": []}
    selection["selected"] |= {o: {"lr": 2e-3, "weight_decay": 5.0} for o in ("adam_l2", "adamw")}
    evaluated = set(all_runs(cfg, selection)) - set(tuning_runs(cfg))
    assert len({(r.optimizer, r.setting) for r in evaluated}) == 7
    two_cores = {j.name: j for j in training_jobs(cfg, slots=2)}
    # 7 settings × 2 jobs of 4 seeds: no setting's job runs alone on the last round
    assert [len(two_cores[f"evaluate_adamw_{k}"].run_ids) for k in (0, 1)] == [4, 4]
    assert "evaluate_adamw_1" not in {j.name for j in training_jobs(cfg, slots=1)}


def test_edges_of_a_grid():
    g = grid(validate_config(CONFIG), "adamw")
    assert edges(g, 1e-3, 4.0) == {"lr": "low", "decay": "high"}
    assert edges(g, 2e-3, 1.0) == {"lr": None, "decay": None}
