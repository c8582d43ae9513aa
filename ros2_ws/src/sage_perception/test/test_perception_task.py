# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The task sentence: checked, hashed into the encoder's task input, the intentions group."""

import numpy as np
import pytest
from sage_common.onnx_runtime import create_session
from sage_common.registry import ModelError, ModelRegistry
from sage_perception import layout
from sage_perception.context_core import load_runtime
from sage_perception.encoder import (initial_hidden, input_names, load_encoder_torch,
                                     preprocess, publish_initial_encoder,
                                     stored_encoder_config, TASK_INPUT)
import torch

RED, BLUE = 'reach the red target', 'reach the blue target'


@pytest.fixture(scope='module')
def version(tmp_path_factory):
    return publish_initial_encoder(ModelRegistry(tmp_path_factory.mktemp('models')), seed=0)


def test_the_intentions_group_is_the_task_and_zero_without_one(version):
    model, config = load_encoder_torch(version)
    session, _ = create_session(version.path('model.onnx'), threads=1)
    assert [i.name for i in session.get_inputs()] == list(input_names(config))
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    contexts = {}
    for task in (None, RED, BLUE):
        feeds = preprocess(image, None, [0.1, 0.2], [0.0, 0.0], None, config, task)
        feeds['hidden'] = initial_hidden(config)
        context = session.run(None, feeds)[0][0]
        with torch.no_grad():
            torch_context = model(*(torch.from_numpy(feeds[n]) for n in input_names(config)))[0]
        np.testing.assert_allclose(context, torch_context[0].numpy(), atol=1e-4)
        contexts[task] = context
    intentions = layout.SLICES['intentions']
    assert not contexts[None][intentions].any()
    assert contexts[RED][intentions].any() and contexts[BLUE][intentions].any()
    assert not np.allclose(contexts[RED][intentions], contexts[BLUE][intentions])
    # The task enters the fusion and modulates the colour keypoint maps (FiLM): the fused and
    # the visual groups depend on it too.
    for group in ('immediate', 'visual'):
        assert not np.allclose(contexts[RED][layout.SLICES[group]],
                               contexts[BLUE][layout.SLICES[group]])


def test_a_version_from_before_the_task_input_still_loads(tmp_path):
    reg = ModelRegistry(tmp_path)
    old = publish_initial_encoder(reg, seed=0, task_buckets=0)
    runtime = load_runtime(reg, old.version, num_joints=2)
    feeds = preprocess(None, None, None, None, None, runtime.config, RED)
    assert TASK_INPUT not in feeds  # no task input to feed
    metadata = {'config': {k: v for k, v in old.metadata['config'].items()
                           if k != 'task_buckets'}}
    assert stored_encoder_config(metadata)['task_buckets'] == 0


def test_a_version_whose_intentions_move_without_a_task_is_refused(tmp_path):
    reg = ModelRegistry(tmp_path)
    good = publish_initial_encoder(reg, seed=0)
    model, config = load_encoder_torch(good)
    with torch.no_grad():
        model.task_net[-1].bias.fill_(0.5)  # LayerNorm's bias: nonzero whatever the input
        model.task_net[0].bias.fill_(0.0)
    from sage_perception.encoder import publish_encoder

    # The gate multiplies by "a task was given": the graph itself keeps it zero...
    ok = publish_encoder(reg, model, config)
    assert load_runtime(reg, ok.version, num_joints=2)
    # ...and a graph without the gate (a hand-made or broken export) is refused at load.
    original = model._frame

    def ungated(color, depth, joints, presence, task=None):
        own, fused = original(color, depth, joints, presence, task)
        own['intentions'] = torch.ones_like(own['proprioceptive'])
        return own, fused

    model._frame = ungated
    bad = publish_encoder(reg, model, config)
    with pytest.raises(ModelError, match='intentions group is not zero without a task'):
        load_runtime(reg, bad.version, num_joints=2)


def test_the_node_reads_the_task_string_raw_in_either_byte_order():
    from rclpy.serialization import serialize_message
    from sage_common import cdr
    from std_msgs.msg import String

    def read(raw):
        return cdr.string(raw, cdr.HEADER, cdr.byte_order(raw))[0]

    assert read(serialize_message(String(data=RED))) == RED
    big_endian = b'\x00\x00\x00\x00' + (len(b'blue') + 1).to_bytes(4, 'big') + b'blue\x00'
    assert read(big_endian) == 'blue'
    bad_utf8 = b'\x00\x01\x00\x00' + (3).to_bytes(4, 'little') + b'\xff\xfe\x00'
    with pytest.raises(cdr.CdrError, match='not UTF-8'):
        read(bad_utf8)
    for broken in (b'', b'\x00\x01\x00\x00\xff\xff\x00\x00abc\x00', b'\x07\x01\x00\x00'):
        with pytest.raises(cdr.CdrError, match='CDR|runs past'):
            read(broken)
