# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Lint: every source file carries the copyright and licence header."""

from pathlib import Path

import pytest
from sage_common.lint import files_missing_copyright


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright():
    missing = files_missing_copyright(Path(__file__).resolve().parents[1])
    assert not missing, 'No copyright/licence header in:\n' + '\n'.join(map(str, missing))
