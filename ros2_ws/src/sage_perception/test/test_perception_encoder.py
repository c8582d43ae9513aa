# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The 4K encoder: determinism, torch vs ONNX Runtime, masking, registry refusals."""

import json
import shutil

import numpy as np
import pytest
from sage_common.onnx_runtime import create_session
from sage_common.registry import ModelError, ModelRegistry
from sage_perception import layout
from sage_perception.context_core import load_runtime
from sage_perception.encoder import (build_encoder, color_frames, DEFAULT_ENCODER_CONFIG,
                                     depth_frames, encoder_config, initial_hidden,
                                     INPUT_NAMES, load_encoder_torch, preprocess,
                                     publish_encoder, publish_initial_encoder,
                                     spatial_softmax)
import torch

# Stated torch vs ONNX Runtime tolerance (float32, outputs of magnitude ~1-5).
ATOL = 1e-4


@pytest.fixture(scope='module')
def registry(tmp_path_factory):
    reg = ModelRegistry(tmp_path_factory.mktemp('models'))
    publish_initial_encoder(reg, seed=0)
    return reg


def _feeds(config, rng, color=True, depth=True, joints=True):
    feeds = preprocess(
        rng.integers(0, 256, (48, 80, 3), dtype=np.uint8) if color else None,
        rng.random((48, 80)).astype(np.float32) * 3 if depth else None,
        rng.normal(size=2) if joints else None, rng.normal(size=2), rng.normal(size=2), config)
    feeds['hidden'] = initial_hidden(config)
    return feeds


def test_same_seed_same_weights_other_seed_differs(registry, tmp_path):
    first = registry.load('encoder', 'v0001')
    again = publish_initial_encoder(ModelRegistry(tmp_path), seed=0)
    other = publish_initial_encoder(ModelRegistry(tmp_path), seed=1)
    sha = first.manifest['files']['weights.pt']
    assert again.manifest['files']['weights.pt'] == sha
    assert other.manifest['files']['weights.pt'] != sha
    assert first.metadata['config'] == dict(DEFAULT_ENCODER_CONFIG, seed=0, num_joints=2)


def test_torch_and_onnx_agree_and_hidden_state_carries(registry):
    version = registry.load('encoder')
    model, config = load_encoder_torch(version)
    session, _ = create_session(version.path('model.onnx'), threads=1)
    rng = np.random.default_rng(0)
    hidden_t = hidden_o = initial_hidden(config)
    for step in range(3):
        feeds = _feeds(config, rng)
        with torch.no_grad():
            ctx_t, hidden_t = model(*[torch.from_numpy(feeds[k]) for k in INPUT_NAMES[:-1]],
                                    torch.from_numpy(np.asarray(hidden_t)))
        feeds['hidden'] = hidden_o
        ctx_o, hidden_o = session.run(None, feeds)
        assert ctx_o.shape == (1, layout.DIM)
        np.testing.assert_allclose(ctx_o, ctx_t.numpy(), atol=ATOL)
        np.testing.assert_allclose(hidden_o, hidden_t.numpy(), atol=ATOL)
    assert np.abs(hidden_o).max() > 0  # the GRU state moved away from zero


def test_absent_modalities_are_exactly_zero(registry):
    version = registry.load('encoder')
    session, _ = create_session(version.path('model.onnx'), threads=1)
    config = version.metadata['config']
    rng = np.random.default_rng(1)
    full = session.run(None, _feeds(config, rng))[0][0]
    for group in layout.MASKED_GROUPS:
        assert not full[layout.SLICES[group]].any()
    assert full[layout.SLICES['visual']].any() and full[layout.SLICES['depth']].any()
    ctx = session.run(None, _feeds(config, rng, depth=False, joints=False))[0][0]
    assert not ctx[layout.SLICES['depth']].any()
    assert not ctx[layout.SLICES['proprioceptive']].any()
    assert ctx[layout.SLICES['visual']].any() and ctx[layout.SLICES['objects']].any()


def test_preprocess_shapes_and_ranges():
    config = dict(DEFAULT_ENCODER_CONFIG)
    depth = np.full((480, 640), np.nan, np.float32)
    depth[:, :320] = 100.0  # beyond max_depth_m: clipped to 1
    feeds = preprocess(np.full((480, 640, 3), 255, np.uint8), depth, [0.0, np.pi / 2],
                       [10.0, 0.0], None, config)
    assert feeds['color'].shape == (1, 3, 64, 64) and np.allclose(feeds['color'], 1.0)
    assert feeds['depth'].max() == 1.0 and feeds['depth'].min() == 0.0  # NaN -> 0
    np.testing.assert_allclose(feeds['joints'][0], [0, 1, 1, 0, 1.0, 0, 0, 0], atol=1e-6)
    np.testing.assert_array_equal(feeds['presence'], [[1, 1, 1]])


def test_other_image_size_builds_and_exports(tmp_path):
    reg = ModelRegistry(tmp_path)
    version = publish_initial_encoder(reg, seed=3, num_joints=3, image_size=32)
    runtime = load_runtime(reg, '', num_joints=3)
    assert runtime.config['image_size'] == 32 and runtime.version == version.version


def test_runtime_refuses_bad_versions(registry, tmp_path):
    root = tmp_path / 'models'
    shutil.copytree(registry.root, root)
    reg = ModelRegistry(root)
    good = load_runtime(reg, 'v0001', num_joints=2)
    assert good.provider == 'CPUExecutionProvider' or good.provider.endswith('Provider')
    # hash mismatch
    bad = root / 'encoder' / 'v0002'
    shutil.copytree(root / 'encoder' / 'v0001', bad)
    manifest = json.loads((bad / 'manifest.json').read_text())
    manifest['version'] = 'v0002'
    (bad / 'manifest.json').write_text(json.dumps(manifest))
    with open(bad / 'model.onnx', 'ab') as f:
        f.write(b'\0')
    with pytest.raises(ModelError, match='sha256 mismatch'):
        load_runtime(reg, 'v0002', num_joints=2)
    # shapes in the manifest do not match the graph
    shutil.rmtree(bad)
    shutil.copytree(root / 'encoder' / 'v0001', bad)
    manifest['inputs'][0]['shape'] = ['batch', 3, 96, 96]
    (bad / 'manifest.json').write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match='shape'):
        load_runtime(reg, 'v0002', num_joints=2)
    # a valid model for another robot
    with pytest.raises(ModelError, match='built for 2 joints'):
        load_runtime(reg, 'v0001', num_joints=3)
    with pytest.raises(ModelError, match='sage_models init'):
        load_runtime(ModelRegistry(tmp_path / 'empty'), '', num_joints=2)


def test_publish_encoder_records_parent_and_config(registry, tmp_path):
    reg = ModelRegistry(tmp_path)
    model, config = load_encoder_torch(registry.load('encoder'))
    with torch.no_grad():
        model.heads['predictive'].bias.add_(1.0)
    version = publish_encoder(reg, model, config, parent='v0001', metadata={'note': 'x'})
    reloaded, _ = load_encoder_torch(version)
    torch.testing.assert_close(reloaded.heads['predictive'].bias, model.heads['predictive'].bias)
    assert not torch.equal(reloaded.heads['predictive'].bias,
                           build_encoder(config).heads['predictive'].bias)
    assert version.manifest['parent'] == 'v0001'
    assert version.metadata['note'] == 'x' and version.metadata['config'] == config
    assert version.metadata['parameters'] == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize('scale', [1e-3, 1.0, 100.0])
def test_spatial_softmax_finds_a_small_feature_at_any_scale(scale):
    """A 2x2 blob on a flat map is where the keypoint lands, untrained, however weak it is."""
    maps = torch.zeros(2, 1, 32, 32)
    maps[0, 0, 4:6, 24:26] = scale    # x = column 24.5 of 0..31, y = row 4.5
    maps[1, 0, 20:22, 2:4] = scale
    points = spatial_softmax()(maps)
    expected = torch.tensor([[24.5, 4.5], [2.5, 20.5]]) / 31 * 2 - 1
    assert torch.allclose(points, expected, atol=0.05), points


def test_history_is_a_register_of_the_last_frames_and_sequences_match_steps():
    """
    Training's forward_sequence equals the node's frame-by-frame forward.

    After history_frames frames, the context no longer depends on what came before.
    """
    config = dict(DEFAULT_ENCODER_CONFIG)
    model = build_encoder(config).eval()
    k = int(config['history_frames'])
    b, t, size = 2, k + 3, int(config['image_size'])
    gen = torch.Generator().manual_seed(0)
    color = torch.rand(b, t, 3, size, size, generator=gen)
    depth = torch.rand(b, t, 1, size, size, generator=gen)
    joints = torch.rand(b, t, 4 * int(config['num_joints']), generator=gen)
    presence = torch.ones(b, t, len(layout.MODALITY_BITS))
    with torch.no_grad():
        together = model.forward_sequence(color, depth, joints, presence)
        hidden = torch.from_numpy(initial_hidden(config, b))
        for i in range(t):
            context, hidden = model(color[:, i], depth[:, i], joints[:, i], presence[:, i],
                                    hidden)
            assert torch.allclose(together[:, i], context, atol=1e-5), i
        # A different first frame changes the contexts of the next k - 1 frames only.
        altered = color.clone()
        altered[:, 0] = 1.0 - altered[:, 0]
        other = model.forward_sequence(altered, depth, joints, presence)
    assert not torch.allclose(other[:, k - 1], together[:, k - 1])
    assert torch.allclose(other[:, k:], together[:, k:], atol=1e-6)


def _reference_color(rgb, size):
    """Resize as before, frame by frame: every k-th pixel, then INTER_AREA."""
    import cv2

    k = max(1, min(rgb.shape[:2]) // (2 * size))
    small = cv2.resize(np.ascontiguousarray(rgb[::k, ::k]), (size, size),
                       interpolation=cv2.INTER_AREA)
    return small.transpose(2, 0, 1)


def _reference_depth(metres, size, max_depth):
    import cv2

    k = max(1, min(metres.shape) // (2 * size))
    clean = np.nan_to_num(np.ascontiguousarray(metres[::k, ::k]), nan=0.0, posinf=0.0,
                          neginf=0.0)
    clean = np.clip(clean, 0.0, np.float32(max_depth)) / np.float32(max_depth)
    return cv2.resize(clean, (size, size), interpolation=cv2.INTER_AREA)[None]


@pytest.mark.parametrize('shape', [(64, 64), (128, 128), (128, 192), (48, 64), (480, 640),
                                   (100, 90)])
def test_frames_in_bulk_match_the_frame_by_frame_resize(shape):
    """Same size: exact; integer factors (block means): within one grey level; else OpenCV."""
    config = encoder_config()
    size, max_depth = config['image_size'], config['max_depth_m']
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (5,) + shape + (3,), dtype=np.uint8)
    metres = (rng.random((5,) + shape) * 5).astype(np.float32)
    metres[:, 0, :3] = [np.nan, np.inf, -1.0]
    colors, depths = color_frames(rgb, config), depth_frames(metres, config)
    assert colors.shape == (5, 3, size, size) and colors.dtype == np.uint8
    assert depths.shape == (5, 1, size, size) and depths.dtype == np.float32
    for i in range(5):
        ref = _reference_color(rgb[i], size).astype(int)
        assert np.abs(colors[i].astype(int) - ref).max() <= 1
        np.testing.assert_allclose(depths[i], _reference_depth(metres[i], size, max_depth),
                                   atol=1e-6)
        if shape == (size, size):
            np.testing.assert_array_equal(colors[i], ref)
        # The node's preprocess is the same definition, one frame at a time.
        feeds = preprocess(rgb[i], metres[i], None, None, None, config)
        np.testing.assert_array_equal(feeds['color'][0],
                                      colors[i] * np.float32(1.0 / 255.0))
        np.testing.assert_array_equal(feeds['depth'][0], depths[i])
