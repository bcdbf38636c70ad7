"""Statistics and verdict rules against known answers."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from adamw_repro.stats import (
    best_log_decay,
    count_spikes,
    describe,
    paired,
    power_law,
    tilt,
    verdict,
)

T_975_DF2 = 4.302653  # Student's t, 97.5th percentile, 2 degrees of freedom (tables)


def test_paired_difference_matches_closed_form():
    a, b = np.array([3.0, 5.0, 7.0]), np.array([2.0, 3.0, 4.0])  # differences 1, 2, 3
    p = paired(a, b)
    assert p["mean_diff"] == pytest.approx(2.0) and p["std_diff"] == pytest.approx(1.0)
    half = T_975_DF2 * 1.0 / math.sqrt(3)
    assert p["ci_lo"] == pytest.approx(2 - half, rel=1e-5) and p["ci_hi"] == pytest.approx(
        2 + half, rel=1e-5
    )
    # t = mean / (sd / sqrt(n)) = 2 * sqrt(3); two-sided p from the t distribution with 2 df
    assert p["p_ttest"] == pytest.approx(2 * sps.t.sf(2 * math.sqrt(3), 2))
    assert p["p_wilcoxon"] == pytest.approx(0.25)  # exact: all 3 signs positive, 2 × 1/8
    assert p["wins"] == 0 and p["ties"] == 0  # a is never lower
    assert paired(b, a)["wins"] == 3


def test_paired_with_identical_values_has_a_zero_width_interval():
    p = paired([1.0, 2.0], [1.0, 2.0])
    assert (p["mean_diff"], p["ci_lo"], p["ci_hi"], p["ties"]) == (0.0, 0.0, 0.0, 2)
    assert math.isnan(p["p_wilcoxon"])


def test_describe_mean_std_and_bootstrap_interval():
    d = describe([1.0, 2.0, 3.0, 4.0, 10.0], n_boot=2000)
    assert d["mean"] == 4.0 and d["std"] == pytest.approx(np.std([1, 2, 3, 4, 10], ddof=1))
    assert 1.0 <= d["ci_lo"] < 4.0 < d["ci_hi"] <= 10.0
    assert describe([1.0, 2.0, 3.0, 4.0, 10.0], n_boot=2000) == d  # seeded: reproducible
    assert describe([5.0, 5.0])["ci_lo"] == 5.0
    one = describe([2.5, None, float("nan")])
    assert one["n"] == 1 and one["mean"] == 2.5 and math.isnan(one["std"])


LRS, WDS = np.logspace(-3.5, -1.5, 5), np.logspace(-5, 0, 11)


def _grid(loss_fn):
    lr, wd = np.meshgrid(LRS, WDS, indexing="ij")
    return lr.ravel(), wd.ravel(), loss_fn(np.log10(lr.ravel()), np.log10(wd.ravel()))


def test_tilt_is_zero_for_an_axis_aligned_basin_and_minus_one_for_a_diagonal_one():
    axis = tilt(*_grid(lambda x, y: (y + 2.3) ** 2 + (x + 2.5) ** 2), n_boot=500)
    assert abs(axis["slope"]) < 0.05 and axis["ci_lo"] <= 0 <= axis["ci_hi"]
    diag = tilt(*_grid(lambda x, y: (y + x + 5.3) ** 2 + 0.1 * (x + 2.5) ** 2), n_boot=500)
    assert diag["slope"] == pytest.approx(-1.0, abs=0.05) and diag["ci_hi"] < -0.5


def test_best_decay_interpolates_between_grid_points_and_skips_diverged_cells():
    x = np.array([-4.0, -3.0, -2.0, -1.0])
    assert best_log_decay(x, (x + 2.6) ** 2) == pytest.approx(-2.6)
    assert best_log_decay(x, np.array([3.0, 2.0, np.nan, 5.0])) == -3.0
    assert best_log_decay(x, np.array([1.0, 2.0, 3.0, 4.0])) == -4.0  # minimum at the edge


def test_tilt_needs_two_rows_with_two_decays():
    t = tilt([1e-3, 1e-2], [0.1, 0.1], [3.0, 2.0])
    assert math.isnan(t["slope"]) and t["rows"] == 0


def test_power_law_recovers_a_known_exponent():
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    fit = power_law(x, 3.0 * x**0.5, n_boot=300)
    assert fit["slope"] == pytest.approx(0.5) and fit["r2"] == pytest.approx(1.0)
    assert math.isnan(power_law([1.0, 2.0], [1.0, 2.0])["slope"])


def test_spikes():
    assert count_spikes([5.0, 4.0, 3.5, 3.0]) == 0
    assert count_spikes([5.0, 4.0, 4.5, 3.0, 3.4]) == 2  # 4.5 > 1.1·4.0, 3.4 > 1.1·3.0
    assert count_spikes([5.0, 4.0, None]) == 1


@pytest.mark.parametrize(
    "lo, hi, kind, margin, target, expected",
    [
        (0.02, 0.05, "greater", 0.01, 0.0, "reproduced"),
        (-0.05, -0.02, "greater", 0.01, 0.0, "not reproduced"),
        (-0.002, 0.004, "greater", 0.01, 0.0, "not reproduced"),  # no effect of meaningful size
        (-0.02, 0.05, "greater", 0.01, 0.0, "inconclusive"),
        (-0.004, 0.006, "equal", 0.01, 0.0, "reproduced"),
        (0.02, 0.04, "equal", 0.01, 0.0, "not reproduced"),
        (-0.02, 0.004, "equal", 0.01, 0.0, "inconclusive"),
        (-1.2, -0.9, "equal", 0.25, -1.0, "reproduced"),
        (-0.3, 0.1, "equal", 0.25, -1.0, "not reproduced"),
        (float("nan"), 1.0, "greater", 0.0, 0.0, "inconclusive"),
    ],
)
def test_verdict_rule(lo, hi, kind, margin, target, expected):
    assert verdict(lo, hi, kind, margin, target) == expected
