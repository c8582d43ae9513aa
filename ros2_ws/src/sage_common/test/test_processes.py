# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The process helpers: parameter literals, --ros-args, the node environment, package lookup."""

import os
import signal
import subprocess
import sys

import pytest
from sage_common import processes
import yaml


def test_param_literals_round_trip_through_yaml():
    for value in ('/models/x', 'true', '', 'a,b', "it's", '3', 'plain', True, 2, 0.5,
                  ['a', 'true'], [1, 2], '1.0', ['1.0', 'x']):
        text = processes.param_literal(value)
        parsed = yaml.safe_load(text)
        assert parsed == value or (value == '' and parsed == ''), (value, text)
    assert processes.param_literal('1.0') == "'1.0'"
    assert processes.param_literal(1.0) == '1.0'
    with pytest.raises(ValueError, match='unsupported parameter value'):
        processes.param_literal({'a': 1})


def test_ros_args_orders_name_files_params_remaps_as_ros2_launch():
    args = processes.ros_args('talker', {'rate': 10, 'label': '1.0'}, {'/a': '/b'},
                              ['/p.yaml'], log_level='debug')
    assert args == ['--ros-args', '-r', '__node:=talker', '--params-file', '/p.yaml',
                    '-p', 'rate:=10', '-p', "label:='1.0'", '-r', '/a:=/b',
                    '--log-level', 'debug']
    assert processes.ros_args(remaps=[('/x', '/y')]) == ['--ros-args', '-r', '/x:=/y']


def test_node_environment_keeps_dds_on_loopback_in_the_domain():
    env = processes.node_environment({'ROS_DISTRO': 'humble', 'PATH': '/bin'}, domain_id=7)
    assert env['ROS_DOMAIN_ID'] == '7' and env['ROS_LOCALHOST_ONLY'] == '1'
    assert env['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST'
    assert env['RMW_IMPLEMENTATION'] == 'rmw_fastrtps_cpp' and env['MUJOCO_GL'] == 'egl'
    assert env['PYTHONUNBUFFERED'] == '1' and env['PATH'] == '/bin'
    kept = processes.node_environment({'RMW_IMPLEMENTATION': 'rmw_cyclonedds_cpp'},
                                      loopback=False)
    assert kept['RMW_IMPLEMENTATION'] == 'rmw_cyclonedds_cpp'
    assert 'ROS_DOMAIN_ID' not in kept and 'ROS_AUTOMATIC_DISCOVERY_RANGE' not in kept
    with pytest.raises(ValueError, match='0..232'):
        processes.node_environment({}, domain_id=233)


def test_packages_are_found_through_the_ament_index(tmp_path, monkeypatch):
    index = tmp_path / 'share' / 'ament_index' / 'resource_index' / 'packages'
    index.mkdir(parents=True)
    (index / 'pkg').write_text('')
    exe = tmp_path / 'lib' / 'pkg' / 'tool'
    exe.parent.mkdir(parents=True)
    exe.write_text('#!/bin/sh\n')
    assert processes.package_prefix('pkg', [tmp_path]) == tmp_path
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(tmp_path))
    assert processes.package_prefix('pkg') == tmp_path
    assert processes.package_share('pkg') == tmp_path / 'share' / 'pkg'
    assert processes.executable_path('pkg', 'tool') == exe
    with pytest.raises(FileNotFoundError, match='run make setup'):
        processes.executable_path('pkg', 'ghost')
    with pytest.raises(processes.PackageNotFound, match="package 'other' is not installed"):
        processes.package_prefix('other')
    monkeypatch.setenv('AMENT_PREFIX_PATH', '')
    with pytest.raises(processes.PackageNotFound, match='AMENT_PREFIX_PATH is empty'):
        processes.package_prefix('pkg')


CLAIM = ('import sys, time; from sage_common.processes import pick_domain_id; '
         'print(pick_domain_id(lock_dir=sys.argv[1]), flush=True); time.sleep(30)')


def test_concurrent_processes_get_different_domain_ids(tmp_path, monkeypatch):
    monkeypatch.delenv('SAGE_TEST_DOMAIN_ID', raising=False)
    env = {k: v for k, v in os.environ.items() if k != 'SAGE_TEST_DOMAIN_ID'}
    holders = [subprocess.Popen([sys.executable, '-c', CLAIM, str(tmp_path)], env=env,
                                stdout=subprocess.PIPE, text=True) for _ in range(3)]
    try:
        claimed = [int(h.stdout.readline()) for h in holders]
        assert len(set(claimed)) == 3 and all(1 <= d <= 100 for d in claimed)
        # This process gets a fourth, and the same one when it asks again.
        mine = processes.pick_domain_id(lock_dir=tmp_path)
        assert mine not in claimed
        assert processes.pick_domain_id(lock_dir=tmp_path) == mine
    finally:
        for h in holders:
            h.kill()
            h.wait()
    monkeypatch.setenv('SAGE_TEST_DOMAIN_ID', '42')
    assert processes.pick_domain_id(lock_dir=tmp_path) == 42


def test_a_node_process_takes_sigint_even_when_its_parent_ignores_it(tmp_path):
    # A shell's background job starts with SIGINT ignored, and exec keeps an ignored signal.
    script = 'import signal, sys; sys.stdout.write(str(signal.getsignal(signal.SIGINT)))'
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        node = processes.NodeProcess([sys.executable, '-c', script], dict(os.environ),
                                     tmp_path / 'child.log', 'child')
        assert node.proc.wait(30) == 0
    finally:
        signal.signal(signal.SIGINT, previous)
    assert 'default_int_handler' in node.output()  # Python's own: SIGINT was not ignored
