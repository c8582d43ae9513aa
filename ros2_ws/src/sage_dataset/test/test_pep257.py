# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Lint: pep257 docstrings with the ament settings."""

from pathlib import Path

from ament_pep257.main import main
import pytest


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    pkg = Path(__file__).resolve().parents[1]
    rc = main(argv=[str(pkg / pkg.name), str(pkg / 'test')])
    assert rc == 0, 'Found code style errors / warnings'
