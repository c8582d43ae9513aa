# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Registry I/O for the H- and L-modules: ONNX export, FP16/INT8 variants, publish, load.

A published version holds `model.onnx` (FP32), `model_fp16.onnx`, `model_int8.onnx` and
`weights.pt` (the torch state_dict, read back with weights_only=True); the model config is in
`metadata['config']`, the accuracy loss of each variant against FP32 on a fixed random probe
batch in `metadata['variant_error']`.
The deterministic initial versions are published by `sage_models init` (sage_sleep).
"""

import inspect
from pathlib import Path
import tempfile
import warnings

import numpy as np
from sage_common.registry import ModelRegistry, PRECISION_FILES, tensor_spec
from sage_hl_control.h_module import build_h_module, DEFAULT_H_CONFIG, merge_config
from sage_hl_control.l_module import build_l_module, DEFAULT_L_CONFIG
from sage_hl_control.runtime import h_probe_feeds, l_probe_feeds
from sage_perception.layout import COMPRESSED_DIM, DIM as CONTEXT_DIM, NUM_GROUPS
import torch

H_NAME = 'h_module'
L_NAME = 'l_module'
OPSET = 17


# -- specs and probe inputs (shared with the ONNX runners) -----------------------------------
def h_io_specs(config):
    """Return (inputs, outputs) tensor specs of the H-module's ONNX graph."""
    w = int(config['window'])
    inputs = [tensor_spec('window', ['batch', w, CONTEXT_DIM]),
              tensor_spec('valid', ['batch', w]),
              tensor_spec('group_mask', ['batch', w, NUM_GROUPS])]
    return inputs, [tensor_spec('z', ['batch', COMPRESSED_DIM])]


def l_io_specs(config):
    """Return (inputs, outputs) tensor specs of the L-module's ONNX graph."""
    j, k = int(config['num_joints']), int(config['chunk_size'])
    inputs = [tensor_spec('z', ['batch', COMPRESSED_DIM]),
              tensor_spec('joint_pos', ['batch', j]),
              tensor_spec('joint_vel', ['batch', j])]
    return inputs, [tensor_spec('chunk', ['batch', k, j])]


def param_count(model):
    """Return the number of parameters of a torch module."""
    return int(sum(p.numel() for p in model.parameters()))


# -- export --------------------------------------------------------------------------------
def export_onnx(model, feeds, output_name, path):
    """Export model (eval mode) to ONNX with a dynamic batch axis, via the TorchScript path."""
    model.eval()
    names = list(feeds)
    args = tuple(torch.from_numpy(feeds[n]) for n in names)
    axes = {n: {0: 'batch'} for n in names + [output_name]}
    # torch >= 2.9 defaults to the torch.export path (needs onnxscript); older torch (L4T
    # wheels) has no `dynamo` argument and always uses the TorchScript path.
    extra = {'dynamo': False} if 'dynamo' in inspect.signature(torch.onnx.export).parameters \
        else {}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)  # the TorchScript path is intended
        torch.onnx.export(model, args, str(path), input_names=names, output_names=[output_name],
                          dynamic_axes=axes, opset_version=OPSET, **extra)


def export_variants(fp32_path, directory):
    """Write the FP16 and INT8 variants of an FP32 ONNX file; return {precision: path}."""
    import onnx
    from onnxruntime.quantization import quantize_dynamic, QuantType
    from onnxruntime.transformers import float16

    directory = Path(directory)
    paths = {'fp32': Path(fp32_path)}
    fp16 = float16.convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    paths['fp16'] = directory / PRECISION_FILES['fp16']
    onnx.save(fp16, str(paths['fp16']))
    paths['int8'] = directory / PRECISION_FILES['int8']
    # 7-bit weights: on x86 CPUs without VNNI, ONNX Runtime's u8 x s8 integer matmul saturates
    # with full-range weights (the H-module's INT8 output was 20-31% off its FP32 output on
    # this machine; 1.7% with reduce_range).
    quantize_dynamic(str(fp32_path), str(paths['int8']), weight_type=QuantType.QInt8,
                     reduce_range=True)
    return paths


def variant_errors(paths, feeds):
    """Return {precision: {max_abs, rmse, rel_rmse}} of each variant's output vs FP32."""
    from sage_common.onnx_runtime import create_session

    outputs = {}
    for precision, path in paths.items():
        session, _ = create_session(path, threads=1)
        outputs[precision] = session.run(None, feeds)[0].astype(np.float64)
    ref = outputs['fp32']
    scale = float(np.sqrt(np.mean(ref ** 2))) or 1.0
    errors = {}
    for precision, out in outputs.items():
        if precision == 'fp32':
            continue
        diff = out - ref
        rmse = float(np.sqrt(np.mean(diff ** 2)))
        errors[precision] = {'max_abs': float(np.abs(diff).max()), 'rmse': rmse,
                             'rel_rmse': rmse / scale}
    return errors


def _publish(registry, name, model, config, inputs, outputs, feeds, output_name, parent,
             metadata, activate):
    with tempfile.TemporaryDirectory(prefix=f'{name}-export-') as tmp:
        tmp = Path(tmp)
        fp32 = tmp / PRECISION_FILES['fp32']
        export_onnx(model, feeds, output_name, fp32)
        paths = export_variants(fp32, tmp)
        weights = tmp / 'weights.pt'
        torch.save(model.state_dict(), weights)
        meta = dict(metadata or {})
        meta.update({'config': config, 'param_count': param_count(model),
                     'precisions': sorted(paths),
                     'variant_error': variant_errors(paths, feeds)})
        files = {PRECISION_FILES[p]: path for p, path in paths.items()}
        files['weights.pt'] = weights
        return registry.publish(name, files, inputs, outputs, parent=parent, metadata=meta,
                                activate=activate)


def _registry(registry):
    return registry if isinstance(registry, ModelRegistry) else ModelRegistry(registry)


def publish_h_module(registry, model, config, parent=None, metadata=None, activate=False):
    """Export an HModule (FP32 + FP16 + INT8 ONNX, weights.pt) as a new registry version."""
    config = merge_config(DEFAULT_H_CONFIG, config)
    inputs, outputs = h_io_specs(config)
    return _publish(_registry(registry), H_NAME, model, config, inputs, outputs,
                    h_probe_feeds(config['window'], batch=2), 'z', parent, metadata, activate)


def publish_l_module(registry, model, config, parent=None, metadata=None, activate=False):
    """Export an LModule (FP32 + FP16 + INT8 ONNX, weights.pt) as a new registry version."""
    config = merge_config(DEFAULT_L_CONFIG, config)
    inputs, outputs = l_io_specs(config)
    return _publish(_registry(registry), L_NAME, model, config, inputs, outputs,
                    l_probe_feeds(config['num_joints'], batch=2), 'chunk', parent, metadata,
                    activate)


def _load_torch(mv, builder, defaults):
    config = merge_config(defaults, mv.metadata.get('config'))
    model = builder(config)
    state = torch.load(mv.path('weights.pt'), map_location='cpu', weights_only=True)
    model.load_state_dict(state)
    model.eval()
    return model


def load_h_module_torch(mv):
    """Return the HModule of a registry ModelVersion (eval mode, weights_only load)."""
    return _load_torch(mv, build_h_module, DEFAULT_H_CONFIG)


def load_l_module_torch(mv):
    """Return the LModule of a registry ModelVersion (eval mode, weights_only load)."""
    return _load_torch(mv, build_l_module, DEFAULT_L_CONFIG)


def _initial(registry, name, builder, defaults, publisher, seed, overrides):
    registry = _registry(registry)
    config = merge_config(defaults, overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = builder(config)
    first = not registry.versions(name)
    return publisher(registry, model, config, metadata={'initial': True, 'seed': seed},
                     activate=first)


def publish_initial_h_module(registry, seed=0, **overrides):
    """Publish the untrained H-module for seed (same weights for the same seed and config)."""
    return _initial(registry, H_NAME, build_h_module, DEFAULT_H_CONFIG, publish_h_module,
                    seed, overrides)


def publish_initial_l_module(registry, seed=0, num_joints=2, **overrides):
    """Publish the untrained L-module for seed and num_joints (deterministic per seed)."""
    overrides['num_joints'] = num_joints
    return _initial(registry, L_NAME, build_l_module, DEFAULT_L_CONFIG, publish_l_module,
                    seed, overrides)
