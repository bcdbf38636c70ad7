"""The map read row by row, on synthetic rows whose answers are known in closed form."""

import math

import numpy as np
import pandas as pd
import pytest

from adamw_repro.analysis.rows import (
    basin_width,
    decay_units,
    equal_train,
    fit_row,
    regret,
    valley_slope,
    valleys,
    vertex,
)

LRS = [1e-3 * 2**k for k in range(5)]


def row_runs(optimizer, lr, wds, loss, seeds=(1, 2, 3, 4), seed_shift=0.1, noise=0.0, rng=None):
    """One row's tuning runs: ``loss(log10 decay in the optimizer's units)`` plus a level per
    seed (``seed_shift`` × the seed's index) and optional noise."""
    rows = []
    for k, s in enumerate(seeds):
        for wd in wds:
            x = math.log10(wd) + (math.log10(lr) if decay_units(optimizer) == "lambda" else 0)
            e = rng.normal(0, noise) if rng is not None else 0.0
            rows.append(dict(optimizer=optimizer, lr=lr, weight_decay=wd, seed=s, diverged=False,
                             final_test_loss=loss(x) + seed_shift * k + e))  # fmt: skip
    return rows


def test_units_follow_loshchilov_and_hutter():
    assert decay_units("adamw") == "lambda" and decay_units("sgdw") == "lambda"
    assert decay_units("adam_l2") == "wd" and decay_units("adamw_independent") == "wd"


def test_seed_levels_come_out_of_the_cell_levels():
    wds = [1e-3, 2e-3, 4e-3, 8e-3]
    runs = pd.DataFrame(row_runs("adam_l2", 1e-3, wds, lambda x: (x + 2.4) ** 2))
    fit = fit_row(runs)
    truth = np.array([(math.log10(w) + 2.4) ** 2 for w in wds])
    # the level of a cell is its loss on the row's average seed: the truth plus the mean shift
    assert fit["level"] == pytest.approx(truth + 0.1 * 1.5, abs=1e-9)
    assert fit["dof"] == 16 - 4 - 3 and fit["cov"] is not None  # an exact fit: zero noise
    assert np.allclose(fit["cov"], 0.0)
    # unequal seeds (the refinement's cells on four seeds, the others on two) still line up
    thin = runs[~(runs["weight_decay"].isin([1e-3, 8e-3]) & runs["seed"].isin([3, 4]))]
    assert fit_row(thin)["level"] == pytest.approx(fit["level"], abs=1e-9)


def test_the_vertex_of_a_parabola_and_a_censored_end():
    x = np.array([-3.0, -2.7, -2.4, -2.1])
    assert vertex(x, (x + 2.5) ** 2) == (pytest.approx(-2.5), True)
    assert vertex(x, x) == (-3.0, False)  # lowest at the weak end: censored


def _map(optimizer, best, noise=0.005, seed=0):
    """A map whose best decay (log10, in the optimizer's units) is ``best(log10 lr)``."""
    rng = np.random.default_rng(seed)
    rows = []
    for lr in LRS:
        centre = best(math.log10(lr))
        # decays a factor 2 apart around the optimum, in PyTorch units
        shift = math.log10(lr) if decay_units(optimizer) == "lambda" else 0.0
        wds = [10 ** (centre - shift + 0.301 * k) for k in range(-3, 4)]
        rows += row_runs(optimizer, lr, wds, lambda x, c=centre: 0.3 * (x - c) ** 2 + 5,
                         noise=noise, rng=rng)  # fmt: skip
    return pd.DataFrame(rows)


def test_a_valley_fixed_in_lambda_has_slope_zero_and_one_fixed_in_wd_minus_one():
    fixed = _map("adamw", lambda x: -2.0)  # L&H: the best λ does not move
    v = valleys(fixed, "adamw", 300)
    assert (v["log_decay"] - (-2.0)).abs().max() < 0.05 and v["interior"].all()
    assert ((v["ci_lo"] <= -2.0) & (-2.0 <= v["ci_hi"])).mean() >= 0.8
    s = valley_slope(fixed, "adamw", 300)
    assert s["units"] == "lambda" and s["rows"] == 5
    assert s["slope"] == pytest.approx(0.0, abs=0.05) and s["ci_lo"] < 0 < s["ci_hi"]
    # Adam+L2 whose best λ does not move: its best wd falls one decade per decade of lr
    coupled = _map("adam_l2", lambda x: -6.0 - x)
    s = valley_slope(coupled, "adam_l2", 300)
    assert s["units"] == "wd" and s["slope"] == pytest.approx(-1.0, abs=0.05)
    assert s["ci_hi"] < -0.5


def test_a_row_whose_optimum_lies_at_its_end_is_left_out_of_the_slope():
    runs = _map("adamw", lambda x: -2.0)
    lr = LRS[0]
    edge = runs[np.isclose(runs["lr"], lr)]
    runs = runs.drop(edge[edge["weight_decay"] < edge["weight_decay"].median()].index)
    s = valley_slope(runs, "adamw", 100)
    assert s["censored"] == [] or s["censored"] == [lr]
    v = valleys(runs, "adamw", 100)
    assert bool(v.set_index("lr").loc[lr, "interior"]) is (s["censored"] == [])


def test_regret_is_zero_where_the_optimum_transfers_and_positive_where_it_moves():
    steady = regret(_map("adamw", lambda x: -2.0, noise=0.0), "adamw", (1, 2), 2.0, 50)
    assert steady["units"] == "lambda" and len(steady["pairs"]) == 2 * (4 + 3)
    assert steady["regret"] == pytest.approx(0.0, abs=1e-9)
    # the best λ moves by 0.301 decades (one cell) per step of the learning rate
    moving = regret(_map("adamw", lambda x: x + 1.0, noise=0.0), "adamw", (1,), 2.0, 50)
    assert moving["regret"] == pytest.approx(0.3 * math.log10(2) ** 2, rel=1e-3)
    # held in the other unit (PyTorch wd), the moving optimum is the one that transfers
    assert regret(_map("adamw", lambda x: x + 1.0, noise=0.0), "adamw", (1,), 2.0, 50,
                  units="wd")["regret"] == pytest.approx(0.0, abs=1e-9)  # fmt: skip


def test_basin_width_of_a_parabola():
    runs = _map("adam_l2", lambda x: -3.0, noise=0.0)
    b = basin_width(runs, "adam_l2", LRS[0], margin=0.03, n_boot=20)
    # 0.3·(x − c)² ≤ 0.03: |x − c| ≤ √0.1, linear interpolation between cells widens it a bit
    assert b["width"] == pytest.approx(2 * math.sqrt(0.1), rel=0.15) and not b["censored"]


def _paths(shift):
    """One seed, one learning rate: Adam (the wd = 0 column) and two decay paths along which
    the test loss is the training loss plus 1 (AdamW) or plus 1 + ``shift`` (Adam+L2)."""
    rows = [dict(optimizer="adam", lr=1e-3, weight_decay=0.0, seed=7, tuning=True,
                 diverged=False, final_train_loss=3.0, final_test_loss=4.0)]  # fmt: skip
    for o, extra in (("adamw", 0.0), ("adam_l2", shift)):
        for k, train in enumerate((3.2, 3.4, 3.6)):
            rows.append(dict(optimizer=o, lr=1e-3, weight_decay=0.1 * (k + 1), seed=7,
                             tuning=True, diverged=False, final_train_loss=train,
                             final_test_loss=train + 1 + extra))  # fmt: skip
    return rows


def test_equal_training_loss_compares_the_paths_where_both_reach():
    runs = pd.DataFrame(_paths(0.05) + [dict(r, seed=8) for r in _paths(0.05)])
    out = equal_train(runs, [1e-3], [7, 8])
    assert out["comparisons"] == 2
    # from 3.0 (Adam, shared) to 3.6 the Adam+L2 path lies above by 0.05 except at 3.0 itself
    assert list(out["per_seed"].index) == [7, 8]
    expected = np.mean(np.interp(np.linspace(3.0, 3.6, 9), [3.0, 3.2], [0.0, 0.05]))
    assert out["per_seed"].iloc[0] == pytest.approx(expected)
