# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The H- and L-modules as ONNX Runtime sessions loaded from the registry (no torch needed).

Loading a version verifies its manifest and hashes, opens the requested precision variant
and runs it once on a fixed probe input: a version whose files are corrupt, whose shapes do
not fit, or whose output is not finite raises ModelError and is never used.
"""

import time

import numpy as np

from sage_common.onnx_runtime import OnnxModel
from sage_common.registry import ModelError, ModelRegistry, PRECISION_FILES
from sage_perception.layout import COMPRESSED_DIM, DIM as CONTEXT_DIM, NUM_GROUPS


def h_probe_feeds(window, batch=1, seed=0):
    """Return a fixed random H-module feed (all slots valid, all groups present)."""
    rng = np.random.default_rng(seed)
    w = int(window)
    return {'window': rng.standard_normal((batch, w, CONTEXT_DIM)).astype(np.float32),
            'valid': np.ones((batch, w), np.float32),
            'group_mask': np.ones((batch, w, NUM_GROUPS), np.float32)}


def l_probe_feeds(num_joints, batch=1, seed=0):
    """Return a fixed random L-module feed."""
    rng = np.random.default_rng(seed)
    j = int(num_joints)
    return {'z': rng.standard_normal((batch, COMPRESSED_DIM)).astype(np.float32),
            'joint_pos': rng.uniform(-np.pi, np.pi, (batch, j)).astype(np.float32),
            'joint_vel': rng.uniform(-2.0, 2.0, (batch, j)).astype(np.float32)}


def precision_file(precision):
    """Return the ONNX file of a precision variant; ModelError for an unknown precision."""
    if precision not in PRECISION_FILES:
        raise ModelError(f'unknown precision {precision!r}; expected one of '
                         f'{sorted(PRECISION_FILES)}')
    return PRECISION_FILES[precision]


class HRunner(OnnxModel):
    """The H-module: feeds from ContextWindow.feeds() -> (256,) compressed context."""

    def __init__(self, mv, precision='fp32', threads=1):
        super().__init__(mv, precision_file(precision), threads)
        self.precision = precision
        self.window = int(self.config['window'])
        self.probe(h_probe_feeds(self.window), [(1, COMPRESSED_DIM)])

    def compress(self, feeds):
        """Return (z (256,) float32, compute seconds)."""
        start = time.perf_counter()
        z = self.run(feeds)[0][0]
        return z, time.perf_counter() - start


class LRunner(OnnxModel):
    """The L-module: (z, joint positions, velocities) -> (K, J) chunk of position targets."""

    def __init__(self, mv, precision='fp32', threads=1, num_joints=None):
        super().__init__(mv, precision_file(precision), threads)
        self.precision = precision
        self.num_joints = int(self.config['num_joints'])
        self.chunk_size = int(self.config['chunk_size'])
        self.chunk_dt = float(self.config['chunk_dt'])
        if num_joints is not None and num_joints != self.num_joints:
            raise ModelError(f'{mv.name} {mv.version} drives {self.num_joints} joints, the node '
                             f'has {num_joints}')
        self.probe(l_probe_feeds(self.num_joints), [(1, self.chunk_size, self.num_joints)])

    def chunk(self, z, joint_pos, joint_vel):
        """Return the (K, J) float64 chunk and the compute time in seconds."""
        start = time.perf_counter()
        out = self.run({'z': np.asarray(z, np.float32).reshape(1, COMPRESSED_DIM),
                        'joint_pos': np.asarray(joint_pos, np.float32).reshape(1, -1),
                        'joint_vel': np.asarray(joint_vel, np.float32).reshape(1, -1)})[0]
        return out[0].astype(np.float64), time.perf_counter() - start


def load_runner(kind, model_dir, version='', precision='fp32', threads=1, **kwargs):
    """Load, verify and probe `h_module` or `l_module` (version '' = active); raise ModelError."""
    registry = ModelRegistry(model_dir)
    mv = registry.load(kind, version or None)
    cls = {'h_module': HRunner, 'l_module': LRunner}[kind]
    return cls(mv, precision, threads, **kwargs)
