# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The trainer on real recorded bags: a full sleep, bad bags, a SIGKILL mid-run, DDP.

The trainer runs as the command the sleep manager (or a workstation) runs: a separate process.
"""

import json
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import time

import pytest
from sage_common.registry import ModelRegistry
from sage_perception.trust import TrustModel
from sage_sleep.models_cli import init_models
import torch

pytestmark = pytest.mark.integration


def fresh_registry(path):
    registry = ModelRegistry(path)
    init_models(registry, seed=0, log=lambda m: None)
    return registry


def train(bags, models, run_dir, *extra, timeout=600):
    argv = [sys.executable, '-m', 'sage_sleep.learning.trainer', '--bags', str(bags), '--models',
            str(models), '--run-dir', str(run_dir), '--steps', '3', '--batch-size', '4',
            '--threads', '1', *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def test_sleep_trainer_full_sleep_on_recorded_bags(wake_bags, tmp_path):
    registry = fresh_registry(tmp_path / 'models')
    done = train(wake_bags, registry.root, tmp_path / 'run', '--holdout', '0.25')
    assert done.returncode in (0, 3), done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / 'run' / 'report.json').read_text())
    assert [p['samples'] > 0 for p in report['data']['periods']] == [True, True]
    assert report['data']['train_episodes'] + report['data']['heldout_episodes'] == 8
    if report['decision'] != 'rejected':  # the new encoder carries its fitted trust model
        trust = report['new']['trust']
        assert trust['calibration_episodes'] == 1 and trust['check_episodes'] == 1
        new = registry.load('encoder', report['new_versions']['encoder'])
        assert TrustModel.from_file(new.path('trust.npz')).report['false_alarms'] == \
            trust['false_alarms']
        assert new.metadata['trust']['checked_seconds'] == trust['checked_seconds']
    for key in ('action_l1', 'pca_recon_r2', 'h_recon_r2', 'pca_action_probe_r2',
                'h_action_probe_r2', 'z_effective_rank', 'dream_auroc_mean'):
        assert key in report['new'] and key in report['running']
    assert (tmp_path / 'run' / 'training.png').stat().st_size > 1000
    assert list((tmp_path / 'run' / 'tensorboard').iterdir())
    assert 'SAGE_PROGRESS deploy 1.000' in done.stdout
    if report['decision'] == 'deploy':
        assert registry.active('encoder') == report['new_versions']['encoder']
    elif report['decision'] == 'hold':
        assert registry.active('encoder') == 'v0001'
        assert registry.versions('encoder') == ['v0001', 'v0002']


def test_sleep_gate_runs_closed_loop_on_development_seeds(wake_bags, tmp_path):
    registry = fresh_registry(tmp_path / 'models')
    done = train(wake_bags, registry.root, tmp_path / 'run', '--closed-loop-episodes', '2',
                 '--closed-loop-first-seed', '200000', '--closed-loop-floor', '1.0',
                 '--camera-width', '64', '--camera-height', '48')
    report = json.loads((tmp_path / 'run' / 'report.json').read_text())
    for side in ('new', 'running'):
        loop = report[side]['closed_loop']
        assert loop['episodes'] == 2 and [r['seed'] for r in loop['results']] == [200000,
                                                                                  200001]
    # A floor of 100% after three steps of training: published, held, not deployed.
    if report['decision'] != 'rejected':
        assert report['decision'] == 'hold' and 'floor' in report['reason']
        assert done.returncode == 0
        assert registry.active('encoder') == 'v0001'
    assert 'closed-loop success' in (tmp_path / 'run' / 'report.md').read_text()


def test_sleep_trainer_skips_bad_bags_by_name_and_trains_on_the_rest(wake_bags, tmp_path):
    bags = tmp_path / 'bags'
    shutil.copytree(wake_bags, bags)
    periods = sorted(bags.glob('wake-*'))
    bad = periods[0] / 'segment-000'
    mcap = next(bad.glob('*.mcap'))
    mcap.write_bytes(mcap.read_bytes()[:len(mcap.read_bytes()) // 3])  # truncated
    (periods[0] / 'segment-001').mkdir()                                # no metadata at all
    registry = fresh_registry(tmp_path / 'models')
    done = train(bags, registry.root, tmp_path / 'run', '--holdout', '0.25')
    report = json.loads((tmp_path / 'run' / 'report.json').read_text())
    problems = '\n'.join(report['data']['problems'])
    assert str(bad) in problems or bad.name in problems, problems
    assert 'segment-001' in problems
    assert report['data']['samples'] > 0, done.stdout[-2000:]


def test_sleep_trainer_with_no_usable_bag_stops_with_a_clear_error(tmp_path):
    (tmp_path / 'bags' / 'wake-20260101T000000.000Z' / 'segment-000').mkdir(parents=True)
    registry = fresh_registry(tmp_path / 'models')
    done = train(tmp_path / 'bags', registry.root, tmp_path / 'run')
    assert done.returncode == 2
    assert 'sleep failed: no usable samples' in done.stderr
    assert registry.versions('encoder') == ['v0001']


def test_sleep_trainer_killed_mid_run_deploys_nothing_and_resumes(wake_bags, tmp_path):
    registry = fresh_registry(tmp_path / 'models')
    run = tmp_path / 'run'
    argv = [sys.executable, '-m', 'sage_sleep.learning.trainer', '--bags', str(wake_bags), '--models',
            str(registry.root), '--run-dir', str(run), '--steps', '400', '--batch-size', '4',
            '--threads', '1']
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 600
    while not (run / 'checkpoint-rank0.pt').exists():  # the first checkpoint: step 100
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert registry.versions('encoder') == ['v0001'] and registry.active('encoder') == 'v0001'
    assert not (run / 'report.json').exists()
    assert not list(registry.root.glob('*/.staging-*'))
    done = subprocess.run(argv[:-6] + ['--steps', '101', '--batch-size', '4', '--threads', '1'],
                          capture_output=True, text=True, timeout=600)
    assert 'resuming from' in done.stdout and 'at step 100' in done.stdout, done.stdout[-2000:]
    assert (run / 'report.json').exists()


@pytest.mark.slow
def test_sleep_trainer_under_torchrun_ddp_keeps_ranks_identical(wake_bags, tmp_path):
    single_models = fresh_registry(tmp_path / 'single').root
    ddp_models = fresh_registry(tmp_path / 'ddp').root
    single = train(wake_bags, single_models, tmp_path / 'single_run', '--no-deploy')
    assert single.returncode in (0, 3), single.stderr[-2000:]
    torchrun = Path(sys.executable).with_name('torchrun')
    argv = [str(torchrun), '--standalone', '--nproc-per-node', '2', '-m', 'sage_sleep.learning.trainer',
            '--bags', str(wake_bags), '--models', str(ddp_models), '--run-dir',
            str(tmp_path / 'ddp_run'), '--steps', '3', '--batch-size', '4', '--threads', '1',
            '--no-deploy']
    env = dict(os.environ, MASTER_ADDR='127.0.0.1')
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode in (0, 3), done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [torch.load(tmp_path / 'ddp_run' / f'checkpoint-rank{r}.pt', weights_only=True)
             for r in (0, 1)]
    assert ranks[0]['step'] == ranks[1]['step'] == 3
    for name, tensor in ranks[0]['models'].items():
        assert torch.equal(tensor, ranks[1]['models'][name]), name
    ddp = json.loads((tmp_path / 'ddp_run' / 'report.json').read_text())
    ref = json.loads((tmp_path / 'single_run' / 'report.json').read_text())
    assert ddp['world_size'] == 2 and ref['world_size'] == 1
    assert set(ddp) == set(ref) and set(ddp['new']) == set(ref['new'])
