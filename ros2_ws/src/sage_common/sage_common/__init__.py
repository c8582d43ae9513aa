# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Shared plumbing of the SAGE nodes: node layer, model registry, ONNX Runtime, QoS, tests."""
