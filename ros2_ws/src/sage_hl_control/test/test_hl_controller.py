# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The L node's command logic without ROS: ensembling, safety filter, e-stop, episodes."""

import math
from pathlib import Path

import numpy as np
import pytest
from sage_hl_control.controller import (ActuatorController, default_settings, PARAMETERS,
                                        settings_from_parameters)
import yaml

DT = 0.01
CHUNK_DT = 0.1
CONFIG = Path(__file__).resolve().parents[1] / 'config' / 'l_module.yaml'


def make_controller(**settings):
    base = {'slow_start_step': 0.0, 'max_velocity': [100.0, 100.0],
            'max_acceleration': [1e6, 1e6], 'ensemble_decay': 0.0}
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
    c.add_chunk(constant(0.4), 0.0, CHUNK_DT, stamp=0.0)
    command = c.tick(0.0)
    assert not command.holding
    assert command.positions == pytest.approx([0.3, 0.3])  # the blend, not either chunk
    # The same inputs under a velocity limit: limited from the measured position.
    c = make_controller(max_velocity=[2.0, 1.0])
    c.update_joints((0.0, 0.0), (0.0, 0.0), 0.0)
    c.add_chunk(constant(0.2), 0.0, CHUNK_DT, stamp=0.0)
    c.add_chunk(constant(0.4), 0.0, CHUNK_DT, stamp=0.0)
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
