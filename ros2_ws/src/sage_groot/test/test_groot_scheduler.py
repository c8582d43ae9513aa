# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Chunk scheduling without sockets: steps by time, skipping, requests ahead of time."""

import numpy as np
import pytest
from sage_groot.scheduler import ChunkScheduler

DT = 0.02


def chunk(start=0.0, n=16):
    return np.arange(start, start + n)[:, None] * np.ones((1, 2))


def test_steps_follow_the_clock_from_the_observation_time():
    s = ChunkScheduler(DT)
    assert s.action(0.0) is None and s.request_due(0.0)
    assert s.add(chunk(), t_obs=1.0, now=1.0) == 0
    assert s.action(1.0)[0] == 0
    assert s.action(1.0 + 5 * DT)[0] == 5
    assert s.action(1.0 + 5.5 * DT)[0] == 5
    assert s.action(1.0 + 15 * DT)[0] == 15
    assert s.action(1.0 + 16 * DT) is None    # ran out: hold
    assert s.chunk is None


def test_late_chunks_skip_the_steps_already_past():
    s = ChunkScheduler(DT)
    assert s.add(chunk(), t_obs=1.0, now=1.0 + 0.3) == 15   # 300 ms of latency
    assert s.action(1.3)[0] == 15
    assert s.add(chunk(100), t_obs=2.0, now=2.0 + 0.5) == 16   # entirely in the past
    assert s.action(2.5) is None
    assert s.skipped_steps == 31


def test_a_newer_chunk_replaces_the_one_in_play():
    s = ChunkScheduler(DT)
    s.add(chunk(0), 0.0, 0.0)
    s.add(chunk(100), 0.1, 0.12)
    assert s.action(0.12)[0] == 101


def test_the_next_request_is_due_when_the_remaining_steps_cover_the_latency():
    s = ChunkScheduler(DT, initial_latency=0.1, margin_steps=2)
    s.add(chunk(), 0.0, 0.0)          # covers 0 .. 0.32 s
    assert s.remaining_s(0.0) == pytest.approx(0.32)
    lead = 0.1 + 2 * DT               # latency + margin
    assert not s.request_due(0.32 - lead - 0.005)
    assert s.request_due(0.32 - lead + 0.005)
    # measured latencies replace the initial guess (90th percentile of the window)
    for latency in [0.01] * 9 + [0.2]:
        s.record_latency(latency)
    assert s.expected_latency() == pytest.approx(np.quantile([0.01] * 9 + [0.2], 0.9))


def test_steady_state_without_gaps():
    """
    Simulated server with a fixed latency: after the first chunk, every tick has a step.

    One request is in flight at a time (a REQ socket), so a chunk must outlast two round
    trips (16 steps of 20 ms = 0.32 s: latencies up to ~0.15 s with the tick's rounding).
    """
    for latency in (0.002, 0.1, 0.14):
        s = ChunkScheduler(DT, initial_latency=0.35)
        pending, gaps, t = None, 0, 0.0
        for tick in range(500):
            t = tick * DT
            if pending is not None and t >= pending[1] + latency:
                s.record_latency(latency)
                s.add(chunk(pending[1] / DT), pending[1], t)
                pending = None
            if pending is None and s.request_due(t):
                pending = (None, t)
            step = s.action(t)
            if step is None and tick * DT > 1.0:
                gaps += 1
            elif step is not None:
                assert step[0] == pytest.approx(round(t / DT))   # the step for now
        assert gaps == 0, (latency, gaps)


def test_a_server_slower_than_half_the_horizon_leaves_gaps():
    s = ChunkScheduler(DT, initial_latency=0.3)
    s.add(chunk(), 0.0, 0.3)            # the first chunk arrives 0.3 s late: 1 step left
    assert s.request_due(0.3)
    s.add(chunk(15), 0.3, 0.6)          # the next one too: 0.3 .. 0.62
    assert s.action(0.6)[0] == 30 and s.skipped_steps == 15 + 15


def test_clear_holds_until_the_next_chunk():
    s = ChunkScheduler(DT)
    s.add(chunk(), 0.0, 0.0)
    s.clear()
    assert s.action(0.02) is None and s.request_due(0.02)
    with pytest.raises(ValueError):
        ChunkScheduler(0.0)
    with pytest.raises(ValueError):
        s.add(np.zeros(3), 0.0, 0.0)
