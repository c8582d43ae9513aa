# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Pytest harness: SAGE nodes as separate processes over real DDS, kept on loopback.

Registered as a plugin by the repository's conftest.py. Every test session gets its own
ROS_DOMAIN_ID (from SAGE_TEST_DOMAIN_ID, else derived from the pid) and discovery limited
to localhost, before anything initialises rclpy; processes started with `launch_node` run
in their own process group and are always torn down (SIGINT, then SIGTERM, then SIGKILL),
and the test fails if one is left behind.

Fixtures:
    ros_domain     the session's domain id (session scope; sets the environment)
    launch_node    factory: launch_node(package, executable, name=..., params={...}) -> NodeProcess
    ros_node       an rclpy node in the test process, spun on a background thread

Test code only (it imports pytest): the process helpers it uses (environment, `--ros-args`,
NodeProcess) are sage_common.processes and its ROS client sage_common.ros_client, which
runtime code uses too.
"""

import os
import re

import pytest
from sage_common.processes import (executable_path, node_environment, NodeProcess,
                                   pick_domain_id, ros_args)
from sage_common.ros_client import RosClient

__all__ = ['executable_path', 'node_environment', 'NodeProcess', 'pick_domain_id', 'ros_args',
           'RosTestNode']


@pytest.fixture(scope='session')
def ros_domain():
    """Put this test session on its own DDS domain, on loopback, before rclpy starts."""
    domain = pick_domain_id()
    os.environ.update(node_environment(domain_id=domain))
    return domain


@pytest.fixture
def launch_node(ros_domain, tmp_path):
    """Start SAGE nodes as separate processes; all are stopped when the test ends."""
    started = []

    def launch(package, executable, name=None, params=None, remaps=None, params_file=None,
               extra_args=(), env=None):
        argv = [str(executable_path(package, executable))]
        argv += list(extra_args) + ros_args(name, params, remaps,
                                            [params_file] if params_file else ())
        label = f'{package}/{executable}' + (f' ({name})' if name else '')
        log = tmp_path / f'{len(started):02d}_{name or executable}.log'
        node = NodeProcess(argv, node_environment(env, ros_domain), log, label)
        started.append(node)
        return node

    yield launch
    leaked = []
    for node in reversed(started):
        node.stop()
        if node.group_alive():
            leaked.append(node.label)
    assert not leaked, f'processes left behind: {leaked}'


class RosTestNode(RosClient):
    """The test process's rclpy node (a RosClient): a timeout fails the test."""

    timeout_error = AssertionError


@pytest.fixture
def ros_node(ros_domain, request):
    """Return a RosTestNode named after the test."""
    name = re.sub(r'\W', '_', request.node.name)[:50].strip('_') or 'test'
    node = RosTestNode('test_' + name)
    yield node
    node.close()
