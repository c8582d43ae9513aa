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
"""

import os
from pathlib import Path
import re
import signal
import subprocess
import time

import pytest
from sage_common.node import BackgroundNode


def workspace_install():
    """Return ros2_ws/install of this checkout (or $SAGE_INSTALL)."""
    if os.environ.get('SAGE_INSTALL'):
        return Path(os.environ['SAGE_INSTALL'])
    root = Path(os.environ.get('SAGE_ROOT', Path(__file__).resolve().parents[4]))
    return root / 'ros2_ws' / 'install'


def executable_path(package, executable):
    """Return the installed path of a package's console script; raise if it is not built."""
    path = workspace_install() / package / 'lib' / package / executable
    if not path.exists():
        raise FileNotFoundError(f'{package}/{executable} is not installed at {path} '
                                f'(run make setup)')
    return path


def loopback_env(domain_id, base=None):
    """Return an environment whose DDS traffic stays on loopback in domain_id."""
    env = dict(os.environ if base is None else base)
    env['ROS_DOMAIN_ID'] = str(domain_id)
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    if env.get('ROS_DISTRO', 'kilted') in ('humble', 'iron'):
        env['ROS_LOCALHOST_ONLY'] = '1'
    env.setdefault('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
    env.setdefault('MUJOCO_GL', 'egl')
    env['PYTHONUNBUFFERED'] = '1'
    return env


def ros_args(name=None, params=None, remaps=None, params_file=None, log_level=None):
    """Return the `--ros-args ...` list for a node."""
    args = ['--ros-args']
    if name:
        args += ['-r', f'__node:={name}']
    if params_file:
        args += ['--params-file', str(params_file)]
    for key, value in (params or {}).items():
        args += ['-p', f'{key}:={_param_literal(value)}']
    for src, dst in (remaps or {}).items():
        args += ['-r', f'{src}:={dst}']
    if log_level:
        args += ['--log-level', log_level]
    return args


def _param_literal(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (list, tuple)):
        return '[' + ','.join(_param_literal(v) for v in value) + ']'
    if isinstance(value, str):
        return value if value else "''"
    return repr(value)


class NodeProcess:
    """A node started in its own process group, its output captured to a log file."""

    def __init__(self, argv, env, log_path, label):
        self.label = label
        self.log_path = Path(log_path)
        self._log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(argv, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def pid(self):
        return self.proc.pid

    def output(self):
        """Return everything the process has printed so far."""
        self._log.flush()
        return self.log_path.read_text(errors='replace')

    def wait_for_output(self, pattern, timeout=30.0):
        """Wait until a line matching pattern is printed; return the match or fail."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = regex.search(self.output())
            if match:
                return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f'{self.label}: no output matching {pattern!r} within {timeout} s '
                             f'(exit {self.proc.poll()}). Output:\n{self.output()[-4000:]}')

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        """Send sig to the node's whole process group."""
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout=10.0):
        """SIGINT, then SIGTERM, then SIGKILL; return the exit code."""
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if self.proc.poll() is not None:
                break
            self.signal(sig)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        self.signal(signal.SIGKILL)  # children of a node that exited must not linger
        rc = self.proc.wait(5)
        self._log.close()
        return rc

    def group_alive(self):
        """Return True while any process of the node's group still exists."""
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def pick_domain_id():
    """Return SAGE_TEST_DOMAIN_ID or a domain id derived from the pid (1..100)."""
    if os.environ.get('SAGE_TEST_DOMAIN_ID'):
        return int(os.environ['SAGE_TEST_DOMAIN_ID'])
    return os.getpid() % 100 + 1


@pytest.fixture(scope='session')
def ros_domain():
    """Put this test session on its own DDS domain, on loopback, before rclpy starts."""
    domain = pick_domain_id()
    os.environ.update(loopback_env(domain))
    return domain


@pytest.fixture
def launch_node(ros_domain, tmp_path):
    """Start SAGE nodes as separate processes; all are stopped when the test ends."""
    started = []

    def launch(package, executable, name=None, params=None, remaps=None, params_file=None,
               extra_args=(), env=None):
        argv = [str(executable_path(package, executable))]
        argv += list(extra_args) + ros_args(name, params, remaps, params_file)
        label = f'{package}/{executable}' + (f' ({name})' if name else '')
        log = tmp_path / f'{len(started):02d}_{name or executable}.log'
        node = NodeProcess(argv, loopback_env(ros_domain, env), log, label)
        started.append(node)
        return node

    yield launch
    leaked = []
    for node in reversed(started):
        node.stop()
        if node.group_alive():
            leaked.append(node.label)
    assert not leaked, f'processes left behind: {leaked}'


class RosTestNode(BackgroundNode):
    """An rclpy node in the test process, spun by a background executor."""

    def collect(self, msg_type, topic, qos=10):
        """Subscribe and return the list every received message is appended to."""
        received = []
        self.node.create_subscription(msg_type, topic, received.append, qos)
        return received

    def wait_for(self, predicate, timeout=20.0, what='condition'):
        """Poll predicate until it is true; fail the test after timeout seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        raise AssertionError(f'timed out after {timeout} s waiting for {what}')

    def call(self, srv_type, name, request, timeout=20.0):
        """Call a service (waiting for it to appear) and return the response."""
        client = self.node.create_client(srv_type, name)
        if not client.wait_for_service(timeout_sec=timeout):
            raise AssertionError(f'service {name} did not appear within {timeout} s')
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not future.done():
            raise AssertionError(f'service {name} did not answer within {timeout} s')
        return future.result()


@pytest.fixture
def ros_node(ros_domain, request):
    """Return a RosTestNode named after the test."""
    name = re.sub(r'\W', '_', request.node.name)[:50].strip('_') or 'test'
    node = RosTestNode('test_' + name)
    yield node
    node.close()
