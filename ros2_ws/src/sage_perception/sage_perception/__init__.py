# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Sensor decoding, time alignment, the 4K reality-context encoder and its node."""
