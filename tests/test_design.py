"""The study design: fair grids, the runs of each role, selection on validation loss, the
bounded extension rounds when an optimum sits on an edge of what was searched, successive
halving over the tuning seeds, and the selection each half makes on its own."""

import json
import math

import pandas as pd
import pytest

from adamw_repro.analysis.selection import (
    cells_over,
    choose,
    edges_of,
    finalists,
    search_round,
    select,
    trials,
)
from adamw_repro.config import ConfigError, validate_config
from adamw_repro.design import (
    Run,
    ablation_runs,
    all_runs,
    cell,
    cells_of,
    decay_of,
    finalist_runs,
    finalist_seeds,
    grid,
    runs_of,
    search_seeds,
    selected_runs,
    total_steps,
    train_spec,
    tuning_halves,
    tuning_runs,
)
from adamw_repro.jobs import batches, evaluation_settings, training_jobs
from adamw_repro.schedule import timescale

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
    # the one conversion, both ways: lr 1e-3 and wd 0.1 decay over τ = 10,000 steps
    assert timescale(1e-3, 0.1) == pytest.approx(1e4) and timescale(1e-3, 0.1, 100) == 100.0
    assert timescale(1e-3, timescale(1e-3, 0.1, 100), 100) == pytest.approx(0.1)
    assert decay_of(cfg, "adamw", 2e-3, g.weight_decay(2e-3, 0.25)) == 0.25  # snapped to the grid


def test_every_cell_is_trained_on_every_tuning_seed_and_adam_is_the_zero_column():
    cfg = validate_config(CONFIG)
    runs = tuning_runs(cfg)
    assert len(runs) == (3 + 9 + 9) * 2 and {r.seed for r in runs} == {7, 8}
    adam = [r for r in runs if r.optimizer == "adam"]
    assert {r.lr for r in adam} == set(LRS) and all(r.weight_decay == 0 for r in adam)
    assert {r.lr for r in runs if r.optimizer == "adamw"} == set(LRS)  # one shared lr grid
    assert tuning_halves(cfg) == ([7], [8]) and finalist_seeds(cfg) == []


def test_with_finalists_the_grid_trains_on_the_first_half_of_the_tuning_seeds():
    cfg = validate_config({**CONFIG, "study": {"tuning_seeds": [7, 8, 9, 10, 11], "finalists": 2}})
    assert tuning_halves(cfg) == ([7, 8, 9], [10, 11])
    assert search_seeds(cfg) == [7, 8, 9] and finalist_seeds(cfg) == [10, 11]
    assert {r.seed for r in tuning_runs(cfg)} == {7, 8, 9}
    with pytest.raises(ConfigError, match="study.finalists: successive halving needs two"):
        validate_config({**CONFIG, "study": {"tuning_seeds": [7], "finalists": 2}})


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


def _run_search(cfg, loss_of, diverged=lambda r: False):
    """Trials of a whole search whose validation loss is ``loss_of(run)``: the grid, every
    extension round the config allows, then the finalists; returns (trials, rounds,
    finalists)."""

    def train(runs):
        return pd.DataFrame(
            [dict(optimizer=r.optimizer, lr=r.lr, weight_decay=r.weight_decay, seed=r.seed,
                  diverged=diverged(r), final_val_loss=None if diverged(r) else loss_of(r))
             for r in runs],
            columns=["optimizer", "lr", "weight_decay", "seed", "diverged", "final_val_loss"],
        )  # fmt: skip

    done, rounds = train(tuning_runs(cfg)), []
    for _ in range(cfg["study"]["extension_rounds"]):
        rounds.append(search_round(cfg, done, rounds))
        done = pd.concat(
            [done, train(runs_of(cfg, cells_of(rounds[-1]["cells"]), search_seeds(cfg)))]
        )
    chosen = finalists(cfg, done)
    done = pd.concat([done, train(finalist_runs(cfg, chosen))])
    return done, rounds, chosen


def _settings(cells, optimizer):
    return sorted((c["lr"], c["weight_decay"]) for c in cells if c["optimizer"] == optimizer)


def test_an_edge_optimum_extends_the_search_one_step_in_its_direction():
    cfg = validate_config({**CONFIG, "study": {"tuning_seeds": [7, 8], "extension_rounds": 1}})

    # AdamW's loss falls towards the highest lr and the strongest decay (shortest τ); Adam+L2's
    # optimum is inside its grid; Adam's at the lowest lr
    def loss(r):
        if r.optimizer == "adamw":
            return 5 - r.lr * 10 - 0.01 * math.log10(r.lr * r.weight_decay)  # lr·wd = 1/τ
        if r.optimizer == "adam_l2":
            return 5 + abs(r.lr - 2e-3) + abs(r.weight_decay - 4e-4)
        return 5 + r.lr

    done, (found,), _ = _run_search(cfg, loss)
    assert found["best"]["adamw"]["edges"] == ["lr high", "strongest decay"]
    assert found["best"]["adam_l2"]["edges"] == [] and found["best"]["adam"]["edges"] == ["lr low"]
    g = grid(cfg, "adamw")
    # a new learning rate (4e-3 × 2) at the best τ (T/4) and a step either side, with Adam's
    # cell there (the wd = 0 column); and the next stronger decay (τ = T/16) at every lr in
    # contention (within one step of a family member's best: all three here) whose best is the
    # strongest decay; at 1e-3 Adam's cell (the wd = 0 column) is best, so nothing is added
    new_row = {(8e-3, g.weight_decay(8e-3, t)) for t in (0.0625, 0.25, 1.0)}
    stronger = {(lr, g.weight_decay(lr, 0.0625)) for lr in LRS[1:]}
    assert set(_settings(found["cells"], "adamw")) == new_row | stronger
    assert _settings(found["cells"], "adam") == [(5e-4, 0.0), (8e-3, 0.0)]
    # every lr is in contention, so 1e-3 and 4e-3 get a searched lr beyond them: Adam+L2's best
    # cell at 4e-3, one step further (at 1e-3 both decaying optimizers' best is the wd = 0
    # column, Adam's cell, which Adam's own new row already covers)
    l2 = done[(done["optimizer"] == "adam_l2") & (done["lr"] == 4e-3)]
    best_at = l2.sort_values("final_val_loss")["weight_decay"].iloc[0]
    assert _settings(found["cells"], "adam_l2") == [(8e-3, best_at)]
    assert g.weight_decay(8e-3, 0.0625) == pytest.approx(1 / (8e-3 * 6.25), rel=1e-5)


def test_rounds_repeat_until_the_optimum_is_inside_and_stop_at_their_bound():
    """AdamW's best decay lies two grid steps beyond the strongest configured one (τ = T/64 at
    every lr): two rounds reach it, a third brackets it, a fourth finds nothing to add; with two
    the selection stays on the edge and says so."""
    g = grid(validate_config(CONFIG), "adamw")

    def loss(r):
        if r.optimizer != "adamw" or r.weight_decay == 0:
            return 7.0 + abs(r.lr - 2e-3)  # worse than any decay of AdamW's, best at 2e-3
        tau = 1 / (r.lr * r.weight_decay * 100)  # in units of T = 100
        return 5 + (math.log10(tau) - math.log10(1 / 64)) ** 2 + abs(r.lr - 2e-3)

    for rounds, edge in ((4, []), (2, ["strongest decay"])):
        cfg = validate_config(
            {**CONFIG, "study": {"tuning_seeds": [7, 8], "extension_rounds": rounds}}
        )
        done, found, chosen = _run_search(cfg, loss)
        sel = select(cfg, done, found, chosen)
        assert sel["selected"]["adamw"]["edges"] == edge, rounds
        if not edge:
            assert sel["selected"]["adamw"]["decay"] == 1 / 64
            assert found[-1]["cells"] == []  # the last round had nothing left to add
            strongest = [c for r in found for c in r["cells"] if c["optimizer"] == "adamw"]
            assert min(c["decay"] for c in strongest) == 1 / 256  # one step past the optimum
    assert g.step("decay", 0.25, 2) == 1 / 64 and g.step("lr", 1e-3, -1) == 5e-4


def test_an_interior_optimum_only_brackets_the_learning_rates_in_contention():
    """The best lr, 2e-3, has a searched one on each side; 1e-3 and 4e-3, which the selection
    over every tuning seed may still pick, get one beyond them once; then nothing more."""
    cfg = validate_config({**CONFIG, "optimizers": {"adam": {"lr": LRS}}})
    _, rounds, _ = _run_search(cfg, lambda r: abs(r.lr - 2e-3))
    assert rounds[0]["best"]["adam"]["lr"] == 2e-3 and rounds[0]["best"]["adam"]["edges"] == []
    assert _settings(rounds[0]["cells"], "adam") == [(5e-4, 0.0), (8e-3, 0.0)]
    assert rounds[1]["cells"] == []


def test_a_decaying_optimizer_can_select_its_familys_wd0_column():
    """Tuned Adam+L2 and tuned AdamW are never worse on validation than tuned Adam: where every
    decayed cell is worse, each selects Adam's best cell, at weight decay 0."""
    cfg = validate_config(CONFIG)

    def loss(r):
        return 5 + abs(r.lr - 2e-3) + (0.1 if r.weight_decay > 0 else 0.0)

    done, rounds, chosen = _run_search(cfg, loss)
    # the weak end is closed by the column: the rounds add only the brackets beyond 1e-3 and 4e-3
    assert {c["lr"] for r in rounds for c in r["cells"]} == {5e-4, 8e-3}
    sel = select(cfg, done, rounds, chosen)
    for o in ("adam_l2", "adamw"):
        b = sel["selected"][o]
        assert (b["lr"], b["weight_decay"], b["decay"]) == (2e-3, 0.0, None), o
        assert b["trials"] == 3 * 3 * 2 and b["edges"] == []  # its own trials only
    assert Run("adamw", 2e-3, 0.0, 0) in selected_runs(cfg, sel)
    # without Adam in the study there is no column to borrow
    alone = validate_config({**CONFIG, "optimizers": {"adamw": CONFIG["optimizers"]["adamw"]}})
    done, rounds, chosen = _run_search(alone, loss)
    assert select(alone, done, rounds, chosen)["selected"]["adamw"]["weight_decay"] > 0


def test_selection_reads_the_mean_over_tuning_seeds_and_a_diverged_seed_disqualifies(tmp_path):
    cfg = validate_config({**CONFIG, "optimizers": {"adam": {"lr": LRS}}})
    rows = pd.DataFrame(
        [
            ("adam", 1e-3, 0.0, 7, False, 5.0), ("adam", 1e-3, 0.0, 8, False, 5.4),  # mean 5.2
            ("adam", 2e-3, 0.0, 7, False, 5.1), ("adam", 2e-3, 0.0, 8, False, 5.2),  # 5.15
            ("adam", 4e-3, 0.0, 7, False, 4.0), ("adam", 4e-3, 0.0, 8, True, None),  # diverged
        ],
        columns=["optimizer", "lr", "weight_decay", "seed", "diverged", "final_val_loss"],
    )  # fmt: skip
    paths = []
    for k, row in enumerate(rows.to_dict("records")):  # read back from summary files
        (tmp_path / f"{k}.json").write_text(json.dumps(row))
        paths.append(str(tmp_path / f"{k}.json"))
    best = choose(cfg, cells_over(cfg, trials(paths), [7, 8]), 2)["adam"]
    assert best["lr"] == 2e-3 and best["final_val_loss"] == pytest.approx(5.15)
    assert choose(cfg, cells_over(cfg, rows.iloc[::-1], [7, 8]), 2)["adam"] == best
    sel = select(cfg, rows, [], {})
    assert (
        sel["selected"]["adam"]["trials"] == 6 and sel["selected"]["adam"]["diverged_trials"] == 1
    )
    # each half on its own: seed 7 alone picks lr 4e-3, whose run on seed 8 diverged
    assert sel["half_a"]["adam"]["lr"] == 4e-3 and sel["half_b"]["adam"]["lr"] == 2e-3


FOUR = {**CONFIG, "study": {"tuning_seeds": [7, 8, 9, 10], "finalists": 2}}


def test_finalists_are_the_best_decays_near_each_best_learning_rate():
    wider = {o: {**hp, "lr": [5e-4, *LRS]} for o, hp in CONFIG["optimizers"].items()}
    cfg = validate_config(
        {**FOUR, "optimizers": wider, "study": {**FOUR["study"], "extension_rounds": 0}}
    )

    def loss(r):  # every optimizer best at lr 2e-3; AdamW's decays ranked by τ, T/4 best
        tau = 1 / (r.lr * r.weight_decay * 100) if r.weight_decay else 1e9
        decay = (
            abs(math.log10(tau / 0.25)) - 0.01 if r.optimizer == "adamw" and r.weight_decay else 0
        )
        return 5 + abs(math.log2(r.lr / 2e-3)) + decay

    done, _, chosen = _run_search(cfg, loss)
    assert chosen["refined"] == []  # no map: no refinement
    rows = sorted({c["lr"] for c in chosen["finalists"]})
    assert rows == LRS  # within one step of the best lr, 2e-3; never 5e-4
    w = [c for c in chosen["finalists"] if c["optimizer"] == "adamw"]
    assert len(w) == 2 * 3 and {c["decay"] for c in w} == {0.25, 1.0}  # its two best per row
    assert len([c for c in chosen["finalists"] if c["optimizer"] == "adam"]) == 3  # wd = 0
    sel = select(cfg, done, [], chosen)
    assert sel["selected"]["adamw"]["seeds"] == 4 and sel["selected"]["adamw"]["decay"] == 0.25
    assert sel["half_a"]["adamw"]["seeds"] == 2  # every cell on seeds 7, 8
    assert {e["lr"]: e["seeds"] for e in sel["per_lr"]["adamw"]} == {
        5e-4: 2,
        1e-3: 4,
        2e-3: 4,
        4e-3: 4,
    }
    assert sel["matched"]["lr"] == sel["selected"]["adam_l2"]["lr"] == 2e-3
    assert sel["matched"]["adamw"]["weight_decay"] == sel["selected"]["adamw"]["weight_decay"]


def test_each_half_selects_on_its_own_and_a_half_that_differs_is_rerun():
    """Two AdamW cells within the seed noise: the halves disagree, and the evaluation reruns
    the half's choice that is not the final one."""
    cfg = validate_config({**FOUR, "study": {**FOUR["study"], "extension_rounds": 0}})
    g = grid(cfg, "adamw")
    a, b = g.weight_decay(2e-3, 0.25), g.weight_decay(2e-3, 1.0)

    def loss(r):
        base = 5 + abs(math.log2(r.lr / 2e-3))
        if r.optimizer == "adamw" and r.lr == 2e-3 and r.weight_decay in (a, b):
            favoured = a if r.seed in (7, 8) else b  # the first half prefers a, the second b
            return (
                base
                - (0.02 if r.weight_decay == favoured else 0.0)
                - (0.005 if r.weight_decay == a else 0)
            )
        return base + (0.1 if r.weight_decay else 0)

    done, rounds, chosen = _run_search(cfg, loss)
    sel = select(cfg, done, rounds, chosen)
    assert sel["half_a"]["adamw"]["weight_decay"] == a == sel["selected"]["adamw"]["weight_decay"]
    assert sel["half_b"]["adamw"]["weight_decay"] == b
    runs = all_runs(cfg, sel)
    assert Run("adamw", 2e-3, b, 0) in runs and Run("adamw", 2e-3, a, 1) in runs
    assert len(runs) == len(set(runs))


def test_selected_and_ablation_runs():
    cfg = validate_config(
        {**CONFIG, "seeds": [0, 1, 2], "study": {"tuning_seeds": [7, 8], "ablation_seeds": 2}}
    )
    sel = {
        "selected": {
            "adam": {"lr": 1e-3, "weight_decay": 0.0},
            "adam_l2": {"lr": 2e-3, "weight_decay": 4e-4},
            "adamw": {"lr": 4e-3, "weight_decay": 2.5},
        },
        "matched": {"lr": 2e-3, "adamw": {"lr": 2e-3, "weight_decay": 5.0}},
        "rounds": [], "finalists": [],
    }  # fmt: skip
    assert [r.run_id for r in selected_runs(cfg, sel)][:2] == [
        "adam/lr0.001_wd0/seed0",
        "adam/lr0.001_wd0/seed1",
    ]
    abl = ablation_runs(cfg, sel)
    assert abl["no_decay"] == [Run("adamw", 4e-3, 0.0, s) for s in (0, 1, 2)]  # a gate: all
    assert abl["adam_identity"] == [Run("adam", 4e-3, 0.0, s) for s in (0, 1)]  # ablation seeds
    assert abl["matched"] == [Run("adamw", 2e-3, 5.0, s) for s in (0, 1, 2)]
    flipped = abl["embeddings"]  # the embedding decay the other way round: on here
    assert {(r.optimizer, r.decay_embeddings, r.seed) for r in flipped} == {
        (o, True, s) for o in ("adam_l2", "adamw") for s in (0, 1)
    }
    assert flipped[0].run_id == "adam_l2/lr0.002_wd0.0004_emb/seed0"
    assert Run.parse("adam_l2", "lr0.002_wd0.0004_emb", 0) == flipped[0]
    assert len(all_runs(cfg, sel)) == len(set(all_runs(cfg, sel)))


def test_specs_say_what_a_run_evaluates():
    cfg = validate_config(CONFIG)
    tuning = train_spec(cfg, Run("adamw", 2e-3, 5.0, 7))
    # the loss on the training data too: the map compares test loss at equal training loss
    assert tuning["evaluate"] == {"curve": [], "final": ["val", "test", "train"]}
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


def test_jobs_batch_tuning_and_leave_later_cells_to_wildcards():
    cfg = validate_config({**FOUR, "resources": {"train": {"runs_per_job": 4}}, "seeds": [0, 1]})
    jobs = {job.name: job for job in training_jobs(cfg)}
    tuned = [r for name, job in jobs.items() if name.startswith("tune_") for r in job_runs(job)]
    assert tuned == tuning_runs(cfg)  # each once
    assert all(len(job.run_ids) <= 4 for job in jobs.values())
    assert all(
        len({i.split("/")[0] for i in job.run_ids}) == 1
        for name, job in jobs.items()
        if not name.startswith("tune_")
    )
    extend = jobs["extend_adamw"]  # a cell on the search seeds, but never a grid cell
    assert extend.run_ids == ("adamw/{setting}/seed7", "adamw/{setting}/seed8")
    assert f"lr0.002_wd{grid(cfg, 'adamw').weight_decay(2e-3, 1.0):g}" in extend.exclude
    assert len(extend.exclude) == 9 and jobs["extend_adam"].exclude == tuple(
        f"lr{lr:g}_wd0" for lr in LRS
    )
    assert jobs["finalist_adam_l2"].run_ids == (
        "adam_l2/{setting}/seed9",
        "adam_l2/{setting}/seed10",
    )
    assert jobs["finalist_adam_l2"].exclude == ()
    ev = jobs["evaluate_adamw_0"]  # the setting is a wildcard, filled in after selection
    assert ev.run_ids == ("adamw/{setting}/seed0", "adamw/{setting}/seed1")
    assert job_runs(ev, "lr0.002_wd5_emb") == [Run("adamw", 2e-3, 5.0, s, True) for s in (0, 1)]
    one = {job.name: job for job in training_jobs(validate_config(CONFIG))}  # one run per job
    assert all(len(job.run_ids) == 1 for job in one.values() if "{setting}" not in job.run_ids[0])
    assert sum(n.startswith("tune_") for n in one) == len(tuning_runs(validate_config(CONFIG)))


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
    # 3 selections, 2 halves' selections of 3 optimizers, and 5 ablations (AdamW without decay
    # and matched, Adam at AdamW's lr, 2 embedding flips)
    assert evaluation_settings(cfg) == 3 + 6 + 5
    picks = {
        "adam": {"lr": 1e-3, "weight_decay": 0.0},
        "adam_l2": {"lr": 2e-3, "weight_decay": 4e-4},
        "adamw": {"lr": 4e-3, "weight_decay": 2.5},
    }
    other = {o: {**c, "lr": c["lr"] / 2} for o, c in picks.items()}
    matched = {"adamw": {"lr": 2e-3, "weight_decay": 5.0}}
    selection = {"selected": picks, "half_a": other, "half_b": picks, "rounds": [],
                 "finalists": [], "matched": matched}  # fmt: skip
    evaluated = set(all_runs(cfg, selection)) - set(tuning_runs(cfg))
    assert len({(r.optimizer, r.setting) for r in evaluated}) == 3 + 3 + 5
    two_cores = {j.name: j for j in training_jobs(cfg, slots=2)}
    # an even number of settings: jobs of all 8 seeds keep both cores busy
    assert [len(two_cores[f"evaluate_adamw_{k}"].run_ids) for k in (0,)] == [8]
    study = {"tuning_seeds": [7, 8], "ablation_seeds": 4}
    halves = validate_config({**CONFIG, "seeds": seeds, "study": study,
                              "resources": {"train": {"runs_per_job": 8}}})  # fmt: skip
    jobs = {j.name: j for j in training_jobs(halves, slots=2)}
    # the ablation seeds make jobs of their own, so an ablation trains no seed beyond them
    assert [len(jobs[f"evaluate_adam_{k}"].run_ids) for k in (0, 1)] == [4, 4]
    assert jobs["evaluate_adam_0"].run_ids[-1] == "adam/{setting}/seed23"


def test_edges_of_what_was_searched():
    cfg = validate_config(CONFIG)
    rows = pd.DataFrame(
        [dict(optimizer=r.optimizer, lr=r.lr, weight_decay=r.weight_decay, seed=r.seed,
              diverged=False, final_val_loss=5.0) for r in tuning_runs(cfg)]
    )  # fmt: skip
    cells = cells_over(cfg, rows, [7, 8])
    c = cell(cfg, "adamw", 1e-3, 0.25)  # the lowest lr, the strongest decay (shortest τ)
    assert edges_of(cfg, cells, "adamw", c.as_dict()) == ["lr low", "strongest decay"]
    mid = cell(cfg, "adamw", 2e-3, 1.0).as_dict()
    assert edges_of(cfg, cells, "adamw", mid) == []
    weakest = cell(cfg, "adam_l2", 2e-3, 1e-4).as_dict()  # the wd = 0 column closes that end
    assert edges_of(cfg, cells, "adam_l2", weakest) == []
