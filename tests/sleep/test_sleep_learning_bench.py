# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The learning bench end to end on recorded bags."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_learning_bench_trains_and_evaluates_each_variant(wake_bags, tmp_path):
    out = tmp_path / 'results'
    done = subprocess.run(
        [sys.executable, '-m', 'sage_bench.learning', '--bags', str(wake_bags),
         '--variants', 'bc,sage_action', '--budgets', '2', '--seeds', '200000:200002',
         '--threads', '1', '--out', str(out)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((out / 'learning.json').read_text())
    assert [r['variant'] for r in result['rows']] == ['bc', 'sage_action']
    for row in result['rows']:
        assert row['steps'] >= 1 and row['frames'] >= row['steps']
        assert row['train_seconds'] >= 2.0 and row['episodes'] == 2
        assert 0.0 <= row['success_rate'] <= 1.0
    assert (out / 'learning.png').stat().st_size > 1000


def test_learning_bench_refuses_an_unknown_variant(wake_bags, tmp_path):
    done = subprocess.run(
        [sys.executable, '-m', 'sage_bench.learning', '--bags', str(wake_bags),
         '--variants', 'sage_action+telepathy', '--out', str(tmp_path)],
        capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and 'telepathy' in done.stderr
