# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The context node: camera + depth + joint states -> the stamped 4096-D context.

Subscribes /camera/color/image_raw, /camera/depth/image_rect_raw and /joint_states
(SensorDataQoS, or reliable by parameter); publishes /sage/context (Context, stamped with the
colour camera stamp, presence bits, model version and trust), /sage/trust (Trust, the same
stamp; when the encoder version has a trust model), /sage/context_heatmap (64x64 mono8) and
/diagnostics (WARN below `trust_warn_below`, ERROR for a distrusted source). `~/load_model`
(LoadModel) loads, verifies and probes a registry version on a side node and thread
(sage_common LoadModelService) while frames keep flowing; it takes over at the next colour
frame, and a version that fails is refused with the reason while the current one stays.
/sage/episode_start (std_msgs/Header, stamped with the episode's start) and `~/reset_history`
(Trigger) reset the encoder's history, as training starts each sequence from the initial
hidden state. /sage/task (std_msgs/String, latched) is the task sentence the contexts carry
in their intentions group (PRESENT_TASK) from then on; a text that cannot be a task (empty,
over 1 KB, not UTF-8) is a counted reject and leaves the contexts without a task.
"""

import sys

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.parameter import Parameter
from sage_common import cdr
from sage_common.diagnostics import ERROR, make_array, make_status, OK, WARN
from sage_common.messages import fill_image, floats_to_array
from sage_common.node import (declare_all, DESCRIPTION_PARAMETERS, FATAL, LoadModelService,
                              node_joint_facts, run_node, serve_history_reset)
from sage_common.qos import latched_qos, qos_from_name, reliable_qos
from sage_common.registry import default_model_dir, ModelError, ModelRegistry
from sage_common.rejects import RejectCounter
from sage_common.stats import LatencyWindow, RateMeter
from sage_interfaces.msg import Context, Trust
from sage_perception import layout
from sage_perception.context_core import (ContextPipeline, DEFAULT_PIPELINE_PARAMS,
                                          heatmap_mono8, load_runtime)
from sage_perception.encoder import MODEL_NAME
from sage_perception.trust import SOURCES as TRUST_SOURCES
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String

P = DEFAULT_PIPELINE_PARAMS
# name: (default, description, (low, high) or None). Mirrored by config/context_node.yaml.
PARAMETERS = {
    'model_dir': ('', "model registry root ('' = $SAGE_ROOT/models)", None),
    'model_name': (MODEL_NAME, 'registry model name', None),
    'model_version': ('', "version to load at start ('' = the active one)", None),
    **DESCRIPTION_PARAMETERS,
    'joint_names': (Parameter.Type.STRING_ARRAY, 'joint order fed to the encoder (JointState '
                    "names; default: the robot description's joints; if set, exactly them)",
                    None),
    'qos': ('sensor', "input QoS: 'sensor' (best effort) or 'reliable'", None),
    'qos_depth': (5, 'input queue depth', (1, 100)),
    'slop_s': (P['slop_s'], 'colour/depth stamp pairing slop', (0.0, 1.0)),
    'queue_size': (P['queue_size'], 'synchroniser queue per stream', (1, 100)),
    'depth_timeout_s': (P['depth_timeout_s'],
                        'no depth this long before a colour stamp: depth masked', (0.01, 60.0)),
    'joint_max_age_s': (P['joint_max_age_s'], 'joint state older than this at a colour '
                        'stamp: joints masked', (0.001, 60.0)),
    'max_future_s': (P['max_future_s'], 'reject stamps further ahead of the clock',
                     (0.0, 3600.0)),
    'allow_extra_joints': (P['allow_extra_joints'],
                           'ignore JointState names not in joint_names instead of rejecting',
                           None),
    'use_trust': (P['use_trust'], "mask a source the encoder version's trust model distrusts "
                  '(false: judge and publish trust only)', None),
    'trust_window': (P['trust_window'], 'frames in the running median of the surprise',
                     (1, 100)),
    'trust_z_ok': (P['trust_z_ok'], 'surprise (z) at or below which trust is 1', (0.0, 100.0)),
    'trust_z_bad': (P['trust_z_bad'], 'surprise (z) at or above which trust is 0',
                    (0.0, 100.0)),
    'trust_distrust_below': (P['trust_distrust_below'], 'trust at or below which a source is '
                             'distrusted (diagnostics ERROR)', (0.0, 1.0)),
    'trust_restore_above': (P['trust_restore_above'], 'trust at or above which a distrusted '
                            'source is trusted again', (0.0, 1.0)),
    'trust_warn_below': (0.75, 'trust below which diagnostics turn WARN', (0.0, 1.0)),
    'threads': (1, 'ONNX Runtime intra-op threads (1: no spinning pool; the encoder is tiny)',
                (1, 64)),
    'heatmap_every': (1, 'publish the heat-map every N contexts (0: off)', (0, 1000)),
    'diagnostics_period_s': (1.0, 'diagnostics period', (0.1, 60.0)),
    'reject_log_throttle_s': (5.0, 'log each reject reason at most this often',
                              (0.0, 3600.0)),
}
# What a start without a usable model means, and what to do about it.
NO_MODEL = ('cannot start without a usable encoder model. If the registry is empty, create '
            'the first version with `sage_models init`; otherwise pick a good version with '
            'the model_version parameter or roll back the ACTIVE marker')


class ContextNode(Node):
    """Thin ROS wiring around ContextPipeline."""

    def __init__(self, name='context_node'):
        super().__init__(name)
        param = self.param = declare_all(self, PARAMETERS)
        self.joint_names = node_joint_facts(self, param, required=()).names
        self.registry = ModelRegistry(param['model_dir'] or default_model_dir())
        runtime = self._load(param['model_version'])
        self.get_logger().info(
            f'loaded {param["model_name"]} {runtime.version} from {self.registry.root} '
            f'(image {runtime.config["image_size"]}px, execution provider {runtime.provider})')

        self.rejects = RejectCounter(self.get_logger(), param['reject_log_throttle_s'])
        pipeline_params = {k: param[k] for k in DEFAULT_PIPELINE_PARAMS if k in param}
        self.pipeline = ContextPipeline(runtime, self.joint_names, self.rejects,
                                        self._publish, pipeline_params)
        self.rates = {k: RateMeter() for k in ('color', 'depth', 'joints', 'context')}
        self.latency = LatencyWindow(600)
        self.preprocess_ms = LatencyWindow(600)
        self.encode_ms = LatencyWindow(600)
        self.last_presence = 0
        self.last_trust = None

        # Before the sensor subscriptions, so an episode start is taken first. A zero stamp (a
        # publisher that does not stamp) resets without dropping any frame.
        serve_history_reset(self, self.pipeline.reset_history, lambda: (
            f'encoder history reset ({self.pipeline.history_resets} resets)'))
        qos = qos_from_name(param['qos'], param['qos_depth'])
        self.create_subscription(Image, '/camera/color/image_raw', self._on_color, qos)
        self.create_subscription(Image, '/camera/depth/image_rect_raw', self._on_depth, qos)
        self.create_subscription(JointState, '/joint_states', self._on_joints, qos)
        self.create_subscription(String, '/sage/task', self._on_task, latched_qos(), raw=True)
        self.context_pub = self.create_publisher(Context, '/sage/context', reliable_qos())
        self.trust_pub = self.create_publisher(Trust, '/sage/trust', reliable_qos())
        self.heatmap_pub = self.create_publisher(Image, '/sage/context_heatmap', reliable_qos(2))
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(param['diagnostics_period_s'], self._publish_diagnostics)
        # ~/load_model lives on a side node spun by its own executor thread, so loading,
        # verifying and probing a model never blocks the sensor callbacks. (Callback groups on
        # rclpy's MultiThreadedExecutor would too, but it costs far more per callback.)
        self.loader = LoadModelService(self, self._load, lambda: self.pipeline.runtime.version,
                                       'the next colour frame')
        self.get_logger().info(
            f'context node ready: joints {self.joint_names}, input QoS {param["qos"]}, '
            f'alignment by {self.pipeline.sync_impl} (slop {param["slop_s"]} s)')

    def _load(self, version):
        return load_runtime(self.registry, version, len(self.joint_names),
                            self.param['threads'], name=self.param['model_name'])

    def destroy_node(self):
        """Close ~/load_model's side node (joins its thread), then destroy this node."""
        self.loader.close()
        super().destroy_node()

    # -- inputs ----------------------------------------------------------------------------
    def _now(self):
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_color(self, msg):
        self.rates['color'].tick()
        runtime = self.loader.take()
        if runtime is not None:
            self.pipeline.swap_runtime(runtime)
            self.get_logger().info(f'{runtime.version} took over')
        self.pipeline.on_color(msg, self._now())

    def _on_depth(self, msg):
        self.rates['depth'].tick()
        self.pipeline.on_depth(msg, self._now())

    def _on_joints(self, msg):
        self.rates['joints'].tick()
        self.pipeline.on_joints(msg, self._now())

    def _on_task(self, raw):
        # Taken raw: rclpy would decode the text itself and raise inside the executor on
        # bytes that are not UTF-8, where this counts them as a reject.
        try:
            text = cdr.string(raw, cdr.HEADER, cdr.byte_order(raw))[0]
        except cdr.CdrError as exc:
            self.rejects.reject('task_text', f'task: {exc}')
            return
        task = self.pipeline.on_task(text)
        if task is not None:
            self.get_logger().info(f'task: {task!r}')

    # -- outputs ---------------------------------------------------------------------------
    def _publish(self, result):
        msg = Context()
        msg.header = result.header
        msg.data = floats_to_array(result.context)
        msg.presence = result.presence
        msg.model_version = result.version
        if result.trust is not None:
            msg.trust = floats_to_array(result.trust)
        # Counted before the hand-off: a reader that sees this context sees its figures too.
        self.latency.add(self._now() - result.stamp)
        self.rates['context'].tick()
        self.preprocess_ms.add(result.preprocess_s)
        self.encode_ms.add(result.encode_s)
        self.last_presence = result.presence
        self.context_pub.publish(msg)
        if result.trust is not None:
            self._publish_trust(result)
        every = self.param['heatmap_every']
        if every and self.pipeline.published % every == 0:
            image = fill_image(Image(), heatmap_mono8(result.context), 'mono8')
            image.header = result.header
            self.heatmap_pub.publish(image)

    def _publish_trust(self, result):
        monitor = self.pipeline.trust.monitor
        msg = Trust()
        msg.header = result.header
        msg.sources = list(TRUST_SOURCES)
        msg.trust = floats_to_array(result.trust)
        msg.surprise = floats_to_array(monitor.surprise)
        msg.distrusted = [bool(d) for d in monitor.distrusted]
        msg.model_version = result.version
        self.last_trust = (result.trust, monitor.distrusted.copy())
        self.trust_pub.publish(msg)

    def _publish_diagnostics(self):
        runtime = self.pipeline.runtime
        presence = self.last_presence
        missing = [name for name, bit in layout.MODALITY_BITS if not presence & bit]
        values = {
            'model_version': runtime.version,
            'execution_provider': runtime.provider,
            'alignment': self.pipeline.sync_impl,
            'presence': presence,
            'contexts_published': self.pipeline.published,
            'latency_ms_p50': self.latency.percentile_ms(50),
            'latency_ms_p99': self.latency.percentile_ms(99),
            'preprocess_ms_p50': self.preprocess_ms.percentile_ms(50),
            'encoder_ms_p50': self.encode_ms.percentile_ms(50),
            'rejected_total': self.rejects.total(),
            'history_resets': self.pipeline.history_resets,
            'dropped_before_episode_start': self.pipeline.dropped_before_start,
            'task': self.pipeline.task or '',
        }
        if self.last_trust is not None:
            for source, value in zip(TRUST_SOURCES, self.last_trust[0]):
                values[f'trust_{source}'] = float(value)
            values['contexts_masked_by_trust'] = self.pipeline.trust.masked
        if self.pipeline.sync.dropped is not None:
            values['unpaired_dropped'] = self.pipeline.sync.dropped
        for key, meter in self.rates.items():
            values[f'rate_{key}_hz'] = meter.rate()
        for key, count in self.pipeline.accepted.items():
            values[f'accepted_{key}'] = count
        values.update(self.rejects.as_values())
        if self.rates['context'].rate() == 0.0:
            level, message = ERROR if self.pipeline.published else WARN, 'no contexts'
        else:
            level, message = self._trust_level(missing)
        status = make_status(f'{self.get_name()}: reality context', self.get_name(), level,
                             message, values)
        self.diag_pub.publish(make_array(self.get_clock().now().to_msg(), [status]))

    def _trust_level(self, missing):
        """Return (level, message) from the masked modalities and the last trust."""
        level, notes = OK, []
        if missing:
            level, notes = WARN, ['masked: ' + ', '.join(missing)]
        if self.last_trust is not None:
            trust, distrusted = self.last_trust
            low = [f'{s} {t:.2f}' for s, t in zip(TRUST_SOURCES, trust)
                   if t < self.param['trust_warn_below']]
            if distrusted.any():
                level = ERROR
                notes.append('distrusted: ' + ', '.join(
                    s for s, d in zip(TRUST_SOURCES, distrusted) if d))
            elif low:
                level = max(level, WARN)
                notes.append('low trust: ' + ', '.join(low))
        return level, '; '.join(notes) or 'ok'


def main(args=None):
    """Run the context node until SIGINT/SIGTERM; exit 1 without a usable model or params."""
    return run_node(ContextNode, 'context_node', args, {**FATAL, ModelError: NO_MODEL})


if __name__ == '__main__':
    sys.exit(main())
