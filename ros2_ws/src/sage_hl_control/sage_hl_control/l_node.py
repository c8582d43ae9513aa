# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The L-module actuator node (lifecycle): compressed context + joint states -> joint commands.

Every accepted compressed context, with the latest joint states, becomes an action chunk
(ONNX Runtime); a fixed-rate timer blends the chunks covering "now" (TemporalEnsembler),
passes the result through the SafetyFilter and publishes it: std_msgs/Float64MultiArray on
/<controller>/commands or trajectory_msgs/JointTrajectory on /<controller>/joint_trajectory
(mode `drive`), or the same type on /sage/shadow/commands (mode `shadow`). Nothing is
published unless the node is active. `autostart` configures and activates it at start.
`~/holding` (std_msgs/Bool, latched) says on every change whether the commands are holds.
`~/load_model` loads, verifies and probes another version off the data path; it takes over
at the next chunk, and a version that fails is refused while the running one stays.
"""

import sys
import threading
import time

from builtin_interfaces.msg import Duration
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from sage_common.diagnostics import make_array, make_status, OK, WARN
from sage_common.qos import latched_qos, qos_from_name, reliable_qos
from sage_common.registry import ModelError, ModelRegistry
from sage_common.rejects import RejectCounter
from sage_common.stats import LatencyWindow, RateMeter
from sage_hl_control.context_window import check_vector
from sage_hl_control.ensemble import TemporalEnsembler
from sage_hl_control.layout import COMPRESSED_DIM
from sage_hl_control.node_util import (answer_load_request, declare, model_dir_or_default,
                                       SideService, stamp_seconds, VersionGate)
from sage_hl_control.runtime import LRunner, PRECISION_FILES
from sage_hl_control.safety import SafetyFilter, SlowStart
from sage_interfaces.msg import CompressedContext
from sage_interfaces.srv import LoadModel
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

OUTPUT_TYPES = ('float64_multi_array', 'joint_trajectory')
MODES = ('drive', 'shadow')


class LModuleNode(LifecycleNode):
    """Thin lifecycle wiring of LRunner + TemporalEnsembler + SafetyFilter."""

    def __init__(self, **kwargs):
        super().__init__('l_module', **kwargs)

        def d(*args, **kwargs):
            return declare(self, *args, **kwargs)

        self.p = {
            'model_dir': model_dir_or_default(d('model_dir', '', 'model registry root '
                                                '(default $SAGE_ROOT/models)')),
            'model_version': d('model_version', '', 'L-module version (empty: active)'),
            'precision': d('precision', 'fp32', 'ONNX variant: ' +
                           ', '.join(sorted(PRECISION_FILES))),
            'threads': d('threads', 1, 'ONNX Runtime intra-op threads', 1, 16),
            'joint_names': d('joint_names', ['joint0', 'joint1'], 'commanded joints, in order'),
            'controller': d('controller', 'arm_controller', 'drive mode topic prefix'),
            'output_type': d('output_type', 'float64_multi_array', ' or '.join(OUTPUT_TYPES)),
            'mode': d('mode', 'drive', 'drive (to the robot) or shadow (/sage/shadow/commands)'),
            'command_rate': d('command_rate', 100.0, 'command timer rate (Hz)', 1.0, 1000.0),
            'stale_timeout': d('stale_timeout', 0.1, 'watchdog: inputs older than this (s) '
                               'make the node hold', 0.005, 10.0),
            'position_lower': d('position_lower', [-6.2832, -3.0], 'rad, per joint'),
            'position_upper': d('position_upper', [6.2832, 3.0], 'rad, per joint'),
            'max_velocity': d('max_velocity', [8.0, 8.0], 'rad/s, per joint'),
            'max_acceleration': d('max_acceleration', [80.0, 80.0], 'rad/s^2, per joint'),
            'slow_start_scales': d('slow_start_scales', [0.1, 0.25, 0.5, 1.0],
                                   'speed scale steps after (re)start, rising to 1'),
            'slow_start_step': d('slow_start_step', 5.0, 'seconds per slow-start step',
                                 0.0, 3600.0),
            'ensemble_decay': d('ensemble_decay', 10.0, 'chunk weight exp(-decay * age_s); '
                                '<0 favours older chunks (ACT)', -1000.0, 1000.0),
            'joint_states_qos': d('joint_states_qos', 'sensor', 'QoS of /joint_states'),
            'accepted_h_versions': d('accepted_h_versions', '',
                                     "comma-separated H versions; 'any'; empty: the "
                                     'versions of `h_module` in the registry'),
            'diagnostics_period': d('diagnostics_period', 1.0, '/diagnostics period (s)',
                                    0.1, 60.0),
            'autostart': d('autostart', True, 'configure and activate at start'),
        }
        self.runner = None
        self._pending = None
        self._load_lock = threading.Lock()
        self._entities = {'publisher': [], 'subscription': []}
        self._side = None
        self._timer = None
        self._active = False
        self._diag_timer = None

    # -- lifecycle -------------------------------------------------------------------------
    def on_configure(self, state):
        p = self.p
        try:
            if p['mode'] not in MODES or p['output_type'] not in OUTPUT_TYPES:
                raise ValueError(f'mode must be one of {MODES}, output_type one of '
                                 f'{OUTPUT_TYPES}')
            self.joint_names = list(p['joint_names'])
            self.period = 1.0 / p['command_rate']
            self.safety = SafetyFilter(
                self.joint_names, p['position_lower'], p['position_upper'], p['max_velocity'],
                p['max_acceleration'], self.period, p['stale_timeout'],
                SlowStart(p['slow_start_scales'], p['slow_start_step']))
            self.runner = self._load(p['model_version'])
        except (ModelError, ValueError) as exc:
            self.get_logger().error(f'configure failed: {exc}')
            return TransitionCallbackReturn.FAILURE
        self.ensembler = TemporalEnsembler(p['ensemble_decay'])
        self.gate = VersionGate(p['accepted_h_versions'], p['model_dir'], 'h_module')
        self.rejects = RejectCounter(self.get_logger())
        self.command_rate = RateMeter()
        self.jitter = LatencyWindow()
        self.compute = LatencyWindow()
        self.latency = LatencyWindow()
        self._last_tick = None
        self._latency_stamp = None
        self._last_cmd = None
        self.published = 0
        self.chunks = 0
        if p['output_type'] == 'float64_multi_array':
            self.msg_type, suffix = Float64MultiArray, 'commands'
        else:
            self.msg_type, suffix = JointTrajectory, 'joint_trajectory'
        self.topic = (f'/{p["controller"]}/{suffix}' if p['mode'] == 'drive'
                      else '/sage/shadow/commands')
        self.cmd_pub = self.create_publisher(self.msg_type, self.topic, reliable_qos())
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.holding_pub = self.create_publisher(Bool, '~/holding', latched_qos())
        self._published_holding = None
        self._joint_vel = np.zeros(len(self.joint_names))
        self._entities = {
            'publisher': [self.cmd_pub, self.diag_pub, self.holding_pub],
            'subscription': [
                self.create_subscription(CompressedContext, '/sage/context_compressed',
                                         self._on_context, reliable_qos()),
                self.create_subscription(JointState, '/joint_states', self._on_joints,
                                         qos_from_name(p['joint_states_qos'])),
                self.create_subscription(Bool, '/sage/estop', self._on_estop, latched_qos()),
            ],
        }
        self._side = SideService(self, LoadModel, self.get_fully_qualified_name() + '/load_model',
                                 self._on_load_model)
        self._diag_timer = self.create_timer(p['diagnostics_period'], self._publish_diagnostics)
        self.get_logger().info(
            f'configured: L-module {self.runner.version} ({p["precision"]}, '
            f'{self.runner.provider}, K={self.runner.chunk_size}, dt={self.runner.chunk_dt:.4f}) '
            f'for {self.joint_names}; {p["mode"]} -> {self.topic} at {p["command_rate"]} Hz')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state):
        self.ensembler.clear()
        self._last_tick = None
        self._published_holding = None
        self._timer = self.create_timer(self.period, self._on_tick)
        self._active = True
        self.get_logger().info(f'active: publishing on {self.topic}')
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state):
        self._stop_timer()
        self.get_logger().info('inactive: publishing stopped')
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state):
        self.release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state):
        self.release()
        return TransitionCallbackReturn.SUCCESS

    def _stop_timer(self):
        self._active = False
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
        if self._side is not None:
            self._side.close()
            self._side = None
        self.runner = None

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
        if not np.all(np.isfinite(vel)):
            self.rejects.reject('joint_state_non_finite', 'velocity')
            return
        if self.safety.update_joints(pos, time.monotonic()):
            self._joint_vel = vel
        else:
            self.rejects.reject('joint_state_non_finite', 'position')

    def _on_estop(self, msg):
        was = self.safety.estop
        self.safety.set_estop(msg.data, time.monotonic())
        if msg.data and not was:
            self.get_logger().warning('E-STOP pressed: holding until released with False')
        elif was and not msg.data:
            self.get_logger().info('e-stop released: resuming on fresh inputs at slow start')

    def _on_context(self, msg):
        if not self._active:
            return
        data, reason = check_vector(msg.data, COMPRESSED_DIM)
        if reason is not None:
            self.rejects.reject(reason, f'compressed context of {len(msg.data)} values')
            return
        if not self.gate.accepts(msg.model_version):
            self.rejects.reject('unknown_version', f'H-module version {msg.model_version!r}')
            return
        pending, self._pending = self._pending, None
        if pending is not None:  # chunk boundary: the new version computes the next chunk
            self.runner = pending
            self.get_logger().info(f'L-module {pending.version} took over')
        now = time.monotonic()
        measured = self.safety.measured()
        if measured is None:
            self.rejects.reject('no_joint_state', 'no joint state yet')
            return
        chunk, seconds = self.runner.chunk(data, measured, self._joint_vel)
        self.compute.add(seconds)
        if chunk.shape != (self.runner.chunk_size, len(self.joint_names)) or \
                not np.all(np.isfinite(chunk)):
            self.rejects.reject('model_non_finite', f'L-module {self.runner.version} output')
            return
        self.safety.update_context(now)
        self.ensembler.add(chunk, now, self.runner.chunk_dt, self.runner.version)
        self.chunks += 1
        self._latency_stamp = stamp_seconds(msg.header.stamp)

    # -- the control tick ------------------------------------------------------------------
    def _on_tick(self):
        if not self._active:
            return
        now = time.monotonic()
        if self._last_tick is not None:
            self.jitter.add(abs(now - self._last_tick - self.period))
        self._last_tick = now
        command = self.safety.step(now, self.ensembler.evaluate(now))
        if command is None:
            return
        if command.holding:
            self.ensembler.clear()
        if not self.safety.within_limits(command.positions):
            self.rejects.reject('guard_blocked', f'command {command.positions}')
            return
        self._publish(command.positions)
        if command.holding != self._published_holding:
            self._published_holding = command.holding
            self.holding_pub.publish(Bool(data=command.holding))
            if command.holding:
                self.get_logger().warning(f'holding: {", ".join(command.reasons)}')
            else:
                self.get_logger().info('driving from the model')
        if self._latency_stamp is not None and not command.holding:
            wall = self.get_clock().now().nanoseconds * 1e-9
            self.latency.add(wall - self._latency_stamp)
            self._latency_stamp = None

    def _publish(self, positions):
        values = [float(v) for v in positions]
        if self.msg_type is Float64MultiArray:
            msg = Float64MultiArray(data=values)
        else:
            msg = JointTrajectory()
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.joint_names = self.joint_names
            nanos = int(self.period * 1e9)
            msg.points = [JointTrajectoryPoint(
                positions=values,
                time_from_start=Duration(sec=nanos // 10**9, nanosec=nanos % 10**9))]
        self.cmd_pub.publish(msg)
        self._last_cmd = values
        self.published += 1
        self.command_rate.tick()

    # -- model reload ----------------------------------------------------------------------
    def _on_load_model(self, request, response):
        with self._load_lock:
            runner = answer_load_request(self.get_logger(), response,
                                         lambda: self._load(request.version),
                                         self.runner.version if self.runner else '',
                                         'the next chunk')
            if runner is not None:
                self._pending = runner
            return response

    # -- diagnostics -----------------------------------------------------------------------
    def _publish_diagnostics(self):
        if self.runner is None:
            return
        counts = self.safety.counts
        holding = self.safety.holding
        level, message = OK, 'driving' if self.p['mode'] == 'drive' else 'shadowing'
        if not self._active:
            level, message = WARN, 'inactive'
        elif self.safety.estop:
            level, message = WARN, 'E-STOP latched'
        elif holding:
            level, message = WARN, 'holding (watchdog or no fresh inputs)'
        values = {
            'active': self._active, 'mode': self.p['mode'], 'topic': self.topic,
            'model_version': self.runner.version, 'precision': self.p['precision'],
            'provider': self.runner.provider, 'holding': holding, 'estop': self.safety.estop,
            'speed_scale': self.safety.slow_start.scale(time.monotonic()),
            'published': self.published, 'chunks': self.chunks,
            'command_rate_hz': self.command_rate.rate(),
            'jitter_p99_ms': self.jitter.percentile_ms(99),
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
    """Run the L-module node until SIGINT/SIGTERM."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sage_common.node_main import spin_until_shutdown

    rclpy.init(args=args)
    node = LModuleNode()
    if node.p['autostart']:
        if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            print('l_module: configure failed (see log); exiting', file=sys.stderr)
            node.destroy_node()
            rclpy.try_shutdown()
            return 1
        node.trigger_activate()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        spin_until_shutdown(executor)
    finally:
        executor.shutdown()
        node.release()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
