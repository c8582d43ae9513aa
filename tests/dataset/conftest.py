# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Fixtures of the dataset tests: wake bags recorded as the sleep tests record them."""

import importlib.util
from pathlib import Path

import pytest


def _sleep_fixtures():
    path = Path(__file__).resolve().parents[1] / 'sleep' / 'conftest.py'
    spec = importlib.util.spec_from_file_location('sage_sleep_test_fixtures', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def teacher_bags(tmp_path_factory):
    """Two wake periods of two 1-s teacher episodes each (64x48 camera)."""
    return _sleep_fixtures().record_wake_bags(tmp_path_factory.mktemp('bags'), periods=2,
                                              episodes=2)
