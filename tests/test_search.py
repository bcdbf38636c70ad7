"""The search (extension rounds, finalists, selection) on losses nobody chose.

The search branches on the losses: which cell is best, whether it lies on an edge, whether the
best of a row is the wd = 0 column. A machine's numbers reach only some branches (the smoke
profile in fp32 reached one that bf16 never did, and crashed). Here Hypothesis draws accepted
grids and arbitrary losses, ties and diverged runs included, and drives the whole chain as the
workflow does, round by round, with every file read back from JSON."""

import json
import math
import re

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adamw_repro.analysis.selection import finalists, search_round, select
from adamw_repro.config import validate_config
from adamw_repro.design import (
    all_runs,
    cells_of,
    finalist_runs,
    grid,
    is_tuned,
    runs_of,
    search_seeds,
    tuning_halves,
    tuning_runs,
)
from adamw_repro.jobs import training_jobs
from adamw_repro.registry import OPTIMIZERS, decay_free_member

SETTING = r"lr[0-9.e+-]+_wd[0-9.e+-]+(_emb)?"  # as workflow/rules/common.smk constrains it
COLUMNS = ["optimizer", "lr", "weight_decay", "seed", "diverged", "final_val_loss"]
T = 100  # steps of every drawn study


def test_a_one_point_decay_grid_whose_best_is_the_wd0_column_at_an_edge_gets_a_new_row():
    """The smoke profile in fp32 (issue 34): Adam+L2's best is Adam's cell at the highest
    learning rate, so the search opens a new learning rate with the weakest decays of a grid
    that has one. It used to raise IndexError."""
    cfg = validate_config(
        {
            "optimizers": {
                "adam": {"lr": [0.01, 0.03]},
                "adam_l2": {"lr": [0.01, 0.03], "weight_decay": [0.001]},
                "adamw": {"lr": [0.01, 0.03], "decay_timescale": [0.5]},
            },
            "seeds": [0, 1],
            "train": {"tokens": 16 * 64 * T},
            "study": {"tuning_seeds": [1000, 1001], "finalists": 1, "extension_rounds": 1},
        }
    )

    def loss(r):  # Adam at 0.03 beats every decayed cell
        return 5.0 - 10 * r.lr + (0.5 if r.weight_decay else 0.0)

    runs = _train(tuning_runs(cfg), loss)
    found = search_round(cfg, runs, [])
    best = found["best"]["adam_l2"]
    assert (best["lr"], best["weight_decay"], best["edges"]) == (0.03, 0.0, ["lr high"])
    new = {(c["optimizer"], c["lr"], c["weight_decay"]) for c in found["cells"]}
    assert ("adam_l2", 0.09, 0.001) in new  # the grid's only decay, at the next lr (0.03 × 3)
    assert ("adam", 0.09, 0.0) in new


def _train(runs, loss):
    rows = []
    for r in runs:
        value = loss(r)
        diverged = value is None
        rows.append(
            [r.optimizer, r.lr, r.weight_decay, r.seed, diverged, None if diverged else value]
        )
    return pd.DataFrame(rows, columns=COLUMNS)


# ---- drawn studies -----------------------------------------------------------------------------

FAMILIES = {"adam": ["adam", "adam_l2", "adamw", "adamw_independent"],
            "sgd": ["sgd", "sgd_l2", "sgdw"]}  # fmt: skip
TIMESCALE_CAPABLE = {"adamw", "sgdw"}


@st.composite
def studies(draw):
    """An accepted study config: one or both families, any members, grids of one to four
    points (log-spaced or not), with or without the wd = 0 column, finalists and extension
    rounds on or off."""
    names = draw(st.lists(st.sampled_from(sorted(OPTIMIZERS)), min_size=1, max_size=4, unique=True))
    optimizers = {}
    n_decays = draw(st.integers(1, 4))
    decay_ratio = draw(st.sampled_from([2.0, 4.0, 10.0]))
    for family in FAMILIES:
        present = [o for o in FAMILIES[family] if o in names]
        if not present:
            continue
        lrs = _axis(draw, draw(st.sampled_from([1e-3, 3e-3, 0.01])), draw(st.integers(1, 4)))
        for o in present:
            hp = {"lr": lrs}
            if OPTIMIZERS[o].decay:
                timescale = o in TIMESCALE_CAPABLE and draw(st.booleans())
                start = draw(st.sampled_from([0.01, 0.25, 1.0] if timescale else [1e-4, 1e-3, 0.1]))
                hp["decay_timescale" if timescale else "weight_decay"] = [
                    float(f"{start * decay_ratio**k:g}") for k in range(n_decays)
                ]
            optimizers[o] = hp
    n_seeds = draw(st.integers(1, 5))
    halving = n_seeds >= 2 and draw(st.booleans())
    return validate_config(
        {
            "optimizers": optimizers,
            "seeds": [0, 1],
            "train": {"tokens": 16 * 64 * T},
            "study": {
                "tuning_seeds": list(range(1000, 1000 + n_seeds)),
                "finalists": draw(st.integers(1, 3)) if halving else 0,
                "extension_rounds": draw(st.integers(0, 3)),
                "map": draw(st.booleans()),
            },
            "resources": {"train": {"runs_per_job": draw(st.sampled_from([1, 4, 8]))}},
        }
    )


def _axis(draw, start, n):
    """A learning-rate grid: log-spaced by 2 or 4, or (sometimes) irregular."""
    if draw(st.booleans()):
        ratio = draw(st.sampled_from([2.0, 4.0]))
        return [float(f"{start * ratio**k:g}") for k in range(n)]
    return sorted({float(f"{start * f:g}") for f in draw(
        st.lists(st.sampled_from([1, 1.5, 2, 3, 5, 8]), min_size=n, max_size=n))})  # fmt: skip


def _losses(data):
    """A run's validation loss, drawn when it trains: multiples of 1/64 (so that ties are
    common and means are exact in any order), or None for a diverged run."""

    def loss(run):
        if data.draw(st.integers(0, 19), label="diverged?") == 0:
            return None
        return data.draw(st.integers(64 * 2, 64 * 12), label=f"loss {run.run_id}") / 64

    return loss


def _roundtrip(obj):
    """As the next step reads it: a JSON file."""
    return json.loads(json.dumps(obj))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=studies(), data=st.data())
def test_the_search_never_raises_and_keeps_its_promises(cfg, data):
    loss = _losses(data)
    known = {}  # run -> its loss: every run is trained once, as Snakemake would

    def train(runs):
        for r in runs:
            assert r not in known, f"{r.run_id} trained twice"
            known[r] = loss(r)
        return _train(known, known.get)

    done = train(tuning_runs(cfg))
    rounds = []
    for _ in range(cfg["study"]["extension_rounds"]):
        found = _roundtrip(search_round(cfg, done, rounds))
        _check_round_cells(cfg, found["cells"], done)
        if rounds and not rounds[-1]["cells"]:
            assert not found["cells"], "a round found cells after one that found none"
        rounds.append(found)
        done = train(runs_of(cfg, cells_of(found["cells"]), search_seeds(cfg)))
    chosen = _roundtrip(finalists(cfg, done))
    _check_finalists(cfg, chosen, done)
    done = train(finalist_runs(cfg, chosen))
    selection = _roundtrip(select(cfg, done, rounds, chosen))

    first, second = tuning_halves(cfg)
    if not is_tuned(cfg):  # one configured point each: nothing to search or select
        assert all(not r["cells"] for r in rounds)
        assert chosen == {"finalists": [], "refined": []}
        for o, got in selection["selected"].items():
            assert [(got["lr"], got["decay"] or 0.0)] == grid(cfg, o).cells()
    for which, seeds in (("selected", first + second), ("half_a", first), ("half_b", second)):
        if not is_tuned(cfg) or not seeds:
            assert which == "selected" or selection[which] is None
            continue
        for o in cfg["optimizers"]:
            expected = _reference_best(cfg, done, o, seeds)
            got = selection[which][o]
            if expected is None:
                assert got is None, (which, o, got)
            else:
                assert got is not None, (which, o)
                assert (got["lr"], got["weight_decay"], got["final_val_loss"]) == expected
                assert got["seeds"] == len(seeds)

    # every run the study names is planned by exactly one training job, and none twice
    runs = all_runs(cfg, selection)
    assert len(runs) == len(set(runs))
    jobs = training_jobs(cfg, slots=2)
    for r in runs:
        matches = [j.name for j in jobs if _job_trains(j, r)]
        assert len(matches) == 1, (r.run_id, matches)


def _check_round_cells(cfg, cells, done):
    """A round's cells are new, on the lattice of what was searched, and at most one grid step
    beyond it along either axis."""
    searched = {(r.optimizer, r.lr, r.weight_decay) for r in done.itertuples()}
    for c in cells:
        o = c["optimizer"]
        assert (o, c["lr"], c["weight_decay"]) not in searched, f"{c} searched already"
        g = grid(cfg, o)
        mine = done[done["optimizer"].map(lambda x: OPTIMIZERS[x].family) == OPTIMIZERS[o].family]
        lrs = sorted(set(mine["lr"]))
        near = {lr for x in lrs for lr in (x, g.step("lr", x, -1), g.step("lr", x, 1))}
        assert _close_to(c["lr"], near), f"{c}: lr beyond one step of {lrs}"
        assert lrs[0] / g.lr_ratio * (1 - 1e-4) <= c["lr"] <= lrs[-1] * g.lr_ratio * (1 + 1e-4)
        if not g.unit:
            assert c["weight_decay"] == 0.0 and c["decay"] is None
            continue
        assert c["decay"] is not None and c["weight_decay"] == g.weight_decay(c["lr"], c["decay"])
        decays = set(g.decays) | {d for x in cells_of_done(cfg, done, o) for d in x}
        near = {v for d in decays for v in (d, g.step("decay", d, -1), g.step("decay", d, 1))}
        assert _close_to(c["decay"], near), f"{c}: decay beyond one step of {sorted(decays)}"


def cells_of_done(cfg, done, optimizer):
    """The decays (config units) an optimizer searched, as one-element tuples."""
    g = grid(cfg, optimizer)
    mine = done[(done["optimizer"] == optimizer) & (done["weight_decay"] > 0)]
    out = set()
    for r in mine.itertuples():
        if g.unit == "decay_timescale":
            out.add((1 / (r.lr * r.weight_decay * T),))
        else:
            out.add((r.weight_decay,))
    return out


def _close_to(x, values):
    return any(math.isclose(x, v, rel_tol=1e-4) for v in values)


def _check_finalists(cfg, chosen, done):
    """Finalists are cells searched on the first half, each once, and none without it; the
    map's refined cells lie half a decay step from a searched cell of their row, and are new."""
    searched = {(r.optimizer, r.lr, r.weight_decay) for r in done.itertuples()}
    refined = [(c["optimizer"], c["lr"], c["weight_decay"]) for c in chosen["refined"]]
    assert len(refined) == len(set(refined)) and not set(refined) & searched
    assert cfg["study"]["map"] or not refined
    for c in chosen["refined"]:
        g = grid(cfg, c["optimizer"])
        decays = {d for x in cells_of_done(cfg, done, c["optimizer"]) for d in x}
        near = {g.step("decay", d, k) for d in decays for k in (-0.5, 0.5)}
        assert _close_to(c["decay"], near), c
    chosen = chosen["finalists"]
    if not cfg["study"]["finalists"]:
        assert chosen == []
        return
    keys = [(c["optimizer"], c["lr"], c["weight_decay"]) for c in chosen]
    assert len(keys) == len(set(keys)) and set(keys) <= searched
    per_row = {}
    for o, lr, _ in keys:
        per_row[(o, lr)] = per_row.get((o, lr), 0) + 1
    limit = cfg["study"]["finalists"]
    assert all(n <= (limit if grid(cfg, o).unit else 1) for (o, _), n in per_row.items())


def _reference_best(cfg, done, optimizer, seeds):
    """The selection, written out again without the code under test: among the optimizer's
    cells and its family's wd = 0 column, those with a finished trial on every one of ``seeds``
    and none diverged, the lowest mean validation loss; ties to the smaller learning rate, then
    the smaller weight decay. None if no such cell."""
    base = decay_free_member(optimizer)
    own = {optimizer} | ({base} if base in cfg["optimizers"] else set())
    trials = {}
    for r in done.itertuples():
        if r.optimizer in own and r.seed in seeds:
            key = (r.lr, r.weight_decay if r.optimizer == optimizer else 0.0)
            trials.setdefault(key, {})[r.seed] = None if r.diverged else r.final_val_loss
    best = None
    for (lr, wd), by_seed in trials.items():
        if set(by_seed) != set(seeds) or None in by_seed.values():
            continue
        mean = sum(by_seed[s] for s in sorted(seeds)) / len(seeds)
        best = min(best or (mean, lr, wd), (mean, lr, wd))
    return None if best is None else (best[1], best[2], best[0])


def _job_trains(job, run):
    """Whether a training job's outputs name this run's files (its ids, a ``{setting}``
    wildcard matching the setting pattern and not one of the job's excluded settings)."""
    for pattern in job.run_ids:
        if "{setting}" not in pattern:
            if pattern == run.run_id:
                return True
            continue
        o, _, seed = pattern.split("/")
        if o != run.optimizer or seed != f"seed{run.seed}":
            continue
        if re.fullmatch(SETTING, run.setting) and run.setting not in job.exclude:
            return True
    return False
