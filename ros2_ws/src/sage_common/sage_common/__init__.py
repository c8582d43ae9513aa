# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Shared plumbing of the SAGE nodes: model registry, ONNX Runtime, QoS, test harness."""
