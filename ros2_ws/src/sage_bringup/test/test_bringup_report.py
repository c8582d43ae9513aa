# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The demo report's plots at the edges of the success range."""

from sage_bringup.report import plot
from sage_common.stats import wilson_interval


def _summary(wins, n):
    return {'successes': wins, 'episodes': n, 'success_rate': wins / n,
            'ci95': wilson_interval(wins, n)}


def test_success_plot_takes_0_and_100_percent(tmp_path):
    # Wilson's upper bound at 100/100 is 0.9999999999999999: a negative error bar, which
    # matplotlib refuses (it ended a 40-minute demo before its report).
    results = {'offline': {'teacher': {'none': _summary(100, 100)},
                           'random': {'none': _summary(0, 100), 'vision': _summary(2, 100)}}}
    assert plot(tmp_path, results) == ['success.png']
    assert (tmp_path / 'success.png').stat().st_size > 1000
