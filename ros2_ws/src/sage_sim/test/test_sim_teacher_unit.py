# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Two-link IK and the scripted teacher, without ROS."""

import math

import numpy as np
import pytest
from sage_sim.robot import load_model, MujocoRobot
from sage_sim.teacher import ReachTeacher, TwoLinkArm


@pytest.fixture(scope='module')
def arm():
    return TwoLinkArm.from_model(load_model(camera=''))


def test_arm_is_measured_from_the_model(arm):
    assert arm.l1 == pytest.approx(0.1) and arm.l2 == pytest.approx(0.11)
    np.testing.assert_allclose(arm.base, [0.0, 0.0], atol=1e-12)
    assert arm.q1_range == (-3.0, 3.0)


def test_forward_matches_the_simulator(arm):
    robot = MujocoRobot(width=32, height=32)
    for seed in range(5):
        robot.reset(seed)
        np.testing.assert_allclose(arm.forward(robot.joint_positions()), robot.effector(),
                                   atol=1e-9)


def test_forward_of_inverse_is_the_point(arm):
    rng = np.random.default_rng(0)
    for _ in range(200):
        r = rng.uniform(0.02, 0.209)
        t = rng.uniform(-math.pi, math.pi)
        point = np.array([r * math.cos(t), r * math.sin(t)])
        near = rng.uniform(-3, 3, 2)
        q = arm.inverse(point, near=near)
        np.testing.assert_allclose(arm.forward(q), point, atol=1e-9)
        assert -3.0 <= q[1] <= 3.0
        assert abs(q[0] - near[0]) <= math.pi + 1e-9


def test_inverse_picks_the_solution_nearest_the_current_pose(arm):
    q = np.array([2 * math.pi + 0.4, 0.7])
    assert np.allclose(arm.inverse(arm.forward(q), near=q), q)
    mirrored = arm.inverse(arm.forward(q), near=(0.4 + 2 * math.pi, -0.7))
    assert mirrored[1] == pytest.approx(-0.7) and not np.allclose(mirrored, q)


def test_unreachable_points_give_the_nearest_reach(arm):
    q = arm.inverse((1.0, 0.0))
    np.testing.assert_allclose(arm.forward(q), [0.21, 0.0], atol=1e-9)


def test_offsets_of_a_bent_zero_pose_are_undone():
    bent = TwoLinkArm((0.1, -0.2), 0.3, 0.2, a0=0.5, a1=-0.3)
    for q in ((0.2, 0.9), (-1.0, -1.5)):
        np.testing.assert_allclose(bent.inverse(bent.forward(q), near=q), q, atol=1e-9)


def test_teacher_targets_are_rate_limited_and_converge(arm):
    teacher = ReachTeacher(arm, max_speed=2.0)
    teacher.start([0.0, 0.0])
    goal = np.array([-0.1, 0.12])
    previous = np.zeros(2)
    for _ in range(200):
        target = teacher.tick(goal, [0.0, 0.0], 0.02)
        assert np.all(np.abs(target - previous) <= 2.0 * 0.02 + 1e-12)
        previous = target
    np.testing.assert_allclose(arm.forward(target), goal, atol=1e-9)


def test_measured_reference_steps_from_the_measured_pose(arm):
    teacher = ReachTeacher(arm, max_speed=1.0, reference='measured')
    teacher.start([0.0, 0.0])
    target = teacher.tick((0.0, 0.2), [0.5, 0.5], 0.1)
    assert np.all(np.abs(target - [0.5, 0.5]) <= 0.1 + 1e-12)
    assert not np.allclose(target, [0.5, 0.5])
    with pytest.raises(ValueError):
        ReachTeacher(arm, reference='other')
    with pytest.raises(ValueError):
        ReachTeacher(arm, max_speed=0.0)


def test_teacher_drives_the_simulated_arm_to_the_goal(arm):
    robot = MujocoRobot(width=32, height=32)
    for seed in range(10):
        goal = robot.reset(seed)
        teacher = ReachTeacher(arm, max_speed=3.0)
        teacher.start(robot.joint_positions())
        for k in range(200):  # 2 s of physics, targets at 50 Hz
            if k % 2 == 0:
                robot.set_target(teacher.tick(goal, robot.joint_positions(), 0.02))
            robot.step()
        assert robot.success(), f'seed {seed}: distance {robot.distance():.4f}'


def _joint_state(names, positions, stamp_ns):
    from sensor_msgs.msg import JointState

    msg = JointState(name=list(names), position=[float(p) for p in positions])
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return msg


@pytest.mark.parametrize('names, positions, ahead_s, reason', [
    (['joint0', 'joint1'], [0.1, 0.2], 0.0, None),
    (['joint1', 'joint0'], [0.2, 0.1], 0.5, None),                  # any order, a little ahead
    (['elbow', 'joint1'], [0.1, 0.2], 0.0, 'joint_state_missing_joint'),
    (['joint0', 'joint1', 'joint2'], [0.1, 0.2], 0.0, 'joint_state_bad_layout'),
    (['joint0', 'joint1'], [math.nan, 0.2], 0.0, 'joint_state_non_finite'),
    (['joint0', 'joint1'], [1e9, -1e9], 0.0, 'joint_state_out_of_range'),   # the soak's burst
    (['joint0', 'joint1'], [0.1, 0.2], 3600.0, 'stamp_in_future'),
])
def test_the_teacher_starts_only_from_a_sound_measurement(arm, names, positions, ahead_s,
                                                          reason):
    from sage_sim.teacher_node import measured_positions

    now_ns = 1_800_000_000 * 1_000_000_000
    msg = _joint_state(names, positions, now_ns + ahead_s * 1e9)
    if reason is None:
        np.testing.assert_allclose(
            measured_positions(msg, ['joint0', 'joint1'], arm, now_ns), [0.1, 0.2])
    else:
        with pytest.raises(ValueError) as caught:
            measured_positions(msg, ['joint0', 'joint1'], arm, now_ns)
        assert caught.value.args[0] == reason
