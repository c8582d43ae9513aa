# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Simulated robot (MuJoCo) and scripted teacher for SAGE."""
