# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""ContextPipeline without ROS: pairing, as-of joints, presence, and every bad input."""

import numpy as np
import pytest
from sage_common.messages import fill_image, sec_to_stamp
from sage_common.registry import ModelRegistry
from sage_common.rejects import RejectCounter
from sage_perception import layout
from sage_perception.context_core import ContextPipeline, heatmap_mono8, load_runtime
from sage_perception.encoder import publish_initial_encoder
from sensor_msgs.msg import Image, JointState

T0 = 1000.0
ALL = layout.PRESENT_COLOR | layout.PRESENT_DEPTH | layout.PRESENT_JOINTS


@pytest.fixture(scope='module')
def runtime(tmp_path_factory):
    reg = ModelRegistry(tmp_path_factory.mktemp('models'))
    publish_initial_encoder(reg, seed=0)
    return load_runtime(reg, '', num_joints=2)


@pytest.fixture
def pipe(runtime):
    out = []
    pipeline = ContextPipeline(runtime, ['joint0', 'joint1'], RejectCounter(), out.append,
                               {'prefer_message_filters': False})
    pipeline.out = out
    return pipeline


def _color(t, encoding='rgb8'):
    msg = fill_image(Image(), np.full((48, 64, 3), 90, np.uint8), 'rgb8')
    msg.encoding = encoding
    sec_to_stamp(t, msg.header.stamp)
    return msg


def _depth(t):
    msg = fill_image(Image(), np.full((48, 64), 1.5, np.float32), '32FC1')
    sec_to_stamp(t, msg.header.stamp)
    return msg


def _joints(t, names=('joint1', 'joint0'), position=(0.2, 0.1)):
    msg = JointState(name=list(names), position=list(position))
    sec_to_stamp(t, msg.header.stamp)
    return msg


def _frame(pipe, t, depth_first=True):
    pipe.on_joints(_joints(t - 0.005), now=t)
    if depth_first:
        pipe.on_depth(_depth(t - 0.001), now=t)
    pipe.on_color(_color(t), now=t)
    if not depth_first:
        pipe.on_depth(_depth(t + 0.001), now=t)


def test_all_modalities_present_stamped_with_colour(pipe, runtime):
    pipe.on_color(_color(T0 - 0.1), now=T0)  # no depth or joints yet: encoded masked
    _frame(pipe, T0)
    _frame(pipe, T0 + 1 / 30, depth_first=False)
    assert [r.presence for r in pipe.out] == [layout.PRESENT_COLOR, ALL, ALL]
    del pipe.out[0]
    first = pipe.out[0]
    assert first.stamp == pytest.approx(T0) and first.version == runtime.version
    assert first.header.stamp.sec == int(T0)
    assert first.context.shape == (layout.DIM,) and np.all(np.isfinite(first.context))
    assert not first.context[layout.SLICES['audio']].any()
    # the historical group changes as the GRU state carries over
    assert not np.allclose(pipe.out[0].context[layout.SLICES['historical']],
                           pipe.out[1].context[layout.SLICES['historical']])
    assert pipe.rejects.total() == 0


def test_depth_silence_masks_depth_after_timeout(pipe):
    _frame(pipe, T0)
    pipe.on_color(_color(T0 + 0.1), now=T0 + 0.1)   # depth still live: waits for a pair
    assert len(pipe.out) == 1
    pipe.on_joints(_joints(T0 + 0.595))
    pipe.on_color(_color(T0 + 0.6), now=T0 + 0.6)   # depth silent for > 0.5 s
    assert pipe.out[-1].presence == layout.PRESENT_COLOR | layout.PRESENT_JOINTS
    assert not pipe.out[-1].context[layout.SLICES['depth']].any()
    pipe.on_color(_color(T0 + 1.0), now=T0 + 1.0)   # joints silent too
    assert pipe.out[-1].presence == layout.PRESENT_COLOR
    assert not pipe.out[-1].context[layout.SLICES['proprioceptive']].any()


@pytest.mark.parametrize('send,reason', [
    (lambda p: p.on_color(_color(T0 + 0.1, encoding='yuv422'), now=T0), 'unsupported_encoding'),
    (lambda p: p.on_depth(_color(T0 + 0.1), now=T0), 'unsupported_encoding'),
    (lambda p: p.on_color(_set(_color(T0 + 0.1), step=10), now=T0), 'size_mismatch'),
    (lambda p: p.on_color(_set(_color(T0 + 0.1), data=bytes(100)), now=T0), 'truncated'),
    (lambda p: p.on_joints(_joints(T0 + 0.1, position=(np.nan, 0.0)), now=T0),
     'joint_not_finite'),
    (lambda p: p.on_joints(_joints(T0 + 0.1, names=('joint0', 'elbow')), now=T0),
     'unknown_joint_names'),
    (lambda p: p.on_color(_color(T0 - 1.0), now=T0), 'stamp_out_of_order'),
    (lambda p: p.on_color(_color(T0 + 60.0), now=T0), 'stamp_in_future'),
    (lambda p: p.on_color(_color(0.0), now=T0), 'stamp_zero'),
])
def test_bad_input_counted_and_never_encoded(pipe, send, reason):
    _frame(pipe, T0)
    before = len(pipe.out)
    send(pipe)
    assert pipe.rejects.counts == {reason: 1}
    assert len(pipe.out) == before
    _frame(pipe, T0 + 0.2)  # the pipeline carries on
    assert len(pipe.out) == before + 1 and pipe.out[-1].presence == ALL


def _set(msg, **fields):
    for key, value in fields.items():
        setattr(msg, key, value)
    return msg


def test_swap_runtime_resets_history(pipe, runtime):
    _frame(pipe, T0)
    _frame(pipe, T0 + 0.1)
    registry = ModelRegistry(runtime.mv.directory.parents[1])
    pipe.swap_runtime(load_runtime(registry, '', num_joints=2))
    _frame(pipe, T0 + 0.2)
    # same weights, fresh GRU state: the first frame after the swap matches the first ever
    np.testing.assert_allclose(pipe.out[2].context[layout.SLICES['historical']],
                               pipe.out[0].context[layout.SLICES['historical']], atol=1e-5)


def test_reset_history_restarts_the_encoder_and_drops_frames_from_before(pipe):
    _frame(pipe, T0)
    _frame(pipe, T0 + 0.1)
    fresh = pipe.out[0].context
    assert not np.allclose(pipe.out[1].context, fresh)  # the history carries over
    pipe.reset_history(stamp=T0 + 0.3)
    _frame(pipe, T0 + 0.2)  # stamped before the episode's start, arriving after it
    pipe.on_color(_color(T0 + 0.25), now=T0 + 0.25)  # queued for a depth pair...
    pipe.reset_history(stamp=T0 + 0.3)
    pipe.on_depth(_depth(T0 + 0.251), now=T0 + 0.26)  # ...paired after the boundary
    assert len(pipe.out) == 2 and pipe.dropped_before_start == 2
    _frame(pipe, T0 + 0.3)
    _frame(pipe, T0 + 0.4)
    assert pipe.history_resets == 2 and len(pipe.out) == 4
    # same inputs, fresh hidden state: the episode starts like the first frame ever
    np.testing.assert_allclose(pipe.out[2].context, fresh, atol=1e-6)
    assert not np.allclose(pipe.out[3].context, fresh)
    pipe.reset_history()  # no stamp (the service): reset, nothing dropped
    _frame(pipe, T0 + 0.5)
    np.testing.assert_allclose(pipe.out[4].context, fresh, atol=1e-6)
    assert pipe.dropped_before_start == 2 and pipe.rejects.total() == 0


def test_heatmap_bands():
    context = np.zeros(layout.DIM, np.float32)
    context[layout.SLICES['depth']] = 3.0
    context[layout.SLICES['audio']] = -10.0
    image = heatmap_mono8(context)
    assert image.shape == (64, 64) and image.dtype == np.uint8
    assert (image[8:12] == 255).all() and (image[12:16] == 0).all() and (image[:8] == 127).all()


def test_a_task_sentence_fills_the_intentions_group_until_a_bad_one_clears_it(pipe):
    intentions = layout.SLICES['intentions']
    _frame(pipe, T0)
    assert pipe.on_task(b'  reach the blue\ttarget ') == 'reach the blue target'
    _frame(pipe, T0 + 0.1)
    assert pipe.on_task('reach the red target') == 'reach the red target'
    _frame(pipe, T0 + 0.2)
    for bad in ('', 'x' * 2000, b'\xff\xfe'):  # each refused, counted, and no task after it
        assert pipe.on_task(bad) is None
        _frame(pipe, pipe.out[-1].stamp + 0.1)
    none, blue, red = pipe.out[:3]
    assert none.presence == ALL and not none.context[intentions].any()
    assert blue.presence == red.presence == ALL | layout.PRESENT_TASK
    assert blue.context[intentions].any() and not np.allclose(blue.context[intentions],
                                                              red.context[intentions])
    for refused in pipe.out[3:]:
        assert refused.presence == ALL and not refused.context[intentions].any()
    assert pipe.rejects.counts['task_text'] == 3 and pipe.accepted['task'] == 2
