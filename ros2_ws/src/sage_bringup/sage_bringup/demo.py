# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The main job (`make demo`): wake -> sleep -> dream -> redeploy, twice, on the simulated robot.

    python -m sage_bringup.demo [--config FILE] [--domain-id N] [--verbose]

Over real ROS 2, every node a separate process started by the supervisor (own DDS domain,
loopback only), with a fresh model registry and bag store under runs/<run-id>/:

    prepare    create the first model versions deterministically from the configured seed
    bringup    sim_robot, context_node, h_module, sleep_manager; then the driver nodes
    cycle N:
      wake     cycle 1: the teacher drives, SAGE runs in shadow mode; later cycles (DAgger):
               SAGE drives and the teacher only labels, on /teacher/commands. The sleep
               manager records everything.
      sleep    /sleep_manager/start_sleep: the trainer consolidates and dreams on the bags,
               validates, deploys; the sleep manager has the nodes hot-reload the new versions.
               The demo checks the versions the nodes stamp on their messages.
      evaluate SAGE drives alone (teacher stopped, recording off) on held-out seeds.
    offline    plain behaviour cloning trained on the same bags for the wall-clock time of all
               sleeps together, and every policy evaluated in simulated time on the held-out
               seeds, nominal and perturbed (sage_evaluate; the learning bench measures the
               ablations of sleep, dreams included)
    report     reports/<run-id>/report.md, report.json, PNG plots; reports/latest -> it

Exit codes: 0 the cycle ran and produced its report (whatever the success rates — the report
says whether the goals were met), 1 a node or phase failed, 2 bad configuration or graph,
130 interrupted. The nodes are always stopped.
"""

import argparse
import datetime
import json
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
from sage_bringup import graph as graph_mod
from sage_bringup import supervisor as sup
from sage_bringup.report import write_report
from sage_common.ros_client import RosClient
from sage_common.stats import jerk_rms
import yaml

RESET_SERVICE = '/sim_robot/reset_episode'
PAUSE_SERVICE = '/sim_robot/pause'
SLEEP_SERVICE = '/sleep_manager/start_sleep'
RECORDING_SERVICE = '/sleep_manager/set_recording'
BASE_NODES = ('sim_robot', 'context_node', 'h_module', 'sleep_manager')
COMMAND_TOPIC = '/arm_controller/commands'
GROOT_SERVER = 'sage_policy_server'   # not a ROS node: no name to wait for on the graph

DEFAULTS = {
    'graph': '',                  # '' = launch/sage_graph.yaml of this checkout
    'domain_id': None,            # None = 61 + pid % 40
    'startup_timeout': 90.0,
    'run_root': '',               # '' = $SAGE_ROOT/runs
    'report_root': '',            # '' = $SAGE_ROOT/reports
    'seed': 0,                    # initial model weights and training
    'camera': {'width': 64, 'height': 64},
    'episode_duration': 2.0,
    'cycles': [{'episodes': 120, 'first_seed': 0}, {'episodes': 40, 'first_seed': 10000}],
    # A sleep's budget is wall-clock seconds of training (the baselines get the same); its
    # deployment gate is closed-loop success on development seeds (never the evaluation's).
    'sleep': {'seconds': 240.0, 'batch_size': 48, 'timeout': 1800.0,
              'gate': {'first_seed': 200000, 'episodes': 30, 'floor': 0.5}},
    'evaluate': {'first_seed': 100000, 'ros_episodes': 20, 'episodes': 100,
                 'perturbations': ['physics', 'vision']},
    'baselines': True,
    'slow_start_step': 1.0,       # l_module slow start: each speed step lasts this long (s)
    'episode_timeout_margin': 15.0,
    'teacher': 'scripted',        # cycle 1's teacher: scripted, or groot (see groot_teacher)
}


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


def _merge(defaults, values, where):
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise ConfigError(f'{where}: unknown key(s) {", ".join(unknown)} '
                          f'(allowed: {", ".join(sorted(defaults))})')
    merged = dict(defaults)
    for key, value in values.items():
        if isinstance(defaults[key], dict) and defaults[key]:
            if not isinstance(value, dict):
                raise ConfigError(f'{where}: {key} must be a mapping')
            value = _merge(defaults[key], value, f'{where}.{key}')
        merged[key] = value
    return merged


def load_config(path):
    """Load and validate the demo configuration; raise ConfigError naming the problem."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding='utf-8')) or {}
    except OSError as exc:
        raise ConfigError(f'cannot read demo config {path}: {exc.strerror}') from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f'{path}: not valid YAML: {exc}') from exc
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: expected a mapping')
    config = _merge(DEFAULTS, data, str(path))
    cycles = config['cycles']
    if not isinstance(cycles, list) or not cycles or not all(
            isinstance(c, dict) and set(c) == {'episodes', 'first_seed'} and
            all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in c.values())
            and c['episodes'] > 0 for c in cycles):
        raise ConfigError(f'{path}: cycles must be a non-empty list of '
                          f'{{episodes: N > 0, first_seed: S >= 0}}')
    for key in ('startup_timeout', 'episode_duration', 'slow_start_step',
                'episode_timeout_margin'):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f'{path}: {key} must be a positive number, got {value!r}')
    if config['teacher'] not in ('scripted', 'groot'):
        raise ConfigError(f"{path}: teacher must be scripted or groot, got {config['teacher']!r}")
    sleep = config['sleep']
    if not isinstance(sleep['batch_size'], int) or sleep['batch_size'] < 1:
        raise ConfigError(f'{path}: sleep.batch_size must be a positive integer')
    for key, value in (('seconds', sleep['seconds']), ('timeout', sleep['timeout'])):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f'{path}: sleep.{key} must be a positive number, got {value!r}')
    gate = sleep['gate']
    if not (isinstance(gate['episodes'], int) and gate['episodes'] >= 0
            and isinstance(gate['first_seed'], int) and 0 <= gate['floor'] <= 1):
        raise ConfigError(f'{path}: sleep.gate needs episodes >= 0, a first_seed and a floor '
                          f'in [0, 1]')
    ev = config['evaluate']
    for key in ('ros_episodes', 'episodes'):
        if not isinstance(ev[key], int) or ev[key] < 0:
            raise ConfigError(f'{path}: evaluate.{key} must be an integer >= 0')
    held_out = range(ev['first_seed'], ev['first_seed'] + max(ev['episodes'], ev['ros_episodes']))
    development = range(gate['first_seed'], gate['first_seed'] + gate['episodes'])
    if set(development) & set(held_out):
        raise ConfigError(f'{path}: the development seeds of sleep.gate overlap the held-out '
                          f'evaluation seeds')
    for cycle in cycles:
        trained = range(cycle['first_seed'], cycle['first_seed'] + cycle['episodes'])
        if set(trained) & (set(held_out) | set(development)):
            raise ConfigError(f'{path}: training seeds {trained.start}..{trained.stop - 1} '
                              f'overlap the held-out evaluation or development seeds')
    return config


class RosLink(RosClient):
    """The demo's own rclpy node: services, episode state, versions, commands, status."""

    timeout_error = DemoFailure

    def __init__(self, watch_versions=True):
        """watch_versions: also take the 4096-D contexts, for the versions that stamp them."""
        from sage_common.qos import latched_qos, reliable_qos
        from sage_interfaces.msg import CompressedContext, Context, EpisodeState, SleepStatus
        from sage_interfaces.srv import ResetEpisode
        from diagnostic_msgs.msg import DiagnosticArray
        from std_msgs.msg import Float64MultiArray
        from std_srvs.srv import SetBool, Trigger

        super().__init__('sage_demo')
        self._lock = threading.Lock()
        self._states = []
        self.status = None
        self.versions = {}          # message source -> newest model_version seen
        self.l_diagnostics = {}
        self.commands = []          # (receive time, targets) while recording commands
        self.recording_commands = False
        qos = reliable_qos(100)
        n = self.node
        n.create_subscription(EpisodeState, '/sim/episode', self._on_state, qos)
        n.create_subscription(SleepStatus, '/sage/sleep_status', self._on_status, latched_qos())
        if watch_versions:
            n.create_subscription(Context, '/sage/context',
                                  lambda m: self._version('encoder', m.model_version), 10)
            n.create_subscription(CompressedContext, '/sage/context_compressed',
                                  lambda m: self._version('h_module', m.model_version), 10)
        n.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 50)
        n.create_subscription(Float64MultiArray, COMMAND_TOPIC, self._on_command, qos)
        for srv_type, name in ((ResetEpisode, RESET_SERVICE), (Trigger, SLEEP_SERVICE),
                               (SetBool, RECORDING_SERVICE), (SetBool, PAUSE_SERVICE)):
            self.client(srv_type, name)
        self.ResetEpisode, self.SetBool, self.Trigger = ResetEpisode, SetBool, Trigger

    def _on_state(self, msg):
        with self._lock:
            self._states.append(msg)

    def _on_status(self, msg):
        self.status = msg

    def _version(self, source, version):
        self.versions[source] = version

    def _on_diagnostics(self, msg):
        for status in msg.status:
            if status.hardware_id == 'l_module':
                self.l_diagnostics = {kv.key: kv.value for kv in status.values}
                self.versions['l_module'] = self.l_diagnostics.get('model_version', '')

    def _on_command(self, msg):
        if self.recording_commands:
            self.commands.append((time.monotonic(), np.asarray(msg.data, float)))

    def run_episode(self, seed, duration, timeout, alive):
        """Reset to seed and wait for the episode's end; return its final EpisodeState."""
        request = self.ResetEpisode.Request(seed=int(seed), duration=float(duration))
        with self._lock:
            self._states.clear()
        response = self.call(self.ResetEpisode, RESET_SERVICE, request, timeout, alive)
        if not response.success:
            raise DemoFailure(f'{RESET_SERVICE} refused seed {seed}: {response.message}')
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive()
            with self._lock:
                for msg in self._states:
                    if msg.episode == response.episode and not msg.running:
                        return msg
            time.sleep(0.02)
        raise DemoFailure(f'episode {response.episode} (seed {seed}) did not end within '
                          f'{timeout:.0f} s')

    def set_sim_paused(self, paused, alive):
        """Pause or resume the simulated robot (it rests while it sleeps)."""
        reply = self.call(self.SetBool, PAUSE_SERVICE, self.SetBool.Request(data=bool(paused)),
                          60.0, alive)
        if not reply.success:
            raise DemoFailure(f'{PAUSE_SERVICE} refused: {reply.message}')

    def set_recording(self, on, alive):
        reply = self.call(self.SetBool, RECORDING_SERVICE, self.SetBool.Request(data=bool(on)),
                          60.0, alive)
        if not reply.success:
            raise DemoFailure(f'{RECORDING_SERVICE} refused: {reply.message}')
        return reply.message


def groot_teacher(specs, protocol='n1.5'):
    """
    Replace the scripted teacher in specs by "GR00T" over ZeroMQ.

    The scripted expert behind sage_policy_server and sage_groot's groot_teacher node in
    front of it, on loopback (a free port), publishing where the scripted teacher would.
    """
    import socket

    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    prefix = graph_mod.find_package_prefix('sage_groot')
    out = []
    for spec in specs:
        if spec.name != 'teacher':
            out.append(spec)
            continue
        out.append(graph_mod.NodeSpec(
            name='groot_server', package='sage_groot', executable=GROOT_SERVER,
            executable_path=prefix / 'lib' / 'sage_groot' / GROOT_SERVER,
            arguments=('--protocol', protocol, '--port', str(port)), required=spec.required))
        out.append(graph_mod.NodeSpec(
            name='groot_teacher', package='sage_groot', executable='groot_teacher',
            executable_path=prefix / 'lib' / 'sage_groot' / 'groot_teacher',
            params_files=(prefix / 'share' / 'sage_groot' / 'config' / 'groot_teacher.yaml',),
            params={'protocol': protocol, 'port': port,
                    'output_topic': spec.params['output_topic']},
            remaps=spec.remaps, required=spec.required))
    return out


def command_stats(commands, period):
    """
    Return rate, interval p99 and jerk RMS of (time, targets) commands, as received.

    The commands are uneven in time by design (one on each chunk's arrival besides the
    timer's), so the jerk is taken on the targets interpolated onto a grid of `period`.
    """
    if len(commands) < 4:
        return {'commands': len(commands)}
    times = np.array([t for t, _ in commands])
    targets = np.array([c for _, c in commands], dtype=float)
    grid = np.arange(times[0], times[-1], period)
    uniform = np.stack([np.interp(grid, times, targets[:, j])
                        for j in range(targets.shape[1])], axis=1)
    return {'commands': len(commands),
            'rate_hz': float((len(times) - 1) / (times[-1] - times[0])),
            'interval_p99_ms': float(np.percentile(np.diff(times), 99) * 1e3),
            'jerk_rms': jerk_rms(uniform, period)}


class Demo:
    """The demo as a sequence of phases sharing the supervisors and one ROS link."""

    def __init__(self, config, domain_id, out=None, verbose=False):
        self.config = config
        self.domain_id = domain_id
        self.out = sys.stdout if out is None else out
        self.verbose = verbose
        self.base = None
        self.drivers = None
        self.ros = None
        self.env = None
        self._node_log = None
        self.started = time.monotonic()
        root = Path(os.environ.get('SAGE_ROOT', '.'))
        self.run_id = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
        self.run_dir = Path(config['run_root'] or root / 'runs') / self.run_id
        self.report_dir = Path(config['report_root'] or root / 'reports') / self.run_id
        self.models = self.run_dir / 'models'
        self.bags = self.run_dir / 'bags'
        self.sleeps = self.run_dir / 'sleeps'
        self.results = {'run_id': self.run_id, 'config': config, 'cycles': [],
                        'phase_seconds': {}}

    def say(self, text):
        self.out.write(text + '\n')
        self.out.flush()

    def run(self):
        """Run every phase; return the exit code. The nodes are stopped in every case."""
        try:
            self.phase('prepare', self.phase_prepare)
            self.phase('bringup', self.phase_bringup)
            for index, cycle in enumerate(self.config['cycles'], 1):
                self.phase(f'wake {index}', lambda: self.phase_wake(index, cycle))
                self.phase(f'sleep {index}', lambda: self.phase_sleep(index))
                self.phase(f'evaluate {index}', lambda: self.phase_evaluate(index))
            self.stop_graph()
            self.phase('offline', self.phase_offline)
            self.phase('report', self.phase_report)
            return 0
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

    def phase(self, name, body):
        self.say(f'== {name}  (t+{time.monotonic() - self.started:.0f} s)')
        start = time.monotonic()
        body()
        self.results['phase_seconds'][name] = round(time.monotonic() - start, 1)

    # -- phases ------------------------------------------------------------------------
    def phase_prepare(self):
        from sage_common.registry import ModelRegistry
        from sage_sleep.models_cli import init_models

        self.run_dir.mkdir(parents=True)
        self.report_dir.mkdir(parents=True)
        init_models(ModelRegistry(self.models), seed=self.config['seed'],
                    log=lambda m: self.say(f'  {m}'))
        self.say(f'  run {self.run_id}: registry {self.models}, bags {self.bags}')

    def _specs(self, driver, only):
        description = graph_mod.load(self.config['graph'] or None)
        values = {'robot': 'sim', 'driver': driver, 'model_dir': str(self.models)}
        specs = description.resolve({k: v for k, v in values.items()
                                     if k in description.arguments}, only=only)
        cam, sleep = self.config['camera'], self.config['sleep']
        gate = sleep['gate']
        trainer = [sys.executable, '-m', 'sage_sleep.learning.trainer',
                   '--runs-root', str(self.sleeps),
                   '--steps', '0', '--seconds', str(sleep['seconds']),
                   '--batch-size', str(sleep['batch_size']), '--seed', str(self.config['seed']),
                   '--threads', '2', '--closed-loop-floor', str(gate['floor']),
                   '--camera-width', str(cam['width']), '--camera-height', str(cam['height'])]
        trainer += ['--closed-loop-episodes', str(gate['episodes']),
                    '--closed-loop-first-seed', str(gate['first_seed'])]
        overrides = {
            'sim_robot': {'width': cam['width'], 'height': cam['height'],
                          'episode_duration': float(self.config['episode_duration'])},
            'sleep_manager': {'bag_root': str(self.bags), 'trainer_command': trainer},
            'l_module': {'slow_start_step': float(self.config['slow_start_step'])},
        }
        for spec in specs:
            spec.params.update(overrides.get(spec.name, {}))
        return specs

    def _start(self, specs, services=()):
        # No respawn: a node that dies during a measured run is a failure to report.
        supervisor = sup.Supervisor(specs, env=self.env, out=self._log_out(), grace=10.0,
                                    term_grace=5.0, respawn=False)
        supervisor.start()
        names = [spec.name for spec in specs if spec.executable != GROOT_SERVER]
        start = time.monotonic()
        try:
            supervisor.wait_until_ready(lambda: self.ros.missing(names, services),
                                        self.config['startup_timeout'])
        except BaseException:
            supervisor.stop()
            raise
        self.say(f'  {", ".join(names)} up in {time.monotonic() - start:.1f} s')
        return supervisor

    def _log_out(self):
        if self.verbose:
            return self.out
        if self._node_log is None:
            self._node_log = open(self.report_dir / 'nodes.log', 'w', encoding='utf-8')
        return self._node_log

    def phase_bringup(self):
        self.env = sup.node_environment(domain_id=self.domain_id)
        os.environ.update(self.env)  # this process's rclpy joins the same domain, on loopback
        self.ros = RosLink()
        self.say(f'  ROS_DOMAIN_ID={self.domain_id} (DDS on loopback); node output in '
                 f'{"this terminal" if self.verbose else self.report_dir / "nodes.log"}')
        self.base = self._start(self._specs('teacher', BASE_NODES),
                                (RESET_SERVICE, SLEEP_SERVICE, RECORDING_SERVICE,
                                 PAUSE_SERVICE))

    def _switch_drivers(self, driver, with_teacher):
        """Restart the driver nodes: the teacher (or not) and the L-module in its mode."""
        if self.drivers is not None:
            self.drivers.stop()
            self.drivers = None
        only = ['l_module'] + (['teacher'] if with_teacher else [])
        specs = self._specs(driver, only)
        if with_teacher and driver == 'teacher' and self.config['teacher'] == 'groot':
            specs = groot_teacher(specs)
        self.drivers = self._start(specs)
        if with_teacher:  # DDS discovery: the teacher may need a few s to hear the sim
            self._sleep(3.0)
        if driver == 'sage':  # the L-module ramps its speed up: wait for full speed
            warmup = 3.5 * float(self.config['slow_start_step'])
            self.say(f'  SAGE drives: waiting {warmup:.1f} s for the slow start to end')
            self._sleep(warmup)

    def _sleep(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._alive()
            time.sleep(0.05)

    def _alive(self):
        """Raise if any node of the demo has exited."""
        for supervisor in (self.base, self.drivers):
            if supervisor is None:
                continue
            supervisor.poll()
            for name, child in supervisor.children.items():
                if child.returncode is not None:
                    raise sup.NodeDied(name, child.returncode, child.tail)

    def _episodes(self, label, seeds):
        """Run seeded episodes, printing each; return a list of per-episode dicts."""
        duration = float(self.config['episode_duration'])
        timeout = duration + float(self.config['episode_timeout_margin'])
        results, wins = [], 0
        for i, seed in enumerate(seeds, 1):
            final = self.ros.run_episode(seed, duration, timeout, self._alive)
            wins += bool(final.success)
            results.append({'seed': int(seed), 'success': bool(final.success),
                            'final_distance': float(final.distance)})
            self.say(f'  {label}  episode {i:3d}/{len(seeds)}  seed {seed:<7d} '
                     f'{1000 * final.distance:6.1f} mm  '
                     f'{"success" if final.success else "fail   "}  '
                     f'(so far {wins}/{i}, {100 * wins / i:.0f}%)')
        return results

    def phase_wake(self, index, cycle):
        seeds = range(cycle['first_seed'], cycle['first_seed'] + cycle['episodes'])
        if index == 1:
            self.say('  the teacher drives; SAGE runs in shadow mode; everything is recorded')
            self._switch_drivers('teacher', with_teacher=True)
        else:
            self.say('  DAgger: SAGE drives, the teacher labels on /teacher/commands; '
                     'everything is recorded')
            self._switch_drivers('sage', with_teacher=True)
        self.say(f'  recording: {self.ros.set_recording(True, self._alive)}')
        results = self._episodes(f'wake {index}', seeds)
        self.results['cycles'].append({'cycle': index, 'wake': {
            'driver': 'teacher' if index == 1 else 'sage (teacher labels)',
            'episodes': len(results), 'successes': sum(r['success'] for r in results),
            'seeds': [seeds.start, seeds.stop - 1]}})

    def phase_sleep(self, index):
        # The robot rests while it sleeps: the driver nodes stop (the next phase starts its
        # own) and the paused simulator streams nothing, so the trainer gets the cores its
        # wall-clock budget is measured on (idle drivers took ~0.4 of a core: their 100 Hz
        # timers and the sleep manager receiving the L-module's hold commands).
        if self.drivers is not None:
            self.drivers.stop()
            self.drivers = None
        self.ros.set_sim_paused(True, self._alive)
        try:
            self._sleep_until_done(index)
        finally:
            self.ros.set_sim_paused(False, self._alive)
        self._check_versions(index)

    def _sleep_until_done(self, index):
        before = self.ros.status.last_result if self.ros.status else None
        reply = self.ros.call(self.ros.Trigger, SLEEP_SERVICE, self.ros.Trigger.Request(),
                              60.0, self._alive)
        if not reply.success:
            raise DemoFailure(f'sleep refused: {reply.message}')
        self.say(f'  {reply.message} (the simulated robot is paused)')
        deadline = time.monotonic() + float(self.config['sleep']['timeout'])
        shown = (None, -1.0)
        while True:
            self._alive()
            status = self.ros.status
            if status is not None and status.phase != 'wake':
                if status.phase != shown[0] or status.progress >= shown[1] + 0.1:
                    shown = (status.phase, status.progress)
                    self.say(f'  sleep {index}: {status.phase} {100 * status.progress:3.0f}%')
            elif status is not None and status.last_result != before:
                break
            if time.monotonic() > deadline:
                raise DemoFailure(f'sleep {index} did not finish within '
                                  f'{self.config["sleep"]["timeout"]:.0f} s')
            time.sleep(0.2)
        self.say(f'  sleep result: {status.last_result}')
        runs = sorted(self.sleeps.glob('sleep-[0-9][0-9][0-9]'))
        report_path = runs[-1] / 'report.json' if runs else None
        if report_path is None or not report_path.is_file():
            raise DemoFailure(f'sleep {index} produced no report: {status.last_result}')
        report = json.loads(report_path.read_text())
        self.results['cycles'][-1]['sleep'] = {
            'run_dir': str(report_path.parent), 'decision': report['decision'],
            'reason': report['reason'], 'new_versions': report.get('new_versions'),
            'deployed': report.get('deployed'), 'wall_time_s': report.get('wall_time_s'),
            'validation': {k: v for k, v in report['new'].items() if k != 'results'},
            'running_validation': report.get('running'),
            'status_result': status.last_result}
        self.say(f'  decision: {report["decision"]} — {report["reason"]}')

    def _check_versions(self, index):
        """Wait until the nodes stamp their messages with the registry's active versions."""
        from sage_common.registry import ModelRegistry

        registry = ModelRegistry(self.models)
        expected = {name: registry.active(name) for name in ('encoder', 'h_module')}
        self.ros.versions.pop('encoder', None)
        self.ros.versions.pop('h_module', None)
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            self._alive()
            if all(self.ros.versions.get(k) == v for k, v in expected.items()):
                break
            time.sleep(0.1)
        seen = {k: self.ros.versions.get(k) for k in expected}
        self.results['cycles'][-1]['versions'] = {'registry_active': expected,
                                                  'seen_in_messages': seen}
        if seen != expected:
            raise DemoFailure(f'after sleep {index} the nodes report {seen}, the registry '
                              f'deploys {expected}')
        self.say(f'  nodes now run {seen} (from their messages)')

    def phase_evaluate(self, index):
        ev = self.config['evaluate']
        self.say(f'  recording: {self.ros.set_recording(False, self._alive)}')
        self._switch_drivers('sage', with_teacher=False)
        self.say(f'  l_module runs {self.ros.versions.get("l_module", "?")}')
        seeds = range(ev['first_seed'], ev['first_seed'] + ev['ros_episodes'])
        self.ros.commands.clear()
        self.ros.recording_commands = True
        results = self._episodes(f'evaluate {index}', seeds) if len(seeds) else []
        self.ros.recording_commands = False
        diag = dict(self.ros.l_diagnostics)
        stats = command_stats(self.ros.commands, 1.0 / 100.0)
        wins = sum(r['success'] for r in results)
        self.results['cycles'][-1]['evaluate_ros'] = {
            'episodes': len(results), 'successes': wins,
            'success_rate': wins / len(results) if results else None,
            'l_module_version': diag.get('model_version'),
            'stamp_to_command_p50_ms': _float(diag.get('stamp_to_command_p50_ms')),
            'stamp_to_command_p99_ms': _float(diag.get('stamp_to_command_p99_ms')),
            'command_rate_hz_l_module': _float(diag.get('command_rate_hz')),
            # the timer's own: the received intervals are uneven by design (a command on
            # each chunk's arrival, the timer re-phased after it)
            'timer_jitter_p99_ms_l_module': _float(diag.get('jitter_p99_ms')),
            'received': stats, 'results': results}
        if results:
            self.say(f'  SAGE alone over ROS: {wins}/{len(results)} successes; camera->command '
                     f'p50 {diag.get("stamp_to_command_p50_ms")} ms, p99 '
                     f'{diag.get("stamp_to_command_p99_ms")} ms; commands '
                     f'{stats.get("rate_hz", 0):.1f} Hz')

    def stop_graph(self):
        for attr in ('drivers', 'base'):
            supervisor = getattr(self, attr)
            if supervisor is not None:
                supervisor.stop()
                setattr(self, attr, None)

    def phase_offline(self):
        from sage_sleep.learning.evaluate import Evaluator, make_policy, PRESETS

        ev, cam = self.config['evaluate'], self.config['camera']
        budget = float(self.config['sleep']['seconds']) * len(self.config['cycles'])
        policies = {}
        cycles = self.results['cycles']
        for c in cycles:
            versions = (c['sleep'].get('new_versions') or {}) if c['sleep']['deployed'] \
                else c['versions']['registry_active']
            policies[f'sage_cycle{c["cycle"]}'] = ('sage', self.models, versions)
        if self.config['baselines']:
            self._train_baselines(budget)
            policies['plain_bc'] = ('bc', self.run_dir / 'baselines' / 'plain_bc', {})
        policies['teacher'] = ('teacher', None, {})
        policies['random'] = ('random', None, {})
        last = f'sage_cycle{cycles[-1]["cycle"]}'
        perturbed = [last] + [p for p in ('plain_bc',) if p in policies]
        evaluator = Evaluator(duration=float(self.config['episode_duration']),
                              width=cam['width'], height=cam['height'])
        seeds = list(range(ev['first_seed'], ev['first_seed'] + ev['episodes']))
        table = {}
        for label, (kind, models, versions) in policies.items():
            policy = make_policy(kind, evaluator, models, versions, seed=self.config['seed'])
            for condition in ['none'] + list(ev['perturbations']):
                if condition != 'none' and label not in perturbed:
                    continue
                summary = evaluator.evaluate(policy, seeds, PRESETS[condition])
                table.setdefault(label, {})[condition] = summary
                lo, hi = summary['ci95']
                self.say(f'  {label:15s} {condition:8s} {summary["successes"]:3d}/'
                         f'{summary["episodes"]} ({100 * summary["success_rate"]:3.0f}%, '
                         f'95% CI {100 * lo:.0f}-{100 * hi:.0f}%)')
        self.results['offline'] = table

    def _train_baselines(self, seconds):
        """Train plain BC on every bag for the wall-clock time all sleeps had together."""
        base = self.run_dir / 'baselines'
        commands = {
            'plain_bc': [sys.executable, '-m', 'sage_sleep.learning.baseline',
                         '--bags', str(self.bags),
                         '--models', str(base / 'plain_bc'), '--steps', '0', '--seconds',
                         str(seconds), '--seed', str(self.config['seed'])],
        }
        for name, argv in commands.items():
            self.say(f'  training baseline {name} ({seconds:.0f} s, same bags)')
            start = time.monotonic()
            log = open(self.report_dir / f'baseline_{name}.log', 'w', encoding='utf-8')
            with log:
                code = subprocess.call(argv, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
            if code not in (0, 3):
                raise DemoFailure(f'baseline {name} failed with exit code {code} (log: '
                                  f'{log.name})')
            self.results.setdefault('baselines', {})[name] = {
                'budget_s': seconds, 'seconds': round(time.monotonic() - start, 1)}

    def phase_report(self):
        self.results['wall_time_s'] = round(time.monotonic() - self.started, 1)
        for sleep_report in sorted(self.sleeps.glob('sleep-*/training.png')):
            shutil.copy(sleep_report, self.report_dir / f'{sleep_report.parent.name}.png')
        path = write_report(self.report_dir, self.results)
        latest = self.report_dir.parent / 'latest'
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(self.report_dir.name)
        self.say(f'  report: {path} (reports/latest); wall time '
                 f'{self.results["wall_time_s"] / 60:.1f} min')
        self.say(Path(path).read_text().split('\n## ')[1].split('\n', 1)[1][:2500])

    def teardown(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):  # the stop below is bounded in time
                signal.signal(sig, signal.SIG_IGN)
        self.stop_graph()
        if self.ros is not None:
            self.ros.close()
            self.ros = None
        if self._node_log is not None:
            self._node_log.close()


def _float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _raise_interrupted(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='sage_bringup.demo',
                                     description=__doc__.split('\n')[1])
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
