# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The L-module actuator node (lifecycle): compressed context + joint states -> joint commands.

Every accepted compressed context, with the latest joint states, becomes an action chunk
(ONNX Runtime) whose first target is for the context's stamp. The ActuatorController
(sage_hl_control.controller: the chunks covering "now" blended, then the SafetyFilter) gives
the command, published at once when the chunk is added (`react_on_arrival`; the timer is then
re-phased) and on a fixed-rate timer between chunks, which also runs the watchdog:
std_msgs/Float64MultiArray on /<controller>/commands or trajectory_msgs/JointTrajectory on
/<controller>/joint_trajectory (mode `drive`), or the same type on /sage/shadow/commands (mode
`shadow`). A context stamped at or before the last one acted on is not acted on (counted as
`rejected_context_out_of_order`). Commands and `~/holding` go out on lifecycle publishers:
only while the node is active. `autostart` configures and activates it at start.
/sage/episode_start (std_msgs/Header stamped with the episode's start) drops the previous
episode's chunks; slow start goes on (it is not restarted per episode).
`~/holding` (std_msgs/Bool, latched) says on every change whether the commands are holds.
`~/load_model` loads, verifies and probes another version off the data path; it takes over
at the next chunk, and a version that fails is refused while the running one stays.
"""

import sys
import time

from builtin_interfaces.msg import Duration
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.parameter import Parameter
from sage_common.diagnostics import make_array, make_status, OK, WARN
from sage_common.joint_facts import FIELDS as LIMIT_FIELDS, PARAMETER_OF
from sage_common.messages import stamp_to_sec
from sage_common.node import (declare_all, DESCRIPTION_PARAMETERS, LoadModelService,
                              node_joint_facts, run_node, set_realtime_priority,
                              SideSubscription)
from sage_common.qos import latched_qos, qos_from_name, reliable_qos
from sage_common.registry import default_model_dir, ModelError, ModelRegistry
from sage_common.rejects import RejectCounter
from sage_common.stats import LatencyWindow, RateMeter
from sage_hl_control.controller import ActuatorController
from sage_hl_control.controller import PARAMETERS as CONTROLLER_PARAMETERS
from sage_hl_control.runtime import LRunner, PRECISION_FILES
from sage_hl_control.upstream import VersionGate
from sage_interfaces.msg import CompressedContext
from sage_perception.layout import COMPRESSED_DIM
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray, Header
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

OUTPUT_TYPES = ('float64_multi_array', 'joint_trajectory')
MODES = ('drive', 'shadow')

# The joint facts: from the robot description, these parameters (unset by default) override.
JOINT_FACT_PARAMETERS = {
    'joint_names': (Parameter.Type.STRING_ARRAY, 'commanded joints, in order (default: the '
                    "robot description's; if set, exactly its joints)", None),
    'position_lower': (Parameter.Type.DOUBLE_ARRAY, 'rad, per joint (overrides the '
                       'description)', None),
    'position_upper': (Parameter.Type.DOUBLE_ARRAY, 'rad, per joint (overrides the '
                       'description)', None),
    'max_velocity': (Parameter.Type.DOUBLE_ARRAY, 'rad/s, per joint (overrides the '
                     'description)', None),
    'max_acceleration': (Parameter.Type.DOUBLE_ARRAY, 'rad/s^2, per joint (URDF and MJCF '
                         'have none: required)', None),
}
LOOSER = {'allow_looser_limits': (False, 'accept overrides looser than the robot '
                                  "description's limits (refused by default)", None)}
assert set(JOINT_FACT_PARAMETERS) == {PARAMETER_OF[f] for f in ('names',) + LIMIT_FIELDS}
# name: (default, description, (low, high) or None); the controller's parameters included.
PARAMETERS = {
    'model_dir': ('', 'model registry root (default $SAGE_ROOT/models)', None),
    'model_version': ('', 'L-module version (empty: active)', None),
    'precision': ('fp32', 'ONNX variant: ' + ', '.join(sorted(PRECISION_FILES)), None),
    'threads': (1, 'ONNX Runtime intra-op threads', (1, 16)),
    'realtime_priority': (0, 'SCHED_FIFO priority of the executor and DDS threads, so other '
                          'processes cannot delay the command timer (needs CAP_SYS_NICE or an '
                          'rtprio limit); 0: the normal scheduler', (0, 99)),
    'controller': ('arm_controller', 'drive mode topic prefix', None),
    'output_type': ('float64_multi_array', ' or '.join(OUTPUT_TYPES), None),
    'mode': ('drive', 'drive (to the robot) or shadow (/sage/shadow/commands)', None),
    **DESCRIPTION_PARAMETERS,
    **{name: spec for name, spec in CONTROLLER_PARAMETERS.items()
       if name not in JOINT_FACT_PARAMETERS},
    **JOINT_FACT_PARAMETERS,
    **LOOSER,
    'joint_states_qos': ('sensor', 'QoS of /joint_states', None),
    # Best effort: only the newest context is acted on, and a reliable reader acknowledges
    # into the H-module's shared-memory port, where an H-module killed mid-message makes
    # Fast DDS stall every send of this process (commands included) for ~1 s.
    'context_qos': ('sensor', 'QoS of /sage/context_compressed', None),
    'accepted_h_versions': ('', "comma-separated H versions; 'any'; empty: the versions of "
                            '`h_module` in the registry', None),
    'diagnostics_period': (1.0, '/diagnostics period (s)', (0.1, 60.0)),
    'autostart': (True, 'configure and activate at start', None),
}


class LModuleNode(LifecycleNode):
    """Thin lifecycle wiring of LRunner + ActuatorController (ensembling + SafetyFilter)."""

    def __init__(self, **kwargs):
        super().__init__('l_module', **kwargs)
        self.p = declare_all(self, PARAMETERS)
        self.p['model_dir'] = self.p['model_dir'] or str(default_model_dir())
        self.runner = None
        self._entities = {'lifecycle_publisher': [], 'publisher': [], 'subscription': []}
        self._loader = self._estop = None
        self._timer = None
        self._diag_timer = None

    # -- lifecycle -------------------------------------------------------------------------
    def on_configure(self, state):
        p = self.p
        self.rejects = RejectCounter(self.get_logger())
        try:
            if p['mode'] not in MODES or p['output_type'] not in OUTPUT_TYPES:
                raise ValueError(f'mode must be one of {MODES}, output_type one of '
                                 f'{OUTPUT_TYPES}')
            facts = node_joint_facts(self, p, LIMIT_FIELDS)
            settings = {name: p[name] for name in CONTROLLER_PARAMETERS
                        if name not in JOINT_FACT_PARAMETERS}
            if p['mode'] == 'shadow':  # the arm does not follow these commands
                settings['stuck_encoder_after'] = 0.0
            self.controller = ActuatorController({**settings, **facts.settings()},
                                                 self.rejects)
            self.joint_names = self.controller.joint_names
            self.runner = self._load(p['model_version'])
        except (ModelError, ValueError) as exc:
            self.get_logger().error(f'configure failed: {exc}')
            return TransitionCallbackReturn.FAILURE
        self.gate = VersionGate(p['accepted_h_versions'], p['model_dir'], 'h_module')
        self.command_rate = RateMeter()
        self.compute = LatencyWindow()
        self.latency = LatencyWindow()
        self._latency_stamp = None
        self.published = 0
        if p['output_type'] == 'float64_multi_array':
            self.msg_type, suffix = Float64MultiArray, 'commands'
        else:
            self.msg_type, suffix = JointTrajectory, 'joint_trajectory'
        self.topic = (f'/{p["controller"]}/{suffix}' if p['mode'] == 'drive'
                      else '/sage/shadow/commands')
        self.cmd_pub = self.create_lifecycle_publisher(self.msg_type, self.topic,
                                                       reliable_qos())
        self.holding_pub = self.create_lifecycle_publisher(Bool, '~/holding', latched_qos())
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._published_holding = None
        self._entities = {
            'lifecycle_publisher': [self.cmd_pub, self.holding_pub],
            'publisher': [self.diag_pub],
            'subscription': [
                self.create_subscription(CompressedContext, '/sage/context_compressed',
                                         self._on_context, qos_from_name(p['context_qos'])),
                self.create_subscription(JointState, '/joint_states', self._on_joints,
                                         qos_from_name(p['joint_states_qos'])),
                self.create_subscription(Header, '/sage/episode_start', self._on_episode_start,
                                         reliable_qos()),
            ],
        }
        self._diagnostics_due = False
        self._diag_timer = self.create_timer(p['diagnostics_period'], self._on_diagnostics_timer)
        # Its own thread: the press latches while a chunk is computed or callbacks queue.
        self._estop = SideSubscription(self, Bool, '/sage/estop', self._on_estop,
                                       latched_qos(), suffix='estop')
        self._loader = LoadModelService(self, self._load, lambda: self.runner.version,
                                        'the next chunk')
        self.realtime = 0
        if p['realtime_priority']:  # after the loader's thread: it stays off real time
            error = set_realtime_priority(p['realtime_priority'])
            if error:
                self.get_logger().warning(f'realtime_priority not applied: {error}')
            else:
                self.realtime = p['realtime_priority']
        self.get_logger().info(
            f'configured: L-module {self.runner.version} ({p["precision"]}, '
            f'{self.runner.provider}, K={self.runner.chunk_size}, dt={self.runner.chunk_dt:.4f}) '
            f'for {self.joint_names}; {p["mode"]} -> {self.topic} at {p["command_rate"]} Hz')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state):
        self.controller.clear()
        self.controller.schedule.start()
        self._published_holding = None
        self._timer = self.create_timer(self.controller.dt, self._on_tick)
        self.get_logger().info(f'active: publishing on {self.topic}')
        return super().on_activate(state)  # enables the lifecycle publishers

    def on_deactivate(self, state):
        self._stop_timer()
        self.get_logger().info('inactive: publishing stopped')
        return super().on_deactivate(state)

    def on_cleanup(self, state):
        self.release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state):
        self.release()
        return TransitionCallbackReturn.SUCCESS

    @property
    def active(self):
        """Whether the lifecycle publishers are enabled: True between activate and deactivate."""
        return self.runner is not None and self.cmd_pub.is_activated

    def _stop_timer(self):
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None

    def release(self):
        """Stop publishing and destroy the configured entities (cleanup, shutdown, exit)."""
        self._stop_timer()
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        for kind, entities in self._entities.items():
            destroy = getattr(self, 'destroy_' + kind)
            for entity in entities:
                destroy(entity)
            entities.clear()
        for side in ('_estop', '_loader'):
            if getattr(self, side) is not None:
                getattr(self, side).close()
                setattr(self, side, None)
        self.runner = None

    def destroy_node(self):
        """Release the configured entities (joins the ~/load_model thread), then destroy."""
        self.release()
        super().destroy_node()

    def _load(self, version):
        return LRunner(ModelRegistry(self.p['model_dir']).load('l_module', version or None),
                       self.p['precision'], self.p['threads'], num_joints=len(self.joint_names))

    # -- inputs ----------------------------------------------------------------------------
    def _on_joints(self, msg):
        index = {name: i for i, name in enumerate(msg.name)}
        missing = [n for n in self.joint_names if n not in index]
        if missing or len(msg.position) != len(msg.name):
            self.rejects.reject('joint_state_missing_joint', f'missing {missing}')
            return
        pos = np.array([msg.position[index[n]] for n in self.joint_names])
        vel = (np.array([msg.velocity[index[n]] for n in self.joint_names])
               if len(msg.velocity) == len(msg.name) else np.zeros(len(self.joint_names)))
        self.controller.update_joints(pos, vel, time.monotonic())

    def _on_estop(self, msg):
        was = self.controller.safety.estop
        self.controller.set_estop(msg.data, time.monotonic())
        if msg.data and not was:
            self.get_logger().warning('E-STOP pressed: holding until released with False')
        elif was and not msg.data:
            self.get_logger().info('e-stop released: resuming on fresh inputs at slow start')

    def _on_episode_start(self, msg):
        self.controller.start_episode(stamp_to_sec(msg.stamp))
        self.get_logger().info(f'episode start ({self.controller.episodes}): chunks dropped')

    def _on_context(self, msg):
        if not self.active:
            return
        data = self.gate.vector(msg, COMPRESSED_DIM, self.rejects)
        stamp = stamp_to_sec(msg.header.stamp)
        if data is None or not self.controller.admit(stamp):
            return
        runner = self._loader.take()
        if runner is not None:  # chunk boundary: the new version computes the next chunk
            self.runner = runner
            self.get_logger().info(f'L-module {runner.version} took over')
        joints = self.controller.joint_state()
        if joints is None:
            self.rejects.reject('no_joint_state', 'no joint state yet')
            return
        chunk, seconds = self.runner.chunk(data, *joints)
        self.compute.add(seconds)
        now = time.monotonic()
        age = self._wall() - stamp
        if not self.controller.add_chunk(chunk, now, self.runner.chunk_dt, stamp,
                                         self.runner.version, age, msg.presence):
            return
        self._latency_stamp = stamp
        command = self.controller.command_on_arrival(now)
        if command is not None:
            self._timer.reset()  # the next tick one period from now (the schedule's phase)
            self._send(command)

    # -- the control tick ------------------------------------------------------------------
    def _on_tick(self):
        command = self.controller.command_on_timer(time.monotonic())
        if command is not None:
            self._send(command)
        if self._diagnostics_due:
            self._diagnostics_due = False
            self._publish_diagnostics()

    def _send(self, command):
        """Publish a command (and `~/holding` when it changes); note the frame's latency."""
        self._publish(command.positions)
        if command.holding != self._published_holding:
            self._published_holding = command.holding
            self.holding_pub.publish(Bool(data=command.holding))
            if command.holding:
                self.get_logger().warning(f'holding: {", ".join(command.reasons)}')
            else:
                self.get_logger().info('driving from the model')
        if self._latency_stamp is not None:  # the first command for that frame (a hold is not)
            if not command.holding:
                self.latency.add(self._wall() - self._latency_stamp)
            self._latency_stamp = None

    def _wall(self):
        """Return the node's clock (the clock of the message stamps) in seconds."""
        return self.get_clock().now().nanoseconds * 1e-9

    def _publish(self, positions):
        values = [float(v) for v in positions]
        if self.msg_type is Float64MultiArray:
            msg = Float64MultiArray(data=values)
        else:
            msg = JointTrajectory()
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.joint_names = self.joint_names
            nanos = int(self.controller.dt * 1e9)
            msg.points = [JointTrajectoryPoint(
                positions=values,
                time_from_start=Duration(sec=nanos // 10**9, nanosec=nanos % 10**9))]
        self.cmd_pub.publish(msg)
        self.published += 1
        self.command_rate.tick()

    # -- diagnostics -----------------------------------------------------------------------
    def _on_diagnostics_timer(self):
        """
        Publish diagnostics right after the next tick (at once while inactive).

        Building them takes about a millisecond; a timer of its own, in a fixed phase with the
        command timer (1 s is 100 periods), ran just before a tick and made that tick late
        every second: 1% of the ticks, the timer jitter's p99.
        """
        if self._timer is None:
            self._publish_diagnostics()
        else:
            self._diagnostics_due = True

    def _publish_diagnostics(self):
        if self.runner is None:
            return
        safety, schedule = self.controller.safety, self.controller.schedule
        counts = safety.counts
        holding = safety.holding
        level, message = OK, 'driving' if self.p['mode'] == 'drive' else 'shadowing'
        if not self.active:
            level, message = WARN, 'inactive'
        elif safety.estop:
            level, message = WARN, 'E-STOP latched'
        elif holding:
            level, message = WARN, 'holding (watchdog or no fresh inputs)'
        values = {
            'active': self.active, 'mode': self.p['mode'], 'topic': self.topic,
            'model_version': self.runner.version, 'precision': self.p['precision'],
            'provider': self.runner.provider, 'holding': holding, 'estop': safety.estop,
            'speed_scale': safety.slow_start.scale(time.monotonic()),
            'published': self.published, 'chunks': self.controller.chunks,
            'episodes': self.controller.episodes,
            'command_rate_hz': self.command_rate.rate(),
            'realtime_priority': self.realtime,
            'react_on_arrival': schedule.react, 'rephased': schedule.rephased,
            'skipped_ticks': schedule.skipped,
            'jitter_p99_ms': schedule.jitter.percentile_ms(99),
            'compute_p50_ms': self.compute.percentile_ms(50),
            'compute_p99_ms': self.compute.percentile_ms(99),
            'stamp_to_command_p50_ms': self.latency.percentile_ms(50),
            'stamp_to_command_p99_ms': self.latency.percentile_ms(99),
            'interventions': sum(counts.values()),
        }
        values.update({'safety_' + k: v for k, v in counts.items()})
        values.update(self.rejects.as_values())
        status = make_status('sage: l_module', 'l_module', level, message, values)
        self.diag_pub.publish(make_array(self.get_clock().now().to_msg(), [status]))


def main(args=None):
    """Run the L-module node until SIGINT/SIGTERM (configured and activated by autostart)."""
    return run_node(LModuleNode, 'l_module', args)


if __name__ == '__main__':
    sys.exit(main())
