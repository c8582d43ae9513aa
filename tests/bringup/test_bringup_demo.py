# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The demo (`python -m sage_bringup.demo`) as a process: the real run and its failures.

Failure tests replace the sim nodes with `sage_test_node` processes (sage_bringup's
misbehave-on-demand test node) in a graph of their own.
"""

import os
import signal
import sys

import pytest
import yaml

pytestmark = pytest.mark.integration


def write_config(tmp_path, graph=None, **overrides):
    config = {'graph': str(graph) if graph else '', 'launch_args': {'robot': 'sim'},
              'nodes': ['sim_robot', 'teacher'], 'startup_timeout': 30.0,
              'episodes': {'seeds': [3, 4], 'duration': 0.0, 'timeout_margin': 15.0},
              'min_success_rate': 0.5}
    config.update(overrides)
    path = tmp_path / 'demo.yaml'
    path.write_text(yaml.safe_dump(config))
    return path


def start_demo(command, config, ros_domain):
    return command([sys.executable, '-m', 'sage_bringup.demo', '--config', str(config),
                    '--domain-id', str(ros_domain), '--verbose'])


def test_demo_runs_episodes_with_the_real_sim(command, tools, tmp_path, ros_domain):
    proc = start_demo(command, write_config(tmp_path), ros_domain)
    assert proc.wait(120) == 0, proc.output()
    out = proc.output()
    assert 'episode 1/2  seed 3 ' in out and 'episode 2/2  seed 4 ' in out
    assert '== summary: ' in out
    tools.assert_no_orphans(out)


def test_demo_fails_clearly_when_a_node_dies_mid_run(command, tools, tmp_path, ros_domain):
    config = write_config(tmp_path, episodes={'seeds': list(range(100)), 'duration': 0.0,
                                              'timeout_margin': 15.0})
    proc = start_demo(command, config, ros_domain)
    proc.wait_for_output(r'episode 1/100 ', timeout=60)
    sim_pid = tools.started_pids(proc.output())['sim_robot']
    os.killpg(sim_pid, signal.SIGKILL)
    assert proc.wait(60) == 1
    out = proc.output()
    assert 'demo: FAILED: node sim_robot exited with signal SIGKILL' in out
    tools.assert_no_orphans(out)


def test_demo_fails_clearly_when_a_node_fails_to_start(command, tools, tmp_path, ros_domain):
    graph = tools.write_graph(tmp_path / 'graph.yaml', [
        tools.graph_node('sim_robot', '--mode', 'exit', '--after', '0.5', '--code', '7',
                         required=True),
        tools.graph_node('teacher', '--spawn-child'),
    ], arguments={'robot': {'default': 'sim', 'description': 'r'}})
    proc = start_demo(command, write_config(tmp_path, graph), ros_domain)
    assert proc.wait(60) == 1
    out = proc.output()
    assert 'demo: FAILED: node sim_robot exited with code 7; its last output:' in out
    assert 'exiting with code 7' in out
    assert '[teacher] stopping on signal SIGINT' in out
    tools.assert_no_orphans(out)


def test_demo_startup_timeout_names_what_is_missing(command, tools, tmp_path, ros_domain):
    graph = tools.write_graph(tmp_path / 'graph.yaml', [
        tools.graph_node('sim_robot'), tools.graph_node('teacher')])
    proc = start_demo(command, write_config(tmp_path, graph, launch_args={},
                                            startup_timeout=3.0), ros_domain)
    assert proc.wait(60) == 1
    out = proc.output()
    assert ('demo: FAILED: graph not ready after 3 s, still waiting for '
            'service /sim_robot/reset_episode, sim_robot, teacher') in out
    tools.assert_no_orphans(out)


def test_demo_sigint_stops_every_node(command, tools, tmp_path, ros_domain):
    graph = tools.write_graph(tmp_path / 'graph.yaml', [
        tools.graph_node('sim_robot'), tools.graph_node('teacher', '--spawn-child')])
    proc = start_demo(command, write_config(tmp_path, graph, launch_args={},
                                            startup_timeout=120.0), ros_domain)
    proc.wait_for_output(r'\[teacher\] tick 2')
    proc.proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 130
    out = proc.output()
    assert 'demo: interrupted by SIGINT' in out
    assert 'stopped: sim_robot code 0, teacher code 0' in out
    tools.assert_no_orphans(out)


@pytest.mark.parametrize('config, message', [
    ({'episodes': {'seeds': []}}, 'episodes.seeds must be a non-empty list'),
    ({'episodes': {'seeds': [1]}, 'colour': 1}, 'unknown key(s) colour'),
    ({'episodes': {'seeds': [1]}, 'min_success_rate': 2}, 'min_success_rate is a fraction'),
])
def test_demo_refuses_bad_config(command, tmp_path, config, message):
    path = tmp_path / 'bad.yaml'
    path.write_text(yaml.safe_dump(config))
    proc = command([sys.executable, '-m', 'sage_bringup.demo', '--config', str(path)])
    assert proc.wait(60) == 2
    assert message in proc.output()


def test_demo_refuses_a_graph_naming_a_missing_package(command, tools, tmp_path, ros_domain):
    graph = tools.write_graph(tmp_path / 'graph.yaml', [
        {'name': 'sim_robot', 'package': 'no_such_pkg', 'executable': 'x'}])
    proc = start_demo(command, write_config(tmp_path, graph, launch_args={},
                                            nodes=['sim_robot']), ros_domain)
    assert proc.wait(60) == 2
    assert "demo: error: package 'no_such_pkg' is not installed" in proc.output()
