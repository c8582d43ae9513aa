# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Temporal ensembling and the H-module's context window, without ROS."""

import array

import numpy as np
import pytest

from sage_hl_control.context_window import check_vector, ContextWindow, presence_group_mask
from sage_hl_control.ensemble import TemporalEnsembler
from sage_perception import layout


def ramp(start, k=10, j=2, slope=1.0):
    return np.array([[start + slope * i] * j for i in range(k)], dtype=float)


def test_single_chunk_is_interpolated_in_time():
    ens = TemporalEnsembler(decay=0.0)
    ens.add(ramp(0.0), t0=1.0, dt=0.1)
    assert ens.evaluate(1.0) == pytest.approx([0.0, 0.0])
    assert ens.evaluate(1.25) == pytest.approx([2.5, 2.5])
    assert ens.evaluate(1.9) == pytest.approx([9.0, 9.0])
    assert ens.evaluate(0.5) is None  # before the chunk


def test_expired_chunks_are_dropped():
    ens = TemporalEnsembler()
    ens.add(ramp(0.0), t0=0.0, dt=0.1)
    assert ens.evaluate(0.95) is None
    assert len(ens) == 0


def test_overlapping_chunks_blend_with_exponential_weights():
    decay = 5.0
    ens = TemporalEnsembler(decay=decay)
    ens.add(np.zeros((10, 2)), t0=0.0, dt=0.1)
    ens.add(np.ones((10, 2)), t0=0.2, dt=0.1)
    now = 0.3
    w_old, w_new = np.exp(-decay * 0.3), np.exp(-decay * 0.1)
    assert ens.evaluate(now) == pytest.approx([w_new / (w_old + w_new)] * 2)
    ens_act = TemporalEnsembler(decay=-5.0)  # ACT: the older chunk dominates
    ens_act.add(np.zeros((10, 2)), t0=0.0, dt=0.1)
    ens_act.add(np.ones((10, 2)), t0=0.2, dt=0.1)
    assert ens_act.evaluate(now)[0] < 0.5


def test_blending_is_smooth_across_a_new_chunk():
    ens = TemporalEnsembler(decay=10.0)
    ens.add(ramp(0.0, slope=0.1), t0=0.0, dt=0.1)
    before = ens.evaluate(0.299)
    ens.add(ramp(0.5, slope=0.1), t0=0.3, dt=0.1)  # disagrees by 0.2 rad
    after = ens.evaluate(0.3)
    assert abs(after[0] - before[0]) < 0.2  # blended, not a jump to the new chunk


def test_clear_and_bad_chunks():
    ens = TemporalEnsembler()
    ens.add(ramp(0.0), 0.0, 0.1, version='v0001')
    assert ens.versions() == ['v0001']
    ens.clear()
    assert ens.evaluate(0.0) is None
    with pytest.raises(ValueError):
        ens.add(np.zeros(10), 0.0, 0.1)


def test_presence_group_mask():
    every_bit = sum(layout.PRESENCE_GROUPS)  # 63
    assert presence_group_mask(every_bit).sum() == 16
    # color, depth, joints; no audio/tactile/task
    mask = presence_group_mask(layout.PRESENT_COLOR | layout.PRESENT_DEPTH | layout.PRESENT_JOINTS)
    assert mask[0] == mask[1] == mask[2] == mask[5] == 1
    assert mask[3] == mask[4] == mask[9] == 0
    assert mask[10:].sum() == 6


def test_check_vector():
    good = array.array('f', [0.5] * 8)
    arr, reason = check_vector(good, 8)
    assert reason is None and arr.shape == (8,)
    assert check_vector(array.array('f', [0.5] * 7), 8) == (None, 'wrong_size')
    assert check_vector(array.array('f', [0.5] * 7 + [float('nan')]), 8)[1] == 'non_finite'
    assert check_vector([0.0] * 7 + [float('inf')], 8)[1] == 'non_finite'


def test_context_window_order_validity_and_age():
    win = ContextWindow(size=3, max_age_s=0.5)
    feeds = win.feeds()
    assert feeds['valid'].sum() == 0
    ones = np.ones(layout.NUM_GROUPS, np.float32)
    win.push(np.full(layout.DIM, 1.0), ones, 10.0)
    feeds = win.feeds()
    assert feeds['valid'].tolist() == [[0, 0, 1]]
    assert feeds['window'][0, 2, 0] == 1.0 and feeds['window'][0, 0].sum() == 0
    win.push(np.full(layout.DIM, 2.0), ones, 10.4)
    win.push(np.full(layout.DIM, 3.0), ones, 10.6)  # the first (10.0) is now too old
    feeds = win.feeds()
    assert feeds['valid'].tolist() == [[0, 1, 1]]
    assert feeds['window'][0, 2, 0] == 3.0 and feeds['window'][0, 1, 0] == 2.0
    win.push(np.full(layout.DIM, 4.0), ones, 1.0)  # stamp went backwards: a reset
    assert win.resets == 1 and win.feeds()['valid'].tolist() == [[0, 0, 1]]


def test_context_window_reset_empties_it_and_drops_contexts_from_before():
    win = ContextWindow(size=3, max_age_s=5.0)
    ones = np.ones(layout.NUM_GROUPS, np.float32)
    for t in (10.0, 10.1, 10.2):
        assert win.push(np.full(layout.DIM, t), ones, t)
    win.reset(10.5)
    assert len(win) == 0 and win.feeds()['valid'].sum() == 0 and win.history_resets == 1
    assert not win.push(np.full(layout.DIM, 9.0), ones, 10.3)  # in flight at the boundary
    assert len(win) == 0 and win.dropped_before_start == 1
    assert win.push(np.full(layout.DIM, 5.0), ones, 10.5)
    feeds = win.feeds()
    assert feeds['valid'].tolist() == [[0, 0, 1]] and feeds['window'][0, 2, 0] == 5.0
    # after the episode's first context, an earlier stamp is the clock going back
    assert win.push(np.full(layout.DIM, 6.0), ones, 1.0)
    assert win.resets == 1 and win.dropped_before_start == 1 and len(win) == 1


def test_context_window_reset_keeps_the_new_episode_and_survives_a_resize():
    win = ContextWindow(size=3, max_age_s=5.0)
    ones = np.ones(layout.NUM_GROUPS, np.float32)
    for t in (20.0, 20.2):
        win.push(np.full(layout.DIM, t), ones, t)
    win.reset(20.1)  # the boundary message came after the episode's first context
    assert win.feeds()['window'][0, :, 0].tolist() == [0.0, 0.0, np.float32(20.2)]
    assert win.push(np.full(layout.DIM, 1.0), ones, 20.3) and len(win) == 2
    win.reset()  # the service: everything goes, nothing is dropped afterwards
    assert len(win) == 0 and win.push(np.full(layout.DIM, 1.0), ones, 20.25)
    win.reset(30.0)
    win.resize(5)  # a new model's window size keeps the pending boundary and the counts
    assert win.size == 5 and win.history_resets == 3
    assert not win.push(np.full(layout.DIM, 1.0), ones, 29.0) and win.dropped_before_start == 1
    assert win.push(np.full(layout.DIM, 1.0), ones, 30.0)
    assert win.feeds()['valid'].tolist() == [[0, 0, 0, 0, 1]]
