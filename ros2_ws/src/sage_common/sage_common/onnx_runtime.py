# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""ONNX Runtime sessions with the best execution provider; registry versions as OnnxModel."""

import numpy as np

from sage_common.registry import ModelError

# Tried in this order; the first one onnxruntime reports as available is used.
PREFERRED_PROVIDERS = (
    'TensorrtExecutionProvider',
    'CUDAExecutionProvider',
    'CPUExecutionProvider',
)


def choose_providers(available, preferred=PREFERRED_PROVIDERS):
    """Return the preferred providers that are available, best first, CPU always last."""
    chosen = [p for p in preferred if p in available and p != 'CPUExecutionProvider']
    return chosen + ['CPUExecutionProvider']


def create_session(path, threads=1, preferred=PREFERRED_PROVIDERS):
    """Return (session, provider) for an ONNX file; provider is the one actually in use."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = choose_providers(ort.get_available_providers(), preferred)
    session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    return session, session.get_providers()[0]


def probe_session(session, feeds):
    """Run a session once on feeds and return the outputs; raise ValueError if non-finite."""
    outputs = session.run(None, feeds)
    for meta, value in zip(session.get_outputs(), outputs):
        if not np.all(np.isfinite(value)):
            raise ValueError(f'model output {meta.name} is not finite on the probe input')
    return outputs


class OnnxModel:
    """
    A registry version's ONNX session, opened on the best provider and probed before use.

    `mv` is a ModelVersion the registry loaded (hashes verified); its manifest metadata must
    hold a `config` dict. `filename` is the ONNX file of the version to open. Subclasses
    check their config, then probe() once on a fixed input: a version whose file does not
    open, whose shapes do not fit or whose output is not finite raises ModelError.
    """

    def __init__(self, mv, filename='model.onnx', threads=1):
        self.mv = mv
        self.version = mv.version
        self.what = f'{mv.name} {mv.version}'
        self.config = mv.metadata.get('config')
        if not isinstance(self.config, dict):
            raise ModelError(f'{self.what}: manifest metadata has no config')
        try:
            self.session, self.provider = create_session(mv.path(filename), threads)
        except ModelError:
            raise
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f'{self.what}: cannot open {filename}: {exc}')

    def probe(self, feeds, shapes):
        """Run once on feeds and return the outputs; ModelError unless finite and of shapes."""
        try:
            outputs = probe_session(self.session, feeds)
        except Exception as exc:
            raise ModelError(f'{self.what}: probe failed: {exc}')
        got = [tuple(out.shape) for out in outputs]
        if got != [tuple(shape) for shape in shapes]:
            raise ModelError(f'{self.what}: probe output shapes {got}, expected '
                             f'{[tuple(shape) for shape in shapes]}')
        return outputs

    def run(self, feeds):
        """Return every output for feeds (float32 arrays)."""
        return self.session.run(None, feeds)
