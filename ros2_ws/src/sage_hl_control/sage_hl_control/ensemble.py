# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Temporal ensembling of overlapping action chunks (ACT-style), evaluated at "now".

Each chunk is K position targets for t0, t0 + dt, ..., t0 + (K-1) dt. At time t every chunk
whose span covers t contributes its target at t (linearly interpolated between its steps)
with weight exp(-decay * age), age = t - t0: decay > 0 favours the newest chunk, decay < 0
the oldest (ACT), 0 is a plain average. A chunk whose span has passed is dropped. When no
chunk covers t the result is None (the caller holds).
"""

import collections
import math

import numpy as np


class TemporalEnsembler:
    """Blend the chunks that cover a point in time."""

    def __init__(self, decay=10.0, max_chunks=32):
        self.decay = float(decay)
        self._chunks = collections.deque(maxlen=int(max_chunks))

    def __len__(self):
        return len(self._chunks)

    def clear(self):
        """Drop every chunk (after a hold: stale chunks must not resume)."""
        self._chunks.clear()

    def add(self, chunk, t0, dt, version=''):
        """Add a (K, J) chunk whose first target is for time t0 (seconds), steps dt apart."""
        chunk = np.asarray(chunk, dtype=np.float64)
        if chunk.ndim != 2 or chunk.shape[0] < 1 or not dt > 0:
            raise ValueError(f'expected a (K, J) chunk and dt > 0, got {chunk.shape}, {dt}')
        self._chunks.append((float(t0), float(dt), chunk, version))

    def versions(self):
        """Return the model versions of the chunks held, oldest first."""
        return [c[3] for c in self._chunks]

    def evaluate(self, now):
        """Return the blended (J,) target at time now, or None when no chunk covers it."""
        while self._chunks and self._end(self._chunks[0]) < now:
            self._chunks.popleft()
        total = None
        weight_sum = 0.0
        for t0, dt, chunk, _ in self._chunks:
            if now < t0 or now > self._end((t0, dt, chunk)):
                continue
            pos = (now - t0) / dt
            i = min(int(pos), chunk.shape[0] - 1)
            frac = pos - i
            target = chunk[i] if i + 1 >= chunk.shape[0] else \
                chunk[i] * (1.0 - frac) + chunk[i + 1] * frac
            weight = math.exp(-self.decay * (now - t0))
            total = target * weight if total is None else total + target * weight
            weight_sum += weight
        if total is None or not weight_sum > 0:
            return None
        return total / weight_sum

    @staticmethod
    def _end(entry):
        t0, dt, chunk = entry[0], entry[1], entry[2]
        return t0 + dt * (chunk.shape[0] - 1)
