# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Recording the day: segments, salvage, quotas, message definitions, bag reading, replay.

Imports neither torch nor onnxruntime, so a robot that only records stays light.
"""
