# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The L node's command logic without ROS: ensembling, safety filter, e-stop, episodes."""

import math
from pathlib import Path

import numpy as np
import pytest
from sage_hl_control.controller import (ActuatorController, default_settings, PARAMETERS,
                                        settings_from_parameters)
from sage_hl_control.safety import MIN_STEP_S
import yaml

DT = 0.01
CHUNK_DT = 0.1
CONFIG = Path(__file__).resolve().parents[1] / 'config' / 'l_module.yaml'


def make_controller(**settings):
    # These loops measure a robot that does not move (a constant reading): off, the stuck
    # encoder check would hold them (test_a_reading_that_does_not_follow_... turns it on).
    base = {'slow_start_step': 0.0, 'max_velocity': [100.0, 100.0],
            'max_acceleration': [1e6, 1e6], 'ensemble_decay': 0.0, 'stuck_encoder_after': 0.0}
    base.update(settings)
    return ActuatorController(base)


def constant(value, k=10):
    return np.full((k, 2), float(value))


def run(c, start, stop, pos=(0.0, 0.0), chunk=None, chunk_every=3):
    """Tick every DT from start to stop with joints at pos; a chunk every `chunk_every` ticks."""
    commands = []
    for i in range(int(round((stop - start) / DT))):
        now = start + i * DT
        c.update_joints(pos, (0.0, 0.0), now)
        if chunk is not None and i % chunk_every == 0:
            assert c.add_chunk(chunk, now, CHUNK_DT, stamp=now)
        commands.append(c.tick(now))
    return commands


def test_the_command_is_the_blended_target_then_the_safety_limits():
    c = make_controller()
    c.update_joints((0.0, 0.0), (0.0, 0.0), 0.0)
    c.add_chunk(constant(0.2), 0.0, CHUNK_DT, stamp=0.0)
    c.add_chunk(constant(0.4), 0.0, CHUNK_DT, stamp=1e-6)
    command = c.tick(0.0)
    assert not command.holding
    assert command.positions == pytest.approx([0.3, 0.3])  # the blend, not either chunk
    # The same inputs under a velocity limit: limited from the measured position.
    c = make_controller(max_velocity=[2.0, 1.0])
    c.update_joints((0.0, 0.0), (0.0, 0.0), 0.0)
    c.add_chunk(constant(0.2), 0.0, CHUNK_DT, stamp=0.0)
    c.add_chunk(constant(0.4), 0.0, CHUNK_DT, stamp=1e-6)
    assert c.tick(0.0).positions == pytest.approx([2.0 * DT, 1.0 * DT])
    # And a target beyond the position limits is clamped to them.
    c = make_controller(position_lower=[-0.1, -0.1], position_upper=[0.1, 0.1])
    commands = run(c, 0.0, 0.2, chunk=constant(5.0))
    assert commands[-1].positions == pytest.approx([0.1, 0.1])
    assert c.safety.counts['position_clamped'] > 0 and c.chunks == 7


def test_estop_holds_and_drops_the_chunks_until_released_with_fresh_inputs():
    c = make_controller()
    assert c.tick(0.0) is None  # no joint state yet: nothing to publish
    run(c, 0.0, 0.05, pos=(0.1, -0.1), chunk=constant(0.5))
    c.set_estop(True, 0.05)
    command = c.tick(0.05)
    assert command.holding and 'estop' in command.reasons
    assert np.array_equal(command.positions, [0.1, -0.1])
    assert len(c.ensembler) == 0
    assert all(cmd.holding for cmd in run(c, 0.06, 0.2, pos=(0.1, -0.1), chunk=constant(0.5)))
    c.set_estop(False, 0.2)
    assert not run(c, 0.2, 0.23, pos=(0.1, -0.1), chunk=constant(0.5))[-1].holding


def test_watchdog_holds_when_the_chunks_are_stale():
    c = make_controller(stale_timeout=0.1)
    run(c, 0.0, 0.1, pos=(0.2, 0.2), chunk=constant(0.5))
    # No new chunk after t=0.09; the last one still covers up to 0.99 s.
    commands = run(c, 0.1, 0.3, pos=(0.2, 0.2))
    assert not commands[0].holding
    assert commands[-1].holding and 'stale_context' in commands[-1].reasons
    assert np.array_equal(commands[-1].positions, [0.2, 0.2])
    assert len(c.ensembler) == 0  # stale chunks must not resume after the hold
    assert c.safety.counts['hold_stale_context'] > 0


def test_episode_start_drops_the_old_chunks_and_refuses_late_ones():
    c = make_controller()
    run(c, 0.0, 0.1, chunk=constant(0.5))
    assert len(c.ensembler) > 0
    c.start_episode(stamp=0.1)
    assert len(c.ensembler) == 0 and c.episodes == 1
    # A chunk computed from a context of the old episode arrives late: refused.
    c.update_joints((-0.3, 0.3), (0.0, 0.0), 0.1)
    assert not c.add_chunk(constant(0.5), 0.1, CHUNK_DT, stamp=0.09)
    assert c.rejects.counts['previous_episode'] == 1
    # Nothing to command until the episode's first chunk: the robot keeps its reset pose.
    assert c.tick(0.1) is None
    assert c.add_chunk(constant(-0.5), 0.11, CHUNK_DT, stamp=0.1)
    c.update_joints((-0.3, 0.3), (0.0, 0.0), 0.11)
    assert c.tick(0.11).positions == pytest.approx([-0.5, -0.5])


def test_episode_start_keeps_slow_start_and_starts_from_the_measured_position():
    c = make_controller(slow_start_scales=[0.1, 1.0], slow_start_step=0.05,
                        max_velocity=[1.0, 1.0])
    assert run(c, 0.0, 0.03, chunk=constant(5.0))[0].scale == 0.1
    assert run(c, 0.03, 0.2, chunk=constant(5.0))[-1].scale == 1.0
    # The reset moved the arm to (-1, 1); the new episode's first command starts there.
    c.start_episode(stamp=0.2)
    first = run(c, 0.2, 0.21, pos=(-1.0, 1.0), chunk=constant(5.0))[0]
    assert not first.holding and first.scale == 1.0  # slow start goes on
    assert first.positions == pytest.approx([-1.0 + DT, 1.0 + DT])
    # An e-stop, by contrast, restarts the slow start.
    c.set_estop(True, 0.21)
    run(c, 0.21, 0.25, pos=(-1.0, 1.0), chunk=constant(5.0))
    c.set_estop(False, 0.25)
    assert run(c, 0.25, 0.27, pos=(-1.0, 1.0), chunk=constant(5.0))[-1].scale == 0.1


def test_hold_reasons_other_than_the_missing_target_hold_after_an_episode_start():
    c = make_controller()
    run(c, 0.0, 0.05, pos=(0.3, 0.3), chunk=constant(0.5))
    c.start_episode(stamp=0.05)
    c.set_estop(True, 0.05)
    command = c.tick(0.05)
    assert command.holding and command.reasons == ['estop', 'no_target']
    assert np.array_equal(command.positions, [0.3, 0.3])


def test_bad_inputs_are_refused_and_counted():
    c = make_controller()
    assert not c.update_joints((0.0, 0.0), (math.nan, 0.0), 0.0)
    assert not c.update_joints((math.inf, 0.0), (0.0, 0.0), 0.0)
    assert not c.update_joints((1e9, -1e9), (0.0, 0.0), 0.0)
    assert c.rejects.counts['joint_state_out_of_limits'] == 1
    assert c.joint_state() is None
    assert c.update_joints((0.1, 0.2), (0.3, 0.4), 0.0)
    positions, velocities = c.joint_state()
    assert np.array_equal(positions, [0.1, 0.2]) and np.array_equal(velocities, [0.3, 0.4])
    bad = constant(0.0)
    bad[3, 1] = math.nan
    for chunk in (bad, np.zeros((10, 3)), np.zeros((0, 2)), np.zeros(10)):
        assert not c.add_chunk(chunk, 0.0, CHUNK_DT, stamp=0.0)
    assert c.rejects.counts == {'joint_state_non_finite': 2, 'joint_state_out_of_limits': 1,
                                'model_non_finite': 4}
    assert c.chunks == 0 and len(c.ensembler) == 0
    with pytest.raises(ValueError):
        ActuatorController({'max_speed': 1.0})
    with pytest.raises(ValueError):
        ActuatorController({'max_velocity': [1.0]})


def test_node_parameter_file_holds_the_declared_defaults():
    from sage_hl_control import l_node

    params = yaml.safe_load(CONFIG.read_text())['l_module']['ros__parameters']
    declared = {name: spec[0] for name, spec in l_node.PARAMETERS.items()}
    overrides = set(l_node.JOINT_FACT_PARAMETERS)  # unset by default; the file may set them
    assert {k: v for k, v in params.items() if k not in overrides} == {
        k: v for k, v in declared.items() if k not in overrides}
    for name, value in params.items():
        if name not in overrides:
            assert type(value) is type(declared[name]), name
    assert set(PARAMETERS) <= set(declared)
    assert ActuatorController().settings == default_settings()
    # The file's joint facts, resolved from the sim's MJCF as the node does, are the
    # controller's defaults (what sage_evaluate drives the same simulated arm with).
    assert settings_from_parameters(params) == default_settings()
    assert 'joint_names' not in params  # the names come from the MJCF
    with pytest.raises(ValueError, match='joint joint1: position_upper 3.5 is looser'):
        settings_from_parameters({**params, 'position_upper': [6.2832, 3.5]})
    assert settings_from_parameters({**params, 'position_upper': [6.2832, 3.5],
                                     'allow_looser_limits': True})['position_upper'][1] == 3.5


class Loop:
    """The L node's callbacks on simulated time: a re-phasable timer, chunks on arrival."""

    def __init__(self, c, pos=(0.0, 0.0)):
        self.c, self.pos = c, pos
        self.due = c.dt
        self.sent = []  # (time, Command)

    def run_until(self, t):
        while self.due <= t:
            now = self.due
            self.due += self.c.dt
            self.c.update_joints(self.pos, (0.0, 0.0), now)
            command = self.c.command_on_timer(now)
            if command is not None:
                self.sent.append((now, command))

    def arrive(self, now, chunk, stamp=None, age=0.0):
        """Deliver a context stamped `stamp` at now (after the ticks due before now)."""
        self.run_until(now)
        self.c.update_joints(self.pos, (0.0, 0.0), now)
        stamp = now - age if stamp is None else stamp
        if not self.c.add_chunk(chunk, now, CHUNK_DT, stamp, age=age):
            return None
        command = self.c.command_on_arrival(now)
        if command is not None:
            self.sent.append((now, command))
            self.due = now + self.c.dt  # the node resets its timer
        return command


def test_a_new_chunk_is_commanded_at_once_and_re_phases_the_timer():
    c = make_controller()
    loop = Loop(c)
    loop.arrive(0.0, constant(0.1))
    loop.run_until(0.0337)
    assert [t for t, _ in loop.sent] == pytest.approx([0.0, 0.01, 0.02, 0.03])
    command = loop.arrive(0.0337, constant(0.5))
    assert loop.sent[-1] == (0.0337, command)  # not at the next tick (0.04)
    assert not command.holding and command.positions[0] > 0.1  # the new chunk blended in
    loop.run_until(0.06)
    assert [t for t, _ in loop.sent[-2:]] == pytest.approx([0.0437, 0.0537])
    assert c.schedule.rephased == 2 and c.schedule.skipped == 0
    # The timer's jitter is measured from the re-phase: no false 6.3-ms sample.
    assert c.schedule.jitter.percentile_ms(100) == pytest.approx(0.0, abs=1e-6)
    # Timer only (the baseline): the chunk waits for the next tick.
    c = make_controller(react_on_arrival=False)
    loop = Loop(c)
    assert loop.arrive(0.0, constant(0.1)) is None
    loop.run_until(0.0337)
    assert loop.arrive(0.0337, constant(0.5)) is None
    loop.run_until(0.04)
    assert [t for t, _ in loop.sent] == pytest.approx([0.01, 0.02, 0.03, 0.04])
    assert loop.sent[-1][1].positions[0] > 0.1 and c.schedule.rephased == 0


def test_the_chunk_is_timed_from_the_context_stamp_not_its_arrival():
    c = make_controller()
    ramp = np.stack([np.arange(10) * 0.1] * 2, axis=1)  # 0.1 per CHUNK_DT: 1 rad/s
    c.update_joints((0.0, 0.0), (0.0, 0.0), 0.05)
    assert c.add_chunk(ramp, 0.05, CHUNK_DT, stamp=100.0, age=0.03)  # 30 ms in flight
    assert c.command_on_arrival(0.05).positions == pytest.approx([0.03, 0.03])
    assert c.add_chunk(ramp, 0.06, CHUNK_DT, stamp=101.0, age=-0.5)  # a stamp ahead: now
    assert len(c.ensembler) == 2


def test_a_context_out_of_order_or_repeated_is_counted_and_not_acted_on():
    c = make_controller()
    loop = Loop(c)
    loop.arrive(0.0, constant(0.1), stamp=10.0)
    loop.run_until(0.05)
    sent = len(loop.sent)
    for stamp in (10.0, 9.99):  # the same stamp again, then an older one
        assert loop.arrive(0.055, constant(2.0), stamp=stamp) is None
        assert not c.admit(stamp)
    assert c.rejects.counts['context_out_of_order'] == 4
    assert c.chunks == 1 and len(c.ensembler) == 1 and len(loop.sent) == sent
    assert c.schedule.rephased == 1
    loop.run_until(0.08)
    assert all(cmd.positions == pytest.approx([0.1, 0.1]) for _, cmd in loop.sent[1:])
    assert loop.arrive(0.085, constant(0.2), stamp=10.05) is not None  # newer: acted on
    # A new episode may restart the clock (a new simulation): its stamps start over.
    c.start_episode(stamp=1.0)
    assert c.admit(1.0) and not c.admit(0.5)
    assert c.rejects.counts['previous_episode'] == 1


def test_commands_between_the_ticks_stay_within_the_limits_per_elapsed_time():
    vmax, amax = 1.0, 20.0
    c = make_controller(max_velocity=[vmax, vmax], max_acceleration=[amax, amax])
    loop = Loop(c)
    rng = np.random.default_rng(0)
    t, target = 0.0, 0.0
    while t < 2.0:
        target = -target + rng.uniform(-2.0, 2.0)  # far targets: the limits bind
        loop.arrive(t, constant(target), stamp=t)
        t += 1.0 / 30.0 + rng.choice([0.0, 0.0005, -0.0005, 0.0049])
        # ... some arrivals 0.5 ms after a tick
        t = round(t / 0.01) * 0.01 + 0.0005 if rng.random() < 0.3 else t
    loop.run_until(2.0)
    times = np.array([s for s, _ in loop.sent])
    positions = np.array([cmd.positions for _, cmd in loop.sent])
    gaps = np.diff(times)
    spans = np.clip(gaps, MIN_STEP_S, c.dt)[:, None]  # what the filter limits each step over
    assert gaps.min() < 0.001  # commands 0.5 ms apart (and at the same instant) happened ...
    velocity = np.diff(positions, axis=0) / spans
    assert np.all(np.abs(velocity) <= vmax + 1e-6)  # ... each moving at most that long's worth
    assert np.all(np.abs(np.diff(velocity, axis=0)) / spans[1:] <= amax + 1e-3)
    # The timer kept commanding between the chunks: never a gap over one period, >= 100 Hz.
    assert gaps.max() <= c.dt + 1e-9
    assert len(times) / (times[-1] - times[0]) >= 100.0
    assert not any(cmd.holding for _, cmd in loop.sent)


def test_a_tick_still_due_right_after_an_arrival_is_skipped():
    c = make_controller()
    c.update_joints((0.0, 0.0), (0.0, 0.0), 0.0)
    c.add_chunk(constant(0.1), 0.0, CHUNK_DT, stamp=0.0)
    assert c.command_on_arrival(0.0098) is not None
    assert c.command_on_timer(0.0100) is None  # was due while the chunk was computed
    assert c.command_on_timer(0.0200) is not None and c.schedule.skipped == 1


def test_the_watchdog_holds_when_the_contexts_stop_arriving():
    c = make_controller(stale_timeout=0.1)
    loop = Loop(c, pos=(0.2, 0.2))
    for i in range(4):
        loop.arrive(i / 30.0, constant(0.5))
    loop.run_until(0.405)  # the last chunk (t=0.1) covers to 1.0 s, but it is stale
    holding = [t for t, cmd in loop.sent if cmd.holding]
    assert holding and holding[0] == pytest.approx(0.1 + 0.1 + 0.01, abs=0.011)
    assert np.array_equal(loop.sent[-1][1].positions, [0.2, 0.2])
    assert loop.sent[-1][0] == pytest.approx(0.4) and len(c.ensembler) == 0
    assert c.safety.counts['hold_stale_context'] > 0


def test_a_context_without_a_trusted_exteroceptive_source_caps_the_speed():
    joints_only = 4  # Context.PRESENT_JOINTS: colour and depth masked (distrusted)
    c = make_controller(max_velocity=[2.0, 2.0], distrust_speed_scale=0.1, blind_hold=False)
    c.update_joints((0.0, 0.0), (0.0, 0.0), 0.0)
    assert c.add_chunk(constant(5.0), 0.0, CHUNK_DT, stamp=0.0, presence=joints_only)
    capped = c.tick(0.0)
    assert capped.scale == pytest.approx(0.1)
    assert capped.positions == pytest.approx([0.2 * DT, 0.2 * DT])
    assert c.safety.counts['speed_capped_distrusted'] == 1
    # A complete context lifts the cap at once; depth alone is enough only if it is all the
    # policy is configured to need.
    c.update_joints((0.0, 0.0), (0.0, 0.0), DT)
    assert c.add_chunk(constant(5.0), DT, CHUNK_DT, stamp=DT, presence=7)
    assert c.tick(DT).scale == pytest.approx(1.0)
    c = make_controller(exteroceptive_presence=2, distrust_speed_scale=0.1)
    c.update_joints((0.0, 0.0), (0.0, 0.0), 0.0)
    assert c.add_chunk(constant(5.0), 0.0, CHUNK_DT, stamp=0.0, presence=2 | joints_only)
    assert c.tick(0.0).scale == pytest.approx(1.0)


def test_a_blind_context_holds_the_arm_until_a_camera_is_trusted_again():
    joints_only, colour = 4, 1
    c = make_controller(slow_start_step=0.0)
    loop = Loop(c, pos=(0.2, 0.2))
    loop.arrive(0.0, constant(0.5))
    loop.run_until(0.05)
    assert not loop.sent[-1][1].holding
    # Colour and depth both distrusted (a frozen camera): hold where the arm was measured.
    c.update_joints(loop.pos, (0.0, 0.0), 0.06)
    assert c.add_chunk(constant(0.5), 0.06, CHUNK_DT, stamp=0.06, presence=joints_only)
    held = c.tick(0.06)
    assert held.holding and held.reasons == ['blind']
    assert held.positions == pytest.approx(loop.pos)
    c.update_joints(loop.pos, (0.0, 0.0), 0.1)
    assert c.add_chunk(constant(0.5), 0.1, CHUNK_DT, stamp=0.1, presence=joints_only)
    assert c.tick(0.1).holding and c.safety.counts['hold_blind'] == 2
    # One trusted camera ends the hold (at the distrust cap: the view is still incomplete).
    c.update_joints(loop.pos, (0.0, 0.0), 0.13)
    assert c.add_chunk(constant(0.5), 0.13, CHUNK_DT, stamp=0.13, presence=colour | joints_only)
    moving = c.tick(0.13)
    assert not moving.holding and moving.scale == pytest.approx(0.1)
    # A robot configured without cameras (exteroceptive_presence 0) never holds for them.
    c = make_controller(exteroceptive_presence=0)
    c.update_joints((0.0, 0.0), (0.0, 0.0), 0.0)
    assert c.add_chunk(constant(0.5), 0.0, CHUNK_DT, stamp=0.0, presence=joints_only)
    assert not c.tick(0.0).holding


def test_a_reading_that_does_not_follow_the_commands_holds_at_the_last_command():
    c = make_controller(max_velocity=[1.0, 1.0], stuck_encoder_after=0.2,
                        stuck_encoder_motion=0.05)
    arm = np.zeros(2)
    sent, stuck = [], None
    for i in range(60):  # a 100-Hz loop; the arm follows each command; joint1's reading sticks
        now = i * DT
        reading = arm.copy()
        if now >= 0.1:
            reading[1] = stuck
        else:
            stuck = arm[1]
        c.update_joints(reading, (0.0, 0.0), now)
        if i % 3 == 0:
            c.add_chunk(constant(1.0), now, CHUNK_DT, stamp=now)
        command = c.tick(now)
        sent.append((now, command))
        arm = command.positions.copy()
    first = next(t for t, cmd in sent if cmd.holding)
    # 0.05 rad at 1 rad/s after the onset, then 0.2 s of an unchanged reading.
    assert first == pytest.approx(0.1 + 0.2, abs=0.021)
    held = [cmd for t, cmd in sent if t >= first]
    assert all(cmd.holding and 'encoder_stuck' in cmd.reasons for cmd in held)
    before = [cmd for t, cmd in sent if t < first][-1].positions
    assert held[0].positions == pytest.approx(before)  # the last command, not the stuck reading
    assert held[0].positions[1] > stuck + 0.1
    # The reading moving again (the encoder back) ends the hold.
    now = 0.6
    c.update_joints(arm + 0.001, (0.0, 0.0), now)
    c.add_chunk(constant(1.0), now, CHUNK_DT, stamp=now)
    assert not c.tick(now).holding
    # A joint at rest that is not commanded to move is not stuck, however long it reads the same.
    c = make_controller(stuck_encoder_after=0.2)
    for i in range(100):
        c.update_joints((0.3, 0.3), (0.0, 0.0), i * DT)
        if i % 3 == 0:
            c.add_chunk(constant(0.3), i * DT, CHUNK_DT, stamp=i * DT)
        assert not c.tick(i * DT).holding
