# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Repository-wide pytest setup: the SAGE process/DDS harness for every test."""

pytest_plugins = ['sage_common.testing']
