# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Playing action chunks at control rate and asking for the next one in time (no sockets).

As LeRobot's async inference does: step i of a chunk is the action for the observation's
time + i * step_dt, so when a chunk arrives after the server's latency the steps already in
the past are skipped; the next chunk is requested while the current one still has enough
steps left to cover the expected round trip, so the arm does not stall while the server
thinks. A newer chunk replaces the older one from its first current step.

With one request in flight (a ZeroMQ REQ socket allows no more) the next observation is taken
when a chunk arrives, so a chunk must outlast two round trips: horizon x step_dt > 2 x
latency. GR00T's 16 steps at 50 Hz (0.32 s) against 173-341 ms on Orin would stall; at 30 Hz
(the usual dataset rate, 0.53 s) it covers round trips up to ~0.26 s.
"""

import collections
import math

import numpy as np


class ChunkScheduler:
    """
    The chunk in play, the step for a time, and when to ask for the next chunk.

    step_dt: seconds between steps. The expected latency is the `quantile` of the last
    `window` round trips (`initial_latency` before any); a request is due when the chunk's
    remaining time is at most that latency plus `margin_steps` steps.
    """

    def __init__(self, step_dt, initial_latency=0.35, margin_steps=2, window=50,
                 quantile=0.9):
        if step_dt <= 0:
            raise ValueError(f'step_dt must be > 0, got {step_dt}')
        self.step_dt = float(step_dt)
        self.initial_latency = float(initial_latency)
        self.margin_steps = int(margin_steps)
        self.quantile = float(quantile)
        self._latencies = collections.deque(maxlen=int(window))
        self.chunk = None
        self.t0 = None
        self.chunks = 0
        self.skipped_steps = 0   # steps of arriving chunks already in the past
        self.clear()

    def clear(self):
        """Drop the chunk in play (a fault, a new episode): nothing to play until the next."""
        self.chunk = None
        self.t0 = None

    def add(self, chunk, t_obs, now):
        """
        Play a (H, D) chunk computed for the observation taken at t_obs; return the steps skipped.

        Steps before `now` are skipped (counted); a chunk entirely in the past is not played.
        """
        chunk = np.asarray(chunk, float)
        if chunk.ndim != 2 or chunk.shape[0] < 1:
            raise ValueError(f'a chunk is (H, D), got {chunk.shape}')
        skipped = min(chunk.shape[0], max(0, self._index(now, t_obs)))
        self.skipped_steps += skipped
        self.chunks += 1
        if skipped >= chunk.shape[0]:
            return skipped
        self.chunk, self.t0 = chunk, float(t_obs)
        return skipped

    def _index(self, now, t0):
        return int(math.floor((now - t0) / self.step_dt + 1e-6))

    def action(self, now):
        """Return the step for now, or None (no chunk, or it ran out: hold)."""
        if self.chunk is None:
            return None
        i = max(0, self._index(now, self.t0))
        if i >= self.chunk.shape[0]:
            self.clear()
            return None
        return self.chunk[i]

    def remaining_s(self, now):
        """Return the time the chunk in play still covers (0 without one)."""
        if self.chunk is None:
            return 0.0
        return max(0.0, self.t0 + self.chunk.shape[0] * self.step_dt - now)

    def record_latency(self, seconds):
        """Record one observation-to-chunk round trip."""
        self._latencies.append(float(seconds))

    def expected_latency(self):
        """Return the latency the next request is planned for."""
        if not self._latencies:
            return self.initial_latency
        return float(np.quantile(np.asarray(self._latencies), self.quantile))

    def request_due(self, now):
        """Return True when the next chunk should be asked for now."""
        lead = self.expected_latency() + self.margin_steps * self.step_dt
        return self.remaining_s(now) <= lead
