# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""sage_evaluate drives the learned policies through the L-module node's controller."""

import json
from pathlib import Path

import numpy as np
import pytest
from sage_hl_control.controller import settings_from_parameters
from sage_perception import layout
from sage_sleep.learning.evaluate import Evaluator, main, make_policy
import yaml

L_CONFIG = (Path(__file__).resolve().parents[2] / 'sage_hl_control' / 'config' /
            'l_module.yaml')


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    """Return a registry with the initial (untrained) encoder, H- and L-module."""
    from sage_common.registry import ModelRegistry
    from sage_sleep.models_cli import init_models

    root = tmp_path_factory.mktemp('models')
    init_models(ModelRegistry(root), seed=0, log=lambda message: None)
    return root


def test_sage_commands_pass_the_l_node_controller(models, monkeypatch):
    evaluator = Evaluator(duration=0.3, width=64, height=64)
    robot = evaluator.robot
    sent = []
    set_target = robot.set_target

    def record(positions, indices=None):
        sent.append((evaluator.runner.episode, np.array(positions), robot.joint_positions()))
        set_target(positions, indices)

    monkeypatch.setattr(robot, 'set_target', record)
    policy = make_policy('sage', evaluator, models, controller={'max_velocity': [0.5, 0.5]})
    summary = evaluator.evaluate(policy, [1, 2])
    step = 0.5 * robot.timestep  # the velocity limit per command
    for episode in (1, 2):
        targets = np.array([t for e, t, _ in sent if e == episode])
        measured = [m for e, _, m in sent if e == episode]
        assert len(targets) == 30
        # Each episode starts from the measured (reset) pose, then moves at most `step`.
        assert np.all(np.abs(targets[0] - measured[0]) <= step + 1e-9)
        assert np.all(np.abs(np.diff(targets, axis=0)) <= step + 1e-9)
    counts = policy.controller.safety.counts
    assert counts['velocity_limited'] > 0 and not any(k.startswith('hold_') for k in counts)
    settings = summary['controller']
    assert settings['max_velocity'] == [0.5, 0.5] and settings['slow_start_step'] == 0.0
    assert settings['command_rate'] == pytest.approx(1.0 / robot.timestep)
    node = settings_from_parameters(
        yaml.safe_load(L_CONFIG.read_text())['l_module']['ros__parameters'])
    for name in set(settings) - {'max_velocity', 'slow_start_step', 'command_rate'}:
        assert settings[name] == node[name], name


def test_cli_selects_slow_start_and_records_the_controller(models, tmp_path):
    out = tmp_path / 'sage.json'
    common = ['--seeds', '3', '--duration', '0.1', '--width', '64', '--height', '64']
    assert main(['--policy', 'sage', '--models', str(models), '--slow-start-step', '1.0',
                 '--out', str(out)] + common) == 0
    summary = json.loads(out.read_text())
    assert summary['controller']['slow_start_step'] == 1.0
    assert summary['results'][0]['commands'] == 10
    assert main(['--policy', 'teacher', '--out', str(out)] + common) == 0
    assert json.loads(out.read_text())['controller'] is None


def test_bc_baseline_is_probed_and_drives_through_the_controller(tmp_path):
    from sage_common.registry import ModelError, ModelRegistry
    from sage_sleep.learning.baseline import build_bc_policy, publish_bc

    registry = ModelRegistry(tmp_path)
    publish_bc(registry, build_bc_policy({'image_size': 32}))
    evaluator = Evaluator(duration=0.1, width=64, height=64)
    policy = make_policy('bc', evaluator, tmp_path)
    assert policy.versions == {'bc_policy': 'v0001'}
    assert evaluator.evaluate(policy, [3])['results'][0]['commands'] == 10
    # A version whose graph does not give the chunk its manifest config promises is refused.
    wrong = build_bc_policy({'image_size': 32})
    wrong.config['chunk_size'] = 7
    publish_bc(registry, wrong)
    with pytest.raises(ModelError, match='probe output shapes'):
        make_policy('bc', evaluator, tmp_path)


def test_the_two_colour_scene_runs_each_seed_per_sentence_and_counts_wrong_targets(models):
    from sage_sleep.learning.evaluate import TeacherPolicy

    evaluator = Evaluator(duration=1.5, width=64, height=64, target_colors=('red', 'blue'))
    teacher = make_policy('teacher', evaluator)
    summary = evaluator.evaluate(teacher, [5, 6, 7])
    assert [(r['seed'], r['target']) for r in summary['results']] == [
        (s, c) for s in (5, 6, 7) for c in ('red', 'blue')]
    assert summary['success_rate'] == 1.0 and summary['wrong_target'] == 0

    class AlwaysRed(TeacherPolicy):  # deaf to the sentence
        def command(self, t, pos, vel):
            return self.teacher.tick(self.robot.targets()['red'], pos, self.robot.timestep)

    deaf = evaluator.evaluate(AlwaysRed(evaluator.robot), [5, 6, 7])
    assert deaf['successes'] == 3 and deaf['wrong_target'] == 3
    # SAGE is told the sentence: its contexts carry PRESENT_TASK and the intentions group.
    sage = make_policy('sage', evaluator, models)
    seen = []
    original = sage.h_runner.compress
    sage.h_runner.compress = lambda feeds: (seen.append(feeds), original(feeds))[1]
    evaluator.episode(sage, 5, target='blue')
    assert sage.task == 'reach the blue target' and seen
    block = layout.GROUP_BLOCKS['intentions'][0]
    newest = seen[-1]['window'][0, -1]
    assert seen[-1]['group_mask'][0, -1, block] == 1.0
    assert newest[layout.SLICES['intentions']].any()
