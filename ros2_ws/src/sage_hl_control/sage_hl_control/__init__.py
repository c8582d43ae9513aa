# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""H-module (4096 to 256), L-module (256 + joints to commands), safety filter, nodes."""

# The public API, imported lazily so that the nodes (ONNX Runtime only) never import torch.
_EXPORTS = {
    'build_h_module': 'h_module', 'DEFAULT_H_CONFIG': 'h_module', 'HModule': 'h_module',
    'build_l_module': 'l_module', 'DEFAULT_L_CONFIG': 'l_module', 'LModule': 'l_module',
    'publish_h_module': 'models', 'publish_l_module': 'models',
    'load_h_module_torch': 'models', 'load_l_module_torch': 'models',
    'publish_initial_h_module': 'models', 'publish_initial_l_module': 'models',
    'SafetyFilter': 'safety', 'SlowStart': 'safety', 'TemporalEnsembler': 'ensemble',
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    import importlib
    return getattr(importlib.import_module(f'{__name__}.{_EXPORTS[name]}'), name)
