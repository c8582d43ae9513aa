# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The interop bench's GR00T figures, quick: client overhead and the teacher's gaps."""

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_groot_bench_figures(tmp_path):
    # the dataset figures of an earlier run stay in the file
    (tmp_path / 'interop.json').write_text(json.dumps({'dataset': {'episodes': 3}}))
    done = subprocess.run(
        [sys.executable, '-m', 'sage_bench.interop', '--quick', '--parts', 'groot', '--out',
         str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / 'interop.json').read_text())
    assert result['dataset'] == {'episodes': 3}
    groot = result['groot']
    assert set(groot['client']) == {'n1.5', 'n1.6'}
    for protocol, c in groot['client'].items():
        assert c['request_bytes'] > 224 * 224 * 3, protocol   # the frame travels whole
        for part in ('encode', 'decode', 'client_overhead', 'round_trip'):
            assert c[part]['n'] == c['requests'] > 0
            assert c[part]['p99_ms'] >= c[part]['p50_ms'] > 0, (protocol, part, c[part])
        assert c['round_trip']['p50_ms'] > c['client_overhead']['p50_ms'], (protocol, c)
        assert c['client_overhead']['p50_ms'] >= c['encode']['p50_ms']
    teacher = groot['teacher_slow_server']
    for tag, rate in (('25hz', 25.0), ('50hz', 50.0)):
        t = teacher[tag]
        assert t['rate_hz'] == rate and t['commands'] > 10 and t['faults_total'] == 0, t
        assert t['gap_max_ms'] >= t['gap_p99_ms'] >= t['gap_p50_ms'] > 0, t
        assert t['gaps_over_period'] >= 0 and t['stalled_ticks'] >= 0, t
        # the server's emulated latency was in force
        assert t['obs_to_chunk_p50_ms'] >= 1e3 * t['server_latency_s'], t
    fast, slow = teacher['50hz'], teacher['25hz']
    # 16 steps at 50 Hz (0.32 s) do not outlast two 250-ms round trips: the arm waits
    assert fast['stalled_ticks'] > 0 and fast['gap_max_ms'] > 100, fast
    assert fast['command_rate_hz'] < 0.8 * 50.0, fast
    assert slow['gap_max_ms'] < fast['gap_max_ms'], (slow, fast)
    assert slow['command_rate_hz'] > fast['command_rate_hz'], (slow, fast)
    assert teacher['goal_met'] == (slow['gaps_over_period'] == 0)
