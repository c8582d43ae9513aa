# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Fixtures of the sleep tests: real wake bags recorded without waiting for real time.

`sage_sleep.recording.sim_clock_bag.record_teacher_episodes` steps the MuJoCo robot in
simulated time with the scripted teacher driving and writes the messages the nodes publish
through the sleep manager's own Recorder: real rosbag2/MCAP bags, only the clock simulated.
"""

import pytest
from sage_sleep.recording.sim_clock_bag import record_teacher_episodes


@pytest.fixture(scope='session')
def wake_bags(tmp_path_factory):
    """Two recorded wake periods of four 1-s teacher episodes each (64x48 camera)."""
    return record_teacher_episodes(tmp_path_factory.mktemp('bags'), periods=2)
