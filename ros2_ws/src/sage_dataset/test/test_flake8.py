# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Lint: flake8 with the ament settings."""

from pathlib import Path

from ament_flake8.main import main_with_errors
import pytest


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    rc, errors = main_with_errors(argv=[str(Path(__file__).resolve().parents[1])])
    assert rc == 0, 'Found %d code style errors / warnings:\n' % len(errors) + '\n'.join(errors)
