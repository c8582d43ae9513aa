# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
A string parameter "1.0" reaches a node as a string, whoever starts the node.

Every way SAGE starts a node builds its `--ros-args` with sage_common.processes: the test
harness (`launch_node`), the supervisor from a graph file (and so `ros2 launch`'s sibling
path, the demo and the soak, which start graph specs with the supervisor library), and the
benchmarks (`ros_args` + `NodeProcess`). Each path starts `sage_test_node --print-params`,
which prints the parameters an rclpy node receives with their types.
"""

import re

import pytest
from sage_bringup import graph, supervisor
from sage_common.processes import executable_path, node_environment, NodeProcess, ros_args

pytestmark = pytest.mark.integration

PARAMS = {'as_text': '1.0', 'as_number': 1.0, 'flag_text': 'true', 'empty': ''}
EXPECTED = {'as_text': ('STRING', "'1.0'"), 'as_number': ('DOUBLE', '1.0'),
            'flag_text': ('STRING', "'true'"), 'empty': ('STRING', "''")}


def received(output):
    """Return {name: (TYPE, repr of value)} from the test node's `param` lines."""
    return {m.group(1): (m.group(2), m.group(3))
            for m in re.finditer(r'param (\w+) (\w+) (.*)', output) if m.group(1) in PARAMS}


def test_through_the_test_harness(launch_node):
    node = launch_node('sage_bringup', 'sage_test_node', name='typed_harness', params=PARAMS,
                       extra_args=['--print-params'])
    node.wait_for_output(r'test node up')
    assert received(node.output()) == EXPECTED


def test_through_the_benchmarks_helpers(ros_domain, tmp_path):
    argv = [str(executable_path('sage_bringup', 'sage_test_node')), '--print-params']
    node = NodeProcess(argv + ros_args('typed_bench', PARAMS),
                       node_environment(domain_id=ros_domain), tmp_path / 'bench.log',
                       'typed_bench')
    try:
        node.wait_for_output(r'test node up')
        assert received(node.output()) == EXPECTED
    finally:
        node.stop()


def test_through_the_supervisor_command(command, tools, tmp_path, ros_domain):
    path = tools.write_graph(tmp_path / 'graph.yaml', [
        tools.graph_node('typed_graph', '--print-params', params=PARAMS)])
    proc = command(tools.supervisor_argv('--graph', str(path), '--domain-id', str(ros_domain)))
    proc.wait_for_output(r'\[typed_graph\] test node up')
    output = proc.output()
    assert received(output) == EXPECTED, output


def test_through_the_supervisor_library_as_the_demo_uses_it(tools, tmp_path, ros_domain):
    """The demo and the soak override graph parameters on the specs, then supervise them."""
    path = tools.write_graph(tmp_path / 'graph.yaml', [
        tools.graph_node('typed_demo', '--print-params', params={'as_text': 'placeholder'})])
    specs = graph.load(path).resolve()
    specs[0].params.update(PARAMS)
    log = tmp_path / 'nodes.log'
    with open(log, 'w', encoding='utf-8') as out:
        sup = supervisor.Supervisor(specs, env=supervisor.node_environment(domain_id=ros_domain),
                                    out=out, respawn=False)
        sup.start()
        try:
            sup.wait_until_ready(lambda: [] if 'test node up' in log.read_text() else ['up'],
                                 30.0)
        finally:
            sup.stop()
    assert received(log.read_text()) == EXPECTED
