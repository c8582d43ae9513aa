# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The context node: camera + depth + joint states -> the stamped 4096-D context.

Subscribes /camera/color/image_raw, /camera/depth/image_rect_raw and /joint_states
(SensorDataQoS, or reliable by parameter); publishes /sage/context (Context, stamped with the
colour camera stamp, presence bits and model version), /sage/context_heatmap (64x64 mono8)
and /diagnostics. `~/load_model` (LoadModel) loads, verifies and probes a registry version on
a side node and thread (sage_common SideService) while frames keep flowing, then swaps it in
atomically; a version that fails is refused with the reason and the current one stays.
/sage/episode_start (std_msgs/Header, stamped with the episode's start) and `~/reset_history`
(Trigger) reset the encoder's history, as training starts each sequence from the initial
hidden state.
"""

import sys
import time

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sage_common.background_node import SideService
from sage_common.diagnostics import ERROR, make_array, make_status, OK, WARN
from sage_common.node_main import init_rclpy, spin_until_shutdown, stop_requested
from sage_common.qos import qos_from_name, reliable_qos
from sage_common.registry import default_model_dir, ModelError, ModelRegistry
from sage_common.rejects import RejectCounter
from sage_common.stats import LatencyWindow, RateMeter
from sage_interfaces.msg import Context
from sage_interfaces.srv import LoadModel
from sage_perception import layout
from sage_perception.context_core import (ContextPipeline, DEFAULT_PIPELINE_PARAMS,
                                          heatmap_mono8, load_runtime)
from sage_perception.decode import bytes_to_uint8_array, floats_to_array, stamp_to_sec
from sage_perception.encoder import MODEL_NAME
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Header
from std_srvs.srv import Trigger

INIT_COMMAND = 'sage_models init'


def _float_param(description, low, high):
    return ParameterDescriptor(description=description, floating_point_range=[
        FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)])


def _int_param(description, low, high):
    return ParameterDescriptor(description=description, integer_range=[
        IntegerRange(from_value=int(low), to_value=int(high), step=1)])


class ContextNode(Node):
    """Thin ROS wiring around ContextPipeline."""

    def __init__(self, name='context_node'):
        super().__init__(name)
        p = DEFAULT_PIPELINE_PARAMS
        declared = {
            'model_dir': ('', ParameterDescriptor(
                description="model registry root ('' = $SAGE_ROOT/models)")),
            'model_name': (MODEL_NAME, ParameterDescriptor(description='registry model name')),
            'model_version': ('', ParameterDescriptor(
                description="version to load at start ('' = the active one)")),
            'joint_names': (['joint0', 'joint1'], ParameterDescriptor(
                description='joint order fed to the encoder (JointState names)')),
            'qos': ('sensor', ParameterDescriptor(
                description="input QoS: 'sensor' (best effort) or 'reliable'")),
            'qos_depth': (5, _int_param('input queue depth', 1, 100)),
            'slop_s': (p['slop_s'], _float_param('colour/depth stamp pairing slop', 0.0, 1.0)),
            'queue_size': (p['queue_size'], _int_param('synchroniser queue per stream', 1, 100)),
            'depth_timeout_s': (p['depth_timeout_s'], _float_param(
                'no depth this long before a colour stamp: depth masked', 0.01, 60.0)),
            'joint_max_age_s': (p['joint_max_age_s'], _float_param(
                'joint state older than this at a colour stamp: joints masked', 0.001, 60.0)),
            'max_future_s': (p['max_future_s'], _float_param(
                'reject stamps further ahead of the clock', 0.0, 3600.0)),
            'allow_extra_joints': (p['allow_extra_joints'], ParameterDescriptor(
                description='ignore JointState names not in joint_names instead of rejecting')),
            'threads': (1, _int_param(
                'ONNX Runtime intra-op threads (1: no spinning pool; the encoder is tiny)',
                1, 64)),
            'heatmap_every': (1, _int_param('publish the heat-map every N contexts (0: off)',
                                            0, 1000)),
            'diagnostics_period_s': (1.0, _float_param('diagnostics period', 0.1, 60.0)),
            'reject_log_throttle_s': (5.0, _float_param('log each reject reason at most this '
                                                        'often', 0.0, 3600.0)),
        }
        for key, (default, descriptor) in declared.items():
            self.declare_parameter(key, default, descriptor)
        param = {key: self.get_parameter(key).value for key in declared}
        self.param = param
        self.joint_names = list(param['joint_names'])
        self.registry = ModelRegistry(param['model_dir'] or default_model_dir())
        runtime = load_runtime(self.registry, param['model_version'], len(self.joint_names),
                               param['threads'], name=param['model_name'])
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

        # Created before the sensor subscriptions: when an episode start and a frame are
        # ready in the same wait, the executor takes the reset first. Both callbacks run on
        # this node's single-threaded executor, and the pipeline locks its state besides.
        self.create_subscription(Header, '/sage/episode_start', self._on_episode_start,
                                 reliable_qos())
        self.create_service(Trigger, '~/reset_history', self._on_reset_history)
        qos = qos_from_name(param['qos'], param['qos_depth'])
        self.create_subscription(Image, '/camera/color/image_raw', self._on_color, qos)
        self.create_subscription(Image, '/camera/depth/image_rect_raw', self._on_depth, qos)
        self.create_subscription(JointState, '/joint_states', self._on_joints, qos)
        self.context_pub = self.create_publisher(Context, '/sage/context', reliable_qos())
        self.heatmap_pub = self.create_publisher(Image, '/sage/context_heatmap', reliable_qos(2))
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(param['diagnostics_period_s'], self._publish_diagnostics)
        # ~/load_model lives on a side node spun by its own executor thread, so loading,
        # verifying and probing a model never blocks the sensor callbacks. (Callback groups on
        # rclpy's MultiThreadedExecutor would too, but it costs far more per callback.)
        # Created last: nothing after it can fail and leave its thread running; main() closes
        # it (joins the thread) before the process exits.
        self.loader = SideService(self, LoadModel, f'{self.get_fully_qualified_name()}/load_model',
                                  self._on_load_model)
        self.get_logger().info(
            f'context node ready: joints {self.joint_names}, input QoS {param["qos"]}, '
            f'alignment by {self.pipeline.sync_impl} (slop {param["slop_s"]} s)')

    # -- inputs ----------------------------------------------------------------------------
    def _now(self):
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_color(self, msg):
        self.rates['color'].tick()
        self.pipeline.on_color(msg, self._now())

    def _on_depth(self, msg):
        self.rates['depth'].tick()
        self.pipeline.on_depth(msg, self._now())

    def _on_joints(self, msg):
        self.rates['joints'].tick()
        self.pipeline.on_joints(msg, self._now())

    def _on_episode_start(self, msg):
        # A zero stamp (a publisher that does not stamp) resets without dropping any frame.
        self.pipeline.reset_history(stamp_to_sec(msg.stamp) or None)

    def _on_reset_history(self, request, response):
        self.pipeline.reset_history()
        response.success = True
        response.message = f'encoder history reset ({self.pipeline.history_resets} resets)'
        return response

    # -- outputs ---------------------------------------------------------------------------
    def _publish(self, result):
        msg = Context()
        msg.header = result.header
        msg.data = floats_to_array(result.context)
        msg.presence = result.presence
        msg.model_version = result.version
        self.context_pub.publish(msg)
        self.latency.add(self._now() - result.stamp)
        self.rates['context'].tick()
        self.preprocess_ms.add(result.preprocess_s)
        self.encode_ms.add(result.encode_s)
        self.last_presence = result.presence
        every = self.param['heatmap_every']
        if every and self.pipeline.published % every == 0:
            image = Image()
            image.header = result.header
            image.height = image.width = 64
            image.encoding = 'mono8'
            image.step = 64
            image.data = bytes_to_uint8_array(heatmap_mono8(result.context).tobytes())
            self.heatmap_pub.publish(image)

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
        }
        if self.pipeline.sync.dropped is not None:
            values['unpaired_dropped'] = self.pipeline.sync.dropped
        for key, meter in self.rates.items():
            values[f'rate_{key}_hz'] = meter.rate()
        for key, count in self.pipeline.accepted.items():
            values[f'accepted_{key}'] = count
        values.update(self.rejects.as_values())
        if self.rates['context'].rate() == 0.0:
            level, message = ERROR if self.pipeline.published else WARN, 'no contexts'
        elif missing:
            level, message = WARN, 'masked: ' + ', '.join(missing)
        else:
            level, message = OK, 'ok'
        status = make_status(f'{self.get_name()}: reality context', self.get_name(), level,
                             message, values)
        self.diag_pub.publish(make_array(self.get_clock().now().to_msg(), [status]))

    # -- model reload ----------------------------------------------------------------------
    def _on_load_model(self, request, response):
        current = self.pipeline.runtime
        started = time.monotonic()
        try:
            runtime = load_runtime(self.registry, request.version, len(self.joint_names),
                                   self.param['threads'], name=self.param['model_name'])
        except ModelError as exc:
            response.success = False
            response.message = f'refused: {exc}; keeping {current.version}'
            response.active_version = current.version
            self.get_logger().error(f'load_model: {response.message}')
            return response
        self.pipeline.swap_runtime(runtime)
        response.success = True
        response.message = (f'loaded {runtime.version} in {time.monotonic() - started:.2f} s '
                            f'(was {current.version}, provider {runtime.provider})')
        response.active_version = runtime.version
        self.get_logger().info(f'load_model: {response.message}')
        return response


def main(args=None):
    """Run the context node until SIGINT/SIGTERM; exit 1 without a usable model or params."""
    init_rclpy(args)
    logger = rclpy.logging.get_logger('context_node')
    try:
        node = ContextNode()
    except ModelError as exc:
        logger.fatal(
            f'cannot start without a usable encoder model: {exc}. If the registry is empty, '
            f'create the first version with `{INIT_COMMAND}`; otherwise pick a good version '
            f'with the model_version parameter or roll back the ACTIVE marker.')
        rclpy.try_shutdown()
        return 1
    except ValueError as exc:
        logger.fatal(f'bad parameter: {exc}')
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
        # Join the loader's thread before the interpreter exits: a daemon thread still in
        # rclpy's wait at exit aborts the process (SIGABRT, "terminate called without an
        # active exception") instead of exiting 0.
        node.loader.close()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
