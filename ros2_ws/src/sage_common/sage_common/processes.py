# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Starting SAGE nodes as processes: the one definition of their environment and command line.

The supervisor (and through it the demo and the soak), the test harness and the benchmarks
all build a node's environment with `node_environment`, its `--ros-args` with `ros_args`
(parameter literals from `param_literal`), and find installed packages and executables
through the ament index (`package_prefix`, `package_share`, `executable_path`), so a node
sees the same thing whichever of them started it.

    env = node_environment(domain_id=42)              # DDS on loopback in domain 42
    argv = [str(executable_path('sage_sim', 'sim_robot'))] + ros_args('sim_robot', {'width': 64})
    node = NodeProcess(argv, env, 'sim_robot.log', 'sage_sim/sim_robot')
    ...
    node.stop()
"""

import os
from pathlib import Path
import re
import signal
import subprocess
import time

import yaml

DOMAIN_ID_MAX = 232


class PackageNotFound(LookupError):
    """A package is not in the ament index (not built, or no workspace sourced)."""


def node_environment(base=None, domain_id=None, loopback=True):
    """
    Return the environment a SAGE node runs in.

    base: the environment to start from (default os.environ); domain_id sets ROS_DOMAIN_ID
    (None keeps the caller's; 0..232); loopback keeps DDS discovery on this machine
    (ROS_AUTOMATIC_DISCOVERY_RANGE, and ROS_LOCALHOST_ONLY on Humble/Iron). The RMW
    implementation and MUJOCO_GL get scripts/env.sh's defaults when unset, and output is
    unbuffered so a node's log lines arrive as it prints them.
    """
    env = dict(os.environ if base is None else base)
    if domain_id is not None:
        domain_id = int(domain_id)
        if not 0 <= domain_id <= DOMAIN_ID_MAX:
            raise ValueError(f'ROS domain id must be 0..{DOMAIN_ID_MAX}, got {domain_id}')
        env['ROS_DOMAIN_ID'] = str(domain_id)
    if loopback:
        env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
        if env.get('ROS_DISTRO', 'kilted') in ('humble', 'iron'):
            env['ROS_LOCALHOST_ONLY'] = '1'
    env.setdefault('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
    env.setdefault('MUJOCO_GL', 'egl')
    env['PYTHONUNBUFFERED'] = '1'
    return env


def param_literal(value):
    """
    Return value as the YAML text ROS parses from `-p name:=<text>` back into value.

    A string YAML would read as something else ('1.0', 'true', '', 'a,b') is quoted, so it
    reaches the node as a string; bools, ints, floats and lists of them keep their type.
    """
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return '[' + ','.join(param_literal(v) for v in value) + ']'
    if isinstance(value, str):
        try:
            plain = value != '' and yaml.safe_load(value) == value and ',' not in value \
                and ']' not in value
        except yaml.YAMLError:
            plain = False
        return value if plain else "'" + value.replace("'", "''") + "'"
    raise ValueError(f'unsupported parameter value {value!r} ({type(value).__name__})')


def ros_args(name=None, params=None, remaps=None, params_files=(), log_level=None):
    """
    Return the `--ros-args ...` list for a node.

    name renames the node (`__node:=`); params is {name: value} (see param_literal); remaps is
    {from: to} or (from, to) pairs; params_files are applied before params, as ros2 launch
    does.
    """
    args = ['--ros-args']
    if name:
        args += ['-r', f'__node:={name}']
    for params_file in params_files or ():
        args += ['--params-file', str(params_file)]
    for key, value in (params or {}).items():
        args += ['-p', f'{key}:={param_literal(value)}']
    pairs = remaps.items() if hasattr(remaps, 'items') else (remaps or ())
    for src, dst in pairs:
        args += ['-r', f'{src}:={dst}']
    if log_level:
        args += ['--log-level', log_level]
    return args


def package_prefix(package, prefixes=None):
    """
    Return the install prefix of package from the ament index; raise PackageNotFound.

    prefixes: the install prefixes to search instead of AMENT_PREFIX_PATH (a workspace that
    is not sourced, e.g. a test's fake install).
    """
    from ament_index_python.constants import RESOURCE_INDEX_SUBFOLDER
    from ament_index_python.packages import get_package_prefix, PackageNotFoundError
    from ament_index_python.search_paths import get_search_paths

    if prefixes is None:
        try:
            searched = len(get_search_paths())
        except EnvironmentError:  # AMENT_PREFIX_PATH unset or empty
            searched = 0
        if searched:
            try:
                return Path(get_package_prefix(package))
            except (PackageNotFoundError, ValueError):
                raise PackageNotFound(_not_installed(package, searched)) from None
        prefixes = []
    if not prefixes:
        raise PackageNotFound('no ROS workspace is sourced (AMENT_PREFIX_PATH is empty): '
                              'source scripts/env.sh or your ROS setup first')
    for prefix in prefixes:
        if (Path(prefix) / RESOURCE_INDEX_SUBFOLDER / 'packages' / package).is_file():
            return Path(prefix)
    raise PackageNotFound(_not_installed(package, len(prefixes)))


def _not_installed(package, searched):
    return (f'package {package!r} is not installed in any of AMENT_PREFIX_PATH ({searched} '
            f"prefixes): build it (make setup) if it is SAGE's, or install it with your ROS "
            f'distro')


def package_share(package):
    """Return the installed share directory of package; raise PackageNotFound."""
    return package_prefix(package) / 'share' / package


def executable_path(package, executable):
    """Return the installed path of a package's console script; raise FileNotFoundError."""
    try:
        path = package_prefix(package) / 'lib' / package / executable
    except PackageNotFound as exc:
        raise FileNotFoundError(f'{package}/{executable}: {exc}') from None
    if not path.exists():
        raise FileNotFoundError(f'{package}/{executable} is not installed at {path} '
                                f'(run make setup)')
    return path


_CLAIMED_DOMAINS = {}  # lock file path -> the open file that holds it for this process


def pick_domain_id(env_var='SAGE_TEST_DOMAIN_ID', lock_dir=None):
    """
    Return $env_var if set, else a ROS domain id (1..100) no other SAGE process here holds.

    Two test sessions, demos or benchmarks on one machine must not share a DDS domain (each
    would hear the other's nodes). A domain is claimed with an exclusive flock on
    `<lock_dir>/sage-ros-domain-<id>.lock` (lock_dir: the temp directory), held until this
    process exits; the search starts at a pid-derived id. RuntimeError if all 100 are held.
    """
    import fcntl
    import tempfile

    if os.environ.get(env_var):
        return int(os.environ[env_var])
    lock_dir = Path(lock_dir or tempfile.gettempdir())
    start = os.getpid() % 100
    for offset in range(100):
        domain = (start + offset) % 100 + 1
        path = lock_dir / f'sage-ros-domain-{domain}.lock'
        if path in _CLAIMED_DOMAINS:
            return domain
        lock = open(path, 'a')
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        _CLAIMED_DOMAINS[path] = lock
        return domain
    raise RuntimeError(f'every ROS domain id 1..100 is claimed by another SAGE process '
                       f'(locks in {lock_dir}); set {env_var} to choose one')


def default_stop_signals():
    """
    Give a child process the default SIGINT and SIGTERM (Popen's preexec_fn).

    A shell starts a background job with SIGINT ignored, and an ignored signal stays ignored
    across exec: a node started by a supervisor, test or bench that runs in the background
    would ignore the SIGINT it is stopped with (its stop handler respects an inherited
    SIG_IGN) and hang until killed.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


class NodeProcess:
    """A node started in its own process group, its output captured to a log file."""

    def __init__(self, argv, env, log_path, label):
        self.label = label
        self.log_path = Path(log_path)
        self._log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(argv, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=default_stop_signals)

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
            exited = self.proc.poll() is not None
            match = regex.search(self.output())
            if match:
                return match
            if exited:  # what it printed before exiting was searched above
                break
            time.sleep(0.05)
        raise AssertionError(f'{self.label}: no output matching {pattern!r} within {timeout} s '
                             f'(exit {self.proc.poll()}). Output:\n{self.output()[-4000:]}')

    def alive(self):
        return self.proc.poll() is None

    def raise_if_died(self):
        """Raise RuntimeError naming the node, with its output's tail, if it has exited."""
        if not self.alive():
            raise RuntimeError(f'{self.label} died:\n{self.output()[-2000:]}')

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
