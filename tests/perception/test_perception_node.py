# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The context node as its own process over real DDS: contexts, reload, resets, bad input."""

import math
import shutil
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from sage_common.diagnostics import status_values
from sage_common.messages import fill_image, sec_to_stamp, stamp_to_sec
from sage_common.qos import reliable_qos
from sage_common.registry import ModelRegistry
from sage_common.rejects import RejectCounter
from sage_interfaces.msg import Context
from sage_interfaces.srv import LoadModel
from sage_perception import layout
from sage_perception.context_core import ContextPipeline, load_runtime
from sage_perception.encoder import publish_initial_encoder
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Header
from std_srvs.srv import Trigger

pytestmark = pytest.mark.integration
ALL = layout.PRESENT_COLOR | layout.PRESENT_DEPTH | layout.PRESENT_JOINTS
T0 = 1000.0


@pytest.fixture
def registry(tmp_path):
    reg = ModelRegistry(tmp_path / 'models')
    publish_initial_encoder(reg, seed=0)
    return reg


class Sender:
    """Publishes camera, depth and joint messages from the test process."""

    def __init__(self, ros):
        self.ros = ros
        node = ros.node
        qos = reliable_qos()
        self.color = node.create_publisher(Image, '/camera/color/image_raw', qos)
        self.depth = node.create_publisher(Image, '/camera/depth/image_rect_raw', qos)
        self.joints = node.create_publisher(JointState, '/joint_states', qos)
        self.contexts = ros.collect(Context, '/sage/context', reliable_qos())
        self.heatmaps = ros.collect(Image, '/sage/context_heatmap', reliable_qos())
        self.diagnostics = ros.collect(DiagnosticArray, '/diagnostics', 10)
        rng = np.random.default_rng(0)
        self.rgb = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        self.metres = rng.random((48, 64)).astype(np.float32) + 0.5

    def wait_connected(self):
        node = self.ros.node
        self.ros.wait_for(lambda: all(p.get_subscription_count() > 0 for p in
                                      (self.color, self.depth, self.joints))
                          and node.count_publishers('/sage/context') > 0, 30, 'discovery')

    def now(self):
        return self.ros.node.get_clock().now().nanoseconds * 1e-9

    def image(self, t, depth=False, pixels=None, **fields):
        if pixels is None:
            pixels = self.metres if depth else self.rgb
        msg = fill_image(Image(), pixels, '32FC1' if depth else 'rgb8')
        sec_to_stamp(t, msg.header.stamp)
        for key, value in fields.items():
            setattr(msg, key, value)
        return msg

    def joint_state(self, t, names=('joint1', 'joint0'), position=(0.3, -0.2)):
        msg = JointState(name=list(names), position=list(position), velocity=[0.0, 0.1])
        sec_to_stamp(t, msg.header.stamp)
        return msg

    def frame(self, depth=True, joints=True):
        """Send one frame now; return its colour stamp."""
        t = self.now()
        if joints:
            self.joints.publish(self.joint_state(t - 0.002))
        if depth:
            self.depth.publish(self.image(t, depth=True))
        self.color.publish(self.image(t))
        return t

    def context_for(self, t):
        for msg in list(self.contexts):
            if abs(stamp_to_sec(msg.header.stamp) - t) < 1e-6:
                return msg
        return None

    def frame_until_context(self, want=ALL, tries=20, **kwargs):
        """
        Send frames until one comes back as a context with presence want.

        Best effort drops the first messages after discovery, so a few tries may be needed.
        """
        for _ in range(tries):
            t = self.frame(**kwargs)
            try:
                self.ros.wait_for(lambda: self.context_for(t) is not None, 1.0, 'context')
            except AssertionError:
                continue
            if self.context_for(t).presence == want:
                return self.context_for(t)
        raise AssertionError(f'no context with presence {want} after {tries} frames')

    def diag(self):
        for array in reversed(list(self.diagnostics)):
            for status in array.status:
                if 'reality context' in status.name:
                    return status, status_values(status)
        return None, {}


def start_reliable_node(launch_node, ros_node, registry):
    """Start the context node on the registry (reliable QoS); return it and a Sender."""
    node = launch_node('sage_perception', 'context_node', name='context_node',
                       params={'model_dir': str(registry.root), 'qos': 'reliable',
                               'diagnostics_period_s': 0.2})
    node.wait_for_output('context node ready')
    send = Sender(ros_node)
    send.wait_connected()
    return node, send


def test_contexts_reload_without_drops_and_refusal(launch_node, ros_node, registry):
    node, send = start_reliable_node(launch_node, ros_node, registry)
    ctx = send.frame_until_context()
    assert ctx.presence == ALL and ctx.model_version == 'v0001'
    data = np.asarray(ctx.data, dtype=np.float32)
    assert data.shape == (layout.DIM,) and np.all(np.isfinite(data))
    assert not data[layout.SLICES['audio']].any() and not data[layout.SLICES['tactile']].any()
    ros_node.wait_for(lambda: len(send.heatmaps) > 0, 10, 'heat-map')
    heat = send.heatmaps[-1]
    assert (heat.width, heat.height, heat.encoding) == (64, 64, 'mono8')
    # A diagnostics array published before the first context may still be the latest one
    # received: wait for one that has counted a context.
    ros_node.wait_for(lambda: send.diag()[1].get('model_version') == 'v0001'
                      and not math.isnan(float(send.diag()[1].get('latency_ms_p50', 'nan'))),
                      10, 'diagnostics after the first context')
    values = send.diag()[1]
    assert values['execution_provider'].endswith('ExecutionProvider')
    assert float(values['latency_ms_p50']) > 0

    # publish v0002 and reload it while frames keep coming at 30 Hz
    publish_initial_encoder(registry, seed=1, activate=False)
    sent, stop = [], threading.Event()

    def stream():
        while not stop.is_set():
            sent.append(send.frame())
            time.sleep(1 / 30)

    streamer = threading.Thread(target=stream)
    streamer.start()
    try:
        time.sleep(0.3)
        response = ros_node.call(LoadModel, '/context_node/load_model',
                                 LoadModel.Request(version='v0002'))
        time.sleep(0.5)
    finally:
        stop.set()
        streamer.join()
    assert response.success, response.message
    assert response.active_version == 'v0002'
    ros_node.wait_for(lambda: all(send.context_for(t) for t in sent), 10,
                      f'a context for each of the {len(sent)} frames sent during the reload')
    versions = [send.context_for(t).model_version for t in sent]
    assert versions == sorted(versions) and versions[0] == 'v0001' and versions[-1] == 'v0002'

    # a tampered version is refused and v0002 stays
    shutil.copytree(registry.root / 'encoder' / 'v0002', registry.root / 'encoder' / 'v0003')
    manifest = registry.root / 'encoder' / 'v0003' / 'manifest.json'
    manifest.write_text(manifest.read_text().replace('"v0002"', '"v0003"'))
    with open(registry.root / 'encoder' / 'v0003' / 'model.onnx', 'ab') as f:
        f.write(b'\0')
    response = ros_node.call(LoadModel, '/context_node/load_model',
                             LoadModel.Request(version='v0003'))
    assert not response.success and 'sha256 mismatch' in response.message
    assert response.active_version == 'v0002'
    assert send.frame_until_context().model_version == 'v0002'
    assert node.alive()


def test_episode_start_and_reset_history_restart_the_encoder(launch_node, ros_node, registry):
    # One joint state serves every frame (joint_max_age_s) and colour always waits for its
    # depth (depth_timeout_s), so each context sees the same images and joints whatever
    # order the node takes its inputs in: only the history tells the contexts apart.
    # `fresh` is what a new pipeline makes of the first frame.
    node = launch_node('sage_perception', 'context_node', name='context_node',
                       params={'model_dir': str(registry.root), 'qos': 'reliable',
                               'joint_max_age_s': 60.0, 'depth_timeout_s': 60.0,
                               'diagnostics_period_s': 0.2})
    node.wait_for_output('context node ready')
    send = Sender(ros_node)
    episode_start = ros_node.node.create_publisher(Header, '/sage/episode_start',
                                                   reliable_qos())
    send.wait_connected()
    ros_node.wait_for(lambda: episode_start.get_subscription_count() > 0, 30, 'discovery')
    out = []
    pipeline = ContextPipeline(load_runtime(registry, '', 2), ['joint0', 'joint1'],
                               RejectCounter(), out.append)
    pipeline.on_joints(send.joint_state(T0 - 0.002))
    pipeline.on_depth(send.image(T0, depth=True))
    pipeline.on_color(send.image(T0))
    fresh = out[0].context
    send.joints.publish(send.joint_state(send.now()))
    send.frame_until_context(joints=False)

    def encode():
        t = send.frame(joints=False)
        ros_node.wait_for(lambda: send.context_for(t) is not None, 10, 'context')
        assert send.context_for(t).presence == ALL
        return np.asarray(send.context_for(t).data, dtype=np.float32)

    def count(key):
        return int(send.diag()[1].get(key, -1))

    def start_episode(at, resets):
        header = Header(frame_id=str(resets))
        sec_to_stamp(at, header.stamp)
        episode_start.publish(header)
        ros_node.wait_for(lambda: count('history_resets') == resets, 10, f'reset {resets}')

    assert not np.allclose(encode(), fresh)
    start_episode(send.now(), 1)
    np.testing.assert_allclose(encode(), fresh, atol=1e-5)
    assert not np.allclose(encode(), fresh)

    # a frame stamped before the episode's start but arriving after it is not encoded
    start_episode(send.now() + 0.5, 2)
    early = send.frame(joints=False)
    ros_node.wait_for(lambda: count('dropped_before_episode_start') == 1, 10, 'drop counted')
    assert send.context_for(early) is None
    time.sleep(0.5)
    np.testing.assert_allclose(encode(), fresh, atol=1e-5)

    assert not np.allclose(encode(), fresh)
    response = ros_node.call(Trigger, '/context_node/reset_history', Trigger.Request())
    assert response.success, response.message
    np.testing.assert_allclose(encode(), fresh, atol=1e-5)
    ros_node.wait_for(lambda: count('history_resets') == 3, 10, 'service reset counted')
    assert node.alive()


def test_bad_input_is_counted_masked_and_never_encoded(launch_node, ros_node, registry):
    # default (sensor, best effort) QoS: each bad message is resent until it is counted
    node = launch_node('sage_perception', 'context_node', name='context_node',
                       params={'model_dir': str(registry.root), 'diagnostics_period_s': 0.2,
                               'depth_timeout_s': 0.3})
    node.wait_for_output('context node ready')
    send = Sender(ros_node)
    send.wait_connected()
    send.frame_until_context(ALL)
    bad_stamps = []

    def colour(**fields):
        def make():
            t = send.now() if 'stamp' not in fields else fields['stamp']()
            bad_stamps.append(t)
            extra = {k: v for k, v in fields.items() if k != 'stamp'}
            send.color.publish(send.image(t, **extra))
        return make

    cases = {
        'unsupported_encoding': colour(encoding='yuv422'),
        'size_mismatch': colour(step=10),
        'truncated': colour(data=bytes(100)),
        'stamp_in_future': colour(stamp=lambda: send.now() + 60.0),
        'stamp_out_of_order': colour(stamp=lambda: send.now() - 30.0),
        'stamp_zero': colour(stamp=lambda: 0.0),
        'joint_not_finite': lambda: send.joints.publish(
            send.joint_state(send.now(), position=(float('nan'), 0.0))),
        'unknown_joint_names': lambda: send.joints.publish(
            send.joint_state(send.now(), names=('joint0', 'elbow'))),
    }
    for reason, make in cases.items():
        key = f'rejected_{reason}'
        for _ in range(10):
            make()
            try:
                ros_node.wait_for(lambda: int(send.diag()[1].get(key, 0)) > 0, 1.0, key)
                break
            except AssertionError:
                continue
        assert int(send.diag()[1].get(key, 0)) > 0, f'{reason} never counted'
        assert node.alive(), f'node died on {reason}'
    send.frame_until_context(ALL)  # still working
    assert not any(send.context_for(t) for t in bad_stamps if t > 0)
    assert all(msg.header.stamp.sec > 0 for msg in send.contexts)

    # depth goes silent: after depth_timeout_s contexts continue with depth masked
    send.frame(depth=False)
    time.sleep(0.4)
    ctx = send.frame_until_context(layout.PRESENT_COLOR | layout.PRESENT_JOINTS, depth=False)
    assert not np.asarray(ctx.data)[layout.SLICES['depth']].any()
    ros_node.wait_for(lambda: 'depth' in send.diag()[0].message, 5, 'masked depth in diagnostics')
    send.frame_until_context(ALL)  # depth back


def test_without_a_model_the_node_exits_naming_the_init_command(launch_node, tmp_path):
    node = launch_node('sage_perception', 'context_node', name='context_node',
                       params={'model_dir': str(tmp_path / 'empty')})
    node.wait_for_output('sage_models init', timeout=30)
    assert node.proc.wait(30) == 1


def test_bad_parameter_exits_with_a_clear_message(launch_node, registry):
    node = launch_node('sage_perception', 'context_node', name='context_node',
                       params={'model_dir': str(registry.root), 'qos': 'bogus'})
    node.wait_for_output(r'bad parameter: unknown QoS profile', timeout=30)
    assert node.proc.wait(30) == 1


def test_joint_names_that_disagree_with_the_description_stop_the_node(launch_node, registry):
    # The default description is the simulator's MJCF (joint0, joint1).
    node = launch_node('sage_perception', 'context_node', name='context_node',
                       params={'model_dir': str(registry.root),
                               'joint_names': ['joint1', 'joint2']})
    node.wait_for_output(r"bad parameter: joint names disagree: joint_names \['joint1', "
                         r"'joint2'\] against the robot description \(python://gymnasium/"
                         r".*\) \['joint0', 'joint1'\]", timeout=30)
    assert node.proc.wait(30) == 1


def scene(q):
    """Colour and depth frames of a bright square whose place follows the joints."""
    rgb = np.full((48, 64, 3), 40, np.uint8)
    metres = np.full((48, 64), 2.0, np.float32)
    x, y = int(8 + (q[0] + 1) * 20), int(6 + (q[1] + 1) * 12)
    rgb[y:y + 12, x:x + 12] = 250
    metres[y:y + 12, x:x + 12] = 1.0
    return rgb, metres


def joint_path(rng, frames):
    return np.clip(np.cumsum(rng.normal(0, 0.08, (frames, 2)), axis=0)
                   + rng.uniform(-0.5, 0.5, 2), -1, 1)


def publish_encoder_with_trust(registry):
    """v0002: v0001's weights with a trust model fitted on scenes of a moving square."""
    from sage_perception.encoder import (initial_hidden, load_encoder_torch, preprocess,
                                         publish_encoder)
    from sage_perception.trust import fit_trust_model

    runtime = load_runtime(registry, 'v0001', 2)
    rng = np.random.default_rng(0)
    episodes = []
    for _ in range(30):
        hidden, contexts = initial_hidden(runtime.config), []
        for q in joint_path(rng, 40):
            feeds = preprocess(*scene(q), q, np.zeros(2), None, runtime.config)
            feeds['hidden'] = hidden
            context, hidden = runtime.encode(feeds)
            contexts.append(context)
        episodes.append(np.array(contexts))
    model, config = load_encoder_torch(registry.load('encoder', 'v0001'))
    return publish_encoder(registry, model, config, parent='v0001', activate=True,
                           trust=fit_trust_model(episodes[:20], episodes[20:]))


def test_a_distrusted_camera_is_masked_and_reported(launch_node, ros_node, registry):
    from sage_interfaces.msg import Trust

    assert publish_encoder_with_trust(registry).version == 'v0002'
    _, send = start_reliable_node(launch_node, ros_node, registry)
    trust_msgs = ros_node.collect(Trust, '/sage/trust', reliable_qos())
    path = iter(joint_path(np.random.default_rng(1), 400))

    def frame(black=False):
        q, t = next(path), send.now()
        rgb, metres = scene(q)
        send.joints.publish(send.joint_state(t - 0.002, ('joint0', 'joint1'), tuple(q)))
        send.depth.publish(send.image(t, depth=True, pixels=metres))
        send.color.publish(send.image(t, pixels=np.zeros_like(rgb) if black else rgb))
        time.sleep(1 / 30)
        return t

    def contexts_of(stamps):
        ros_node.wait_for(lambda: all(send.context_for(t) for t in stamps), 10, 'contexts')
        return [send.context_for(t) for t in stamps]

    contexts_of([frame() for _ in range(5)])  # the first colour frame may precede its depth
    good = contexts_of([frame() for _ in range(30)])
    # Under load a joint state can miss a frame (presence without joints): judged as such.
    assert all(len(c.trust) == 2 and min(c.trust) > 0.5 for c in good), \
        [(c.presence, list(c.trust)) for c in good]
    assert sum(c.presence == ALL for c in good) >= 25
    ros_node.wait_for(lambda: any(abs(stamp_to_sec(m.header.stamp)
                                      - stamp_to_sec(good[-1].header.stamp)) < 1e-6
                                  for m in trust_msgs), 5, 'a trust message per context')
    assert list(trust_msgs[-1].sources) == ['color', 'depth']

    black = contexts_of([frame(black=True) for _ in range(20)])
    masked = [i for i, c in enumerate(black) if c.presence == ALL & ~layout.PRESENT_COLOR]
    assert masked and masked[0] <= 10, [c.presence for c in black]
    assert not np.asarray(black[-1].data)[layout.SLICES['visual']].any()
    ros_node.wait_for(lambda: 'distrusted: color' in send.diag()[0].message
                      and int(send.diag()[1]['contexts_masked_by_trust']) >= len(masked), 5,
                      'distrusted colour and the masked contexts in diagnostics')

    again = contexts_of([frame() for _ in range(30)])
    assert again[-1].presence == ALL and min(again[-1].trust) > 0.5


def test_the_task_sentence_reaches_the_intentions_group_and_bad_text_is_refused(
        launch_node, ros_node, registry):
    from sage_common.qos import latched_qos
    from std_msgs.msg import String

    node, send = start_reliable_node(launch_node, ros_node, registry)
    task = ros_node.node.create_publisher(String, '/sage/task', latched_qos())
    intentions = layout.SLICES['intentions']
    assert not np.asarray(send.frame_until_context().data)[intentions].any()
    task.publish(String(data='reach the blue target'))
    node.wait_for_output("task: 'reach the blue target'")
    blue = send.frame_until_context(ALL | layout.PRESENT_TASK)
    assert np.asarray(blue.data)[intentions].any()
    # Not UTF-8, sent as raw CDR (rclpy would not encode it): counted, and no task after it.
    # Latched (depth 1): each is sent once the one before has been taken.
    for count, bad in enumerate((b'\x00\x01\x00\x00' + (3).to_bytes(4, 'little') + b'\xff\xfe\x00',
                                 String(data='   ')), 1):
        task.publish(bad)
        ros_node.wait_for(lambda: int(send.diag()[1].get('rejected_task_text', 0)) == count,
                          10, f'task reject {count} in diagnostics')
    after = send.frame_until_context(ALL)
    assert not np.asarray(after.data)[intentions].any() and node.alive()
