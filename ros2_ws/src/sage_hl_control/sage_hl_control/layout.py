# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Sizes shared by the models, the runners and the nodes (no torch import)."""

CONTEXT_DIM = 4096       # sage_interfaces/Context.DIM: 16 groups x 256 (docs/architecture.md)
GROUP_DIM = 256
NUM_GROUPS = 16
COMPRESSED_DIM = 256     # sage_interfaces/CompressedContext.DIM

# ONNX file of each precision inside a registry version.
PRECISION_FILES = {'fp32': 'model.onnx', 'fp16': 'model_fp16.onnx', 'int8': 'model_int8.onnx'}
