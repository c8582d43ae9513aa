# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
`make soak` in three minutes (issue 14): the graph under injected faults loses nothing.

Every fault kind is injected at least once and the trainer is killed in the sleep; the soak
must pass its checks (no unsafe command on the wire, every closed segment readable, no bad
deployment, every version verifies, corrupt versions refused) and leave no process behind.
"""

import json
import sys

import pytest
from sage_bringup.soak_metrics import FAULT_KINDS

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_short_soak_with_every_fault_passes(command, tools, tmp_path, ros_domain):
    out = tmp_path / 'soak.json'
    proc = command([sys.executable, '-m', 'sage_bringup.soak', '--minutes', '3',
                    '--fault-every', '10', '--sleep-every', '2', '--sleep-seconds', '15',
                    '--gate-episodes', '2', '--sample-every', '10', '--window', '60',
                    '--warmup', '30', '--seed', '1', '--disk-headroom', '1024',
                    '--domain-id', str(ros_domain),
                    '--out', str(out), '--run-root', str(tmp_path / 'runs'),
                    '--report-root', str(tmp_path / 'reports')])
    code = proc.wait(900)
    nodes_log = next((tmp_path / 'reports').glob('soak-*/nodes.log')).read_text()
    tools.assert_no_orphans(nodes_log)
    assert code == 0, proc.output()[-6000:]
    results = json.loads(out.read_text())
    assert results['passed'] and all(results['checks'].values())
    assert set(results['faults']) == set(FAULT_KINDS), results['faults']
    assert not [e for e in results['events'] if 'error' in e], results['events']
    assert results['monitor']['commands'] > 5000 and results['monitor']['violations'] == 0
    assert results['bags']['segments'] >= 2 and not results['bags']['unreadable']
    sleep = results['sleeps'][0]
    assert sleep['accepted'] and sleep['trainer_killed'], sleep
    for event in results['events']:
        if event['kind'] == 'kill' and 'respawned_after_s' in event:
            assert 2.0 <= event['respawned_after_s'] < 10.0, event
        if event['kind'] == 'kill' and event['target'] != 'l_module':
            assert 0.0 < event['command_gap_after_s'] <= 2.0, event
        if event['kind'] == 'corrupt_model':
            assert event['refused'], event
    report = next((tmp_path / 'reports').glob('soak-*/report.md')).read_text()
    assert report.startswith('# Soak soak-') and 'PASSED' in report
