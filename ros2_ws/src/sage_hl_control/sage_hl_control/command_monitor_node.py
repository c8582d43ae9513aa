# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The command_monitor node: audits every joint command on the wire, independently of the L-module.

It subscribes to the command topic (std_msgs/Float64MultiArray), /joint_states and
/sage/estop, checks each command with a CommandAudit against the limits of an L-module
parameters file (`limits_file`, default: this package's config/l_module.yaml, section
`limits_node`), and reports the counts on /diagnostics (ERROR once any command broke a
limit). Each violation is logged. `summary_file`, if set, receives the audit's JSON summary
on every diagnostics period and at exit, so a soak run can read it after the node is gone.

    ros2 run sage_hl_control command_monitor --ros-args -p limits_file:=/path/l_module.yaml
"""

import json
import os
from pathlib import Path
import time

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.subscription import Subscription
from sage_common.diagnostics import ERROR, make_array, make_status, OK
from sage_common.node import declare_all, run_node
from sage_common.qos import latched_qos, qos_from_name, reliable_qos
from sage_hl_control.command_audit import CommandAudit
from sage_hl_control.controller import settings_from_parameters
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray
import yaml

PARAMETERS = {
    'limits_file': ('', "L-module parameters file with the limits; '' = this package's "
                    'config/l_module.yaml', None),
    'limits_node': ('l_module', 'the node section of limits_file to read', None),
    'command_topic': ('/arm_controller/commands', 'the commands audited', None),
    'joint_states_qos': ('sensor', 'QoS of /joint_states', None),
    'restart_gap_s': (0.5, 'where the publisher identity is unknown (Humble), a gap without '
                      'commands this long (s) means the sender restarted: slow start is '
                      'expected again', (0.01, 3600.0)),
    'estop_grace_s': (0.1, 'commands sent this soon (s) after the e-stop may still move: '
                      'the time the sender may take to react', (0.0, 10.0)),
    'summary_file': ('', "write the JSON summary here ('' = do not)", None),
    'diagnostics_period': (1.0, '/diagnostics period (s)', (0.1, 60.0)),
}
LIMIT_KEYS = ('joint_names', 'position_lower', 'position_upper', 'max_velocity',
              'command_rate', 'slow_start_scales', 'slow_start_step')


def read_limits(path, node_name):
    """
    Return the L-module limits of a parameters file, as the node resolves them.

    The joint names and limits from its robot_description with its arrays as overrides
    (controller.settings_from_parameters); ValueError where the node would refuse to start.
    """
    data = yaml.safe_load(Path(path).read_text()) or {}
    section = data.get(node_name, data.get('/**', {})) or {}
    settings = settings_from_parameters(section.get('ros__parameters', {}) or {})
    return {key: settings[key] for key in LIMIT_KEYS}


def default_limits_file():
    from ament_index_python.packages import get_package_share_directory
    return str(Path(get_package_share_directory('sage_hl_control')) / 'config' /
               'l_module.yaml')


class CommandMonitorNode(Node):
    """Thin wiring of a CommandAudit to the command, joint-state and e-stop topics."""

    def __init__(self, **kwargs):
        super().__init__('command_monitor', **kwargs)
        self.p = declare_all(self, PARAMETERS)
        limits_file = self.p['limits_file'] or default_limits_file()
        try:
            limits = read_limits(limits_file, self.p['limits_node'])
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f'cannot read limits from {limits_file}: {exc}') from exc
        self.audit = CommandAudit(restart_gap_s=self.p['restart_gap_s'],
                                  estop_grace_s=self.p['estop_grace_s'], **limits)
        self._subscribe(Float64MultiArray, self.p['command_topic'], self._on_command,
                        reliable_qos(100))
        self._subscribe(JointState, '/joint_states', self._on_joints,   # deep: bursts
                        qos_from_name(self.p['joint_states_qos'], 200))
        self._subscribe(Bool, '/sage/estop', self._on_estop, latched_qos())
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(self.p['diagnostics_period'], self._report)
        self.get_logger().info(
            f'auditing {self.p["command_topic"]} against {limits_file} '
            f'[{self.p["limits_node"]}]: {limits}')

    def _subscribe(self, msg_type, topic, handler, qos):
        """
        Subscribe handler(msg, sent, sender): the publisher's send time (wall clock, s) and id.

        rclpy passes MessageInfo to two-argument callbacks since Iron (source_timestamp; the
        publisher's gid where the rclpy has it, else sender is None). On Humble the receive
        time stands in, so a busy executor can misjudge the order of a command and the
        e-stop or joint state sent just before it.
        """
        if hasattr(Subscription, 'CallbackType'):
            def callback(msg, info):
                gid = info.get('publisher_gid')
                handler(msg, info['source_timestamp'] * 1e-9, repr(gid) if gid else None)
        else:
            def callback(msg):
                handler(msg, time.time(), None)
        return self.create_subscription(msg_type, topic, callback, qos)

    def _on_command(self, msg, sent, sender):
        self.audit.command(msg.data, sent, sender)
        self.log_violations()

    def _on_joints(self, msg, sent, sender):
        self.audit.joint_state(list(msg.name), list(msg.position), sent, sender)
        self.log_violations()

    def _on_estop(self, msg, sent, sender):
        self.audit.estop(bool(msg.data), sent)

    def log_violations(self):
        """Log each violation confirmed since the last call."""
        for example in self.audit.take_new():
            self.get_logger().error(f'unsafe command ({", ".join(example["kinds"])}): '
                                    f'{example["detail"]}')

    def _report(self):
        self.audit.finish(time.time())
        self.log_violations()
        summary = self.audit.summary()
        level, message = (OK, 'no unsafe command') if not summary['violations'] else \
            (ERROR, f'{summary["violations"]} unsafe commands')
        values = {'commands': summary['commands'], 'joint_states': summary['joint_states'],
                  'restarts': summary['restarts'],
                  'violations': summary['violations'],
                  **{'violations_' + k: v for k, v in summary['counts'].items()}}
        self.diag_pub.publish(make_array(self.get_clock().now().to_msg(), [make_status(
            'sage: command_monitor', 'command_monitor', level, message, values)]))
        self.write_summary()

    def write_summary(self):
        """Write the summary atomically to summary_file (if set)."""
        if not self.p['summary_file']:
            return
        path = Path(self.p['summary_file'])
        tmp = path.with_name(path.name + '.tmp')
        tmp.write_text(json.dumps(self.audit.summary(), indent=1))
        os.replace(tmp, path)


def main(args=None):
    def on_exit(node):
        node.audit.finish()
        node.log_violations()
        node.write_summary()

    return run_node(CommandMonitorNode, 'command_monitor', args, on_exit=on_exit)


if __name__ == '__main__':
    raise SystemExit(main())
