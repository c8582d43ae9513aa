# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The SAGE supervisor: starts the graph's nodes as separate OS processes, without ros2 launch.

    sage_supervisor [--graph FILE] [--only NODE,...] [--domain-id N] [--dds-network]
                    [--grace S] [--term-grace S] [--no-respawn] [name:=value ...]

Each node runs in its own process group with its output prefixed by its name. SIGINT or
SIGTERM to the supervisor is forwarded to every node; nodes still running after the grace
period get SIGTERM, then SIGKILL (a second signal to the supervisor skips the wait). A node
declared with `respawn` is started again `respawn_delay` s after it exits, however it exited
(--no-respawn turns that off). A respawned node must appear on the ROS graph within
--respawn-check seconds, or it is killed and started again: a process that runs but never
joined the graph (Fast DDS can fail to open a killed participant's shared-memory port) would
otherwise look alive while serving nothing. When a `required` node without respawn exits,
the supervisor stops the others and exits non-zero naming it; other deaths are logged and the
graph keeps running. DDS stays on loopback unless --dds-network.

Exit codes: 0 clean stop (or every node finished), 1 a required node died or failed to
start, 2 bad arguments or graph file, 3 stopped but some node had to be escalated or exited
with an error.

As a library (the demo uses it): Supervisor(specs, env=node_environment(domain_id=N)),
then start(), wait_until_ready(missing, timeout), poll() / run(), stop().
`node_environment` is sage_common.processes', the one the tests and benchmarks use too.
"""

import argparse
import collections
import os
import signal
import subprocess
import sys
import threading
import time

from sage_bringup import graph as graph_mod
from sage_common.processes import default_stop_signals, node_environment

EXIT_OK = 0
EXIT_REQUIRED_DIED = 1
EXIT_USAGE = 2
EXIT_UNCLEAN_STOP = 3

TAIL_LINES = 40


class NodeDied(RuntimeError):
    """A required node exited (or one died while the graph was starting)."""

    def __init__(self, name, returncode, tail):
        self.name = name
        self.returncode = returncode
        self.tail = list(tail)
        detail = '\n'.join(f'    {line}' for line in self.tail[-15:]) or '    (no output)'
        super().__init__(f'node {name} exited with {describe_returncode(returncode)}; its last '
                         f'output:\n{detail}')


class StartupError(RuntimeError):
    """The graph did not come up: a process could not start or was not ready in time."""


def describe_returncode(returncode):
    """Return 'code 3' or 'signal SIGKILL' for a Popen return code."""
    if returncode is None:
        return 'no exit code (still running)'
    if returncode < 0:
        try:
            return f'signal {signal.Signals(-returncode).name}'
        except ValueError:
            return f'signal {-returncode}'
    return f'code {returncode}'


class _Child:
    """One running node: its process, the thread relaying its output, its recent lines."""

    def __init__(self, spec, proc, out, lock):
        self.spec = spec
        self.proc = proc
        self.tail = collections.deque(maxlen=TAIL_LINES)
        self.returncode = None
        self.escalated = None
        self._out = out
        self._lock = lock
        self.thread = threading.Thread(target=self._relay, name=f'relay-{spec.name}',
                                       daemon=True)
        self.thread.start()

    def _relay(self):
        for raw in iter(self.proc.stdout.readline, b''):
            line = raw.decode('utf-8', errors='replace').rstrip('\n')
            self.tail.append(line)
            with self._lock:
                try:
                    self._out.write(f'[{self.spec.name}] {line}\n')
                    self._out.flush()
                except (OSError, ValueError):
                    pass
        self.proc.stdout.close()

    def signal_group(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
            return True
        except ProcessLookupError:
            return False


class Supervisor:
    """Start, watch and stop a list of NodeSpec as separate processes."""

    def __init__(self, specs, env=None, out=None, grace=10.0, term_grace=5.0, respawn=True,
                 graph_check=None, respawn_check_s=30.0):
        self.specs = list(specs)
        self.respawn = respawn  # honour the specs' respawn; False: every exit is final
        self.respawns = collections.Counter()  # node name -> times it was started again
        self._respawn_due = {}  # node name -> monotonic time to start it again
        # graph_check(names) -> the names not on the ROS graph (e.g. RosClient.missing)
        self.graph_check = graph_check
        self.respawn_check_s = respawn_check_s
        self.unseen_respawns = collections.Counter()  # node name -> respawns never on the graph
        self._unseen = {}  # respawned node name -> monotonic deadline to appear on the graph
        self.env = node_environment() if env is None else env
        self.out = sys.stdout if out is None else out
        self.grace = grace
        self.term_grace = term_grace
        self.children = {}
        self.failure = None
        self._lock = threading.Lock()
        self._stop_requested = threading.Event()
        self._hurry = threading.Event()
        self._stop_signal = signal.SIGINT
        self._stopping = False

    def log(self, message):
        """Print a supervisor message, interleaved safely with the nodes' output."""
        with self._lock:
            try:
                self.out.write(f'[supervisor] {message}\n')
                self.out.flush()
            except (OSError, ValueError):
                pass

    def start(self):
        """Start every node; raise StartupError (after stopping the started ones) on failure."""
        for spec in self.specs:
            try:
                self._spawn(spec)
            except StartupError:
                self.stop()
                raise

    def _spawn(self, spec):
        argv = spec.argv()
        try:
            proc = subprocess.Popen(argv, env=self.env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, preexec_fn=default_stop_signals)
        except OSError as exc:
            raise StartupError(f'cannot start node {spec.name} ({argv[0]}): '
                               f'{exc.strerror}') from exc
        self.children[spec.name] = _Child(spec, proc, self.out, self._lock)
        flags = ', required' if spec.required else ''
        flags += ', respawns' if spec.respawn and self.respawn else ''
        again = f', respawn {self.respawns[spec.name]}' if self.respawns[spec.name] else ''
        self.log(f'started {spec.name} ({spec.package}/{spec.executable}, pid {proc.pid}'
                 f'{flags}{again})')

    def running(self):
        """Return the names of the nodes still running."""
        return [name for name, child in self.children.items() if child.proc.poll() is None]

    def respawning(self):
        """Return the names of the nodes waiting for their respawn delay."""
        return sorted(self._respawn_due)

    def poll(self):
        """
        Reap nodes that exited, respawn those due; return the NodeDied of a required one.

        Non-required deaths are logged, respawning nodes are scheduled to start again;
        leftover processes in a dead node's group are killed.
        """
        self._respawn_due_nodes()
        self._check_respawned()
        for name, child in self.children.items():
            if child.returncode is not None:
                continue
            returncode = child.proc.poll()
            if returncode is None:
                continue
            child.returncode = returncode
            if child.signal_group(signal.SIGKILL):
                self.log(f'{name} left processes behind in its group: killed them')
            if self._stopping:
                continue
            child.thread.join(1.0)
            if child.spec.respawn and self.respawn:
                self._respawn_due[name] = time.monotonic() + child.spec.respawn_delay
                self.log(f'node {name} exited with {describe_returncode(returncode)}: '
                         f'respawning in {child.spec.respawn_delay:g} s')
            elif child.spec.required:
                if self.failure is None:
                    self.failure = NodeDied(name, returncode, child.tail)
                    self.log(f'required node {name} exited with '
                             f'{describe_returncode(returncode)}: stopping the graph')
            else:
                self.log(f'node {name} (not required) exited with '
                         f'{describe_returncode(returncode)}; the graph keeps running')
        return self.failure

    def _respawn_due_nodes(self):
        now = time.monotonic()
        for name, due in list(self._respawn_due.items()):
            if now < due or self._stopping:
                continue
            del self._respawn_due[name]
            self.respawns[name] += 1
            spec = self.children[name].spec
            try:
                self._spawn(spec)
            except StartupError as exc:
                self.log(f'cannot respawn {name}: {exc}')
                if spec.required and self.failure is None:
                    self.failure = NodeDied(name, self.children[name].returncode,
                                            self.children[name].tail)
                continue
            if self.graph_check is not None:
                self._unseen[name] = time.monotonic() + self.respawn_check_s

    def _check_respawned(self):
        """Kill a respawned node still off the ROS graph at its deadline (it respawns again)."""
        if not self._unseen:
            return
        try:
            missing = set(self.graph_check(list(self._unseen)))
        except Exception as exc:  # noqa: B902 - a failing check must not stop the graph
            self.log(f'cannot check the ROS graph for respawned nodes: {exc}')
            return
        now = time.monotonic()
        for name, deadline in list(self._unseen.items()):
            child = self.children[name]
            if child.proc.poll() is not None:
                del self._unseen[name]  # exited: poll() handles it like any exit
            elif name not in missing:
                del self._unseen[name]
                self.log(f'respawned {name} is on the ROS graph')
            elif now >= deadline:
                del self._unseen[name]
                self.unseen_respawns[name] += 1
                self.log(f'respawned {name} is not on the ROS graph after '
                         f'{self.respawn_check_s:g} s: killing it to start it again')
                child.signal_group(signal.SIGKILL)

    def wait_until_ready(self, missing, timeout):
        """
        Wait until missing() returns an empty collection; raise if a node dies first.

        missing: callable returning what is not ready yet (e.g. node names not yet visible on
        the ROS graph). Raise NodeDied if any node exits meanwhile (required or not: a graph
        that loses a node while starting did not start), StartupError after timeout s.
        """
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            for name, child in self.children.items():
                if child.returncode is not None:
                    child.thread.join(1.0)
                    raise NodeDied(name, child.returncode, child.tail)
            waiting = missing()
            if not waiting:
                return
            if time.monotonic() >= deadline:
                raise StartupError(f'graph not ready after {timeout:.0f} s, still waiting for '
                                   f'{", ".join(sorted(map(str, waiting)))}')
            if self._stop_requested.wait(0.2):
                raise StartupError('stop requested while the graph was starting')

    def request_stop(self, signum=signal.SIGINT):
        """Ask run() to stop the graph with signum (signal-handler safe); twice = hurry."""
        if self._stop_requested.is_set():
            self._hurry.set()
            return
        self._stop_signal = signum
        self._stop_requested.set()

    def run(self):
        """Watch the graph until a stop request, a required node's death, or all exit."""
        while True:
            failure = self.poll()
            if failure is not None:
                self.log(str(failure))
                self.stop()
                return EXIT_REQUIRED_DIED
            if self._stop_requested.is_set():
                name = signal.Signals(self._stop_signal).name
                self.log(f'{name} received: stopping {len(self.running())} node(s)')
                clean = self.stop(self._stop_signal)
                return EXIT_OK if clean else EXIT_UNCLEAN_STOP
            if not self.running() and not self._respawn_due:
                codes = {n: c.returncode for n, c in self.children.items()}
                self.log(f'every node exited: {self._summary()}')
                return EXIT_OK if all(code == 0 for code in codes.values()) \
                    else EXIT_UNCLEAN_STOP
            self._stop_requested.wait(0.1)

    def stop(self, first_signal=signal.SIGINT):
        """
        Stop every node: first_signal, then SIGTERM after grace s, then SIGKILL.

        Return True when every node exited on first_signal with code 0 (or died of it).
        """
        self._stopping = True
        self._respawn_due.clear()
        self._unseen.clear()
        plan = [(first_signal, self.grace)]
        if first_signal != signal.SIGTERM:
            plan.append((signal.SIGTERM, self.term_grace))
        plan.append((signal.SIGKILL, 5.0))
        for sig, wait in plan:
            alive = [c for c in self.children.values() if c.proc.poll() is None]
            if not alive:
                break
            for child in alive:
                if sig != first_signal:
                    child.escalated = sig
                    self.log(f'{child.spec.name} still running: sending {sig.name}')
                child.signal_group(sig)
            deadline = time.monotonic() + wait
            while any(c.proc.poll() is None for c in alive) and time.monotonic() < deadline:
                if self._hurry.wait(0.05):
                    self._hurry.clear()
                    break
        self.poll()
        for child in self.children.values():
            child.signal_group(signal.SIGKILL)
            child.thread.join(2.0)
        self._stopping = False
        if self.children:
            self.log(f'stopped: {self._summary()}')
        clean_codes = (0, -first_signal, 128 + first_signal)
        return all(c.escalated is None and c.returncode in clean_codes
                   for c in self.children.values())

    def _summary(self):
        parts = []
        for name, child in self.children.items():
            text = f'{name} {describe_returncode(child.returncode)}'
            if child.escalated is not None:
                text += f' (after {child.escalated.name})'
            parts.append(text)
        return ', '.join(parts)


def parse_launch_args(items):
    """Return {name: value} from `name:=value` items; raise ValueError on others."""
    values = {}
    for item in items:
        name, sep, value = item.partition(':=')
        if not sep or not name:
            raise ValueError(f'launch arguments are written name:=value, got {item!r}')
        values[name] = value
    return values


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='sage_supervisor',
        description='Start the SAGE graph as separate processes (like ros2 launch).')
    parser.add_argument('--graph', help='graph description (default: launch/sage_graph.yaml)')
    parser.add_argument('--only', help='comma-separated node names to start (default: all)')
    parser.add_argument('--domain-id', type=int, help='set ROS_DOMAIN_ID for the nodes')
    parser.add_argument('--dds-network', action='store_true',
                        help='let DDS discovery leave this machine (default: loopback only)')
    parser.add_argument('--grace', type=float, default=10.0,
                        help='seconds nodes get to exit after SIGINT before SIGTERM')
    parser.add_argument('--term-grace', type=float, default=5.0,
                        help='seconds nodes get to exit after SIGTERM before SIGKILL')
    parser.add_argument('--no-respawn', action='store_true',
                        help='do not restart nodes declared with respawn: every exit is final')
    parser.add_argument('--respawn-check', type=float, default=30.0, metavar='S',
                        help='a respawned node not on the ROS graph after S s is killed and '
                             'started again (0: no check)')
    parser.add_argument('launch_args', nargs='*', metavar='name:=value')
    args = parser.parse_args(argv)
    try:
        values = parse_launch_args(args.launch_args)
        description = graph_mod.load(args.graph)
        only = [n for n in args.only.split(',') if n] if args.only else None
        specs = description.resolve(values, only=only)
        env = node_environment(domain_id=args.domain_id, loopback=not args.dds_network)
    except (graph_mod.GraphError, ValueError) as exc:
        print(f'sage_supervisor: error: {exc}', file=sys.stderr)
        return EXIT_USAGE
    if not specs:
        print('sage_supervisor: error: no node to start with these arguments', file=sys.stderr)
        return EXIT_USAGE

    ros = None
    if args.respawn_check > 0 and not args.no_respawn and any(s.respawn for s in specs):
        from sage_common.ros_client import RosClient

        os.environ.update(env)  # the supervisor's own client joins the nodes' domain
        ros = RosClient('sage_supervisor')
    supervisor = Supervisor(specs, env=env, grace=args.grace, term_grace=args.term_grace,
                            respawn=not args.no_respawn,
                            graph_check=ros.missing if ros else None,
                            respawn_check_s=args.respawn_check)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: supervisor.request_stop(signum))
    supervisor.log(f'graph {description.source}: {len(specs)} node(s), ROS_DOMAIN_ID='
                   f'{env.get("ROS_DOMAIN_ID", "0 (default)")}, DDS '
                   f'{"network" if args.dds_network else "loopback only"}')
    try:
        supervisor.start()
    except StartupError as exc:
        supervisor.log(f'error: {exc}')
        return EXIT_REQUIRED_DIED
    try:
        return supervisor.run()
    finally:
        if ros is not None:
            ros.close()


if __name__ == '__main__':
    sys.exit(main())
