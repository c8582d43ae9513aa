# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The H-module node: /sage/context (4096-D) -> /sage/context_compressed (256-D).

Every valid context is pushed into a short window and compressed with ONNX Runtime; the
compressed message carries the source stamp, the presence mask, the H-module version and
the encoder version through. Contexts of the wrong size, with NaN/Inf, or from an encoder
version that is not accepted are rejected and counted. `~/load_model` loads, verifies and
probes another version off the data path; it takes over at the next context, and a version
that fails is refused while the running one stays. /sage/episode_start (std_msgs/Header,
stamped with the episode's start) and `~/reset_history` (Trigger) empty the window, as
training starts each sequence with an empty one.
"""

import array
import sys
import threading

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from rclpy.node import Node
from sage_common.background_node import SideService
from sage_common.diagnostics import ERROR, make_array, make_status, OK, WARN
from sage_common.qos import qos_from_name, reliable_qos
from sage_common.registry import ModelError, ModelRegistry
from sage_common.rejects import RejectCounter
from sage_common.stats import LatencyWindow, RateMeter
from sage_hl_control.context_window import check_vector, ContextWindow, presence_group_mask
from sage_hl_control.node_util import (answer_load_request, declare, model_dir_or_default,
                                       VersionGate)
from sage_hl_control.runtime import HRunner, PRECISION_FILES
from sage_interfaces.msg import CompressedContext, Context
from sage_interfaces.srv import LoadModel
from sage_perception.decode import stamp_to_sec
from sage_perception.layout import COMPRESSED_DIM, DIM as CONTEXT_DIM
from std_msgs.msg import Header
from std_srvs.srv import Trigger


class HModuleNode(Node):
    """Thin wiring of ContextWindow + HRunner to topics, a service and diagnostics."""

    def __init__(self, **kwargs):
        super().__init__('h_module', **kwargs)
        self.model_dir = model_dir_or_default(declare(
            self, 'model_dir', '', 'model registry root (default $SAGE_ROOT/models)'))
        version = declare(self, 'model_version', '', 'H-module version to run (empty: active)')
        self.precision = declare(self, 'precision', 'fp32',
                                 'ONNX variant: ' + ', '.join(sorted(PRECISION_FILES)))
        self.threads = declare(self, 'threads', 1, 'ONNX Runtime intra-op threads', 1, 16)
        self.window_max_age = declare(self, 'window_max_age', 1.0,
                                      'contexts older than this (s, by stamp) leave the window',
                                      0.01, 60.0)
        accepted = declare(self, 'accepted_context_versions', '',
                           "comma-separated encoder versions; 'any'; empty: the versions "
                           'of `encoder` in the registry')
        context_qos = declare(self, 'context_qos', 'reliable', 'QoS of /sage/context')
        period = declare(self, 'diagnostics_period', 1.0, '/diagnostics period (s)', 0.1, 60.0)

        self.runner = self._load(version)  # fatal at startup: raises ModelError
        self.window = ContextWindow(self.runner.window, self.window_max_age)
        self.gate = VersionGate(accepted, self.model_dir, 'encoder')
        self.rejects = RejectCounter(self.get_logger())
        self.rate = RateMeter()
        self.compute = LatencyWindow()
        self.received = 0
        self.published = 0
        self._pending = None
        self._load_lock = threading.Lock()

        self.pub = self.create_publisher(CompressedContext, '/sage/context_compressed',
                                         reliable_qos())
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        # Before /sage/context: when both are ready in one wait, the executor takes the reset
        # first. All three callbacks run on this node's single-threaded executor.
        self.create_subscription(Header, '/sage/episode_start', self._on_episode_start,
                                 reliable_qos())
        self.create_service(Trigger, '~/reset_history', self._on_reset_history)
        self.create_subscription(Context, '/sage/context', self._on_context,
                                 qos_from_name(context_qos))
        self.create_timer(period, self._publish_diagnostics)
        # Last: nothing after it can fail and leave its thread running (main() closes it).
        self.side = SideService(self, LoadModel, self.get_fully_qualified_name() + '/load_model',
                                self._on_load_model)
        self.get_logger().info(
            f'H-module {self.runner.version} ({self.precision}, {self.runner.provider}, window '
            f'{self.runner.window}) from {self.model_dir}; accepting contexts from '
            f'{self.gate.describe()}')

    def _load(self, version):
        return HRunner(ModelRegistry(self.model_dir).load('h_module', version or None),
                       self.precision, self.threads)

    # -- data path -------------------------------------------------------------------------
    def _on_context(self, msg):
        self.received += 1
        pending, self._pending = self._pending, None
        if pending is not None:
            self.runner = pending
            if pending.window != self.window.size:
                self.window.resize(pending.window)
            self.get_logger().info(f'H-module {pending.version} took over')
        data, reason = check_vector(msg.data, CONTEXT_DIM)
        if reason is not None:
            self.rejects.reject(reason, f'context of {len(msg.data)} values')
            return
        if not self.gate.accepts(msg.model_version):
            self.rejects.reject('unknown_version', f'encoder version {msg.model_version!r}')
            return
        if not self.window.push(data, presence_group_mask(msg.presence),
                                stamp_to_sec(msg.header.stamp)):
            return  # stamped before the current episode's start
        z, seconds = self.runner.compress(self.window.feeds())
        self.compute.add(seconds)
        if z.shape != (COMPRESSED_DIM,) or not np.all(np.isfinite(z)):
            self.rejects.reject('model_non_finite', f'H-module {self.runner.version} output')
            return
        out = CompressedContext()
        out.header = msg.header
        out.data = array.array('f', z.astype(np.float32).tobytes())
        out.presence = msg.presence
        out.model_version = self.runner.version
        out.context_model_version = msg.model_version
        self.pub.publish(out)
        self.published += 1
        self.rate.tick()

    def _on_episode_start(self, msg):
        # A zero stamp (a publisher that does not stamp) empties the whole window.
        self.window.reset(stamp_to_sec(msg.stamp) or None)

    def _on_reset_history(self, request, response):
        self.window.reset()
        response.success = True
        response.message = f'window emptied ({self.window.history_resets} resets)'
        return response

    # -- model reload ----------------------------------------------------------------------
    def _on_load_model(self, request, response):
        with self._load_lock:
            runner = answer_load_request(self.get_logger(), response,
                                         lambda: self._load(request.version),
                                         self.runner.version, 'the next context')
            if runner is not None:
                self._pending = runner
            return response

    # -- diagnostics -----------------------------------------------------------------------
    def _publish_diagnostics(self):
        rejected = self.rejects.total()
        level, message = OK, 'compressing'
        if self.published == 0:
            level, message = WARN, 'no context compressed yet'
        if rejected:
            level, message = WARN, f'{rejected} contexts rejected'
        if self.rejects.counts.get('model_non_finite'):
            level = ERROR
        values = {
            'model_version': self.runner.version, 'precision': self.precision,
            'provider': self.runner.provider, 'window': self.window.size,
            'received': self.received, 'published': self.published, 'rejected': rejected,
            'rate_hz': self.rate.rate(), 'compute_p50_ms': self.compute.percentile_ms(50),
            'compute_p99_ms': self.compute.percentile_ms(99),
            'window_resets': self.window.resets,
            'history_resets': self.window.history_resets,
            'dropped_before_episode_start': self.window.dropped_before_start,
        }
        values.update(self.rejects.as_values())
        status = make_status('sage: h_module', 'h_module', level, message, values)
        self.diag_pub.publish(make_array(self.get_clock().now().to_msg(), [status]))


def main(args=None):
    """Run the H-module node until SIGINT/SIGTERM."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sage_common.node_main import init_rclpy, spin_until_shutdown, stop_requested

    init_rclpy(args)
    try:
        node = HModuleNode()
    except (ModelError, ValueError) as exc:
        print(f'h_module: cannot start: {exc}', file=sys.stderr)
        rclpy.try_shutdown()
        return 1
    except Exception:
        if not stop_requested():  # else: SIGINT/SIGTERM while starting, a clean stop
            raise
        rclpy.try_shutdown()
        return 0
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        spin_until_shutdown(executor)
    finally:
        executor.shutdown()
        node.side.close()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
