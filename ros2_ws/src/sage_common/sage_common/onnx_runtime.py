# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""ONNX Runtime sessions with the best execution provider this machine has."""

import numpy as np

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
