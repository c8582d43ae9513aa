# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Giving freed heap memory back to the OS (glibc).

A replaced ONNX Runtime session is freed, but glibc keeps the freed pages in its arenas:
loading an encoder 30 times in one process grew its RSS from 81 to 115 MB, and to 75 MB
with `malloc_trim(0)` after each load (ORT's own CPU arena off instead: 110 MB). Nodes that
hot-reload models trim once the old model is dropped, on their loading thread, never on a
control path (sage_common.node.LoadModelService).
"""

import ctypes


def trim_heap():
    """Return free heap pages of every malloc arena to the OS; False where not glibc."""
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    malloc_trim(0)
    return True
