# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
groot_teacher: a GR00T inference server as the teacher.

Turns the robot's topics into a GR00T observation — `video.<key>` from the camera topics
(`cameras`: key=topic, rgb8/bgr8 sensor_msgs/Image), `state.<part>` from /joint_states split
by `state_parts`, the task text from /sage/task (std_msgs/String, latched; `default_task`
until one arrives) — asks the server (`protocol` n1.5 or n1.6) for action chunks on a thread
of its own, and publishes the chunk's steps at `rate` as joint position targets on
`output_topic` (the command topic when it drives, /teacher/commands when it labels), asking
for the next chunk before the one in play runs out (sage_groot.scheduler).

Like the scripted teacher it follows the privileged /sim/episode (`require_episode`): it
acts only while an episode runs, on joint states and frames stamped after the episode
started, and `goal_state_part` fills that state part with the episode's goal (what the
scripted expert behind sage_policy_server reads). Without /sim/episode (a robot), it acts
whenever its inputs are fresh and restarts on /sage/episode_start.

Every fault (server down, timeout, error reply, not msgpack, a pickle, wrong shapes, NaN,
a modality config that does not fit the joints) is counted on /diagnostics by reason; the
node then publishes nothing (the robot holds its last target; the L-module's and the sim's
own watchdogs stand behind that) and reconnects with backoff. The API token comes from
`api_token`, else the environment variable SAGE_GROOT_API_TOKEN.
"""

import os
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from rclpy.node import Node
from sage_common.diagnostics import ERROR, make_array, make_status, OK, WARN
from sage_common.messages import stamp_to_ns
from sage_common.node import declare_all, run_node
from sage_common.qos import latched_qos, qos_from_name, reliable_qos
from sage_common.rejects import RejectCounter
from sage_interfaces.msg import EpisodeState
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, Header, String

from . import protocol as wire
from .client import Backoff, GrootClient
from .teacher import Frame, GrootSession, GrootTeacher, parse_cameras, parse_parts, \
    RobotLayout

TOKEN_ENV = 'SAGE_GROOT_API_TOKEN'

# name: (default, description, (min, max) or None). Mirrored by config/groot_teacher.yaml.
PARAMETERS = {
    'protocol': ('n1.5', 'GR00T wire protocol: n1.5 (flat observation, dict reply) or n1.6 '
                 '(nested observation, [action, info] reply)', None),
    'host': ('127.0.0.1', 'inference server host', None),
    'port': (5555, 'inference server port', (1, 65535)),
    'timeout': (1.0, 'seconds to wait for a connection and for each reply', (0.01, 60.0)),
    'api_token': ('', f"API token; '' = ${TOKEN_ENV} if set, else none", None),
    'output_topic': ('/arm_controller/commands', 'where the joint targets go', None),
    'rate': (50.0, 'command rate, Hz', (1.0, 1000.0)),
    'chunk_dt': (0.0, "seconds between a chunk's steps; 0 = 1 / rate", (0.0, 10.0)),
    'joint_names': (['joint0', 'joint1'], 'the command order of the joints', None),
    'state_parts': (['arm=joint0 joint1'], 'state parts: "part=joint[/position|velocity|'
                    'effort] ..."', None),
    'action_parts': (['arm=joint0 joint1'], 'action parts: "part=joint ..." (positions); '
                     'together exactly joint_names', None),
    'cameras': (['top_down=/camera/color/image_raw'], 'video keys: "key=image topic"', None),
    'goal_state_part': ('goal', "state part filled with /sim/episode's goal (privileged, "
                        "sim only); '' = none", None),
    'require_episode': (True, 'act only while /sim/episode says an episode runs', None),
    'task_topic': ('/sage/task', 'std_msgs/String task description (latched)', None),
    'default_task': ('Reach the target with the fingertip.', 'task text until one arrives',
                     None),
    'initial_latency': (0.35, 'round trip assumed before any is measured, s', (0.0, 60.0)),
    'margin_steps': (2, 'ask for the next chunk this many steps early, beyond the latency',
                     (0, 1000)),
    'backoff_initial': (0.25, 'first reconnect delay after a fault, s', (0.01, 60.0)),
    'backoff_max': (5.0, 'largest reconnect delay, s', (0.01, 600.0)),
    'joint_state_qos': ('sensor', 'QoS of /joint_states: sensor|reliable', None),
    'image_qos': ('sensor', 'QoS of the camera topics: sensor|reliable', None),
    'diagnostics_period': (1.0, '/diagnostics period, s', (0.1, 60.0)),
}


def image_array(msg):
    """Return an (H, W, 3) uint8 RGB view of an rgb8/bgr8 Image; ValueError otherwise."""
    if msg.encoding not in ('rgb8', 'bgr8'):
        raise ValueError(f'encoding {msg.encoding!r} (expected rgb8 or bgr8)')
    h, w, step = msg.height, msg.width, msg.step
    data = np.frombuffer(msg.data, np.uint8)
    if step < 3 * w or data.size < h * step:
        raise ValueError(f'{w}x{h} step {step} with {data.size} bytes')
    image = data[:h * step].reshape(h, step)[:, :3 * w].reshape(h, w, 3)
    return image[..., ::-1] if msg.encoding == 'bgr8' else image


class GrootTeacherNode(Node):
    """Thin ROS wiring around GrootTeacher."""

    def __init__(self):
        super().__init__('groot_teacher')
        p = declare_all(self, PARAMETERS)
        wire.check_protocol(p['protocol'])
        self.p = p
        self.joint_names = list(p['joint_names'])
        cameras = parse_cameras(p['cameras'])
        self.robot = RobotLayout(self.joint_names, parse_parts(p['state_parts'], 'state_parts'),
                                 parse_parts(p['action_parts'], 'action_parts', fields=False),
                                 list(cameras), p['goal_state_part'])
        if p['goal_state_part'] and not p['require_episode']:
            raise ValueError('goal_state_part needs /sim/episode (require_episode true)')
        token = p['api_token'] or os.environ.get(TOKEN_ENV, '')
        client = GrootClient(p['host'], p['port'], p['protocol'], p['timeout'], token)
        self.step_dt = p['chunk_dt'] or 1.0 / p['rate']
        self.teacher = GrootTeacher(GrootSession(client, self.robot), self.step_dt,
                                    Backoff(p['backoff_initial'],
                                            max(p['backoff_max'], p['backoff_initial'])),
                                    self.get_logger(), time.monotonic, p['initial_latency'],
                                    p['margin_steps'])
        self.rejects = RejectCounter(self.get_logger())
        self.task = p['default_task']
        self.task_received = False
        self.episode = None
        self.episode_start_ns = 0
        self.joints = None               # {name: (position, velocity, effort)}
        self.joints_stamp_ns = -1
        self.images = {key: (None, -1) for key in cameras}   # key: (msg, stamp ns)
        self.published = 0

        self.pub = self.create_publisher(Float64MultiArray, p['output_topic'], reliable_qos())
        self.pub_diag = self.create_publisher(DiagnosticArray, '/diagnostics', reliable_qos())
        self.create_subscription(JointState, '/joint_states', self._on_joints,
                                 qos_from_name(p['joint_state_qos']))
        for key, topic in cameras.items():
            self.create_subscription(Image, topic, lambda m, k=key: self._on_image(k, m),
                                     qos_from_name(p['image_qos']))
        self.create_subscription(String, p['task_topic'], self._on_task, latched_qos())
        if p['require_episode']:
            self.create_subscription(EpisodeState, '/sim/episode', self._on_episode,
                                     reliable_qos())
        else:
            self.create_subscription(Header, '/sage/episode_start', self._on_episode_start,
                                     reliable_qos())
        self.create_timer(1.0 / p['rate'], self._tick)
        self.create_timer(p['diagnostics_period'], self._publish_diagnostics)
        self.get_logger().info(
            f'groot_teacher: {p["protocol"]} server {client.endpoint}, {p["rate"]:.0f} Hz, '
            f'chunk steps {self.step_dt:.3f} s, state {dict(self.robot.state_parts)}, action '
            f'{self.robot.action_parts}, cameras {cameras}, publishing on {p["output_topic"]}')

    # --- inputs ------------------------------------------------------------------------

    def _on_joints(self, msg):
        try:
            idx = [msg.name.index(n) for n in self.joint_names]
        except ValueError:
            self.rejects.reject('joint_names', f'/joint_states lacks {self.joint_names}')
            return
        n = len(msg.name)

        def field(values, i):
            return float(values[i]) if len(values) == n else 0.0

        if self.joints is None:
            self.get_logger().info('groot_teacher: receiving /joint_states')
        self.joints = {name: (field(msg.position, i), field(msg.velocity, i),
                              field(msg.effort, i)) for name, i in zip(self.joint_names, idx)}
        self.joints_stamp_ns = stamp_to_ns(msg.header.stamp)

    def _on_image(self, key, msg):
        self.images[key] = (msg, stamp_to_ns(msg.header.stamp))

    def _on_task(self, msg):
        self.task, self.task_received = msg.data, True
        self.get_logger().info(f'groot_teacher: task {msg.data!r}')

    def _on_episode(self, msg):
        if self.episode is None:
            self.get_logger().info('groot_teacher: receiving /sim/episode')
        if self.episode is None or msg.episode != self.episode.episode:
            self.episode_start_ns = stamp_to_ns(msg.header.stamp)
            self.teacher.new_episode()
        self.episode = msg

    def _on_episode_start(self, msg):
        self.episode_start_ns = stamp_to_ns(msg.stamp)
        self.teacher.new_episode()

    # --- the control tick --------------------------------------------------------------

    def _active(self):
        if self.p['require_episode']:
            ep = self.episode
            if ep is None or not ep.running:
                return False
            if self.p['goal_state_part'] and len(ep.goal) < 2:
                return False
        return self.joints is not None and self.joints_stamp_ns >= self.episode_start_ns

    def _frame(self):
        """Return the observation's data, or None while a frame or a joint is missing."""
        videos = {}
        for key, (msg, stamp) in self.images.items():
            if msg is None or stamp < self.episode_start_ns:
                return None   # no frame of this episode yet
            try:
                videos[key] = image_array(msg)
            except ValueError as exc:
                self.rejects.reject('bad_image', f'{key}: {exc}')
                return None
        goal = list(self.episode.goal[:2]) if self.p['goal_state_part'] else None
        return Frame(videos, self.robot.states(self.joints, goal), self.task)

    def _tick(self):
        step = self.teacher.tick(time.monotonic(), self._active(), self._frame)
        if step is None:
            return
        msg = Float64MultiArray()
        msg.data = [float(v) for v in step]
        self.pub.publish(msg)
        self.published += 1

    def _publish_diagnostics(self):
        values = self.teacher.values()
        values.update({'published': self.published, 'protocol': self.p['protocol'],
                       'server': self.teacher.session.client.endpoint,
                       'task_received': self.task_received,
                       'rejected_total': self.rejects.total()})
        values.update(self.rejects.as_values())
        if values['faults_in_a_row']:
            level, message = ERROR, 'holding: GR00T server faults, reconnecting'
        elif not values['connected']:
            level, message = WARN, 'not connected to the GR00T server yet'
        else:
            level, message = OK, 'holding' if values['holding'] else 'teaching'
        status = make_status('groot_teacher', 'groot', level, message, values)
        self.pub_diag.publish(make_array(self.get_clock().now().to_msg(), [status]))

    def stop(self):
        """Stop the request thread and close the client."""
        self.teacher.stop()


def _stop(node):
    node.stop()
    return None


def main(args=None):
    return run_node(GrootTeacherNode, 'groot_teacher', args, on_exit=_stop)


if __name__ == '__main__':
    sys.exit(main())
