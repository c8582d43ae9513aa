# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Small running statistics for diagnostics and benchmarks."""

import collections
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
