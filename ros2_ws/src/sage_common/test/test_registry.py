# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Model registry: atomic publish, verification, activation and refusal of bad versions."""

import json

import onnx
from onnx import helper, TensorProto
import pytest
from sage_common.registry import ModelError, ModelRegistry, tensor_spec


def identity_onnx(dim=4, name_in='x', name_out='y'):
    """Return the bytes of a tiny ONNX graph y = x with a (batch, dim) input."""
    graph = helper.make_graph(
        [helper.make_node('Identity', [name_in], [name_out])], 'g',
        [helper.make_tensor_value_info(name_in, TensorProto.FLOAT, ['batch', dim])],
        [helper.make_tensor_value_info(name_out, TensorProto.FLOAT, ['batch', dim])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    return model.SerializeToString()


IO = {'inputs': [tensor_spec('x', ['batch', 4])], 'outputs': [tensor_spec('y', ['batch', 4])]}


def test_publish_assigns_increasing_versions_and_verifies(tmp_path):
    reg = ModelRegistry(tmp_path)
    v1 = reg.publish('enc', {'model.onnx': identity_onnx()}, **IO, metadata={'config': {'a': 1}})
    v2 = reg.publish('enc', {'model.onnx': identity_onnx()}, parent=v1.version, **IO)
    assert (v1.version, v2.version) == ('v0001', 'v0002')
    assert reg.versions('enc') == ['v0001', 'v0002']
    assert reg.load('enc', 'v0001').metadata == {'config': {'a': 1}}
    assert reg.load('enc', 'v0002').manifest['parent'] == 'v0001'
    assert reg.active('enc') == 'v0002'  # newest when nothing was activated
    assert not list((tmp_path / 'enc').glob('.staging-*'))


def test_activate_and_roll_back(tmp_path):
    reg = ModelRegistry(tmp_path)
    reg.publish('enc', {'model.onnx': identity_onnx()}, **IO, activate=True)
    reg.publish('enc', {'model.onnx': identity_onnx()}, **IO)
    assert reg.active('enc') == 'v0001'
    reg.set_active('enc', 'v0002')
    assert reg.load('enc').version == 'v0002'
    reg.set_active('enc', 'v0001')
    assert reg.load('enc').version == 'v0001'


def test_tampered_file_is_refused(tmp_path):
    reg = ModelRegistry(tmp_path)
    mv = reg.publish('enc', {'model.onnx': identity_onnx()}, **IO)
    path = mv.path('model.onnx')
    path.write_bytes(path.read_bytes()[:-3] + b'xyz')
    with pytest.raises(ModelError, match='sha256 mismatch'):
        reg.load('enc')


def test_shape_mismatch_is_refused_at_publish(tmp_path):
    reg = ModelRegistry(tmp_path)
    wrong = {'inputs': [tensor_spec('x', ['batch', 8])],
             'outputs': [tensor_spec('y', ['batch', 8])]}
    with pytest.raises(ModelError, match='shape'):
        reg.publish('enc', {'model.onnx': identity_onnx()}, **wrong)
    assert reg.versions('enc') == []
    assert not list((tmp_path / 'enc').glob('.staging-*'))


def test_manifest_edited_to_match_other_shapes_is_refused(tmp_path):
    reg = ModelRegistry(tmp_path)
    mv = reg.publish('enc', {'model.onnx': identity_onnx()}, **IO)
    manifest = json.loads((mv.directory / 'manifest.json').read_text())
    manifest['outputs'][0]['name'] = 'z'
    (mv.directory / 'manifest.json').write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match='outputs'):
        reg.load('enc')


def test_corrupt_onnx_is_refused(tmp_path):
    reg = ModelRegistry(tmp_path)
    with pytest.raises(ModelError, match='not a readable ONNX'):
        reg.publish('enc', {'model.onnx': b'\x08\x07garbage' * 10}, **IO)


def test_missing_model_names_the_fix(tmp_path):
    with pytest.raises(ModelError, match='sage_models init'):
        ModelRegistry(tmp_path).load('encoder')


def test_activating_a_broken_version_is_refused(tmp_path):
    reg = ModelRegistry(tmp_path)
    reg.publish('enc', {'model.onnx': identity_onnx()}, **IO, activate=True)
    mv = reg.publish('enc', {'model.onnx': identity_onnx()}, **IO)
    mv.path('model.onnx').unlink()
    with pytest.raises(ModelError, match='missing file'):
        reg.set_active('enc', 'v0002')
    assert reg.active('enc') == 'v0001'


def test_onnx_model_loads_in_onnxruntime(tmp_path):
    from sage_common.onnx_runtime import create_session, probe_session
    import numpy as np

    mv = ModelRegistry(tmp_path).publish('enc', {'model.onnx': identity_onnx()}, **IO)
    session, provider = create_session(mv.path('model.onnx'))
    assert provider == 'CPUExecutionProvider'
    out, = probe_session(session, {'x': np.ones((1, 4), np.float32)})
    assert out.shape == (1, 4)
    onnx.checker.check_model(str(mv.path('model.onnx')))


def test_onnx_model_opens_probes_and_refuses(tmp_path):
    from sage_common.onnx_runtime import OnnxModel
    import numpy as np

    reg = ModelRegistry(tmp_path)
    mv = reg.publish('enc', {'model.onnx': identity_onnx()}, **IO, metadata={'config': {'a': 1}})
    model = OnnxModel(mv)
    assert (model.version, model.config) == ('v0001', {'a': 1})
    assert model.provider == 'CPUExecutionProvider'
    x = np.ones((1, 4), np.float32)
    out, = model.probe({'x': x}, [(1, 4)])
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(model.run({'x': 2 * x})[0], 2 * x)
    with pytest.raises(ModelError, match='probe output shapes'):
        model.probe({'x': x}, [(1, 5)])
    with pytest.raises(ModelError, match='not finite'):
        model.probe({'x': np.full((1, 4), np.nan, np.float32)}, [(1, 4)])
    with pytest.raises(ModelError, match='no config'):
        OnnxModel(reg.publish('enc', {'model.onnx': identity_onnx()}, **IO))
