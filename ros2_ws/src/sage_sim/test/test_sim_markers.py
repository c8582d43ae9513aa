# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The rviz markers of the simulated arm: forward kinematics as measured and as commanded."""

from builtin_interfaces.msg import Time
import numpy as np
import pytest
from sage_sim.robot import COLORS, MujocoRobot, ReachTask, TWO_COLORS
from sage_sim.sim_robot_node import arm_markers
from visualization_msgs.msg import Marker


def test_arm_points_follow_the_state_and_a_commanded_pose_without_moving_it():
    robot = MujocoRobot(width=32, height=24)
    robot.reset(3)
    measured = robot.arm_points()
    assert measured.shape == (3, 3)                     # two links and the fingertip
    assert np.allclose(measured[-1, :2], robot.effector())
    assert np.allclose(robot.arm_points(robot.joint_positions()), measured)
    before = robot.joint_positions()
    bent = robot.arm_points(before + [np.pi / 2, 0.0])
    assert np.allclose(robot.joint_positions(), before)         # physics untouched
    reach = np.linalg.norm(measured[-1, :2] - measured[0, :2])
    assert np.isclose(np.linalg.norm(bent[-1, :2] - bent[0, :2]), reach)  # a rotation
    assert not np.allclose(bent[-1], measured[-1])


def test_markers_hold_the_arm_twice_the_goal_and_the_effector():
    robot = MujocoRobot(width=32, height=24)
    robot.reset(1)
    points = robot.arm_points()
    array = arm_markers(Time(sec=5), 'world', points, points + 0.01, robot.goal(),
                        robot.effector(), 0.02)
    by_ns = {m.ns: m for m in array.markers}
    assert set(by_ns) == {'arm', 'arm_commanded', 'goal', 'effector'}
    assert by_ns['arm'].type == Marker.LINE_STRIP and len(by_ns['arm'].points) == 3
    assert by_ns['goal'].type == Marker.SPHERE and by_ns['goal'].scale.x == 0.04
    assert by_ns['goal'].pose.position.x == float(robot.goal()[0])
    assert all(m.header.frame_id == 'world' and m.header.stamp.sec == 5 for m in array.markers)
    without_task = arm_markers(Time(), 'world', points, points, np.zeros(0), np.zeros(0), 0.02)
    assert [m.ns for m in without_task.markers] == ['arm', 'arm_commanded']


def test_a_two_colour_scene_draws_each_target_in_its_colour():
    robot = MujocoRobot(width=32, height=24, task=ReachTask(target_colors=TWO_COLORS))
    robot.reset(1, target='blue')
    points = robot.arm_points()
    array = arm_markers(Time(), 'world', points, points, robot.goal(), robot.effector(), 0.02,
                        robot.targets())
    by_ns = {m.ns: m for m in array.markers}
    assert {'target_red', 'target_blue', 'goal'} <= set(by_ns)
    blue = by_ns['target_blue']
    assert (blue.color.r, blue.color.g, blue.color.b) == pytest.approx(COLORS['blue'][:3])
    assert (blue.pose.position.x, blue.pose.position.y) == \
        (by_ns['goal'].pose.position.x, by_ns['goal'].pose.position.y)
    assert len({m.id for m in array.markers}) == len(array.markers)
