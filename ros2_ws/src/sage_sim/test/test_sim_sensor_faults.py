# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Sensor faults: each kind changes only what it should, only inside its window."""

import math

import numpy as np
import pytest
from sage_sim.sensor_faults import KINDS, SensorFault, SensorFaults


def frames(value):
    rgb = np.full((6, 8, 3), value, np.uint8)
    depth = np.full((6, 8), 0.5 + value / 1000.0, np.float32)
    return rgb, depth


def test_no_fault_and_outside_the_window_report_the_truth():
    for fault in (SensorFault(), SensorFault('black_image', start_s=1.0, duration_s=0.5)):
        faults = SensorFaults(fault)
        for t in (0.0, 0.99, 1.5, 3.0):
            rgb, depth = frames(int(t * 10))
            out_rgb, out_depth = faults.camera(t, rgb, depth)
            assert out_rgb is rgb and out_depth is depth
        assert faults.faulty_frames == 0


def test_frozen_camera_repeats_the_last_clean_frames_until_the_window_ends():
    faults = SensorFaults(SensorFault('frozen_camera', start_s=0.2, duration_s=0.3))
    seen = [faults.camera(t, *frames(i))[0][0, 0, 0] for i, t in
            enumerate((0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6))]
    assert seen == [0, 1, 1, 1, 1, 5, 6]
    assert faults.faulty_frames == 3


def test_black_noise_shift_and_dropout():
    rgb, depth = frames(100)
    rgb[:, 0] = 7
    black = SensorFaults(SensorFault('black_image')).camera(0.0, rgb, depth)
    assert not black[0].any() and black[1] is depth
    noisy = SensorFaults(SensorFault('color_noise', severity=0.2), seed=1).camera(0, rgb, depth)
    assert noisy[0].dtype == np.uint8 and 20 < np.abs(noisy[0] - 100.0).mean() < 60
    shifted_rgb, shifted_depth = SensorFaults(
        SensorFault('camera_shift', severity=0.25)).camera(0.0, rgb, depth)
    assert (shifted_rgb[:, :2] == 0).all() and (shifted_rgb[:, 2] == 7).all()
    assert np.isnan(shifted_depth[:, :2]).all() and np.isfinite(shifted_depth[:, 2:]).all()
    _, dropped = SensorFaults(SensorFault('depth_dropout', severity=0.5), seed=2).camera(
        0.0, rgb, np.full((100, 100), 1.0, np.float32))
    assert dropped.dtype == np.float32 and 0.4 < np.isnan(dropped).mean() < 0.6


def test_stuck_joint_holds_the_onset_position_with_zero_velocity():
    faults = SensorFaults(SensorFault('stuck_joint', start_s=1.0, duration_s=1.0, joint=1))
    q0, v = np.array([0.1, 0.2]), np.array([1.0, 1.0])
    assert faults.joints(0.5, q0, v)[0] is q0
    for t, q1 in ((1.0, 0.3), (1.5, 0.9)):
        q, vel = faults.joints(t, np.array([t, q1]), v)
        assert q.tolist() == [t, 0.3] and vel.tolist() == [1.0, 0.0]
    assert faults.joints(2.0, np.array([2.0, 1.2]), v)[0].tolist() == [2.0, 1.2]
    # The camera is untouched by a joint fault.
    rgb, depth = frames(3)
    assert faults.camera(1.5, rgb, depth)[0] is rgb
    with pytest.raises(ValueError, match='joint 5 of 2'):
        SensorFaults(SensorFault('stuck_joint', joint=5)).joints(0.0, q0, v)


@pytest.mark.parametrize('kwargs, match', [
    ({'kind': 'smoke'}, 'is not one of'),
    ({'kind': 'color_noise'}, 'severity'),
    ({'kind': 'camera_shift', 'severity': 1.5}, 'severity'),
    ({'kind': 'black_image', 'duration_s': 0.0}, 'duration_s'),
    ({'kind': 'black_image', 'start_s': -1.0}, 'start_s'),
    ({'kind': 'stuck_joint', 'joint': -1}, 'joint'),
])
def test_bad_faults_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SensorFault(**kwargs)


def test_every_kind_is_valid_with_a_severity():
    for kind in KINDS:
        fault = SensorFault(kind, severity=0.1)
        assert fault.active(0.0) == (kind != 'none') and not fault.active(-1.0)
        assert fault.duration_s == math.inf
