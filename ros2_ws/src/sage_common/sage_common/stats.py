# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Small running statistics for diagnostics and benchmarks, and the evaluation's intervals."""

import collections
import math
import time

import numpy as np


class RateMeter:
    """Events per second over a sliding window of the last `window` seconds."""

    def __init__(self, window=2.0, clock=time.monotonic):
        self._window = window
        self._clock = clock
        self._times = collections.deque()

    def tick(self):
        """Record one event now."""
        now = self._clock()
        self._times.append(now)
        self._trim(now)

    def rate(self):
        """Return events per second in the window (0 when fewer than two events)."""
        self._trim(self._clock())
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self, now):
        while self._times and now - self._times[0] > self._window:
            self._times.popleft()


class LatencyWindow:
    """Last N latency samples (seconds) with percentiles in milliseconds."""

    def __init__(self, size=1000):
        self._samples = collections.deque(maxlen=size)

    def add(self, seconds):
        """Add one sample in seconds."""
        self._samples.append(seconds)

    def __len__(self):
        return len(self._samples)

    def percentile_ms(self, q):
        """Return the q-th percentile in ms (nan when empty)."""
        if not self._samples:
            return float('nan')
        return float(np.percentile(np.fromiter(self._samples, float), q) * 1e3)


def summarize_ms(samples_s):
    """Return {'n', 'p50_ms', 'p99_ms', 'max_ms'} of a sequence of seconds."""
    arr = np.asarray(samples_s, dtype=float) * 1e3
    if arr.size == 0:
        return {'n': 0, 'p50_ms': None, 'p99_ms': None, 'max_ms': None}
    return {'n': int(arr.size), 'p50_ms': round(float(np.percentile(arr, 50)), 3),
            'p99_ms': round(float(np.percentile(arr, 99)), 3),
            'max_ms': round(float(arr.max()), 3)}


def jerk_rms(targets, dt):
    """Return the RMS third difference per dt^3 of a (N, J) target sequence (0 if N < 4)."""
    targets = np.asarray(targets, dtype=float)
    if len(targets) < 4:
        return 0.0
    jerk = np.diff(targets, n=3, axis=0) / dt ** 3
    return float(np.sqrt(np.mean(jerk ** 2)))


def wilson_interval(successes, n, z=1.96):
    """
    Return the Wilson score interval (low, high) of a success rate; z=1.96 is 95%.

    (nan, nan) for n == 0. The bounds are clipped to [0, 1] against rounding.
    """
    if n == 0:
        return (float('nan'), float('nan'))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def paired_bootstrap(a, b, resamples=10000, seed=0, level=0.95):
    """
    Return (mean, low, high) of mean(a - b) with its percentile bootstrap interval.

    a[i] and b[i] are one pair (two policies on the same seed): the pairs are resampled
    together, so what the two share cancels. None when there are no pairs.
    """
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if diff.size == 0:
        return None
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), (resamples, len(diff)))].mean(axis=1)
    tail = (100.0 - 100.0 * level) / 2   # 2.5 at level 0.95
    return (float(diff.mean()), float(np.percentile(means, tail)),
            float(np.percentile(means, 100.0 - tail)))
