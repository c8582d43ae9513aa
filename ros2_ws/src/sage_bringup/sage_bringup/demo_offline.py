# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Offline evaluation and baselines: what the demo does after its cycles, and the benchmarks reuse.

No ROS here: policies run closed loop in simulated time (`sage_sleep.learning.evaluate`'s
Evaluator, through the L node's controller), and the plain behaviour-cloning baseline trains
as a child process (`sage_sleep.learning.baseline`) on the same bags for a wall-clock budget.

    policies = offline_policies(cycles, models, bc_models)     # {label: (kind, dir, versions)}
    table = evaluate_policies(policies, seeds, ['none', 'vision'], duration=2.0, width=64,
                              height=64)                       # {label: {condition: summary}}
"""

from pathlib import Path
import subprocess
import sys
import time


class BaselineFailed(RuntimeError):
    """A baseline's training process failed; the message names its log."""


def train_plain_bc(bags, models, seconds, seed, log_path):
    """
    Train plain BC on every bag in `bags` for `seconds` of wall clock into registry `models`.

    The trainer's output goes to log_path. Return the wall time it took (s); raise
    BaselineFailed if it failed (exit code 3, "trained but not better", is not a failure).
    """
    argv = [sys.executable, '-m', 'sage_sleep.learning.baseline', '--bags', str(bags),
            '--models', str(models), '--steps', '0', '--seconds', str(seconds),
            '--seed', str(seed)]
    start = time.monotonic()
    with open(log_path, 'w', encoding='utf-8') as log:
        code = subprocess.call(argv, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    if code not in (0, 3):
        raise BaselineFailed(f'baseline plain_bc failed with exit code {code} (log: '
                             f'{log_path})')
    return time.monotonic() - start


def offline_policies(cycles, models, bc_models=None):
    """
    Return {label: (kind, model dir, versions)} of what the demo evaluates offline.

    cycles: the demo's per-cycle results; each cycle's SAGE is the versions its sleep
    deployed, else the registry's active ones then. Then plain BC (if bc_models), the teacher
    and a random policy.
    """
    policies = {}
    for cycle in cycles:
        sleep = cycle['sleep']
        versions = (sleep.get('new_versions') or {}) if sleep['deployed'] \
            else cycle['versions']['registry_active']
        policies[f'sage_cycle{cycle["cycle"]}'] = ('sage', Path(models), versions)
    if bc_models is not None:
        policies['plain_bc'] = ('bc', Path(bc_models), {})
    policies['teacher'] = ('teacher', None, {})
    policies['random'] = ('random', None, {})
    return policies


def evaluate_policies(policies, seeds, conditions=('none',), perturbed=None, duration=2.0,
                      width=64, height=64, seed=0, log=None, target_colors=()):
    """
    Evaluate policies closed loop on seeds; return {label: {condition: summary}}.

    policies: {label: (kind, model dir, versions)} (kind sage, bc, teacher or random);
    conditions: perturbation preset names ('none' = nominal); perturbed: the labels that run
    the conditions other than 'none' (None: every label). log(text) gets a line per summary.
    target_colors: a scene of a target per colour, each seed run once per named target.
    """
    from sage_sleep.learning.evaluate import Evaluator, make_policy, PRESETS

    evaluator = Evaluator(duration=float(duration), width=width, height=height,
                          target_colors=target_colors)
    table = {}
    for label, (kind, models, versions) in policies.items():
        policy = make_policy(kind, evaluator, models, versions, seed=seed)
        for condition in conditions:
            if condition != 'none' and perturbed is not None and label not in perturbed:
                continue
            summary = evaluator.evaluate(policy, list(seeds), PRESETS[condition])
            table.setdefault(label, {})[condition] = summary
            if log is not None:
                lo, hi = summary['ci95']
                log(f'{label:15s} {condition:8s} {summary["successes"]:3d}/'
                    f'{summary["episodes"]} ({100 * summary["success_rate"]:3.0f}%, '
                    f'95% CI {100 * lo:.0f}-{100 * hi:.0f}%)' +
                    (f', wrong target {summary["wrong_target"]}' if target_colors else ''))
    return table
