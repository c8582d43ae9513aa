# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""SAGE's benchmarks (`make bench`): the top of the package graph, nothing depends on it."""
