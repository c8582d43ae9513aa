# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The independent command audit: silent on the safety filter's output, loud on bad commands."""

import numpy as np
import pytest

from sage_hl_control.command_audit import CommandAudit
from sage_hl_control.command_monitor_node import read_limits
from sage_hl_control.safety import SafetyFilter, SlowStart

DT = 0.01
NAMES = ['joint0', 'joint1']
LIMITS = {'position_lower': [-6.0, -3.0], 'position_upper': [6.0, 3.0],
          'max_velocity': [2.0, 2.0]}
SCALES, STEP = [0.1, 0.25, 0.5, 1.0], 0.5


def make_audit(**kwargs):
    args = dict(joint_names=NAMES, command_rate=1 / DT, slow_start_scales=SCALES,
                slow_start_step=STEP, **LIMITS)
    args.update(kwargs)
    return CommandAudit(**args)


def test_the_safety_filters_output_passes_through_estop_episodes_holds_and_restarts():
    """A lagging arm driven by the filter towards random targets: no violation, ever."""
    rng = np.random.default_rng(0)
    audit = make_audit()
    arm = np.zeros(2)

    def new_filter():
        return SafetyFilter(NAMES, LIMITS['position_lower'], LIMITS['position_upper'],
                            LIMITS['max_velocity'], [50.0, 50.0], DT, 0.1,
                            SlowStart(SCALES, STEP), 0.5)

    f = new_filter()
    sender = 0                       # the publisher's identity: a new one per process
    target = np.zeros(2)
    context_lost = (3.0, 3.8)        # watchdog hold, then slow start again
    estop = (5.0, 5.6)
    episodes = {700, 1100}
    sender_dead = (9.0, 10.0)        # the L-module died and came back: a new filter
    commands = 0
    for i in range(1400):
        now = i * DT
        if i % 3 == 0:               # joint states at ~33 Hz
            audit.joint_state(['joint1', 'joint0'], [arm[1], arm[0]], now)
        if sender_dead[0] <= now < sender_dead[1]:
            f = None
            continue
        if f is None:
            f = new_filter()
            sender += 1
            f.update_joints(arm, now)
        if i % 3 == 0:
            f.update_joints(arm, now)
        if i % 10 == 0:
            target = np.clip(arm + rng.normal(0, 2.0, 2), -7, 7)
        if not context_lost[0] <= now < context_lost[1]:
            f.update_context(now)
        if i in episodes:            # the robot is reset elsewhere, the filter restarts
            arm = rng.uniform(-2, 2, 2)
            f.update_joints(arm, now)
            audit.joint_state(NAMES, list(arm), now)
            f.new_episode()
        if estop[0] <= now < estop[1] and not f.estop:
            f.set_estop(True, now)
            audit.estop(True, now)
        if now >= estop[1] and f.estop:
            f.set_estop(False, now)
            audit.estop(False, now)
        cmd = f.step(now, target)
        if cmd is None:
            continue
        assert audit.command(list(cmd.positions), now, sender=sender) == [], audit.examples
        commands += 1
        arm = arm + 0.5 * (cmd.positions - arm)
    assert audit.finish() == 0 and commands > 1000
    assert audit.restarts == 3       # start, e-stop release, the sender's restart


@pytest.mark.parametrize('command, kind', [
    ([0.0], 'wrong_size'),
    ([0.0, float('nan')], 'non_finite'),
    ([0.0, 3.5], 'position_limit'),
    ([0.0, 0.05], 'velocity'),       # 5x the full-speed step of 0.02
])
def test_bad_commands_are_named(command, kind):
    audit = make_audit(slow_start_step=0.0)
    audit.joint_state(NAMES, [0.0, 0.0], 0.0)
    assert audit.command([0.0, 0.0], 0.0) == []
    assert kind in audit.command(command, DT)
    audit.finish()
    assert audit.counts[kind] == 1 and audit.examples[0]['kinds'][0] == kind
    assert [e['kinds'] for e in audit.take_new()] == [e['kinds'] for e in audit.examples]
    assert audit.take_new() == []


def test_a_hold_may_arrive_before_the_joint_state_it_repeats():
    """Different topics: the command can overtake the measurement it was computed from."""
    audit = make_audit(slow_start_step=0.0)
    audit.joint_state(NAMES, [0.0, 0.0], 0.0)
    audit.command([0.0, 0.0], 0.0)
    audit.estop(True, 0.0)
    assert audit.command([0.5, 0.5], 0.1) == ['velocity', 'moved_during_estop']
    audit.joint_state(NAMES, [0.5, 0.5], 0.095)    # sent before the command, taken after it
    assert audit.pending == [] and audit.finish() == 0
    assert audit.command([0.9, 0.9], 0.2) == ['velocity', 'moved_during_estop']
    audit.joint_state(NAMES, [0.9, 0.9], 0.205)    # sent after it: no excuse
    audit.joint_state(NAMES, [0.9, 0.9], 0.6)
    assert audit.violations == 2      # settled once the window passed: both kinds
    assert audit.finish() == 2 and audit.counts['velocity'] == 1


def test_full_speed_right_after_a_restart_breaks_slow_start():
    audit = make_audit()
    q = np.zeros(2)
    for i in range(5):               # the first step allowed: 0.1 x 0.02 rad
        q = q + 0.002
        assert audit.command(q, i * DT) == []
    assert audit.command(q + 0.02, 5 * DT) == ['slow_start']
    q, start = q + 0.02, 5 * DT + 1.0     # a gap: the sender restarted
    ticks = int(3 * STEP / DT)
    for i in range(ticks):           # slow ramp until the last stage begins
        q = q + 0.002
        assert audit.command(q, start + i * DT) == []
    assert audit.command(q + 0.02, start + ticks * DT) == []
    assert audit.restarts == 2
    assert audit.command(q + 0.05, start + (ticks + 1) * DT) == ['velocity']


def test_no_motion_while_the_estop_is_latched():
    audit = make_audit(slow_start_step=0.0)
    audit.joint_state(NAMES, [0.0, 0.0], 0.0)
    audit.command([0.0, 0.0], 0.0)
    audit.estop(True, 0.005)
    assert audit.command([0.01, 0.0], 0.01) == []          # within the grace period
    audit.joint_state(NAMES, [0.1, 0.1], 0.05)
    assert audit.command([0.1, 0.1], 0.1) == []            # the hold: a measured position
    assert audit.command([0.1, 0.1], 0.11) == []
    assert audit.command([0.11, 0.1], 0.12) == ['moved_during_estop']
    audit.estop(False, 0.2)
    assert audit.restarts == 2
    assert audit.finish() == 1 and audit.counts['moved_during_estop'] == 1


def test_limits_come_from_the_l_module_parameters_file(tmp_path):
    path = tmp_path / 'l.yaml'
    path.write_text('l_module:\n  ros__parameters:\n    max_velocity: [1.0, 2.0]\n'
                    '    slow_start_step: 0.0\n    max_acceleration: [9.0, 9.0]\n'
                    '    position_lower: [-6.0, -2.0]\n    position_upper: [6.0, 2.0]\n')
    limits = read_limits(path, 'l_module')
    assert limits['max_velocity'] == [1.0, 2.0] and limits['slow_start_step'] == 0.0
    assert limits['joint_names'] == ['joint0', 'joint1']   # the sim's MJCF, the default
    assert limits['position_upper'] == [6.0, 2.0]
    CommandAudit(**limits)
    path.write_text('l_module:\n  ros__parameters:\n    max_velocity: [1.0, 2.0]\n')
    with pytest.raises(ValueError, match='joint joint0: no lower limit'):
        read_limits(path, 'l_module')   # as the L-module itself refuses to start
    path.write_text('l_module:\n  ros__parameters:\n    max_velocity: [1.0, 2.0]\n'
                    '    slow_start_step: 0.0\n    max_acceleration: [9.0, 9.0]\n'
                    '    position_lower: [-6.0, -2.0]\n    position_upper: [6.0, 2.0]\n')
    limits = read_limits(path, 'l_module')
    CommandAudit(**limits)
    with pytest.raises(ValueError, match='one value per joint'):
        CommandAudit(**{**limits, 'max_velocity': [1.0]})


def test_commands_are_judged_at_their_send_time_not_at_their_turn_in_the_executor():
    audit = make_audit(slow_start_step=0.0)
    audit.joint_state(NAMES, [0.0, 0.0], 0.0)
    audit.command([0.0, 0.0], 0.0)
    audit.estop(True, 1.0)
    assert audit.command([0.01, 0.0], 0.99) == []      # sent before the e-stop, taken after
    audit.estop(False, 2.0)
    assert audit.command([0.02, 0.0], 1.5) == ['moved_during_estop']   # sent while latched
    assert audit.finish() == 1


def test_a_reading_far_past_the_limits_does_not_excuse_a_hold_at_the_limit():
    """The soak found it: a finite but absurd joint state made the hold command the limit."""
    audit = make_audit(slow_start_step=0.0)
    audit.joint_state(NAMES, [0.0, 0.0], 0.0)
    audit.command([0.0, 0.0], 0.0)
    audit.joint_state(NAMES, [1e9, -1e9], 0.005)
    assert audit.command([6.0, -3.0], 0.01) == ['velocity']
    assert audit.finish() == 1


def test_a_new_sender_restarts_slow_start_and_a_pause_of_the_same_one_does_not():
    """An episode's start pauses the L-module's commands; only a new process ramps again."""
    audit = make_audit()
    q = np.zeros(2)
    for i in range(int(3 * STEP / DT) + 1):
        q = q + 0.002
        assert audit.command(q, i * DT, sender='a') == []
    t = 3 * STEP + 2.0                               # a 2 s pause, same sender: full speed
    assert audit.command(q + 0.02, t, sender='a') == []
    assert audit.restarts == 1
    assert audit.command(q + 0.04, t + DT, sender='b') == ['slow_start']
    assert audit.restarts == 2


def test_an_episode_reset_judged_while_the_joint_states_lag_behind_the_commands():
    """
    A reset's hold waits for the reset's joint state even when commands are taken first.

    CI found it: a busy monitor ran the command backlog ahead of the joint-state backlog, so
    the hold at a reset arm's new position was judged before the reset's joint state arrived.
    """
    audit = make_audit()
    audit.joint_state(NAMES, [0.0, 0.0], 0.0, sender='sim')
    audit.command([0.0, 0.0], 0.0, sender='l')
    audit.command([-0.07, -0.09], 0.5, sender='l')         # the hold at the reset position
    for i in range(1, 40):                                 # later holds, taken first
        audit.command([-0.07, -0.09], 0.5 + i * DT, sender='l')
    audit.joint_state(NAMES, [-0.07, -0.09], 0.49, sender='sim')   # the reset, taken late
    audit.joint_state(NAMES, [-0.07, -0.09], 0.9, sender='sim')
    assert audit.finish() == 0
    audit.command([0.5, 0.5], 1.0, sender='l')             # a real jump ...
    audit.joint_state(NAMES, [-0.07, -0.09], 0.95, sender='sim')
    assert audit.violations == 0                           # ... waits for the stream ...
    audit.joint_state(NAMES, [-0.07, -0.09], 1.01, sender='sim')
    assert audit.violations == 1                           # ... and counts once it passed


def test_a_silent_joint_state_stream_settles_after_settle_s():
    audit = make_audit(slow_start_step=0.0, settle_s=1.0)
    audit.joint_state(NAMES, [0.0, 0.0], 0.0)
    audit.command([0.0, 0.0], 0.0)
    audit.command([0.5, 0.5], 0.01)
    audit.command([0.5, 0.5], 0.5)
    assert audit.violations == 0 and len(audit.pending) == 1
    audit.command([0.5, 0.5], 1.2)
    assert audit.violations == 1 and audit.counts['velocity'] == 1


def test_a_hold_at_a_lost_joint_state_lies_between_its_neighbours():
    """
    A hold repeats a measurement this monitor lost (best effort): no step.

    The 60-min soak's one flag: the hold at a reset arm's new position, whose joint state the
    monitor lost, judged a 0.5x step against the 0.1x slow start.
    """
    def run(after_at, hold, lost=True):
        audit = make_audit()
        audit.command([0.027, -0.046], 0.0, sender='l')
        for t in np.arange(0.40, 0.495, DT):                        # 100 Hz before the reset
            audit.joint_state(NAMES, [0.027, -0.046], t, sender='sim')
        if not lost:
            audit.joint_state(NAMES, [0.0600, -0.05489], 0.50, sender='sim')
        # lost: [0.0674, -0.05489] sent at 0.50, just after the reset, which the hold repeats
        audit.command(hold, 0.505, sender='l')
        audit.joint_state(NAMES, [0.0672, -0.0548], after_at, sender='sim')
        return audit.finish()

    assert run(0.51, [0.0674, -0.05489]) == 0
    assert run(0.535, [0.0674, -0.05489]) == 1  # the next measurement later than bracket_s
    assert run(0.51, [0.0800, -0.05489]) == 1   # far from where the arm was measured next
    # Nothing lost: the measurement after a command excuses nothing.
    assert run(0.51, [0.0674, -0.05489], lost=False) == 1


def test_a_flagged_command_names_what_it_was_compared_with():
    """The detail says which references were there, so a flag found in CI can be explained."""
    audit = make_audit(slow_start_step=0.0, settle_s=1.0)
    audit.command([0.0, 0.0], 0.0)
    audit.command([0.1, 0.0], 0.01)                 # no joint state ever: 5x from the previous
    audit.finish()
    assert audit.joint_states == 0
    assert audit.examples[0]['detail'].endswith(
        '[previous command 10.0 ms before, step 5.000]')
    audit = make_audit(slow_start_step=0.0, settle_s=1.0)
    audit.joint_state(NAMES, [0.0, 0.0], 0.0)
    audit.command([0.0, 0.0], 0.005)
    audit.command([0.1, 0.0], 0.01)
    audit.joint_state(NAMES, [0.0, 0.0], 0.02)
    audit.finish()
    assert audit.joint_states == 2 and audit.summary()['joint_states'] == 2
    assert '1 joint states in the window, nearest step 5.000 sent 10.0 ms before' in \
        audit.examples[0]['detail']
    assert 'next 10.0 ms after (step 5.000)' in audit.examples[0]['detail']
