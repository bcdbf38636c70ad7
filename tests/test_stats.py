"""Statistics and verdict rules against known answers."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from adamw_repro.analysis.stats import (
    count_spikes,
    describe,
    holm,
    log_sd_ratio,
    norm_law,
    p_above,
    paired,
    verdict,
)

T_975_DF2 = 4.302653  # Student's t, 97.5th percentile, 2 degrees of freedom (tables)


def test_paired_difference_matches_closed_form():
    a, b = np.array([3.0, 5.0, 7.0]), np.array([2.0, 3.0, 4.0])  # differences 1, 2, 3
    p = paired(a, b)
    assert p["mean_diff"] == pytest.approx(2.0) and p["std_diff"] == pytest.approx(1.0)
    half = T_975_DF2 * 1.0 / math.sqrt(3)
    assert p["ci_lo"] == pytest.approx(2 - half, rel=1e-5)
    assert p["ci_hi"] == pytest.approx(2 + half, rel=1e-5)
    # t = mean / (sd / sqrt(n)) = 2 * sqrt(3); two-sided p from the t distribution with 2 df
    assert p["p_ttest"] == pytest.approx(2 * sps.t.sf(2 * math.sqrt(3), 2))
    assert math.isnan(p["p_wilcoxon"])  # n = 3: its smallest p is 0.25, it could never reject
    assert p["wins"] == 0 and p["ties"] == 0  # a is never lower
    assert paired(b, a)["wins"] == 3


def test_wilcoxon_from_six_seeds_matches_its_exact_distribution():
    d = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    p = paired(d, np.zeros(6))
    assert p["p_wilcoxon"] == pytest.approx(2 / 2**6)  # all signs positive: 2 × (1/2)^6


def test_paired_with_identical_values_has_a_zero_width_interval():
    p = paired([1.0, 2.0], [1.0, 2.0])
    assert (p["mean_diff"], p["ci_lo"], p["ci_hi"], p["ties"]) == (0.0, 0.0, 0.0, 2)
    assert p["p_ttest"] == 1.0


def test_holm_matches_hand_adjusted_values():
    # sorted p = 0.01, 0.02, 0.04, 0.30 (m = 4): 4×0.01, max(that, 3×0.02), max(., 2×0.04), 0.30
    adjusted = holm([0.04, 0.01, 0.30, 0.02])
    assert adjusted == pytest.approx([0.08, 0.04, 0.30, 0.06])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1, monotone
    out = holm([0.01, float("nan"), 0.04])
    assert math.isnan(out[1]) and out[[0, 2]] == pytest.approx([0.02, 0.04])  # m = 2


def test_describe_mean_std_and_bootstrap_interval():
    d = describe([1.0, 2.0, 3.0, 4.0, 10.0], n_boot=2000)
    assert d["mean"] == 4.0 and d["std"] == pytest.approx(np.std([1, 2, 3, 4, 10], ddof=1))
    assert 1.0 <= d["ci_lo"] < 4.0 < d["ci_hi"] <= 10.0
    assert describe([1.0, 2.0, 3.0, 4.0, 10.0], n_boot=2000) == d  # seeded: reproducible
    one = describe([2.5, None, float("nan")])
    assert one["n"] == 1 and one["mean"] == 2.5 and math.isnan(one["std"])


LRS, DECAYS = np.logspace(-3.5, -1.5, 5), np.logspace(-3, 0, 7)
NOISE = 0.005  # the paired seed-to-seed sd measured in the pilot (benchmarks/PILOT.md)


def test_norm_law_recovers_a_known_exponent_with_one_intercept_per_matrix():
    rng = np.random.default_rng(0)
    ratio = np.repeat(np.logspace(-5, -2, 8), 3)
    matrix = np.tile(["a", "b", "c"], 8)
    scale = {"a": 1.0, "b": 5.0, "c": 30.0}  # matrices of different sizes: different norms
    norm = np.array([scale[m] for m in matrix]) * ratio**0.5 * np.exp(rng.normal(0, 0.01, 24))
    cell = np.repeat(np.arange(8), 3)
    fit = norm_law(np.log(ratio), np.log(norm), cell, matrix, n_boot=300)
    assert fit["slope"] == pytest.approx(0.5, abs=0.02) and fit["ci_lo"] < 0.5 < fit["ci_hi"]
    assert math.isnan(norm_law([0.0, 1.0], [0.0, 1.0], [0, 1], ["a", "a"])["slope"])


def test_norm_laws_bootstrap_is_least_squares_on_each_resampled_set_of_cells():
    """Each draw's slope is the ordinary least-squares slope, with a dummy per matrix, of the
    rows of the cells drawn (duplicates included): the reference refits every draw's frame."""
    rng = np.random.default_rng(1)
    cells, matrices = 5, ["a", "b", "c"]
    x_cell = np.log(rng.choice([1e-3, 3e-3, 1e-2], cells) / rng.choice([0.1, 1.0], cells))
    cell, matrix = np.repeat(np.arange(cells), 3), np.tile(matrices, cells)
    x = x_cell[cell]
    y = 0.4 * x + np.array([{"a": 0, "b": 2, "c": 5}[m] for m in matrix]) + rng.normal(0, 0.1, 15)
    fit = norm_law(x, y, cell, matrix, n_boot=200, seed=3)

    def ols(rows):
        design = np.column_stack([x[rows]] + [matrix[rows] == m for m in matrices])
        return np.linalg.lstsq(design.astype(float), y[rows], rcond=None)[0][0]

    draws, slopes = np.random.default_rng(3), []
    for _ in range(200):
        rows = np.concatenate([np.flatnonzero(cell == k) for k in draws.choice(cells, cells)])
        if np.ptp(x[rows]) > 0:  # a draw of one lr/wd has no slope
            slopes.append(ols(rows))
    assert fit["slope"] == pytest.approx(ols(np.arange(15)), abs=1e-12)
    lo, hi = np.percentile(slopes, [2.5, 97.5])
    assert (fit["ci_lo"], fit["ci_hi"]) == pytest.approx((lo, hi), abs=1e-12)


def test_log_sd_ratio_interval_comes_from_the_f_distribution():
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 1.5, 2.0, 2.5])  # sd ratio 2
    r = log_sd_ratio(a, b)
    assert r["diff"] == pytest.approx(math.log(2.0))
    f = sps.f(3, 3)
    assert r["ci_lo"] == pytest.approx(0.5 * math.log(4.0 / f.ppf(0.975)))
    assert math.isnan(log_sd_ratio([1.0, 1.0], [1.0, 2.0])["diff"])


def test_one_sided_p_against_a_threshold_matches_the_interval():
    d = np.array([0.012, 0.015, 0.011, 0.016, 0.013, 0.014, 0.012, 0.015])
    p = paired(d, np.zeros_like(d))
    assert p["ci_lo"] > 0.01 and p_above(d, 0.01) < 0.025  # lower end clears 0.01 ⟺ p < 0.025
    assert p_above(d, p["ci_lo"]) == pytest.approx(0.025, rel=1e-6)


def test_spikes():
    assert count_spikes([5.0, 4.0, 3.5, 3.0]) == 0
    assert count_spikes([5.0, 4.0, 4.5, 3.0, 3.4]) == 2  # 4.5 > 1.1·4.0, 3.4 > 1.1·3.0
    assert count_spikes([5.0, 4.0, None]) == 1


@pytest.mark.parametrize(
    "lo, hi, kind, margin, target, expected",
    [
        (0.02, 0.05, "greater", 0.01, 0.0, "reproduced"),
        (-0.05, -0.02, "greater", 0.01, 0.0, "contradicted"),  # the other way, beyond -m
        (-0.002, 0.004, "greater", 0.01, 0.0, "not reproduced"),  # no effect of meaningful size
        (-0.008, -0.001, "greater", 0.01, 0.0, "not reproduced"),  # wrong sign, but inside ±m
        (0.003, 0.008, "greater", 0.01, 0.0, "real but smaller than claimed"),
        (0.005, 0.02, "greater", 0.01, 0.0, "inconclusive"),  # straddles the margin
        (-0.02, 0.05, "greater", 0.01, 0.0, "inconclusive"),
        (-0.02, 0.005, "greater", 0.01, 0.0, "inconclusive"),  # straddles -m and 0
        # resolved the other way, by an amount the interval does not fix against -m (study v4's
        # U4: AdamW's accuracy lower on 8 of 8 seeds, [-0.0043, -0.0017] at a margin of 0.002)
        (-0.0043, -0.0017, "greater", 0.002, 0.0, "reversed"),
        (-0.02, -0.005, "greater", 0.01, 0.0, "reversed"),
        (0.4, 0.5, "greater", 0.1, 0.25, "reproduced"),  # the target shifts every threshold
        (0.27, 0.34, "greater", 0.1, 0.25, "real but smaller than claimed"),
        (-0.004, 0.006, "equal", 0.01, 0.0, "reproduced"),
        (0.02, 0.04, "equal", 0.01, 0.0, "contradicted"),
        (-0.02, 0.004, "equal", 0.01, 0.0, "inconclusive"),
        (-1.2, -0.9, "equal", 0.25, -1.0, "reproduced"),
        (-0.3, 0.1, "equal", 0.25, -1.0, "contradicted"),
        (float("nan"), 1.0, "greater", 0.0, 0.0, "inconclusive"),
    ],
)
def test_verdict_rule(lo, hi, kind, margin, target, expected):
    assert verdict(lo, hi, kind, margin, target) == expected
