# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
sage_supervisor as a process: bad input, a node that dies, signals, escalation, no orphans.

The nodes are `sage_test_node` processes (sage_bringup's misbehave-on-demand test node).
"""

import io
import signal
import time

import pytest
from sage_bringup import graph as graph_mod
from sage_bringup.supervisor import Supervisor
from sage_common.processes import executable_path, node_environment

pytestmark = pytest.mark.integration


def start_supervisor(command, tools, tmp_path, nodes, *args, ros_domain=None):
    graph = tools.write_graph(tmp_path / 'graph.yaml', nodes)
    extra = ['--domain-id', str(ros_domain)] if ros_domain is not None else []
    return command(tools.supervisor_argv('--graph', str(graph), *extra, *args))


def test_malformed_graph_file_exits_2_naming_the_problem(command, tools, tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('nodes:\n  - name: a\n    package: sage_bringup\n    executable: x\n'
                   '    remap: {}\n')
    proc = command(tools.supervisor_argv('--graph', str(bad)))
    assert proc.wait(30) == 2
    assert "node 'a': unknown key(s) remap" in proc.output()

    bad.write_text('nodes: [\n')
    proc = command(tools.supervisor_argv('--graph', str(bad)))
    assert proc.wait(30) == 2
    assert 'not valid YAML' in proc.output()


def test_unknown_package_or_argument_exits_2(command, tools, tmp_path):
    graph = tools.write_graph(tmp_path / 'g.yaml', [
        {'name': 'a', 'package': 'no_such_pkg', 'executable': 'x'}])
    proc = command(tools.supervisor_argv('--graph', str(graph)))
    assert proc.wait(30) == 2
    assert "package 'no_such_pkg' is not installed" in proc.output()

    graph = tools.write_graph(tmp_path / 'g2.yaml', [tools.graph_node('a')])
    proc = command(tools.supervisor_argv('--graph', str(graph), 'colour:=red'))
    assert proc.wait(30) == 2
    assert 'unknown launch argument(s) colour' in proc.output()


def test_required_node_death_stops_the_others_and_exits_1(command, tools, tmp_path,
                                                          ros_domain):
    proc = start_supervisor(command, tools, tmp_path, [
        tools.graph_node('steady', '--spawn-child'),
        tools.graph_node('fragile', '--mode', 'exit', '--after', '1', '--code', '7',
                         required=True),
    ], ros_domain=ros_domain)
    assert proc.wait(60) == 1
    out = proc.output()
    assert 'required node fragile exited with code 7' in out
    assert '[steady] stopping on signal SIGINT' in out
    assert f'ROS_DOMAIN_ID={ros_domain}' in out
    tools.assert_no_orphans(out)


def test_optional_node_death_is_logged_and_the_graph_keeps_running(command, tools, tmp_path):
    proc = start_supervisor(command, tools, tmp_path, [
        tools.graph_node('steady'),
        tools.graph_node('flaky', '--mode', 'exit', '--after', '0.5', '--code', '4'),
    ])
    proc.wait_for_output(r'node flaky \(not required\) exited with code 4; the graph keeps')
    steady_ticks = proc.output().count('[steady] tick')
    proc.wait_for_output(rf'\[steady\] tick {steady_ticks + 1}\b')
    proc.proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 3  # flaky's exit code 4 makes the stop unclean
    out = proc.output()
    assert 'stopped: steady code 0, flaky code 4' in out
    tools.assert_no_orphans(out)


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_signal_is_forwarded_and_every_node_exits(command, tools, tmp_path, sig):
    proc = start_supervisor(command, tools, tmp_path, [
        tools.graph_node('a', '--spawn-child'),
        tools.graph_node('b', required=True),
    ])
    proc.wait_for_output(r'\[a\] tick 2')
    proc.wait_for_output(r'\[b\] tick 2')
    proc.proc.send_signal(sig)
    assert proc.wait(30) == 0
    out = proc.output()
    assert f'{sig.name} received: stopping 2 node(s)' in out
    assert f'[a] stopping on signal {sig.name}' in out
    assert f'[b] stopping on signal {sig.name}' in out
    assert 'stopped: a code 0, b code 0' in out
    tools.assert_no_orphans(out)


def test_node_ignoring_sigint_is_escalated_to_sigterm(command, tools, tmp_path):
    proc = start_supervisor(command, tools, tmp_path, [
        tools.graph_node('polite'),
        tools.graph_node('stubborn', '--mode', 'ignore-sigint', '--spawn-child'),
    ], '--grace', '1')
    proc.wait_for_output(r'\[stubborn\] tick 2')
    proc.proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 3
    out = proc.output()
    assert 'stubborn still running: sending SIGTERM' in out
    assert '[stubborn] stopping on signal SIGTERM' in out
    assert 'stopped: polite code 0, stubborn code 0 (after SIGTERM)' in out
    tools.assert_no_orphans(out)


def test_node_ignoring_sigint_and_sigterm_is_killed(command, tools, tmp_path):
    proc = start_supervisor(command, tools, tmp_path, [
        tools.graph_node('deaf', '--mode', 'ignore-signals', '--spawn-child'),
    ], '--grace', '1', '--term-grace', '1')
    proc.wait_for_output(r'\[deaf\] tick 2')
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 3
    out = proc.output()
    assert 'deaf still running: sending SIGKILL' in out
    assert 'stopped: deaf signal SIGKILL (after SIGKILL)' in out
    tools.assert_no_orphans(out)


def respawning_graph(tools):
    """A steady node and a required one that exits with code 7 after 0.5 s, respawning."""
    return [tools.graph_node('steady'),
            tools.graph_node('fragile', '--mode', 'exit', '--after', '0.5', '--code', '7',
                             required=True, respawn=True, respawn_delay=0.3)]


def test_respawning_node_is_restarted_and_never_stops_the_graph(command, tools, tmp_path):
    proc = start_supervisor(command, tools, tmp_path, respawning_graph(tools))
    proc.wait_for_output(r'started fragile \(sage_bringup/sage_test_node, pid \d+, required, '
                         r'respawns, respawn 2\)')
    steady_ticks = proc.output().count('[steady] tick')
    proc.wait_for_output(rf'\[steady\] tick {steady_ticks + 1}\b')
    proc.proc.send_signal(signal.SIGINT)
    code = proc.wait(30)
    out = proc.output()
    assert out.count('node fragile exited with code 7: respawning in 0.3 s') >= 2
    assert 'stopping the graph' not in out
    assert code in (0, 3)  # 3 when the stop found fragile's latest run already exited 7
    assert len(set(tools.all_started_pids(out)['fragile'])) >= 3
    tools.assert_no_orphans(out)


def test_no_respawn_makes_a_required_node_s_exit_final(command, tools, tmp_path):
    proc = start_supervisor(command, tools, tmp_path, respawning_graph(tools), '--no-respawn')
    assert proc.wait(60) == 1
    out = proc.output()
    assert 'required node fragile exited with code 7: stopping the graph' in out
    assert 'respawning' not in out
    tools.assert_no_orphans(out)


@pytest.mark.parametrize('on_graph', [True, False])
def test_respawned_node_never_on_the_ros_graph_is_killed_and_started_again(on_graph):
    """A respawn that runs but never joins the graph (a Fast DDS SHM failure) is retried."""
    spec = graph_mod.NodeSpec(name='flaky', package='sage_bringup', executable='sage_test_node',
                              executable_path=executable_path('sage_bringup', 'sage_test_node'),
                              respawn=True, respawn_delay=0.1)
    out = io.StringIO()
    checked = []

    def graph_check(names):
        checked.append(list(names))
        return [] if on_graph else list(names)

    supervisor = Supervisor([spec], env=node_environment(), out=out, graph_check=graph_check,
                            respawn_check_s=1.0)
    supervisor.start()
    try:
        supervisor.children['flaky'].signal_group(signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and supervisor.respawns['flaky'] < 2:
            supervisor.poll()
            time.sleep(0.05)
            if on_graph and 'respawned flaky is on the ROS graph' in out.getvalue():
                break
    finally:
        supervisor.stop()
    log = out.getvalue()
    assert checked and all(names == ['flaky'] for names in checked)
    if on_graph:
        assert 'respawned flaky is on the ROS graph' in log
        assert supervisor.respawns['flaky'] == 1 and not supervisor.unseen_respawns
    else:
        assert 'respawned flaky is not on the ROS graph after 1 s: killing it' in log
        assert supervisor.unseen_respawns['flaky'] >= 1 and supervisor.respawns['flaky'] >= 2
