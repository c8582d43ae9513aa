# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The trainer on a small synthetic memory: train, resume, validate, gate, publish."""

import numpy as np
import pytest
from sage_common.registry import ModelRegistry
from sage_hl_control.models import publish_initial_h_module, publish_initial_l_module
from sage_perception.encoder import publish_initial_encoder
from sage_sleep.learning import trainer
from sage_sleep.learning.consolidation import ConsolidationConfig
from sage_sleep.learning.experience import ExperienceMemory, Sample
from sage_sleep.learning.validation import compare_to_running, paired_worse_p, validate


@pytest.fixture(scope='module')
def registry(tmp_path_factory):
    reg = ModelRegistry(tmp_path_factory.mktemp('models'))
    publish_initial_encoder(reg, seed=0)
    publish_initial_h_module(reg, seed=0)
    publish_initial_l_module(reg, seed=0)
    return reg


def synthetic_memory(episodes=6, frames=12, seed=0):
    """Episodes where a red square marks the goal and the teacher moves toward it."""
    rng = np.random.default_rng(seed)
    memory = ExperienceMemory(1000)
    for ep in range(episodes):
        goal = rng.uniform(-1, 1, 2).astype(np.float32)
        pos = np.zeros(2, np.float32)
        gx, gy = (goal * 25 + 32).astype(int)
        for k in range(frames):
            img = np.zeros((3, 64, 64), np.uint8)
            img[0, gy - 2:gy + 2, gx - 2:gx + 2] = 255
            pos = pos + 0.1 * (goal - pos)
            action = np.stack([pos + (goal - pos) * (1 - 0.9 ** (i + 1)) for i in range(10)])
            memory.add(Sample(k, ep, img, np.zeros((1, 64, 64), np.float32), pos.copy(),
                              (goal - pos) * 0.1, np.zeros(2, np.float32),
                              action.astype(np.float32)))
    return memory


def test_train_resume_validate_and_publish(registry, tmp_path):
    memory = synthetic_memory()
    train_eps, val_eps = trainer.split_episodes(memory, 0.34, seed=0)
    assert len(val_eps) == 2 and not set(train_eps) & set(val_eps)
    cfg = ConsolidationConfig(steps=3, batch_size=4, w_vicreg=0.02, w_predict=0.1)
    models, running = trainer.load_models(registry)
    history = trainer.train(models, memory, train_eps, cfg, tmp_path, seed=0)
    assert [h['step'] for h in history] == [1, 2, 3]
    assert all(np.isfinite(h['total']) for h in history)
    # Every term on the self-supervised steps (every selfsup_every-th), the action on all.
    assert {'action', 'vicreg', 'predictive', 'recon', 'probe', 'coherence'} <= set(history[0])
    assert 'action' in history[1] and not {'vicreg', 'recon', 'coherence'} & set(history[1])
    # A longer budget in the same run directory resumes from the checkpoint.
    cfg.steps = 5
    more = trainer.train(models, memory, train_eps, cfg, tmp_path, seed=0)
    assert [h['step'] for h in more] == [1, 2, 3, 4, 5]

    report = validate(models, memory, train_eps, val_eps, cfg.seq_len, seed=0, limit=32)
    for key in ('action_l1', 'pca_recon_r2', 'h_recon_r2', 'h_action_probe_r2',
                'pca_action_probe_r2', 'z_effective_rank', 'dream_auroc_mean'):
        assert np.isfinite(report[key]), key
    assert set(report['dream_auroc']) == {'physics_violation', 'object_substitution',
                                          'temporal_reversal', 'scale_distortion',
                                          'causal_inversion'}
    versions = trainer.publish_all(registry, models, running, {'test': True})
    for name, version in versions.items():
        assert registry.load(name, version).manifest['parent'] == running.get(name)
    assert registry.active('encoder') == running['encoder']  # published, not deployed


def test_a_sleep_continues_from_the_newest_set_even_when_it_was_held(tmp_path):
    from sage_common.registry import ModelRegistry
    from sage_perception.encoder import publish_encoder
    from sage_sleep.models_cli import init_models

    registry = ModelRegistry(tmp_path / 'models')
    init_models(registry, seed=0, log=lambda m: None)
    models, running = trainer.load_models(registry)
    held = trainer.publish_all(registry, models, running, {'sleep_run': 'sleep-001'})
    active = trainer.load_models(registry)[1]
    assert all(active[name] == running[name] for name in running)  # still deployed: v0001
    assert trainer.newest_versions(registry) == held            # where the next sleep starts
    assert trainer.load_models(registry, held)[1] == held
    # Newest versions that are not one sleep's set: start from the active ones.
    publish_encoder(registry, models.encoder, models.encoder.config,
                    metadata={'sleep_run': 'sleep-002'})
    assert trainer.newest_versions(registry) == {}


def _report(action_l1, auroc=0.7, rank=50.0, dead=0):
    return {'action_l1': action_l1, 'dream_auroc_mean': auroc, 'z_effective_rank': rank,
            'z_dead_dims': dead, 'z_collapse': {'effective_rank': rank, 'dead_dims': dead,
                                                'dims': 256}}


def test_deployment_gate():
    history = [{'total': 1.0}]
    assert compare_to_running(_report(0.1), _report(0.2), history, True)[0] == 'deploy'
    assert compare_to_running(_report(0.3), _report(0.2), history, True)[0] == 'hold'
    # Dreams gate: no regression against the running version; below 0.6 is flagged.
    assert compare_to_running(_report(0.1, auroc=0.5), _report(0.2), history, True)[0] == \
        'hold'
    decision, reason = compare_to_running(_report(0.1, auroc=0.55), _report(0.2, auroc=0.5),
                                          history, True)
    assert decision == 'deploy' and 'FLAGGED' in reason
    assert compare_to_running(_report(0.1, auroc=0.5), _report(0.2), history, False)[0] == \
        'deploy'
    assert compare_to_running(_report(0.1, rank=1.0), _report(0.2), history, True)[0] == \
        'rejected'
    assert compare_to_running(_report(0.1), _report(0.2), [{'total': float('nan')}],
                              True)[0] == 'rejected'
    assert compare_to_running(_report(0.1), _report(0.2), [], True)[0] == 'rejected'


def _loop(outcomes):
    results = [{'seed': 200000 + i, 'success': bool(o)} for i, o in enumerate(outcomes)]
    wins = sum(outcomes)
    return {'results': results, 'successes': wins, 'episodes': len(outcomes),
            'success_rate': wins / len(outcomes)}


def test_closed_loop_gate_has_a_floor_and_a_paired_test():
    history = [{'total': 1.0}]
    good, bad = [1] * 18 + [0] * 2, [1] * 4 + [0] * 16

    def with_loop(report, outcomes):
        return {**report, 'closed_loop': _loop(outcomes)}

    # Closed loop overrules held-out action error: worse L1, better success deploys.
    decision, reason = compare_to_running(with_loop(_report(0.3), good),
                                          with_loop(_report(0.2), bad), history, True)
    assert decision == 'deploy' and '90%' in reason
    # Better action error, far worse success on the same seeds: hold.
    decision, reason = compare_to_running(with_loop(_report(0.1), [0] * 7 + [1] * 13),
                                          with_loop(_report(0.2), [1] * 20), history, True,
                                          floor=0.5)
    assert decision == 'hold' and 'sign test' in reason
    # Better than the running version but below the absolute floor: hold.
    decision, reason = compare_to_running(with_loop(_report(0.1), [1] * 8 + [0] * 12),
                                          with_loop(_report(0.2), bad), history, True,
                                          floor=0.5)
    assert decision == 'hold' and 'floor' in reason
    # One seed lost, one won: chance, not a regression.
    assert compare_to_running(with_loop(_report(0.1), [0] + good[1:]),
                              with_loop(_report(0.2), good), history, True)[0] == 'deploy'


def test_paired_sign_test():
    assert paired_worse_p(_loop([1, 1])['results'], _loop([1, 1])['results']) == 1.0
    # 5 seeds only the running version won, none only the new one: p = 1/32.
    assert paired_worse_p(_loop([0] * 5)['results'], _loop([1] * 5)['results']) == \
        pytest.approx(1 / 32)
    # In a two-colour scene a seed runs once per named target: each is its own pair.
    new = [{'seed': 1, 'target': t, 'success': s} for t, s in (('red', 0), ('blue', 1))]
    running = [{'seed': 1, 'target': t, 'success': s} for t, s in (('red', 1), ('blue', 1))]
    assert paired_worse_p(new, running) == 0.5


def test_run_directories_resume_unfinished_sleeps(tmp_path):
    first = trainer.choose_run_dir(tmp_path)
    assert first.name == 'sleep-001'
    first.mkdir()
    assert trainer.choose_run_dir(tmp_path) == first  # no report yet: resume it
    (first / 'report.json').write_text('{}')
    assert trainer.choose_run_dir(tmp_path).name == 'sleep-002'


def test_sleep_on_no_data_is_a_clear_error(registry, tmp_path):
    args = trainer.build_parser().parse_args(
        ['--bags', str(tmp_path / 'nothing'), '--models', str(registry.root),
         '--run-dir', str(tmp_path / 'run')])
    with pytest.raises(trainer.SleepError, match='no usable samples'):
        trainer.run_sleep(args, log=lambda m: None)
    assert not (tmp_path / 'run' / 'report.json').exists()
