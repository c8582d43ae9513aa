# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The safety filter without ROS: limits, watchdog, e-stop, slow start, counting."""

import numpy as np
import pytest

from sage_hl_control.safety import SafetyFilter, SlowStart

DT = 0.01


def make_filter(**kwargs):
    args = {'joint_names': ['joint0', 'joint1'], 'lower': [-6.0, -3.0], 'upper': [6.0, 3.0],
            'max_velocity': [2.0, 2.0], 'max_acceleration': [50.0, 50.0], 'dt': DT,
            'stale_timeout': 0.1, 'slow_start': SlowStart([1.0], 1.0)}
    args.update(kwargs)
    return SafetyFilter(**args)


def feed(f, now, pos=(0.0, 0.0)):
    f.update_joints(pos, now)
    f.update_context(now)


def test_nothing_before_a_joint_state():
    f = make_filter()
    f.update_context(0.0)
    assert f.step(0.0, [0.1, 0.1]) is None
    assert f.counts['no_joint_state'] == 1


def test_tracks_target_within_velocity_and_position_limits():
    f = make_filter()
    prev = np.zeros(2)
    for i in range(200):
        now = i * DT
        feed(f, now)
        cmd = f.step(now, [10.0, -10.0])  # far outside the position limits
        assert not cmd.holding
        assert f.within_limits(cmd.positions)
        assert np.all(np.abs(cmd.positions - prev) <= 2.0 * DT + 1e-12)
        prev = cmd.positions
    # Reached the limits (braking bound keeps it inside), never beyond.
    assert prev[0] == pytest.approx(6.0, abs=1e-3) or prev[0] < 6.0
    assert f.counts['position_clamped'] > 0 and f.counts['velocity_limited'] > 0


def test_acceleration_limit_ramps_velocity():
    f = make_filter(max_velocity=[100.0, 100.0], max_acceleration=[10.0, 10.0])
    velocities = []
    prev = np.zeros(2)
    for i in range(5):
        feed(f, i * DT)
        cmd = f.step(i * DT, [1.0, 1.0])
        velocities.append((cmd.positions - prev) / DT)
        prev = cmd.positions
    steps = np.diff(np.array(velocities)[:, 0])
    assert velocities[0][0] == pytest.approx(10.0 * DT)
    assert np.all(steps <= 10.0 * DT + 1e-9)
    assert f.counts['acceleration_limited'] >= 5


@pytest.mark.parametrize('target,reason', [
    ([np.nan, 0.0], 'non_finite'),
    ([np.inf, 0.0], 'non_finite'),
    ([0.1, 0.2, 0.3], 'wrong_joint_count'),
    (None, 'no_target'),
])
def test_bad_targets_hold_last_measured_position(target, reason):
    f = make_filter()
    feed(f, 0.0, (0.5, -0.5))
    cmd = f.step(0.0, target)
    assert cmd.holding and reason in cmd.reasons
    assert np.array_equal(cmd.positions, [0.5, -0.5])
    assert f.counts['hold_' + reason] == 1


def test_bad_joint_states_are_refused():
    f = make_filter()
    assert not f.update_joints([0.0], 0.0)
    assert not f.update_joints([np.nan, 0.0], 0.0)
    assert f.counts['joint_state_wrong_count'] == 1
    assert f.counts['joint_state_non_finite'] == 1
    assert f.measured() is None


def test_watchdog_holds_on_stale_inputs_and_resumes_only_after_fresh_ones():
    f = make_filter()
    for i in range(10):
        feed(f, i * DT, (0.2, 0.2))
        f.step(i * DT, [0.3, 0.3])
    # Context stops at t=0.09; joints keep coming; the arm moved meanwhile.
    now = 0.09
    while now < 0.19 + 1e-9:
        now += DT
        f.update_joints((0.25, 0.25), now)
        cmd = f.step(now, [0.3, 0.3])
    assert cmd.holding and 'stale_context' in cmd.reasons
    assert np.allclose(cmd.positions, [0.25, 0.25])  # last measured position when it started
    held = cmd.positions.copy()
    # While holding, the held position does not follow new measurements.
    f.update_joints((0.0, 0.0), now + DT)
    cmd = f.step(now + DT, [0.3, 0.3])
    assert cmd.holding and np.array_equal(cmd.positions, held)
    # Fresh context + joints: resumes.
    now += 2 * DT
    feed(f, now, (0.25, 0.25))
    cmd = f.step(now, [0.3, 0.3])
    assert not cmd.holding
    assert f.counts['hold_stale_context'] > 0


def test_stale_joints_hold():
    f = make_filter()
    feed(f, 0.0)
    f.update_context(0.5)
    cmd = f.step(0.5, [0.1, 0.1])
    assert cmd.holding and cmd.reasons == ['stale_joints']


def test_estop_latches_until_explicit_release_and_needs_fresh_inputs():
    f = make_filter()
    feed(f, 0.0, (0.1, 0.1))
    assert not f.step(0.0, [0.2, 0.2]).holding
    f.set_estop(True, 0.01)
    for i in range(1, 20):
        feed(f, i * DT, (0.1, 0.1))
        cmd = f.step(i * DT, [0.2, 0.2])
        assert cmd.holding and 'estop' in cmd.reasons
    f.set_estop(False, 0.2)
    cmd = f.step(0.2, [0.2, 0.2])  # inputs are from before the release
    assert cmd.holding and cmd.reasons == ['awaiting_fresh_inputs']
    feed(f, 0.21, (0.1, 0.1))
    assert not f.step(0.21, [0.2, 0.2]).holding
    assert f.counts['estop_pressed'] == 1 and f.counts['estop_released'] == 1


def test_slow_start_scales_velocity_step_by_step():
    f = make_filter(max_velocity=[1.0, 1.0], max_acceleration=[1e6, 1e6],
                    slow_start=SlowStart([0.1, 0.5, 1.0], 0.05))
    steps = []
    prev = np.zeros(2)
    for i in range(16):
        feed(f, i * DT)
        cmd = f.step(i * DT, [100.0 * (i + 1), 0.0])
        steps.append(cmd.positions[0] - prev[0])
        prev = cmd.positions
    assert steps[0] == pytest.approx(0.1 * 1.0 * DT)
    assert steps[6] == pytest.approx(0.5 * 1.0 * DT)
    assert steps[12] == pytest.approx(1.0 * DT)


def _resume_scale_after_hold(hold_ticks, estop=False):
    """Ramp to full speed, hold for hold_ticks stale ticks, resume: the scale it resumes at."""
    f = make_filter(slow_start=SlowStart([0.1, 1.0], 0.05), ramp_after_hold_s=0.5)
    now = 0.0
    for _ in range(10):  # past the ramp's first step: full speed
        now += DT
        feed(f, now)
        cmd = f.step(now, [0.1, 0.1])
    assert cmd.scale == 1.0
    if estop:
        f.set_estop(True, now)
    for _ in range(hold_ticks):  # joints go on, contexts stop
        now += DT
        f.update_joints((0.0, 0.0), now)
        cmd = f.step(now, [0.1, 0.1])
    assert cmd.holding
    f.set_estop(False, now)
    now += DT
    feed(f, now)
    cmd = f.step(now, [0.1, 0.1])
    assert not cmd.holding
    return cmd.scale


def test_short_holds_resume_at_speed_long_holds_and_estops_ramp_again():
    assert _resume_scale_after_hold(20) == 1.0                # 0.2 s: a late context
    assert _resume_scale_after_hold(60) == 0.1                # 0.6 s >= 0.5 s
    assert _resume_scale_after_hold(20, estop=True) == 0.1    # every e-stop
    with pytest.raises(ValueError):
        make_filter(ramp_after_hold_s=-1.0)


def test_hold_position_is_clamped_to_limits():
    # A continuous joint may be measured past its configured limit: with a margin that
    # allows it, the hold is clamped to the limit.
    f = make_filter(measured_margin=2.0)
    feed(f, 0.0, (7.5, 0.0))
    f.set_estop(True, 0.0)
    cmd = f.step(0.0, [0.0, 0.0])
    assert cmd.holding and f.within_limits(cmd.positions)
    assert cmd.positions[0] == 6.0


def test_invalid_configuration_is_refused():
    with pytest.raises(ValueError):
        make_filter(lower=[1.0, -3.0], upper=[0.0, 3.0])
    with pytest.raises(ValueError):
        make_filter(max_velocity=[1.0])
    with pytest.raises(ValueError):
        SlowStart([0.5, 0.1])


def test_random_targets_never_leave_limits():
    rng = np.random.default_rng(1)
    f = make_filter(slow_start=SlowStart([0.1, 1.0], 0.2), measured_margin=10.0)
    prev = None
    for i in range(1000):
        now = i * DT
        if rng.random() > 0.05:
            feed(f, now, rng.uniform(-8, 8, 2))
        target = [None, [np.nan, 1.0], [1.0], rng.uniform(-20, 20, 2)][rng.integers(4)]
        cmd = f.step(now, target)
        assert f.within_limits(cmd.positions)
        if prev is not None and not cmd.holding and not prev.holding:
            step = np.abs(cmd.positions - prev.positions)
            assert np.all(step <= 2.0 * cmd.scale * DT + 1e-9)
        prev = cmd


def test_a_reading_far_past_the_limits_is_refused_not_held_at():
    f = make_filter(measured_margin=0.5)
    feed(f, 0.0, (0.1, 0.1))
    assert f.step(0.0, [0.1, 0.1]).positions.tolist() == [0.1, 0.1]
    assert not f.update_joints((1e9, -1e9), DT)
    assert not f.update_joints((0.0, 3.6), DT)
    assert f.counts['joint_state_out_of_limits'] == 2
    assert f.update_joints((0.0, 3.4), DT)          # within the margin: an overshoot
    f.set_estop(True, DT)
    hold = f.step(DT, [0.1, 0.1])
    assert hold.holding and hold.positions.tolist() == [0.0, 3.0]
    with pytest.raises(ValueError, match='measured_margin'):
        make_filter(measured_margin=-1.0)
