# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Sleep trigger (schedule, idle rule) and the trainer process protocol."""

import datetime
import sys

import pytest
from sage_sleep.sleep_cycle import parse_progress, parse_schedule, SleepTrigger, TrainerRun


class Clock:
    def __init__(self):
        self.mono = 0.0
        self.wall = datetime.datetime(2026, 1, 1, 1, 58)

    def advance(self, seconds):
        self.mono += seconds
        self.wall += datetime.timedelta(seconds=seconds)


def trigger(clock, **kwargs):
    return SleepTrigger(clock=lambda: clock.mono, wall=lambda: clock.wall, **kwargs)


def test_sleep_schedule_fires_once_per_day():
    clock = Clock()
    t = trigger(clock, schedule=['02:00'])
    assert t.due() is None
    clock.advance(119)
    assert t.due() is None
    clock.advance(2)
    assert t.due() == 'schedule 02:00'
    assert t.due() is None
    clock.advance(24 * 3600)
    assert t.due() == 'schedule 02:00'


def test_sleep_idle_rule_needs_no_motion_and_no_teacher():
    clock = Clock()
    t = trigger(clock, idle_minutes=2, motion_threshold=0.01)
    t.note_joints([0.0, 0.0])
    clock.advance(100)
    t.note_joints([0.005, 0.0])      # below the threshold: still idle
    clock.advance(30)
    t.note_teacher()                 # the teacher is active
    clock.advance(110)
    assert t.due() is None
    clock.advance(15)
    assert t.due().startswith('idle for 2.1 min')
    t.reset()
    clock.advance(60)
    t.note_joints([0.5, 0.0])        # motion
    clock.advance(100)
    assert t.due() is None


def test_sleep_bad_schedule_is_named():
    with pytest.raises(ValueError, match='25:00'):
        parse_schedule(['25:00'])


def test_sleep_progress_lines():
    assert parse_progress('SAGE_PROGRESS dream 0.25\n') == ('dream', 0.25)
    assert parse_progress('SAGE_PROGRESS deploy 7') == ('deploy', 1.0)
    assert parse_progress('SAGE_PROGRESS nap 0.5') is None
    assert parse_progress('consolidate: 10%|#  | 3/30]SAGE_PROGRESS sleep 0.1') == ('sleep', 0.1)
    assert parse_progress('epoch 3 loss 0.1') is None


def test_sleep_trainer_run_reports_progress_and_exit():
    script = ('import sys, time\n'
              'print("SAGE_PROGRESS sleep 0.5", flush=True)\n'
              'print("consolidated 12 batches", flush=True)\n'
              'print("SAGE_PROGRESS dream 0.9", flush=True)\n'
              'sys.exit(3)\n')
    run = TrainerRun([sys.executable, '-c', script])
    assert run.start()
    run._proc.wait(30)
    assert run.done()
    assert (run.phase, run.progress, run.returncode) == ('dream', 0.9, 3)
    assert run.result().startswith('trainer exit 3') and 'consolidated 12 batches' in run.result()


def test_sleep_trainer_that_cannot_start():
    run = TrainerRun(['/nonexistent/trainer'])
    assert not run.start() and run.done()
    assert 'failed to start' in run.result()


def test_sleep_trainer_stop_kills_its_group():
    run = TrainerRun([sys.executable, '-c', 'import time; time.sleep(60)'])
    assert run.start()
    run.stop(timeout=5)
    assert run.done() and run.returncode != 0
