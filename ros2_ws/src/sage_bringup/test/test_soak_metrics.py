# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The soak's plain parts: the seeded fault plan, /proc sampling, drift fits, windows."""

import os

import numpy as np
import pytest
from sage_bringup.soak_metrics import (check_bags, check_models, command_gap, drift,
                                       FAULT_KINDS, plan_faults, sample_process,
                                       slope_per_hour, windows)


def test_the_plan_is_seeded_in_time_and_every_kind_comes_each_round():
    plan = plan_faults(np.random.default_rng(3), 20.0, 620.0, 30.0)
    again = plan_faults(np.random.default_rng(3), 20.0, 620.0, 30.0)
    assert plan == again
    times = [f.time for f in plan]
    assert times == sorted(times) and 20.0 < times[0] and times[-1] < 620.0
    gaps = np.diff(times)
    assert gaps.min() >= 15.0 - 1e-6 and gaps.max() <= 45.0 + 1e-6
    first_round = [f.kind for f in plan[:len(FAULT_KINDS)]]
    assert sorted(first_round) == sorted(FAULT_KINDS)
    for f in plan:
        assert (f.target != '') == (f.kind in ('kill', 'stall', 'corrupt_model'))
        if f.kind == 'stall':
            assert 0.5 <= f.seconds <= 3.0
        if f.kind == 'corrupt_model':
            assert f.variant in ('tampered', 'truncated')


def test_the_plan_refuses_unknown_kinds_and_a_zero_interval():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match='fault kinds'):
        plan_faults(rng, 0, 10, 1.0, kinds=('kill', 'meteor'))
    with pytest.raises(ValueError, match='interval'):
        plan_faults(rng, 0, 10, 0.0)
    only = plan_faults(rng, 0, 100, 10.0, kinds=('estop',))
    assert {f.kind for f in only} == {'estop'}


def test_sample_process_reads_this_process_and_none_for_a_gone_one():
    stats = sample_process(os.getpid())
    assert stats['rss_mb'] > 1 and stats['fds'] >= 3 and stats['cpu_s'] > 0
    assert sample_process(2 ** 22 + 17) is None


def test_slope_is_growth_in_percent_of_the_start_per_hour():
    times = [0, 600, 1200, 1800]
    assert slope_per_hour(times, [100, 100, 100, 100]) == pytest.approx(0.0)
    assert slope_per_hour(times, [100, 101, 102, 103]) == pytest.approx(6.0)
    assert slope_per_hour(times[:2], [1, 2]) is None


def test_drift_fits_the_longest_incarnation_after_warmup():
    samples = []
    for i in range(10):                  # pid 1: grows 1 MB per minute, then dies
        samples.append({'time': 60.0 * i, 'node': 'a', 'pid': 1, 'rss_mb': 100.0 + i,
                        'fds': 10, 'cpu_s': 6.0 * i})
    for i in range(12, 40):              # pid 2: flat, its respawn; the longest
        samples.append({'time': 60.0 * i, 'node': 'a', 'pid': 2, 'rss_mb': 80.0,
                        'fds': 12, 'cpu_s': 3.0 * i})
    result = drift(samples, warmup_s=120.0)['a']
    assert result['incarnations'] == 2 and result['pid'] == 2
    assert result['rss_growth_pct_per_h'] == pytest.approx(0.0)
    assert result['fd_growth_pct_per_h'] == pytest.approx(0.0)
    assert result['cpu_pct'] == pytest.approx(5.0)
    leak = drift([s for s in samples if s['pid'] == 1], warmup_s=0.0)['a']
    assert leak['rss_growth_pct_per_h'] == pytest.approx(60.0, rel=1e-3)


def test_command_gap_counts_the_bounds_as_ends_of_a_gap():
    times = [0.5, 1.0, 1.01, 1.02, 2.5, 2.51, 9.0]
    assert command_gap(times, 1.0, 3.0) == (4, pytest.approx(1.48))  # 1.02 -> 2.5
    assert command_gap(times, 2.51, 3.5) == (0, pytest.approx(0.99))  # none: start -> end
    assert command_gap(times, 0.0, 0.6) == (1, pytest.approx(0.5))


def test_windows_count_commands_and_leave_sleeps_out_of_the_latency():
    commands = np.arange(0.0, 120.0, 0.01)       # 100 Hz for two minutes
    latency = [(t, 10.0) for t in range(0, 60)] + [(t, 50.0) for t in range(60, 90)] + \
        [(t, 12.0) for t in range(90, 120)]
    result = windows(0.0, 120.0, 60.0, commands, latency, hold_times=[5.0, 70.0, 100.0],
                     excluded=[(60.0, 90.0)])
    assert [w['command_rate_hz'] for w in result] == [100.0, 100.0]
    assert [w['holds'] for w in result] == [1, 1]
    assert result[0]['camera_to_command_p99_ms_median'] == 10.0
    assert result[1]['camera_to_command_p99_ms_max'] == 12.0    # the sleep's 50 ms left out


def _record(root, messages=40):
    """One wake period of joint states written by the sleep manager's recorder."""
    from sage_common.qos import sensor_qos
    from sage_sleep.recording.sim_clock_bag import SimClockBag
    from sensor_msgs.msg import JointState

    with SimClockBag(root, {'/joint_states': ('sensor_msgs/msg/JointState', sensor_qos())}) \
            as bag:
        for i in range(messages):
            bag.advance(10 ** 7)
            bag.write('/joint_states', JointState(name=['a'], position=[float(i)]))


def test_check_bags_reads_every_segment_and_names_a_broken_one(tmp_path):
    _record(tmp_path / 'bags')
    period = next((tmp_path / 'bags').glob('wake-*'))
    segment = next(period.glob('segment-*'))
    kill = {'period': period.name, 'segment': segment.name, 'segment_messages': '45'}
    good = check_bags(tmp_path / 'bags', [kill])
    assert good['segments'] == 1 and good['messages'] == 40 and not good['unreadable']
    assert good['recorder_kills'][0]['lost_known'] == 5
    mcap = next(segment.glob('*.mcap'))
    mcap.write_bytes(mcap.read_bytes()[:len(mcap.read_bytes()) // 2])
    broken = check_bags(tmp_path / 'bags', [kill])
    assert broken['unreadable'] or broken['problems']
    assert broken['recorder_kills'][0]['lost_known'] is None    # nothing readable was kept


def test_check_models_finds_tampered_versions_and_deploys_no_sleep_passed(tmp_path):
    import json

    from sage_common.registry import ModelRegistry
    from sage_sleep.models_cli import init_models

    models, sleeps = tmp_path / 'models', tmp_path / 'sleeps'
    registry = ModelRegistry(models)
    init_models(registry, seed=0, log=lambda *_: None)
    clean = check_models(models, sleeps)
    assert not clean['broken'] and not clean['bad_deploys'] and clean['sleep_reports'] == 0
    source = models / 'l_module' / 'v0001'
    second = registry.publish('l_module', {f.name: f for f in source.iterdir()
                                           if f.name != 'manifest.json'},
                              *(json.loads((source / 'manifest.json').read_text())[k]
                                for k in ('inputs', 'outputs')))
    registry.set_active('l_module', second.version)          # no sleep deployed it
    (sleeps / 'sleep-001').mkdir(parents=True)
    (sleeps / 'sleep-001' / 'report.json').write_text(json.dumps(
        {'deployed': True, 'decision': 'hold', 'new_versions': {}}))
    onnx = models / 'h_module' / 'v0001' / 'model.onnx'
    onnx.write_bytes(onnx.read_bytes()[:-10])
    found = check_models(models, sleeps)
    assert [b.split(':')[0] for b in found['broken']] == ['h_module/v0001']
    assert sorted(found['bad_deploys']) == ['l_module/v0002 active without a deploying sleep',
                                            'sleep-001: deployed with decision hold']
    registry.publish('coherence', {'weights.pt': b'w'}, [], [])   # newest, never activated
    assert check_models(models, sleeps)['bad_deploys'] == found['bad_deploys']


def test_soak_config_targets_narrow_the_kills_and_refuse_unknown_nodes():
    from sage_bringup.soak import SoakConfig

    config = SoakConfig(kinds=('kill',), targets=('h_module',))
    faults = plan_faults(np.random.default_rng(0), 20.0, 600.0, 10.0, config.kinds,
                         config.targets)
    assert faults and {f.target for f in faults} == {'h_module'}
    for targets in (('command_monitor',), ()):
        with pytest.raises(ValueError, match='fault targets must be among'):
            SoakConfig(targets=targets)
