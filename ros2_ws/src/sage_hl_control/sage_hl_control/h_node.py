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

import sys

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from rclpy.node import Node
from sage_common.diagnostics import ERROR, make_array, make_status, OK, WARN
from sage_common.messages import floats_to_array, stamp_to_sec
from sage_common.node import (declare_all, FATAL, LoadModelService, run_node,
                              serve_history_reset)
from sage_common.qos import qos_from_name, reliable_qos
from sage_common.registry import default_model_dir, ModelError, ModelRegistry
from sage_common.rejects import RejectCounter
from sage_common.stats import LatencyWindow, RateMeter
from sage_hl_control.context_window import ContextWindow, presence_group_mask
from sage_hl_control.runtime import HRunner, PRECISION_FILES
from sage_hl_control.upstream import VersionGate
from sage_interfaces.msg import CompressedContext, Context
from sage_perception.layout import COMPRESSED_DIM, DIM as CONTEXT_DIM

# name: (default, description, (low, high) or None). Mirrored by config/h_module.yaml.
PARAMETERS = {
    'model_dir': ('', 'model registry root (default $SAGE_ROOT/models)', None),
    'model_version': ('', 'H-module version to run (empty: active)', None),
    'precision': ('fp32', 'ONNX variant: ' + ', '.join(sorted(PRECISION_FILES)), None),
    'threads': (1, 'ONNX Runtime intra-op threads', (1, 16)),
    'window_max_age': (1.0, 'contexts older than this (s, by stamp) leave the window',
                       (0.01, 60.0)),
    'accepted_context_versions': ('', "comma-separated encoder versions; 'any'; empty: the "
                                  'versions of `encoder` in the registry', None),
    'context_qos': ('reliable', 'QoS of /sage/context', None),
    'diagnostics_period': (1.0, '/diagnostics period (s)', (0.1, 60.0)),
}


class HModuleNode(Node):
    """Thin wiring of ContextWindow + HRunner to topics, a service and diagnostics."""

    def __init__(self, **kwargs):
        super().__init__('h_module', **kwargs)
        p = self.p = declare_all(self, PARAMETERS)
        self.model_dir = p['model_dir'] or str(default_model_dir())
        self.runner = self._load(p['model_version'])  # fatal at startup: raises ModelError
        self.window = ContextWindow(self.runner.window, p['window_max_age'])
        self.gate = VersionGate(p['accepted_context_versions'], self.model_dir, 'encoder')
        self.rejects = RejectCounter(self.get_logger())
        self.rate = RateMeter()
        self.compute = LatencyWindow()
        self.received = 0
        self.published = 0

        self.pub = self.create_publisher(CompressedContext, '/sage/context_compressed',
                                         reliable_qos())
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        # Before /sage/context, so an episode start is taken first. A zero stamp (a publisher
        # that does not stamp) empties the whole window.
        serve_history_reset(self, self.window.reset,
                            lambda: f'window emptied ({self.window.history_resets} resets)')
        self.create_subscription(Context, '/sage/context', self._on_context,
                                 qos_from_name(p['context_qos']))
        self.create_timer(p['diagnostics_period'], self._publish_diagnostics)
        self.loader = LoadModelService(self, self._load, lambda: self.runner.version,
                                       'the next context')
        self.get_logger().info(
            f'H-module {self.runner.version} ({p["precision"]}, {self.runner.provider}, window '
            f'{self.runner.window}) from {self.model_dir}; accepting contexts from '
            f'{self.gate.describe()}')

    def _load(self, version):
        return HRunner(ModelRegistry(self.model_dir).load('h_module', version or None),
                       self.p['precision'], self.p['threads'])

    def destroy_node(self):
        """Close ~/load_model's side node (joins its thread), then destroy this node."""
        self.loader.close()
        super().destroy_node()

    # -- data path -------------------------------------------------------------------------
    def _on_context(self, msg):
        self.received += 1
        runner = self.loader.take()
        if runner is not None:
            self.runner = runner
            if runner.window != self.window.size:
                self.window.resize(runner.window)
            self.get_logger().info(f'H-module {runner.version} took over')
        data = self.gate.vector(msg, CONTEXT_DIM, self.rejects)
        if data is None:
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
        out.data = floats_to_array(z)
        out.presence = msg.presence
        out.model_version = self.runner.version
        out.context_model_version = msg.model_version
        self.pub.publish(out)
        self.published += 1
        self.rate.tick()

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
            'model_version': self.runner.version, 'precision': self.p['precision'],
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
    return run_node(HModuleNode, 'h_module', args, {**FATAL, ModelError: 'no usable H-module'})


if __name__ == '__main__':
    sys.exit(main())
