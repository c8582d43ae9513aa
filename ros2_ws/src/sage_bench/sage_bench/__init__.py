# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""SAGE's benchmarks (`make bench`): the top of the package graph, nothing depends on it."""

import os
from pathlib import Path


def results_dir():
    """Return where benchmarks write their figures: $SAGE_ROOT/bench/results (or ./bench)."""
    return Path(os.environ.get('SAGE_ROOT', '.')) / 'bench' / 'results'
