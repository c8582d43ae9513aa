# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Validation figures: R², PCA baseline, probes, AUROC, collapse monitors."""

import numpy as np
import pytest
from sage_sleep.learning.metrics import (auroc, collapse_monitors, effective_rank,
                                         is_collapsed, pca_baseline, probe_r2, r2_score)


def test_r2_perfect_and_mean_prediction():
    y = np.random.default_rng(0).normal(size=(50, 3))
    assert r2_score(y, y) == pytest.approx(1.0)
    assert r2_score(y, np.broadcast_to(y.mean(axis=0), y.shape)) == pytest.approx(0.0)


def test_pca_baseline_recovers_low_rank_data_and_linear_action():
    rng = np.random.default_rng(1)
    latent = rng.normal(size=(400, 8))
    mixing = rng.normal(size=(8, 64))
    contexts = latent @ mixing + 0.01 * rng.normal(size=(400, 64))
    actions = latent[:, :2] * 2.0
    result = pca_baseline(contexts[:300], actions[:300], contexts[300:], actions[300:], dims=8)
    assert result['components'] == 8
    assert result['reconstruction_r2'] > 0.99
    assert result['action_probe_r2'] > 0.99
    # With 2 components most of the 8-D signal is lost.
    small = pca_baseline(contexts[:300], actions[:300], contexts[300:], actions[300:], dims=2)
    assert small['reconstruction_r2'] < 0.6


def test_probe_on_noise_does_not_generalize():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(200, 20)), rng.normal(size=(200, 2))
    assert probe_r2(x[:100], y[:100], x[100:], y[100:]) < 0.1


def test_auroc_extremes_ties_and_chance():
    assert auroc([3, 4, 5], [0, 1, 2]) == 1.0
    assert auroc([0, 1], [5, 6]) == 0.0
    assert auroc([1, 1], [1, 1]) == 0.5
    rng = np.random.default_rng(3)
    assert abs(auroc(rng.normal(size=2000), rng.normal(size=2000)) - 0.5) < 0.05
    assert np.isnan(auroc([], [1.0]))


def test_collapse_monitors_flag_a_collapsed_code():
    rng = np.random.default_rng(4)
    healthy = collapse_monitors(rng.normal(size=(500, 32)))
    assert healthy['effective_rank'] > 25 and healthy['dead_dims'] == 0
    assert not is_collapsed(healthy)
    line = np.outer(rng.normal(size=500), rng.normal(size=32))
    assert effective_rank(line) == pytest.approx(1.0, abs=0.01)
    assert is_collapsed(collapse_monitors(line))
    assert is_collapsed(collapse_monitors(np.ones((100, 32))))
