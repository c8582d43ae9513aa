# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
teacher: the scripted Reacher expert as a node.

Reads the privileged /sim/episode (goal) and /joint_states, publishes rate-limited joint
position targets toward the IK solution on `output_topic` while an episode runs; silent
otherwise. With `output_topic` = /teacher/commands and `reference` = measured it labels what
it would do while something else drives.
"""

import sys

import numpy as np
from rclpy.node import Node
from sage_common.messages import stamp_to_ns
from sage_common.node import declare_all, FATAL, run_node
from sage_common.qos import qos_from_name, reliable_qos
from sage_common.rejects import RejectCounter
from sage_interfaces.msg import EpisodeState
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from .robot import load_model
from .teacher import ReachTeacher, TwoLinkArm

JOINT_NAMES = ['joint0', 'joint1']
MAX_FUTURE_NS = 1_000_000_000   # a joint state stamped further ahead of the clock is refused
RANGE_MARGIN = 0.05             # rad past the elbow's range a measurement may read


def measured_positions(msg, names, arm, now_ns):
    """
    Return the positions of `names` in a JointState, or raise ValueError(reason, detail).

    What the teacher starts and rate-limits its targets from: a malformed, non-finite,
    out-of-range (the elbow, the arm's limited joint) or future-stamped measurement would
    become its targets (a state of 1e9 rad became a whole episode of 1e9-rad labels).
    """
    try:
        idx = [list(msg.name).index(n) for n in names]
    except ValueError:
        raise ValueError('joint_state_missing_joint', f'names {list(msg.name)}') from None
    if len(msg.position) != len(msg.name):
        raise ValueError('joint_state_bad_layout',
                         f'{len(msg.name)} names, {len(msg.position)} positions')
    positions = np.array([msg.position[i] for i in idx], float)
    if not np.isfinite(positions).all():
        raise ValueError('joint_state_non_finite', f'{positions}')
    low, high = arm.q1_range
    if not low - RANGE_MARGIN <= positions[1] <= high + RANGE_MARGIN:
        raise ValueError('joint_state_out_of_range', f'{names[1]} at {positions[1]:.3f} rad')
    ahead = stamp_to_ns(msg.header.stamp) - now_ns
    if ahead > MAX_FUTURE_NS:
        raise ValueError('stamp_in_future', f'{ahead / 1e9:.3f} s ahead')
    return positions


# name: (default, description, (min, max) or None). Mirrored by config/teacher.yaml.
PARAMETERS = {
    'model_path': ('', "MJCF file of the arm; '' = gymnasium's Reacher-v5 reacher.xml", None),
    'effector_body': ('fingertip', 'body whose position the IK places on the goal', None),
    'output_topic': ('/arm_controller/commands', 'where the joint targets go', None),
    'rate': (50.0, 'command rate, Hz', (1.0, 1000.0)),
    'max_speed': (3.0, 'largest joint target speed, rad/s', (0.01, 100.0)),
    'reference': ('command', "rate-limit from the last 'command' (driving) or the "
                             "'measured' joints (labelling)", None),
    'joint_state_qos': ('sensor', 'QoS of the /joint_states subscription: sensor|reliable',
                        None),
    'joint_names': (JOINT_NAMES, 'the two arm joints, base first; also the command order',
                    None),
}


class TeacherNode(Node):
    """Thin ROS wiring around ReachTeacher."""

    def __init__(self):
        super().__init__('teacher')
        p = declare_all(self, PARAMETERS)
        self.joint_names = list(p['joint_names'])
        if len(self.joint_names) != 2:
            raise ValueError(f'the teacher drives a two-link arm; joint_names has '
                             f'{self.joint_names}')
        self.arm = TwoLinkArm.from_model(load_model(p['model_path'] or None, camera=''),
                                         self.joint_names, p['effector_body'])
        self.teacher = ReachTeacher(self.arm, p['max_speed'], p['reference'])
        self.rejects = RejectCounter(self.get_logger())
        self.dt = 1.0 / p['rate']
        self.episode = None
        self.started_episode = None
        self.measured = None
        self.measured_stamp_ns = -1
        self.episode_seen_ns = 0
        self.published = 0
        self.pub = self.create_publisher(Float64MultiArray, p['output_topic'], reliable_qos())
        self.create_subscription(EpisodeState, '/sim/episode', self._on_episode, reliable_qos())
        self.create_subscription(JointState, '/joint_states', self._on_joints,
                                 qos_from_name(p['joint_state_qos']))
        self.create_timer(self.dt, self._tick)
        self.get_logger().info(
            f'teacher: arm l1={self.arm.l1:.3f} l2={self.arm.l2:.3f} m, {p["rate"]:.0f} Hz, max '
            f'{p["max_speed"]} rad/s from the {p["reference"]}, publishing on '
            f'{p["output_topic"]}')

    def _on_episode(self, msg):
        if self.episode is None:
            self.get_logger().info('teacher: receiving /sim/episode')
        if self.episode is None or msg.episode != self.episode.episode:
            self.episode_seen_ns = stamp_to_ns(msg.header.stamp)
        self.episode = msg

    def _on_joints(self, msg):
        try:
            positions = measured_positions(msg, self.joint_names, self.arm,
                                           self.get_clock().now().nanoseconds)
        except ValueError as exc:
            self.rejects.reject(*exc.args)
            return
        if self.measured is None:
            self.get_logger().info('teacher: receiving /joint_states')
        self.measured = positions
        self.measured_stamp_ns = stamp_to_ns(msg.header.stamp)

    def _tick(self):
        ep = self.episode
        if ep is None or not ep.running or len(ep.goal) < 2 or self.measured is None:
            return
        if self.started_episode != ep.episode:
            # Start from joint positions measured after the reset, never the previous pose.
            if self.measured_stamp_ns < self.episode_seen_ns:
                return
            self.teacher.start(self.measured)
            self.started_episode = ep.episode
            self.get_logger().info(f'episode {ep.episode}: reaching for '
                                   f'({ep.goal[0]:.3f}, {ep.goal[1]:.3f})')
        target = self.teacher.tick(np.array(ep.goal[:2]), self.measured, self.dt)
        msg = Float64MultiArray()
        msg.data = target.tolist()
        self.pub.publish(msg)
        self.published += 1


def main(args=None):
    return run_node(TeacherNode, 'teacher', args, {**FATAL, FileNotFoundError: 'no robot model'})


if __name__ == '__main__':
    sys.exit(main())
