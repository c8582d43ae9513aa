# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The evaluation's statistics, against reference values worked out by hand.

jerk_rms: the smoothness figure the evaluator and the demo both report; wilson_interval: a
success rate's 95% interval; paired_bootstrap: the interval of a difference over shared seeds.
"""

import math

import numpy as np
import pytest
from sage_common.stats import jerk_rms, paired_bootstrap, wilson_interval


def test_jerk_of_a_cubic_is_its_constant_third_derivative():
    dt = 0.01
    t = np.arange(50) * dt
    targets = np.stack([2.0 * t ** 3, -t ** 3], axis=1)   # jerk 12 and -6 rad/s^3
    assert jerk_rms(targets, dt) == pytest.approx(np.sqrt((12 ** 2 + 6 ** 2) / 2), rel=1e-6)
    assert jerk_rms(targets[:, :1] * 0 + 1.0, dt) == 0.0      # holding still


def test_too_short_a_sequence_has_no_jerk():
    assert jerk_rms([], 0.01) == 0.0
    assert jerk_rms(np.ones((3, 2)), 0.01) == 0.0


@pytest.mark.parametrize('k, n, low, high', [
    # 8/10, z = 1.96: z^2 = 3.8416, denom = 1 + 3.8416/10 = 1.38416,
    # centre = (0.8 + 3.8416/20) / 1.38416 = 0.99208 / 1.38416 = 0.716738,
    # half = 1.96 * sqrt(0.8 * 0.2 / 10 + 3.8416/400) / 1.38416
    #      = 1.96 * sqrt(0.016 + 0.009604) / 1.38416 = 1.96 * 0.160012 / 1.38416 = 0.226581,
    # so [0.716738 - 0.226581, 0.716738 + 0.226581] = [0.4902, 0.9433].
    (8, 10, 0.4902, 0.9433),
    # 0/10: centre = half = 0.19208 / 1.38416 = 0.138770 -> [0, 0.2775]; 10/10 mirrors it.
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    # 50/100: denom = 1.038416, centre = 0.5,
    # half = 1.96 * sqrt(0.0025 + 3.8416/40000) / 1.038416 = 1.96 * 0.0509513 / 1.038416
    #      = 0.0961702 -> [0.4038, 0.5962].
    (50, 100, 0.4038, 0.5962),
])
def test_wilson_interval_reference_values(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=5e-5) and hi == pytest.approx(high, abs=5e-5)
    assert 0.0 <= lo <= k / n <= hi <= 1.0


@pytest.mark.parametrize('k, n', [(1, 3), (8, 10), (37, 50), (99, 100), (0, 7), (7, 7)])
def test_wilson_bounds_solve_the_score_equation(k, n):
    # Wilson's interval is the set of p with |k/n - p| <= z * sqrt(p (1 - p) / n): its bounds
    # are the roots of (k/n - p)^2 = z^2 p (1 - p) / n, a different route to the same numbers.
    z = 1.96
    for p in wilson_interval(k, n, z):
        assert (k / n - p) ** 2 == pytest.approx(z * z * p * (1 - p) / n, abs=1e-12)


def test_wilson_interval_of_nothing_is_undefined():
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


def test_paired_bootstrap_matches_the_exact_bootstrap_distribution():
    # One win in five pairs: a resample's mean is K/5 with K ~ Binomial(5, 0.2).
    # P(K = 0) = 0.8^5 = 0.32768 > 2.5%, so the low end is 0; P(K <= 2) = 0.94208 < 97.5% <=
    # P(K <= 3) = 0.99328, so the high end is 3/5. 10000 resamples put the empirical quantiles
    # on the same atoms with margins of > 10 standard errors.
    mean, low, high = paired_bootstrap([1, 0, 0, 0, 0], [0, 0, 0, 0, 0])
    assert (mean, low, high) == (pytest.approx(0.2), 0.0, pytest.approx(0.6))


def test_paired_bootstrap_resamples_pairs_together():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 2, 40).astype(float)
    assert paired_bootstrap(a, a) == (0.0, 0.0, 0.0)      # shared seeds cancel exactly
    mean, low, high = paired_bootstrap(a, a - 0.25)
    assert (mean, low, high) == (pytest.approx(0.25),) * 3
    mean, low, high = paired_bootstrap(a, np.zeros(40), resamples=2000, seed=3)
    assert mean == pytest.approx(a.mean()) and low < mean < high
    assert paired_bootstrap(a, np.zeros(40), resamples=2000, seed=3) == (mean, low, high)


def test_paired_bootstrap_of_nothing_is_none():
    assert paired_bootstrap([], []) is None
