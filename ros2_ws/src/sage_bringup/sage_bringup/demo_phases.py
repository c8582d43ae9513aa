# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The demo's phases over real ROS 2: each node a process started by the supervisor.

`DemoPhases` holds what the phases share (the supervisors, one `RosLink`, the run's
directories under runs/<run-id>/, the results the report is written from):

    phase_prepare    the first model versions, deterministic from the configured seed
    phase_bringup    sim_robot, context_node, h_module, sleep_manager
    phase_wake       cycle 1: the teacher drives, SAGE in shadow mode; later cycles (DAgger):
                     SAGE drives and the teacher labels on /teacher/commands; all recorded
    phase_sleep      /sleep_manager/start_sleep with the robot paused: train, dream, validate,
                     deploy; then the versions the nodes stamp on their messages are checked
    phase_evaluate   SAGE drives alone (teacher stopped, recording off) on held-out seeds
    phase_offline    plain BC on the same bags, every policy offline (`demo_offline`)
    phase_report     reports/<run-id>/report.md, report.json, plots; reports/latest -> it

`sage_bringup.demo` runs them in order; `record_wake` runs the first three (the benchmarks'
wake data).
"""

import datetime
import json
import os
from pathlib import Path
import shutil
import signal
import sys
import threading
import time

import numpy as np
from sage_bringup import graph as graph_mod
from sage_bringup import supervisor as sup
from sage_bringup.demo_offline import evaluate_policies, offline_policies, train_plain_bc
from sage_bringup.demo_ros import DemoFailure, PAUSE_SERVICE, RECORDING_SERVICE, \
    RESET_SERVICE, RosLink, SLEEP_SERVICE
from sage_bringup.report import write_report
from sage_common.stats import jerk_rms

BASE_NODES = ('sim_robot', 'context_node', 'h_module', 'sleep_manager')
GROOT_SERVER = 'sage_policy_server'   # not a ROS node: no name to wait for on the graph


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


class DemoPhases:
    """The demo's phases: they share the supervisors, one ROS link and the results."""

    def __init__(self, config, domain_id, out=None, verbose=False):
        """config: a DemoConfig; out: where progress goes (stdout)."""
        self.config = config
        self.domain_id = domain_id
        self.out = sys.stdout if out is None else out
        self.verbose = verbose
        self.base = None
        self.drivers = None
        self.ros = None
        self.env = None
        self.node_log = None
        self.started = time.monotonic()
        root = Path(os.environ.get('SAGE_ROOT', '.'))
        self.run_id = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
        self.run_dir = Path(config.run_root or root / 'runs') / self.run_id
        self.report_dir = Path(config.report_root or root / 'reports') / self.run_id
        self.models = self.run_dir / 'models'
        self.bags = self.run_dir / 'bags'
        self.sleeps = self.run_dir / 'sleeps'
        self.results = {'run_id': self.run_id, 'config': config.to_dict(), 'cycles': [],
                        'phase_seconds': {}}

    def say(self, text):
        self.out.write(text + '\n')
        self.out.flush()

    # -- phases ------------------------------------------------------------------------
    def phase_prepare(self):
        from sage_common.registry import ModelRegistry
        from sage_sleep.models_cli import init_models

        self.run_dir.mkdir(parents=True)
        self.report_dir.mkdir(parents=True)
        init_models(ModelRegistry(self.models), seed=self.config.seed,
                    log=lambda m: self.say(f'  {m}'))
        self.say(f'  run {self.run_id}: registry {self.models}, bags {self.bags}')

    def _specs(self, driver, only):
        description = graph_mod.load(self.config.graph or None)
        values = {'robot': 'sim', 'driver': driver, 'model_dir': str(self.models)}
        specs = description.resolve({k: v for k, v in values.items()
                                     if k in description.arguments}, only=only)
        cam, sleep = self.config.camera, self.config.sleep
        gate = sleep.gate
        trainer = [sys.executable, '-m', 'sage_sleep.learning.trainer',
                   '--runs-root', str(self.sleeps),
                   '--steps', '0', '--seconds', str(sleep.seconds),
                   '--batch-size', str(sleep.batch_size), '--seed', str(self.config.seed),
                   '--threads', '2', '--closed-loop-floor', str(gate.floor),
                   '--camera-width', str(cam.width), '--camera-height', str(cam.height)]
        trainer += ['--closed-loop-episodes', str(gate.episodes),
                    '--closed-loop-first-seed', str(gate.first_seed)]
        colors = list(self.config.target_colors)
        sim = {'width': cam.width, 'height': cam.height,
               'episode_duration': float(self.config.episode_duration)}
        if colors:  # (an empty list has no parameter type)
            trainer += ['--targets', ','.join(colors)]
            sim['target_colors'] = colors
        overrides = {
            'sim_robot': sim,
            'sleep_manager': {'bag_root': str(self.bags), 'trainer_command': trainer},
            'l_module': {'slow_start_step': float(self.config.slow_start_step)},
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
                                        self.config.startup_timeout)
        except BaseException:
            supervisor.stop()
            raise
        self.say(f'  {", ".join(names)} up in {time.monotonic() - start:.1f} s')
        return supervisor

    def _log_out(self):
        if self.verbose:
            return self.out
        if self.node_log is None:
            self.node_log = open(self.report_dir / 'nodes.log', 'w', encoding='utf-8')
        return self.node_log

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
        if with_teacher and driver == 'teacher' and self.config.teacher == 'groot':
            specs = groot_teacher(specs)
        self.drivers = self._start(specs)
        if with_teacher:  # DDS discovery: the teacher may need a few s to hear the sim
            self._sleep(3.0)
        if driver == 'sage':  # the L-module ramps its speed up: wait for full speed
            warmup = 3.5 * float(self.config.slow_start_step)
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
        duration = float(self.config.episode_duration)
        timeout = duration + float(self.config.episode_timeout_margin)
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
        seeds = cycle.seeds
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
        deadline = time.monotonic() + float(self.config.sleep.timeout)
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
                                  f'{self.config.sleep.timeout:.0f} s')
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
        ev = self.config.evaluate
        self.say(f'  recording: {self.ros.set_recording(False, self._alive)}')
        self._switch_drivers('sage', with_teacher=False)
        self.say(f'  l_module runs {self.ros.versions.get("l_module", "?")}')
        seeds = range(ev.first_seed, ev.first_seed + ev.ros_episodes)
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
        config, ev, cam = self.config, self.config.evaluate, self.config.camera
        bc_models = None
        if config.baselines:   # plain BC for the wall-clock time all sleeps had together
            budget = float(config.sleep.seconds) * len(config.cycles)
            bc_models = self.run_dir / 'baselines' / 'plain_bc'
            self.say(f'  training baseline plain_bc ({budget:.0f} s, same bags)')
            took = train_plain_bc(self.bags, bc_models, budget, config.seed,
                                  self.report_dir / 'baseline_plain_bc.log')
            self.results.setdefault('baselines', {})['plain_bc'] = {
                'budget_s': budget, 'seconds': round(took, 1)}
        cycles = self.results['cycles']
        policies = offline_policies(cycles, self.models, bc_models)
        perturbed = [f'sage_cycle{cycles[-1]["cycle"]}'] + \
            [p for p in ('plain_bc',) if p in policies]
        self.results['offline'] = evaluate_policies(
            policies, range(ev.first_seed, ev.first_seed + ev.episodes),
            ('none',) + ev.perturbations, perturbed, duration=config.episode_duration,
            width=cam.width, height=cam.height, seed=config.seed,
            log=lambda line: self.say(f'  {line}'), target_colors=config.target_colors)

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
        if self.node_log is not None:
            self.node_log.close()


def _float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def record_wake(config, domain_id, out=None):
    """
    Record the first cycle's wake (the teacher drives) with the demo's machinery.

    config: a DemoConfig (its run_root and report_root say where). Return the bags directory.
    """
    phases = DemoPhases(config, domain_id, out=out)
    try:
        phases.phase_prepare()
        phases.phase_bringup()
        phases.phase_wake(1, config.cycles[0])
    finally:
        phases.teardown()
    return phases.bags
