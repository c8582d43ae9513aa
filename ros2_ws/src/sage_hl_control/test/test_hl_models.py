# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""H- and L-module definitions, export to the registry, ONNX runners."""

import numpy as np
import pytest
from sage_common.registry import ModelError, ModelRegistry
from sage_hl_control.h_module import build_h_module, DEFAULT_H_CONFIG, STRATEGIES
from sage_hl_control.l_module import build_l_module
from sage_hl_control.models import (load_h_module_torch, load_l_module_torch,
                                    publish_initial_h_module, publish_initial_l_module)
from sage_hl_control.runtime import h_probe_feeds, HRunner, l_probe_feeds, load_runner, LRunner
from sage_perception.layout import COMPRESSED_DIM, DIM as CONTEXT_DIM
import torch


def h_inputs(batch=2, window=4, seed=0):
    feeds = h_probe_feeds(window, batch=batch, seed=seed)
    return tuple(torch.from_numpy(feeds[k]) for k in ('window', 'valid', 'group_mask'))


@pytest.mark.parametrize('strategy', STRATEGIES)
def test_h_module_strategies_shapes_and_heads(strategy):
    torch.manual_seed(0)
    model = build_h_module({'strategy': strategy})
    model.train()
    out = model.encode(*h_inputs())
    assert out['z'].shape == (2, COMPRESSED_DIM) and out['refined'].shape == (2, CONTEXT_DIM)
    has_bn = strategy in ('bottleneck', 'hybrid')
    assert (out['mu'] is not None) == has_bn
    if has_bn:
        assert model.kl(out['mu'], out['logvar']).item() >= 0
    assert model.decode(out['z']).shape == (2, CONTEXT_DIM)
    assert model.probe(out['z']).shape == (2, DEFAULT_H_CONFIG['probe_dim'])
    loss = out['z'].pow(2).mean() + model.decode(out['z']).pow(2).mean()
    loss.backward()  # the whole graph is trainable
    assert model.tokenize.weight.grad is not None


def test_h_module_sampling_only_in_training():
    torch.manual_seed(0)
    model = build_h_module({'strategy': 'bottleneck'})
    inputs = h_inputs()
    model.eval()
    assert torch.equal(model(*inputs), model(*inputs))
    assert torch.equal(model(*inputs), model.encode(*inputs)['mu'])
    model.train()
    assert not torch.equal(model.encode(*inputs)['z'], model.encode(*inputs)['z'])


def test_h_module_uses_the_window_and_ignores_invalid_slots():
    torch.manual_seed(0)
    model = build_h_module().eval()
    window, valid, mask = h_inputs(batch=1)
    base = model(window, valid, mask)
    changed = window.clone()
    changed[:, 0] += 1.0
    assert not torch.allclose(model(changed, valid, mask), base)  # older slots matter
    valid0 = valid.clone()
    valid0[:, 0] = 0
    assert torch.allclose(model(window, valid0, mask), model(changed, valid0, mask))


def test_h_config_is_validated():
    with pytest.raises(ValueError):
        build_h_module({'strategy': 'zip'})
    with pytest.raises(ValueError):
        build_h_module({'hier_dims': [16] * 15 + [15]})
    with pytest.raises(ValueError):
        build_h_module({'no_such_key': 1})


def test_l_module_outputs_absolute_targets_near_current_position():
    torch.manual_seed(0)
    model = build_l_module({'num_joints': 3, 'chunk_size': 5}).eval()
    pos = torch.tensor([[0.5, -1.0, 2.0]])
    chunk = model(torch.randn(1, COMPRESSED_DIM), pos, torch.zeros(1, 3))
    assert chunk.shape == (1, 5, 3)
    assert torch.all((chunk - pos[:, None]).abs() <= model.config['max_residual'])
    # Continuous joints: a full turn changes nothing but the absolute offset.
    turned = model(torch.randn(1, COMPRESSED_DIM).fill_(0.1), pos + 2 * np.pi, torch.zeros(1, 3))
    plain = model(torch.randn(1, COMPRESSED_DIM).fill_(0.1), pos, torch.zeros(1, 3))
    assert torch.allclose(turned - 2 * np.pi, plain, atol=1e-5)


def test_publish_load_and_run_roundtrip(tmp_path):
    registry = ModelRegistry(tmp_path)
    h_mv = publish_initial_h_module(registry, seed=3, window=2)
    l_mv = publish_initial_l_module(registry, seed=3, num_joints=2)
    assert registry.active('h_module') == h_mv.version == 'v0001'
    for mv in (h_mv, l_mv):
        assert set(mv.manifest['files']) == {'model.onnx', 'model_fp16.onnx',
                                             'model_int8.onnx', 'weights.pt'}
        assert mv.metadata['param_count'] > 0 and mv.metadata['initial']
        for precision in ('fp16', 'int8'):
            assert mv.metadata['variant_error'][precision]['rel_rmse'] < 0.1
    # Deterministic per seed: same weights again, different for another seed.
    again = publish_initial_h_module(registry, seed=3, window=2)
    other = publish_initial_h_module(registry, seed=4, window=2)
    w = [load_h_module_torch(mv).state_dict()['tokenize.weight'] for mv in (h_mv, again, other)]
    assert torch.equal(w[0], w[1]) and not torch.equal(w[0], w[2])
    assert registry.active('h_module') == 'v0001'  # later versions are not auto-activated
    # ONNX (every precision) agrees with torch.
    h_torch = load_h_module_torch(h_mv)
    feeds = h_probe_feeds(2, batch=1, seed=7)
    expected = h_torch(*(torch.from_numpy(feeds[k]) for k in ('window', 'valid', 'group_mask')))
    for precision, tol in (('fp32', 1e-4), ('fp16', 5e-2), ('int8', 0.3)):
        z, _ = HRunner(h_mv, precision).compress(feeds)
        assert z.shape == (COMPRESSED_DIM,)
        assert np.abs(z - expected.detach().numpy()[0]).max() < tol
    l_torch = load_l_module_torch(l_mv)
    lf = l_probe_feeds(2, seed=5)
    runner = load_runner('l_module', tmp_path, precision='int8', num_joints=2)
    chunk, _ = runner.chunk(lf['z'][0], lf['joint_pos'][0], lf['joint_vel'][0])
    ref = l_torch(*(torch.from_numpy(lf[k]) for k in ('z', 'joint_pos', 'joint_vel')))
    assert chunk.shape == (10, 2)
    assert np.abs(chunk - ref.detach().numpy()[0]).max() < 0.05


def test_runners_refuse_bad_versions(tmp_path):
    registry = ModelRegistry(tmp_path)
    mv = publish_initial_l_module(registry, seed=0, num_joints=2)
    with pytest.raises(ModelError, match='drives 2 joints'):
        LRunner(mv, num_joints=3)
    with pytest.raises(ModelError, match='unknown precision'):
        LRunner(mv, precision='fp8')
    # A corrupt file: the hash check refuses it before ONNX Runtime sees it.
    path = mv.path('model.onnx')
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelError, match='sha256'):
        load_runner('l_module', tmp_path, version=mv.version)
