# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The sleep manager and its two halves: recording (awake) and learning (asleep)."""
