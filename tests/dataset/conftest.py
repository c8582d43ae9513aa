# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Fixtures of the dataset tests: wake bags recorded as the sleep tests record them."""

import pytest
from sage_sleep.recording.sim_clock_bag import record_teacher_episodes


@pytest.fixture(scope='session')
def teacher_bags(tmp_path_factory):
    """Two wake periods of two 1-s teacher episodes each (64x48 camera)."""
    return record_teacher_episodes(tmp_path_factory.mktemp('bags'), periods=2, episodes=2)
