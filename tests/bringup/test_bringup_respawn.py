# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The repository's graph under sage_supervisor survives SIGKILLed nodes (issue 14, respawn).

SAGE drives the simulated arm. Each of the L-module, the H-module and the sleep manager is
killed in turn; each must come back by itself and come back safe: the L-module at slow start
before full speed, the H-module on the registry's active version, the sleep manager with the
segment it had open salvaged into a readable bag and a new wake period recording.
"""

import os
from pathlib import Path
import re
import signal

from diagnostic_msgs.msg import DiagnosticArray
import pytest
from sage_bringup import graph as graph_mod
from sage_common.registry import ModelRegistry
from sage_sleep.recording.bag_reader import iter_messages, list_wake_periods
from sage_sleep.models_cli import init_models
from std_msgs.msg import Float64MultiArray
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO_GRAPH = Path(__file__).resolve().parents[2] / 'launch' / 'sage_graph.yaml'


def test_killed_nodes_respawn_and_come_back_safe(command, tools, tmp_path, ros_domain,
                                                 ros_node):
    models, bags = tmp_path / 'models', tmp_path / 'bags'
    init_models(ModelRegistry(models), seed=0, log=lambda *_: None)
    data = yaml.safe_load(REPO_GRAPH.read_text())
    overrides = {'sim_robot': {'width': 64, 'height': 48},
                 # Each slow-start stage outlasts DDS discovery of the respawned node's
                 # /diagnostics publisher, even on a loaded machine.
                 'l_module': {'slow_start_step': 3.0},
                 'sleep_manager': {'bag_root': str(bags), 'min_free_mb': 0.0}}
    for node in data['nodes']:
        node.setdefault('params', {}).update(overrides.get(node['name'], {}))
    graph_file = tmp_path / 'graph.yaml'
    graph_file.write_text(yaml.safe_dump(data))
    specs = {s.name: s for s in graph_mod.load(graph_file).resolve({'driver': 'sage'})}
    assert all(specs[n].respawn for n in ('l_module', 'h_module', 'sleep_manager'))

    commands = ros_node.collect(Float64MultiArray, '/arm_controller/commands')
    diagnostics = ros_node.collect(DiagnosticArray, '/diagnostics')
    proc = command(tools.supervisor_argv('--graph', str(graph_file), '--domain-id',
                                         str(ros_domain), 'driver:=sage',
                                         f'model_dir:={models}'))

    def l_scales(since):
        """Speed scales the L-module reported in diagnostics after index since."""
        return [float(kv.value) for array in diagnostics[since:] for status in array.status
                if status.name == 'sage: l_module' for kv in status.values
                if kv.key == 'speed_scale']

    ros_node.wait_for(lambda: 1.0 in l_scales(0), timeout=120, what='the L-module at full speed')
    first_period = next(bags.glob('wake-*')).name

    def kill_and_wait_for_respawn(name):
        os.killpg(tools.started_pids(proc.output())[name], signal.SIGKILL)
        proc.wait_for_output(rf'node {name} exited with signal SIGKILL: respawning in 2 s')
        proc.wait_for_output(rf'started {name} \([^)]*respawn 1\)')

    # L-module: killed while driving, it comes back at slow start, then drives again.
    kill_and_wait_for_respawn('l_module')
    mark_diag, mark_cmd = len(diagnostics), len(commands)
    ros_node.wait_for(lambda: 1.0 in l_scales(mark_diag), timeout=90,
                      what='the respawned L-module at full speed')
    scales = l_scales(mark_diag)
    assert scales[0] < 1.0, f'the respawned L-module skipped slow start: {scales[:5]}'
    assert len(commands) > mark_cmd

    # H-module: comes back on the registry's active version.
    started = re.compile(r'\[h_module\] .*H-module (\S+) \(')
    kill_and_wait_for_respawn('h_module')
    ros_node.wait_for(lambda: len(started.findall(proc.output())) == 2, timeout=90,
                      what='the respawned H-module loading its model')
    assert started.findall(proc.output()) == [ModelRegistry(models).active('h_module')] * 2

    # Sleep manager: its open segment is salvaged, a new wake period records.
    kill_and_wait_for_respawn('sleep_manager')
    proc.wait_for_output(r'salvaged crashed segment', timeout=90)
    ros_node.wait_for(lambda: len(re.findall(r'wake period \S+ begins', proc.output())) == 2,
                      timeout=60, what='the respawned sleep manager recording')
    ros_node.wait_for(lambda: len(list(bags.glob('wake-*'))) == 2, timeout=30,
                      what='the new wake period on disk (made with its first segment)')
    period = next(p for p in list_wake_periods(bags) if p.id == first_period)
    assert period.segments[-1].state == 'salvaged', [s.state for s in period.segments]
    assert not period.problems
    assert sum(1 for _ in iter_messages(period.segments[-1])) == \
        period.segments[-1].message_count > 0

    proc.proc.send_signal(signal.SIGINT)
    assert proc.wait(60) in (0, 3)
    out = proc.output()
    assert 'stopping the graph' not in out
    tools.assert_no_orphans(out)
