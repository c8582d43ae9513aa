# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The demo (`python -m sage_bringup.demo`) as a process: the whole cycle and its failures.

The cycle test runs the real graph with tiny budgets (config/demo_ci.yaml): it checks that
every phase leaves its artefact and that the nodes run the versions the registry deploys,
not that the robot learns. Failure tests replace the nodes with `sage_test_node` processes
(sage_bringup's misbehave-on-demand test node) in a graph of their own.
"""

import json
import os
from pathlib import Path
import signal
import sys

import pytest
import yaml

pytestmark = pytest.mark.integration
CI_CONFIG = Path(__file__).resolve().parents[2] / 'ros2_ws/src/sage_bringup/config/demo_ci.yaml'
BASE = ('sim_robot', 'context_node', 'h_module', 'sleep_manager')


def write_config(tmp_path, graph=None, **overrides):
    config = yaml.safe_load(CI_CONFIG.read_text())
    config.update({'graph': str(graph) if graph else '', 'run_root': str(tmp_path / 'runs'),
                   'report_root': str(tmp_path / 'reports')})
    config.update(overrides)
    path = tmp_path / 'demo.yaml'
    path.write_text(yaml.safe_dump(config))
    return path


def start_demo(command, config, ros_domain):
    return command([sys.executable, '-m', 'sage_bringup.demo', '--config', str(config),
                    '--domain-id', str(ros_domain), '--verbose'])


@pytest.mark.slow
def test_bringup_demo_runs_the_whole_cycle(command, tools, tmp_path, ros_domain):
    proc = start_demo(command, write_config(tmp_path), ros_domain)
    assert proc.wait(900) == 0, proc.output()[-6000:]
    out = proc.output()
    for phase in ('prepare', 'bringup', 'wake 1', 'sleep 1', 'evaluate 1', 'wake 2',
                  'sleep 2', 'evaluate 2', 'offline', 'report'):
        assert f'== {phase}  ' in out
    tools.assert_no_orphans(out)
    run = next((tmp_path / 'runs').iterdir())
    # Wake: both periods recorded as complete bags; sleep: a report per sleep.
    periods = sorted((run / 'bags').glob('wake-*'))
    assert len(periods) >= 2 and all(list(p.glob('segment-*/metadata.yaml')) for p in periods)
    sleeps = sorted((run / 'sleeps').glob('sleep-*/report.json'))
    assert len(sleeps) == 2
    # Report: complete, and the nodes ran what the registry deployed after each sleep.
    latest = tmp_path / 'reports' / 'latest'
    report = json.loads((latest / 'report.json').read_text())
    assert [c['cycle'] for c in report['cycles']] == [1, 2]
    for cycle in report['cycles']:
        assert cycle['versions']['seen_in_messages'] == cycle['versions']['registry_active']
        assert cycle['sleep']['decision'] in ('deploy', 'hold', 'rejected')
        assert cycle['evaluate_ros']['episodes'] == 2
        assert set(cycle['sleep']['validation']['dream_auroc']) == {
            'physics_violation', 'object_substitution', 'temporal_reversal',
            'scale_distortion', 'causal_inversion'}
    assert {'sage_cycle1', 'sage_cycle2', 'plain_bc', 'teacher',
            'random'} == set(report['offline'])
    assert report['offline']['plain_bc']['vision']['episodes'] == 2
    text = (latest / 'report.md').read_text()
    for section in ('## Headline', '## Goals', '## Sleeps', '## Runs, seeds, budgets'):
        assert section in text
    for png in ('success.png', 'sleep.png', 'sleep-001.png', 'sleep-002.png'):
        assert (latest / png).stat().st_size > 1000, png


def test_bringup_demo_fails_clearly_when_a_node_dies_mid_run(command, tools, tmp_path,
                                                             ros_domain):
    config = write_config(tmp_path, cycles=[{'episodes': 100, 'first_seed': 0}])
    proc = start_demo(command, config, ros_domain)
    proc.wait_for_output(r'episode   1/100 ', timeout=180)
    os.killpg(tools.started_pids(proc.output())['sim_robot'], signal.SIGKILL)
    assert proc.wait(60) == 1
    out = proc.output()
    assert 'demo: FAILED: node sim_robot exited with signal SIGKILL' in out
    tools.assert_no_orphans(out)


def test_bringup_demo_fails_clearly_when_a_node_fails_to_start(command, tools, tmp_path,
                                                               ros_domain):
    graph = tools.write_graph(tmp_path / 'graph.yaml', [
        tools.graph_node('sim_robot', '--mode', 'exit', '--after', '0.5', '--code', '7',
                         required=True)] + [tools.graph_node(n, '--spawn-child')
                                            for n in BASE[1:]])
    proc = start_demo(command, write_config(tmp_path, graph), ros_domain)
    assert proc.wait(120) == 1
    out = proc.output()
    assert 'demo: FAILED: node sim_robot exited with code 7; its last output:' in out
    assert '[context_node] stopping on signal SIGINT' in out
    tools.assert_no_orphans(out)


def test_bringup_demo_startup_timeout_names_what_is_missing(command, tools, tmp_path,
                                                            ros_domain):
    graph = tools.write_graph(tmp_path / 'graph.yaml', [tools.graph_node(n) for n in BASE])
    proc = start_demo(command, write_config(tmp_path, graph, startup_timeout=3.0), ros_domain)
    assert proc.wait(120) == 1
    out = proc.output()
    assert 'demo: FAILED: graph not ready after 3 s, still waiting for ' in out
    assert 'service /sim_robot/reset_episode' in out
    tools.assert_no_orphans(out)


def test_bringup_demo_sigint_stops_every_node(command, tools, tmp_path, ros_domain):
    graph = tools.write_graph(tmp_path / 'graph.yaml',
                              [tools.graph_node(n, '--spawn-child') for n in BASE])
    proc = start_demo(command, write_config(tmp_path, graph, startup_timeout=120.0),
                      ros_domain)
    for name in BASE:    # every node past start-up (a loaded machine starts them slowly)
        proc.wait_for_output(rf'\[{name}\] tick 2', timeout=120)
    proc.proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 130
    out = proc.output()
    assert 'demo: interrupted by SIGINT' in out
    assert 'stopped: sim_robot code 0, context_node code 0' in out
    tools.assert_no_orphans(out)


@pytest.mark.parametrize('config, message', [
    ({'colour': 1}, 'unknown key(s) colour'),
    ({'cycles': []}, 'cycles must be a non-empty list'),
    ({'sleep': {'seconds': 0}}, 'sleep.seconds must be a positive number'),
    ({'cycles': [{'episodes': 10, 'first_seed': 99995}]}, 'overlap the held-out'),
    ({'cycles': [{'episodes': 10, 'first_seed': 199995}]}, 'or development seeds'),
    ({'sleep': {'gate': {'first_seed': 100010}}}, 'seeds of sleep.gate overlap the held-out'),
])
def test_bringup_demo_refuses_bad_config(command, tmp_path, config, message):
    path = tmp_path / 'bad.yaml'
    path.write_text(yaml.safe_dump(config))
    proc = command([sys.executable, '-m', 'sage_bringup.demo', '--config', str(path)])
    assert proc.wait(60) == 2
    assert message in proc.output()


def test_bringup_demo_refuses_a_graph_naming_a_missing_package(command, tools, tmp_path,
                                                               ros_domain):
    graph = tools.write_graph(tmp_path / 'graph.yaml', [
        {'name': 'sim_robot', 'package': 'no_such_pkg', 'executable': 'x'}] +
        [tools.graph_node(n) for n in BASE[1:]])
    proc = start_demo(command, write_config(tmp_path, graph), ros_domain)
    assert proc.wait(60) == 2
    assert "demo: error: package 'no_such_pkg' is not installed" in proc.output()
