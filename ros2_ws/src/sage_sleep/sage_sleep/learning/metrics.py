# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Validation figures of a sleep result, in numpy.

Compression quality is judged against PCA-256 fit on the same training data: how much of the
4K context a 256-D code can reconstruct (R²) and how well a linear probe reads the teacher's
action out of it (R²). Collapse is watched through per-dimension std and effective rank.
"""

import numpy as np


def r2_score(target, prediction):
    """Return the coefficient of determination over all dims (1 - SSE / SST)."""
    target = np.asarray(target, dtype=np.float64)
    prediction = np.asarray(prediction, dtype=np.float64)
    sst = np.sum((target - target.mean(axis=0)) ** 2)
    if sst <= 0:
        return float('nan')
    return float(1.0 - np.sum((target - prediction) ** 2) / sst)


class PCA:
    """Principal components via SVD of the centred training data."""

    def __init__(self, n_components):
        self.n_components = n_components
        self.mean = None
        self.components = None

    def fit(self, x):
        x = np.asarray(x, dtype=np.float64)
        self.mean = x.mean(axis=0)
        _, _, vt = np.linalg.svd(x - self.mean, full_matrices=False)
        self.components = vt[:self.n_components]
        return self

    def transform(self, x):
        return (np.asarray(x, dtype=np.float64) - self.mean) @ self.components.T

    def inverse_transform(self, codes):
        return codes @ self.components + self.mean


class RidgeProbe:
    """Linear read-out with an L2 penalty, fit in closed form on standardized inputs."""

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def fit(self, x, y):
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        self.x_mean, self.x_std = x.mean(axis=0), x.std(axis=0) + 1e-8
        self.y_mean = y.mean(axis=0)
        xs = (x - self.x_mean) / self.x_std
        gram = xs.T @ xs + self.alpha * len(xs) * np.eye(xs.shape[1])
        self.weights = np.linalg.solve(gram, xs.T @ (y - self.y_mean))
        return self

    def predict(self, x):
        xs = (np.asarray(x, dtype=np.float64) - self.x_mean) / self.x_std
        return xs @ self.weights + self.y_mean


def probe_r2(train_codes, train_targets, test_codes, test_targets, alpha=1e-3):
    """Return held-out R² of a ridge probe from codes to targets."""
    probe = RidgeProbe(alpha).fit(train_codes, train_targets)
    return r2_score(test_targets, probe.predict(test_codes))


def pca_baseline(train_contexts, train_actions, test_contexts, test_actions, dims=256):
    """
    Return reconstruction and action-probe R² of PCA-`dims` fit on the training contexts.

    With fewer training samples than dims, PCA keeps as many components as samples allow
    (and the report says how many it kept).
    """
    n = min(dims, len(train_contexts), np.asarray(train_contexts).shape[1])
    pca = PCA(n).fit(train_contexts)
    test_codes = pca.transform(test_contexts)
    return {
        'components': int(n),
        'reconstruction_r2': r2_score(test_contexts, pca.inverse_transform(test_codes)),
        'action_probe_r2': probe_r2(pca.transform(train_contexts), train_actions,
                                    test_codes, test_actions),
    }


def auroc(real_scores, fake_scores):
    """
    Return the probability that a real sequence scores higher than a dreamed one.

    Mann-Whitney U with ties counted half; 0.5 means the scores cannot tell them apart.
    """
    real = np.asarray(real_scores, dtype=np.float64)
    fake = np.asarray(fake_scores, dtype=np.float64)
    if real.size == 0 or fake.size == 0:
        return float('nan')
    scores = np.concatenate([real, fake])
    order = scores.argsort(kind='mergesort')
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    u = ranks[:real.size].sum() - real.size * (real.size + 1) / 2.0
    return float(u / (real.size * fake.size))


def effective_rank(codes):
    """Return exp(entropy) of the normalized singular values of the centred codes (1..dims)."""
    x = np.asarray(codes, dtype=np.float64)
    x = x - x.mean(axis=0)
    s = np.linalg.svd(x, compute_uv=False)
    if s.sum() <= 0:
        return 0.0
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def collapse_monitors(codes, min_std=1e-3):
    """Return per-dimension std summary and effective rank of a batch of codes."""
    x = np.asarray(codes, dtype=np.float64)
    std = x.std(axis=0)
    return {
        'std_mean': float(std.mean()),
        'std_min': float(std.min()),
        'dead_dims': int((std < min_std).sum()),
        'dims': int(x.shape[1]),
        'effective_rank': effective_rank(x),
    }


def is_collapsed(monitors, min_effective_rank=2.0, max_dead_fraction=0.5):
    """Return True when codes have (nearly) collapsed to a point or a line."""
    dead_fraction = monitors['dead_dims'] / max(1, monitors['dims'])
    return monitors['effective_rank'] < min_effective_rank or dead_fraction > max_dead_fraction
