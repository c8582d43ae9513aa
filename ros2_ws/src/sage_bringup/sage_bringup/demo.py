# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The main job (`make demo`), first form: the simulated robot driven by its teacher.

    python -m sage_bringup.demo [--config FILE] [--domain-id N] [--verbose]

Phases, in order (later issues add sleep, dream and redeploy after wake):
    bringup  start the configured nodes of the graph through the supervisor on their own
             ROS domain (loopback only) and wait until each is on the ROS graph
    wake     run the seeded episodes through /sim_robot/reset_episode, printing each
             result (seed, final distance, success) as it ends, then a summary

Exit codes: 0 success rate >= min_success_rate, 1 a node failed / an episode did not end /
success rate too low, 2 bad configuration or graph, 130 interrupted. The nodes are always
stopped, whatever happens.
"""

import argparse
from dataclasses import dataclass
import os
from pathlib import Path
import signal
import statistics
import sys
import threading
import time

from sage_bringup import graph as graph_mod
from sage_bringup import supervisor as sup
import yaml

CONFIG_KEYS = {'graph', 'launch_args', 'nodes', 'domain_id', 'startup_timeout', 'node_log',
               'episodes', 'min_success_rate'}
EPISODE_KEYS = {'seeds', 'duration', 'timeout_margin'}
RESET_SERVICE = '/sim_robot/reset_episode'
EPISODE_TOPIC = '/sim/episode'


class ConfigError(ValueError):
    """The demo configuration is malformed."""


class DemoFailure(RuntimeError):
    """Something the demo needs failed; the message says what."""


class Interrupted(Exception):
    """SIGINT/SIGTERM while the demo runs."""


def default_config_file():
    """Return sage_bringup's config/demo.yaml (installed share dir, else the source tree)."""
    try:
        prefix = graph_mod.find_package_prefix('sage_bringup')
        installed = prefix / 'share' / 'sage_bringup' / 'config' / 'demo.yaml'
        if installed.is_file():
            return installed
    except graph_mod.GraphError:
        pass
    return Path(__file__).resolve().parents[1] / 'config' / 'demo.yaml'


def load_config(path):
    """Load and validate the demo configuration; raise ConfigError naming the problem."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding='utf-8'))
    except OSError as exc:
        raise ConfigError(f'cannot read demo config {path}: {exc.strerror}') from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f'{path}: not valid YAML: {exc}') from exc
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: expected a mapping')
    unknown = sorted(set(data) - CONFIG_KEYS)
    if unknown:
        raise ConfigError(f'{path}: unknown key(s) {", ".join(unknown)} '
                          f'(allowed: {", ".join(sorted(CONFIG_KEYS))})')
    episodes = data.get('episodes') or {}
    if not isinstance(episodes, dict) or set(episodes) - EPISODE_KEYS:
        raise ConfigError(f'{path}: "episodes" takes {", ".join(sorted(EPISODE_KEYS))}')
    seeds = episodes.get('seeds')
    if not isinstance(seeds, list) or not seeds or \
            not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ConfigError(f'{path}: episodes.seeds must be a non-empty list of integers')
    config = {
        'graph': data.get('graph') or None,
        'launch_args': {str(k): str(v) for k, v in (data.get('launch_args') or {}).items()},
        'nodes': data.get('nodes') or None,
        'domain_id': data.get('domain_id'),
        'node_log': data.get('node_log') or None,
        'seeds': seeds,
    }
    for key, source, default in (('startup_timeout', data, 60.0),
                                 ('min_success_rate', data, 0.8),
                                 ('duration', episodes, 0.0),
                                 ('timeout_margin', episodes, 15.0)):
        value = source.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f'{path}: {key} must be a non-negative number, got {value!r}')
        config[key] = float(value)
    if config['min_success_rate'] > 1:
        raise ConfigError(f'{path}: min_success_rate is a fraction in [0, 1]')
    if config['nodes'] is not None and (not isinstance(config['nodes'], list) or
                                        not all(isinstance(n, str) for n in config['nodes'])):
        raise ConfigError(f'{path}: nodes must be a list of node names')
    if config['domain_id'] is not None and (isinstance(config['domain_id'], bool) or
                                            not isinstance(config['domain_id'], int)):
        raise ConfigError(f'{path}: domain_id must be an integer or null')
    return config


@dataclass
class EpisodeResult:
    """The end of one episode as /sim/episode reported it."""

    seed: int
    episode: int
    distance: float
    success: bool
    seconds: float


class RosLink:
    """The demo's own rclpy node: graph queries, the reset service, /sim/episode."""

    def __init__(self):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sage_interfaces.msg import EpisodeState
        from sage_interfaces.srv import ResetEpisode

        self.context = rclpy.context.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('sage_demo', context=self.context)
        self._lock = threading.Lock()
        self._states = []
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(EpisodeState, EPISODE_TOPIC, self._on_state, qos)
        self.reset_client = self.node.create_client(ResetEpisode, RESET_SERVICE)
        self.ResetEpisode = ResetEpisode
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self):
        while not self._stop.is_set() and self.context.ok():
            self.executor.spin_once(timeout_sec=0.05)

    def _on_state(self, msg):
        with self._lock:
            self._states.append(msg)

    def missing(self, node_names):
        """Return the node names and services not yet visible on the ROS graph."""
        visible = set(self.node.get_node_names())
        waiting = [name for name in node_names if name not in visible]
        if not self.reset_client.service_is_ready():
            waiting.append(f'service {RESET_SERVICE}')
        return waiting

    def reset(self, seed, duration, timeout, alive):
        """Call the reset service; return the response (raise DemoFailure on failure)."""
        request = self.ResetEpisode.Request()
        request.seed = int(seed)
        request.duration = float(duration)
        with self._lock:
            self._states.clear()
        future = self.reset_client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done():
            alive()
            if time.monotonic() > deadline:
                raise DemoFailure(f'{RESET_SERVICE} did not answer within {timeout:.0f} s')
            time.sleep(0.02)
        response = future.result()
        if not response.success:
            raise DemoFailure(f'{RESET_SERVICE} refused seed {seed}: {response.message}')
        return response

    def final_state(self, episode, timeout, alive):
        """Wait for /sim/episode to report `episode` over (running false); return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive()
            with self._lock:
                for msg in self._states:
                    if msg.episode == episode and not msg.running:
                        return msg
            time.sleep(0.02)
        raise DemoFailure(f'episode {episode} did not end within {timeout:.0f} s '
                          f'(no running=false on {EPISODE_TOPIC})')

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


class Demo:
    """The demo as a sequence of phases sharing one supervisor and one ROS link."""

    PHASES = ('bringup', 'wake')

    def __init__(self, config, domain_id, out=None, verbose=False):
        self.config = config
        self.domain_id = domain_id
        self.out = sys.stdout if out is None else out
        self.verbose = verbose
        self.supervisor = None
        self.ros = None
        self.results = []
        self._node_log = None

    def say(self, text):
        self.out.write(text + '\n')
        self.out.flush()

    def run(self):
        """Run every phase; return the exit code. The nodes are stopped in every case."""
        try:
            for phase in self.PHASES:
                self.say(f'== {phase}')
                getattr(self, f'phase_{phase}')()
            return self.verdict()
        except (graph_mod.GraphError, ConfigError) as exc:
            self.say(f'demo: error: {exc}')
            return 2
        except (DemoFailure, sup.NodeDied, sup.StartupError) as exc:
            self.say(f'demo: FAILED: {exc}')
            if self._node_log is not None:
                self.say(f'demo: node output in {self._node_log.name}')
            return 1
        except Interrupted as exc:
            self.say(f'demo: interrupted by {exc}')
            return 130
        finally:
            self.teardown()

    def phase_bringup(self):
        description = graph_mod.load(self.config['graph'])
        specs = description.resolve(self.config['launch_args'], only=self.config['nodes'])
        if not specs:
            raise DemoFailure('the configured nodes are all disabled by the launch arguments')
        env = sup.node_environment(domain_id=self.domain_id)
        os.environ.update(env)  # this process's rclpy joins the same domain, on loopback
        if self.verbose:
            out = self.out
        else:
            log_path = Path(self.config['node_log'] or
                            Path(os.environ.get('SAGE_ROOT', '.')) / 'reports' / 'demo' /
                            'nodes.log')
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._node_log = out = open(log_path, 'w', encoding='utf-8')
        self.supervisor = sup.Supervisor(specs, env=env, out=out, grace=10.0, term_grace=5.0)
        names = [spec.name for spec in specs]
        self.say(f'starting {", ".join(names)} on ROS_DOMAIN_ID={self.domain_id} '
                 f'(DDS on loopback)')
        self.supervisor.start()
        self.ros = RosLink()
        start = time.monotonic()
        self.supervisor.wait_until_ready(lambda: self.ros.missing(names),
                                         self.config['startup_timeout'])
        self.say(f'graph up in {time.monotonic() - start:.1f} s')

    def _alive(self):
        """Raise DemoFailure if any node of the demo has exited."""
        self.supervisor.poll()
        for name, child in self.supervisor.children.items():
            if child.returncode is not None:
                raise sup.NodeDied(name, child.returncode, child.tail)

    def phase_wake(self):
        seeds = self.config['seeds']
        duration = self.config['duration']
        wait = duration + self.config['timeout_margin']
        for index, seed in enumerate(seeds, 1):
            start = time.monotonic()
            response = self.ros.reset(seed, duration, wait, self._alive)
            final = self.ros.final_state(response.episode, wait, self._alive)
            result = EpisodeResult(seed, response.episode, float(final.distance),
                                   bool(final.success), time.monotonic() - start)
            self.results.append(result)
            self.say(f'episode {index}/{len(seeds)}  seed {seed:<6d} final distance '
                     f'{1000 * result.distance:7.2f} mm  '
                     f'{"success" if result.success else "FAIL   "}'
                     f'  ({result.seconds:.1f} s)')

    def verdict(self):
        """Print the summary; return 0 if the success rate reaches the configured minimum."""
        successes = sum(r.success for r in self.results)
        rate = successes / len(self.results)
        distances = [r.distance for r in self.results]
        self.say(f'== summary: {successes}/{len(self.results)} episodes succeeded '
                 f'({100 * rate:.0f}%), final distance median '
                 f'{1000 * statistics.median(distances):.2f} mm, max '
                 f'{1000 * max(distances):.2f} mm')
        if rate < self.config['min_success_rate']:
            self.say(f'demo: FAILED: success rate {100 * rate:.0f}% is below the required '
                     f'{100 * self.config["min_success_rate"]:.0f}%')
            return 1
        return 0

    def teardown(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):  # the stop below is bounded in time
                signal.signal(sig, signal.SIG_IGN)
        if self.ros is not None:
            self.ros.close()
            self.ros = None
        if self.supervisor is not None:
            self.supervisor.stop()
            self.supervisor = None
        if self._node_log is not None:
            self._node_log.close()


def _raise_interrupted(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='sage_bringup.demo', description=__doc__.split('\n')[1])
    parser.add_argument('--config', help='demo configuration (default: sage_bringup '
                        'config/demo.yaml)')
    parser.add_argument('--domain-id', type=int, help='ROS domain of the demo (overrides the '
                        'config)')
    parser.add_argument('--verbose', action='store_true', help="show the nodes' output live")
    args = parser.parse_args(argv)
    config_path = args.config or default_config_file()
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f'demo: error: {exc}', file=sys.stderr)
        return 2
    domain_id = args.domain_id if args.domain_id is not None else config['domain_id']
    if domain_id is None:
        domain_id = 61 + os.getpid() % 40
    try:
        sup.node_environment(domain_id=domain_id)
    except ValueError as exc:
        print(f'demo: error: {exc}', file=sys.stderr)
        return 2
    print(f'SAGE demo: config {config_path}', flush=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise_interrupted)
    return Demo(config, domain_id, verbose=args.verbose).run()


if __name__ == '__main__':
    sys.exit(main())
