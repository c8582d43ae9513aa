# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Fixtures of the bringup tests: graphs of test nodes, supervised commands, orphan checks.

`tools` gives the helper functions; `command` starts a command in its own session (killed
at the end of the test).
"""

import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import time
import types

import pytest
from sage_common.processes import executable_path, node_environment, NodeProcess
import yaml


def graph_node(name, *args, required=False, **keys):
    """Return a graph node running sage_test_node (tests only) with args (and graph keys)."""
    return {'name': name, 'package': 'sage_bringup', 'executable': 'sage_test_node',
            'arguments': list(args), 'required': required, **keys}


def write_graph(path, nodes, arguments=None):
    """Write a graph file with these nodes; return its path."""
    path = Path(path)
    path.write_text(yaml.safe_dump({'arguments': arguments or {}, 'nodes': nodes}))
    return path


class Command(NodeProcess):
    """A command in its own session with its output in a file; always cleaned up."""

    def __init__(self, argv, env, log_path):
        super().__init__(argv, env, log_path, Path(argv[0]).name)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f'still running after {timeout} s:\n'
                                 f'{self.output()[-4000:]}') from None

    def kill(self):
        """Kill the command and every node group / child it reported starting."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        output = self.output()
        groups = {pid for pids in all_started_pids(output).values() for pid in pids}
        # Only processes still in one of the nodes' groups: never a recycled pid.
        for proc_dir in Path('/proc').iterdir():
            if proc_dir.name.isdigit() and _pgid(proc_dir) in groups:
                try:
                    os.kill(int(proc_dir.name), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._log.close()


def supervisor_argv(*args):
    return [str(executable_path('sage_bringup', 'sage_supervisor')), *args]


def started_pids(output):
    """Return {node: pid} from the supervisor's 'started' lines (the latest start of each)."""
    return {name: pids[-1] for name, pids in all_started_pids(output).items()}


def all_started_pids(output):
    """Return {node: [pid of each start]} from the supervisor's 'started' lines."""
    pids = {}
    for m in re.finditer(r'started (\w+) \([^,]+, pid (\d+)', output):
        pids.setdefault(m.group(1), []).append(int(m.group(2)))
    return pids


def child_pids(output):
    """Return the pids the test nodes report for their spawned children."""
    return [int(pid) for pid in re.findall(r'child pid (\d+)', output)]


def gone(pid):
    """Return True once no process (or only a zombie) has this pid."""
    try:
        state = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state == 'Z'


def group_gone(pgid):
    """Return True once no process is left in process group pgid."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return all(gone(int(p.name)) for p in Path('/proc').iterdir() if p.name.isdigit()
               and _pgid(p) == pgid)


def _pgid(proc_dir):
    try:
        return int((proc_dir / 'stat').read_text().rsplit(')', 1)[1].split()[2])
    except (OSError, IndexError, ValueError):
        return None


def assert_no_orphans(output, timeout=5.0):
    """Assert every node group and spawned child the output names is gone."""
    pids = [pid for pids in all_started_pids(output).values() for pid in pids]
    children = child_pids(output)
    assert pids, f'no started nodes in the output:\n{output}'
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if not group_gone(p)] + [p for p in children if not gone(p)]
        if not left:
            return
        time.sleep(0.1)
    raise AssertionError(f'processes left behind: {left}\n{output[-3000:]}')


@pytest.fixture
def tools():
    """Return the helpers of this module as a namespace."""
    module = sys.modules[__name__]
    names = ('graph_node', 'write_graph', 'supervisor_argv', 'started_pids', 'all_started_pids',
             'child_pids', 'gone', 'assert_no_orphans')
    return types.SimpleNamespace(**{name: getattr(module, name) for name in names})


@pytest.fixture
def command(tmp_path, ros_domain):
    """Return a factory starting commands in their own session (killed after the test)."""
    started = []

    def start(argv, env=None):
        cmd = Command(argv, node_environment(env), tmp_path / f'command_{len(started)}.log')
        started.append(cmd)
        return cmd

    yield start
    for cmd in started:
        cmd.kill()
