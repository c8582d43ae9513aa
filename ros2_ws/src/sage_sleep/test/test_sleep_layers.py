# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""A robot that only records imports neither torch nor onnxruntime (sage_sleep.recording)."""

import pkgutil
import subprocess
import sys

import sage_sleep.recording

RECORDING_MODULES = sorted(f'sage_sleep.recording.{m.name}'
                           for m in pkgutil.iter_modules(sage_sleep.recording.__path__))
HEAVY = ('torch', 'onnxruntime')


def imported_after(modules):
    """Return the heavy modules loaded by a fresh interpreter importing modules."""
    code = ('import importlib, sys\n'
            f'for m in {modules!r}: importlib.import_module(m)\n'
            f'print(",".join(h for h in {HEAVY!r} if h in sys.modules))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True, timeout=120)
    return [h for h in out.stdout.strip().split(',') if h]


def test_recording_and_node_import_no_learning_stack():
    assert 'sage_sleep.recording.recorder' in RECORDING_MODULES
    assert imported_after(RECORDING_MODULES + ['sage_sleep.sleep_manager_node']) == []


def test_learning_imports_torch():
    """The check above can fail: the learning half does pull torch in."""
    assert 'torch' in imported_after(['sage_sleep.learning.trainer'])
