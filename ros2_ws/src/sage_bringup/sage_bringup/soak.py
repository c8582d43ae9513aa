# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
`make soak`: the whole graph for hours with faults injected, and proof that nothing unsafe or lost.

    python -m sage_bringup.soak [--minutes 30] [--seed 0] [--driver sage|teacher]
        [--sleep-every 10] [--fault-every 30] [--faults kill,stall,...]
        [--targets h_module,...] [--sample-every 60] [--window 300]
        [--out bench/results/soak.json]

The repository's graph runs under the supervisor with respawn on (the simulated robot
included, as a robot's driver would be), plus an independent command_monitor. Episodes run
back to back; every --sleep-every minutes the robot rests (the simulator pauses) and the
sleep manager trains, validates and deploys. At seeded random times a fault is injected:
SIGKILL or SIGSTOP/SIGCONT of a node, a burst of malformed messages on every input topic,
the disk filled to the recorder's floor (a preallocated ballast file), a corrupt model
version offered for hot reload, the e-stop pressed and released; on the first sleep (and at
random later ones) the trainer is killed mid-sleep.

Pass (exit 0): the monitor saw no unsafe command, every closed bag segment reads end to end,
no deployed version failed validation and every published version verifies. The goals
(time to hold after a kill, resource drift, latency windows) are reported with the figures.
Results: --out (JSON) and a report.md beside the run's node log under $SAGE_ROOT/reports.
"""

import argparse
import bisect
import dataclasses
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
from sage_bringup.demo_ros import DemoFailure, PAUSE_SERVICE, RESET_SERVICE, RosLink, \
    SLEEP_SERVICE
from sage_bringup.soak_metrics import check_bags, check_models, command_gap, drift, \
    FAULT_KINDS, NODE_TARGETS, plan_faults, sample_process, windows
from sage_common.processes import pick_domain_id
from sage_perception import layout
import yaml

LOAD_SERVICES = {'encoder': '/context_node/load_model', 'h_module': '/h_module/load_model',
                 'l_module': '/l_module/load_model'}
HOLD_AFTER = ('context_node', 'h_module', 'sim_robot')   # the L-module's watchdog holds
MONITOR = 'command_monitor'
GAP_AFTER_KILL_S = 2.0   # how long after a peer's kill the command stream is watched for a gap


@dataclasses.dataclass
class SoakConfig:
    """What one soak run does; validated on creation."""

    minutes: float = 30.0
    seed: int = 0
    driver: str = 'sage'
    sleep_every_min: float = 10.0
    sleep_seconds: float = 60.0      # each sleep's training budget
    gate_episodes: int = 10          # closed-loop development episodes gating a deployment
    fault_every_s: float = 30.0
    kinds: tuple = FAULT_KINDS
    targets: tuple = NODE_TARGETS    # the nodes kills and stalls pick from
    sample_every_s: float = 60.0
    window_s: float = 300.0
    warmup_s: float = 300.0
    episode_duration: float = 2.0
    camera: tuple = (64, 64)
    disk_headroom_mb: float = 20000.0   # the recorder's floor: this far below today's free
    burst_per_kind: int = 20
    startup_timeout: float = 120.0
    out: str = 'bench/results/soak.json'
    run_root: str = ''               # '' = $SAGE_ROOT/runs
    report_root: str = ''            # '' = $SAGE_ROOT/reports
    domain_id: int = None

    def __post_init__(self):
        positive = ('minutes', 'sleep_every_min', 'sleep_seconds', 'fault_every_s',
                    'sample_every_s', 'window_s', 'episode_duration', 'disk_headroom_mb')
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f'{name} must be > 0, got {getattr(self, name)}')
        if self.driver not in ('sage', 'teacher'):
            raise ValueError(f"driver must be 'sage' or 'teacher', got {self.driver!r}")
        self.kinds = tuple(self.kinds)
        bad = sorted(set(self.kinds) - set(FAULT_KINDS))
        if bad:
            raise ValueError(f'unknown fault kinds {bad}; known: {FAULT_KINDS}')
        self.targets = tuple(self.targets)
        bad = sorted(set(self.targets) - set(NODE_TARGETS))
        if bad or not self.targets:
            raise ValueError(f'fault targets must be among {NODE_TARGETS}, got '
                             f'{list(self.targets)}')
        if self.warmup_s < 0 or self.gate_episodes < 0 or self.burst_per_kind < 0:
            raise ValueError('warmup_s, gate_episodes and burst_per_kind must be >= 0')


class Paused(Exception):
    """The episode runner was asked to stop or rest."""


class SoakLink(RosLink):
    """The demo's ROS link plus what the soak watches and injects."""

    def __init__(self):
        # Set before RosLink subscribes: its command and diagnostics callbacks are ours.
        self.command_times = []
        self.holding = []                 # (time, holding) from /l_module/holding
        self.l_states = []                # (time, speed_scale, holding, p99 ms)
        self.recorder = []                # (time, values of the recorder's diagnostics)
        self.monitor = {}
        super().__init__(watch_versions=False)
        from sage_common.qos import latched_qos
        from sage_interfaces.msg import CompressedContext, Context
        from sage_interfaces.srv import LoadModel
        from sensor_msgs.msg import CameraInfo, Image, JointState
        from std_msgs.msg import Bool

        n = self.node
        n.create_subscription(Bool, '/l_module/holding', self._on_holding, latched_qos())
        self.estop_pub = n.create_publisher(Bool, '/sage/estop', latched_qos())
        for service in LOAD_SERVICES.values():
            self.client(LoadModel, service)
        self.LoadModel, self.Bool = LoadModel, Bool
        self.bad = {
            '/camera/color/image_raw': (Image, n.create_publisher(Image,
                                        '/camera/color/image_raw', 10)),
            '/camera/depth/image_rect_raw': (Image, n.create_publisher(
                Image, '/camera/depth/image_rect_raw', 10)),
            '/camera/color/camera_info': (CameraInfo, n.create_publisher(
                CameraInfo, '/camera/color/camera_info', 10)),
            '/joint_states': (JointState, n.create_publisher(JointState, '/joint_states', 10)),
            '/sage/context': (Context, n.create_publisher(Context, '/sage/context', 10)),
            '/sage/context_compressed': (CompressedContext, n.create_publisher(
                CompressedContext, '/sage/context_compressed', 10)),
        }

    def _on_command(self, msg):
        super()._on_command(msg)
        self.command_times.append(time.monotonic())

    def _on_holding(self, msg):
        self.holding.append((time.monotonic(), bool(msg.data)))

    def _on_diagnostics(self, msg):
        super()._on_diagnostics(msg)
        now = time.monotonic()
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if status.name == 'sage: l_module':
                self.l_states.append((now, _num(values.get('speed_scale')),
                                      values.get('holding') == 'True',
                                      _num(values.get('stamp_to_command_p99_ms'))))
            elif status.name == 'sleep_manager: recorder':
                self.recorder.append((now, values))
            elif status.name == 'sage: command_monitor':
                self.monitor = values

    # -- injection -------------------------------------------------------------------------
    def estop(self, pressed):
        self.estop_pub.publish(self.Bool(data=bool(pressed)))

    def malformed_burst(self, per_kind, width, height):
        """Publish per_kind messages of every malformed kind on every input topic; count them."""
        from builtin_interfaces.msg import Time

        now = time.time()
        future = Time(sec=int(now) + 3600)
        present = Time(sec=int(now), nanosec=int((now % 1) * 1e9))
        sent = {}

        def image(encoding, step, size, stamp=present):
            msg = self.bad['/camera/color/image_raw'][0]()
            msg.header.stamp, msg.header.frame_id = stamp, 'camera_color_optical_frame'
            msg.height, msg.width, msg.encoding, msg.step = height, width, encoding, step
            msg.data = bytes(size)
            return msg

        kinds = {
            '/camera/color/image_raw': [
                image('rgb8', width * 3, width * height * 3 - 7),          # wrong size
                image('bgr16', width * 6, width * height * 6),             # wrong encoding
                image('rgb8', width * 3, width * height * 3, future)],      # from the future
            '/camera/depth/image_rect_raw': [
                image('32FC1', width * 4, 12),
                image('mono8', width, width * height),
                _nan_depth(image('32FC1', width * 4, width * height * 4), width * height)],
        }
        info_cls, _ = self.bad['/camera/color/camera_info']
        info = info_cls(width=0, height=0)
        info.header.stamp = present
        kinds['/camera/color/camera_info'] = [info]
        js_cls, _ = self.bad['/joint_states']
        kinds['/joint_states'] = [
            js_cls(name=['joint0', 'joint1'], position=[float('nan'), 0.0]),
            js_cls(name=['joint0', 'joint1', 'joint2'], position=[0.0, 0.1]),
            js_cls(name=['elbow', 'wrist'], position=[0.0, 0.1]),
            js_cls(name=['joint0', 'joint1'], position=[1e9, -1e9])]
        kinds['/joint_states'][-1].header.stamp = future
        ctx_cls, _ = self.bad['/sage/context']
        kinds['/sage/context'] = [ctx_cls(data=[0.0] * 17, model_version='v0001'),
                                  ctx_cls(data=[float('nan')] * layout.DIM, model_version='v0001')]
        cc_cls, _ = self.bad['/sage/context_compressed']
        kinds['/sage/context_compressed'] = [
            cc_cls(data=[0.0] * 3, model_version='v0001'),
            cc_cls(data=[float('inf')] * layout.COMPRESSED_DIM, model_version='v0001'),
            cc_cls(data=[0.0] * layout.COMPRESSED_DIM, model_version='v9999')]
        for msg in kinds['/sage/context'] + kinds['/sage/context_compressed']:
            msg.header.stamp = present
        for _ in range(per_kind):
            for topic, messages in kinds.items():
                for msg in messages:
                    self.bad[topic][1].publish(msg)
                    sent[topic] = sent.get(topic, 0) + 1
            time.sleep(0.002)
        return sent

    def load_model(self, model, version, alive):
        request = self.LoadModel.Request(version=version)
        return self.call(self.LoadModel, LOAD_SERVICES[model], request, 60.0, alive)


def _nan_depth(msg, pixels):
    msg.data = np.full(pixels, np.nan, dtype=np.float32).tobytes()
    return msg


def _num(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return float('nan')


class Soak:
    """One soak run: bring the graph up, drive it, inject faults, then check everything."""

    def __init__(self, config, out=None):
        self.config = config
        self.out = sys.stdout if out is None else out
        root = Path(os.environ.get('SAGE_ROOT', '.'))
        self.run_id = 'soak-' + datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
        self.run_dir = Path(config.run_root or root / 'runs') / self.run_id
        self.report_dir = Path(config.report_root or root / 'reports') / self.run_id
        self.models, self.bags = self.run_dir / 'models', self.run_dir / 'bags'
        self.sleeps = self.run_dir / 'sleeps'
        self.ballast = self.run_dir / 'ballast.bin'
        self.domain_id = config.domain_id if config.domain_id is not None \
            else pick_domain_id('SAGE_SOAK_DOMAIN_ID')
        self.rng = np.random.default_rng(config.seed)
        self.supervisor = None
        self.ros = None
        self.t0 = None
        self.events = []          # every injected fault with what was measured
        self.sleep_log = []
        self.samples = []
        self.sleeping = []        # (start, end) of the sleeps, soak-relative
        self.undo = []            # (due time, action) of faults that end later
        self._episodes = {'run': 0, 'errors': 0, 'successes': 0}
        self._episode_stop = threading.Event()
        self._episode_rest = threading.Event()
        self._episode_thread = None
        self._node_log = None

    def say(self, text):
        self.out.write(text + '\n')
        self.out.flush()

    def now(self):
        return time.monotonic() - self.t0

    # -- set-up ----------------------------------------------------------------------------
    def _specs(self):
        from sage_common.registry import ModelRegistry
        from sage_sleep.models_cli import init_models

        cfg = self.config
        self.run_dir.mkdir(parents=True)
        self.report_dir.mkdir(parents=True)
        init_models(ModelRegistry(self.models), seed=cfg.seed, log=lambda m: None)
        description = graph_mod.load(None)
        specs = description.resolve({'robot': 'sim', 'driver': cfg.driver,
                                     'model_dir': str(self.models)})
        free_mb = shutil.disk_usage(self.run_dir).free / (1 << 20)
        self.floor_mb = max(0.0, free_mb - min(cfg.disk_headroom_mb, free_mb / 2))
        trainer = [sys.executable, '-m', 'sage_sleep.learning.trainer',
                   '--runs-root', str(self.sleeps),
                   '--steps', '0', '--seconds', str(cfg.sleep_seconds), '--seed',
                   str(cfg.seed), '--threads', '2', '--closed-loop-episodes',
                   str(cfg.gate_episodes), '--closed-loop-first-seed', '200000',
                   '--camera-width', str(cfg.camera[0]), '--camera-height',
                   str(cfg.camera[1])]
        overrides = {
            'sim_robot': {'width': cfg.camera[0], 'height': cfg.camera[1],
                          'episode_duration': cfg.episode_duration},
            'sleep_manager': {'bag_root': str(self.bags), 'trainer_command': trainer,
                              'min_free_mb': round(self.floor_mb, 1),
                              'quota_action': 'pause'},
            'l_module': {'diagnostics_period': 0.2},
        }
        for spec in specs:
            spec.params.update(overrides.get(spec.name, {}))
        # A robot's driver restarts too.
        specs = [dataclasses.replace(s, respawn=True, respawn_delay=2.0)
                 if s.name == 'sim_robot' else s for s in specs]
        l_spec = next(s for s in specs if s.name == 'l_module')
        limits = self.run_dir / 'l_module_limits.yaml'
        params = {}
        for path in l_spec.params_files:
            params.update(yaml.safe_load(Path(path).read_text())['l_module']['ros__parameters'])
        params.update(l_spec.params)
        limits.write_text(yaml.safe_dump({'l_module': {'ros__parameters': params}}))
        self.stale_timeout = float(params['stale_timeout'])
        self.monitor_file = self.run_dir / 'command_monitor.json'
        monitor = graph_mod.NodeSpec(
            name=MONITOR, package='sage_hl_control', executable='command_monitor',
            executable_path=l_spec.executable_path.with_name('command_monitor'),
            params={'limits_file': str(limits), 'summary_file': str(self.monitor_file)},
            required=True, respawn=True, respawn_delay=1.0)
        return [*specs, monitor]

    def bring_up(self):
        self.env = sup.node_environment(domain_id=self.domain_id)
        os.environ.update(self.env)
        specs = self._specs()
        self._node_log = open(self.report_dir / 'nodes.log', 'w', encoding='utf-8')
        self.ros = SoakLink()
        self.supervisor = sup.Supervisor(specs, env=self.env, out=self._node_log, grace=10.0,
                                         term_grace=5.0, respawn=True,
                                         graph_check=self.ros.missing)
        self.supervisor.start()
        names = [s.name for s in specs]

        def missing():
            # Episodes begin once the monitor measures the arm: a reset moves it, and a
            # command from the new pose is checked against the joint state that saw it.
            waiting = self.ros.missing(names, (RESET_SERVICE, SLEEP_SERVICE, PAUSE_SERVICE))
            if not _num(self.ros.monitor.get('joint_states')) > 0:
                waiting = [*waiting, f'{MONITOR} receiving /joint_states']
            return waiting
        self.supervisor.wait_until_ready(missing, self.config.startup_timeout)
        self.say(f'soak {self.run_id}: {len(names)} nodes up (ROS_DOMAIN_ID '
                 f'{self.domain_id}); node output in {self.report_dir / "nodes.log"}')

    # -- episodes --------------------------------------------------------------------------
    def _run_episodes(self):
        seed = 300000 + 10000 * self.config.seed
        duration = self.config.episode_duration

        def alive():
            if self._episode_stop.is_set() or self._episode_rest.is_set():
                raise Paused()

        while not self._episode_stop.is_set():
            if self._episode_rest.is_set():
                time.sleep(0.1)
                continue
            try:
                final = self.ros.run_episode(seed, duration, duration + 10.0, alive)
                self._episodes['run'] += 1
                self._episodes['successes'] += bool(final.success)
            except Paused:
                continue
            except DemoFailure:        # the simulator was killed or stalled: try again
                self._episodes['errors'] += 1
                time.sleep(1.0)
            seed += 1

    # -- the loop --------------------------------------------------------------------------
    def run(self):
        cfg = self.config
        end = cfg.minutes * 60.0
        sleeps = list(np.arange(cfg.sleep_every_min * 60.0, end - 30.0,
                                cfg.sleep_every_min * 60.0))
        faults = plan_faults(self.rng, 20.0, end, cfg.fault_every_s, cfg.kinds, cfg.targets)
        self.say(f'  {cfg.minutes:g} min: {len(faults)} faults planned, sleeps at '
                 f'{[round(s) for s in sleeps]} s')
        self.t0 = time.monotonic()
        self._episode_thread = threading.Thread(target=self._run_episodes, daemon=True,
                                                name='episodes')
        self._episode_thread.start()
        next_sample = 0.0
        while self.now() < end:
            self._poll()
            if self.now() >= next_sample:
                self._sample()
                next_sample += cfg.sample_every_s
            self._undo_due()
            if sleeps and self.now() >= sleeps[0]:
                sleeps.pop(0)
                began = self.now()
                self._sleep(len(self.sleep_log) + 1)
                for fault in faults:        # faults are planned in wake time
                    fault.time += self.now() - began
                continue
            if faults and self.now() >= faults[0].time:
                self._inject(faults.pop(0))
            time.sleep(0.05)
        self._undo_due(everything=True)
        deadline = time.monotonic() + 30.0   # a node killed at the end comes back (salvage)
        while self.supervisor.respawning() and time.monotonic() < deadline:
            self._poll()
            time.sleep(0.1)
        self._sample()
        self._episode_stop.set()
        self._episode_thread.join(30.0)
        time.sleep(2.0)          # the last measurements (holds, diagnostics) arrive

    def _pid(self, name):
        child = self.supervisor.children.get(name)
        if child is None or child.proc.poll() is not None:
            return None
        return child.proc.pid

    def _sample(self):
        for name, child in self.supervisor.children.items():
            if child.proc.poll() is not None:
                continue
            stats = sample_process(child.proc.pid)
            if stats:
                self.samples.append({'time': round(self.now(), 1), 'node': name,
                                     'pid': child.proc.pid, **stats})

    def _undo_due(self, everything=False):
        for item in sorted(self.undo, key=lambda u: u[0]):
            if everything or self.now() >= item[0]:
                self.undo.remove(item)
                item[1]()

    # -- faults ----------------------------------------------------------------------------
    def _inject(self, fault):
        event = {'t': round(self.now(), 2), **dataclasses.asdict(fault)}
        try:
            getattr(self, '_fault_' + fault.kind)(fault, event)
        except (DemoFailure, OSError) as exc:
            event['error'] = str(exc)
        self.events.append(event)
        self.say(f'  t+{event["t"]:7.1f} s  {fault.kind:13s} {fault.target:13s} '
                 f'{event.get("result", event.get("error", ""))}')

    def _fault_kill(self, fault, event):
        pid = self._pid(fault.target)
        if pid is None:
            event['result'] = 'not running (respawning)'
            return
        event.update(pid=pid, mono=time.monotonic(), recorder=self._last_recorder())
        os.killpg(pid, signal.SIGKILL)
        event['result'] = f'SIGKILL pid {pid}'

    def _fault_stall(self, fault, event):
        pid = self._pid(fault.target)
        if pid is None:
            event['result'] = 'not running (respawning)'
            return
        event.update(pid=pid, mono=time.monotonic())
        os.killpg(pid, signal.SIGSTOP)

        def resume():
            try:
                os.killpg(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            event['resumed_mono'] = time.monotonic()
        self.undo.append((self.now() + fault.seconds, resume))
        event['result'] = f'SIGSTOP pid {pid} for {fault.seconds} s'

    def _fault_malformed(self, fault, event):
        sent = self.ros.malformed_burst(self.config.burst_per_kind, *self.config.camera)
        event.update(sent=sent, mono=time.monotonic())
        event['result'] = f'{sum(sent.values())} malformed messages on {len(sent)} topics'

    def _fault_disk_fill(self, fault, event):
        free = shutil.disk_usage(self.run_dir).free
        need = int(free - self.floor_mb * (1 << 20) + (64 << 20))
        if need <= 0:
            event['result'] = 'already below the floor'
            return
        fd = os.open(self.ballast, os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            os.posix_fallocate(fd, 0, need)
        finally:
            os.close(fd)
        event.update(ballast_mb=round(need / (1 << 20)), mono=time.monotonic())

        def free_space():
            self.ballast.unlink(missing_ok=True)
            event['freed_mono'] = time.monotonic()
        self.undo.append((self.now() + fault.seconds, free_space))
        event['result'] = f'{need >> 20} MiB ballast, free space 64 MiB under the floor ' \
            f'for {fault.seconds} s'

    def _fault_corrupt_model(self, fault, event):
        from sage_common.registry import ModelRegistry, MANIFEST, sha256_file

        registry = ModelRegistry(self.models)
        source = self.models / fault.target / registry.active(fault.target)
        number = max(int(v[1:]) for v in registry.versions(fault.target)) + 1
        version = f'v{number:04d}'
        target = self.models / fault.target / version
        staging = self.models / fault.target / f'.staging-soak-{version}'
        shutil.copytree(source, staging)
        onnx = staging / 'model.onnx'
        data = bytearray(onnx.read_bytes())
        manifest = json.loads((staging / MANIFEST).read_text())
        manifest['version'] = version
        if fault.variant == 'tampered':
            for i in range(len(data) // 3, len(data) // 3 + 64):
                data[i] ^= 0xFF
            onnx.write_bytes(bytes(data))
        else:
            onnx.write_bytes(bytes(data[:len(data) // 2]))
            manifest['files']['model.onnx'] = sha256_file(onnx)
        (staging / MANIFEST).write_text(json.dumps(manifest))
        os.rename(staging, target)
        try:
            reply = self.ros.load_model(fault.target, version, self._poll)
        finally:
            shutil.rmtree(target, ignore_errors=True)
        event.update(version=version, refused=not reply.success, message=reply.message,
                     running=reply.active_version)
        event['result'] = f'{version} ({fault.variant}) ' + \
            ('refused' if not reply.success else 'ACCEPTED')

    def _fault_estop(self, fault, event):
        self.ros.estop(True)
        event['mono'] = time.monotonic()

        def release():
            self.ros.estop(False)
            event['released_mono'] = time.monotonic()
        self.undo.append((self.now() + fault.seconds, release))
        event['result'] = f'pressed for {fault.seconds} s'

    def _last_recorder(self):
        return dict(self.ros.recorder[-1][1]) if self.ros.recorder else {}

    # -- sleeps ----------------------------------------------------------------------------
    def _sleep(self, index):
        """Rest the robot, sleep (killing the trainer in some sleeps), then wake it."""
        start = self.now()
        entry = {'index': index, 'start_s': round(start, 1),
                 'kill_trainer': bool(index == 1 or self.rng.random() < 0.5)}
        self._episode_rest.set()
        self._undo_due(everything=True)
        alive = self._poll
        try:
            self.ros.set_sim_paused(True, alive)
            before = self.ros.status.last_result if self.ros.status else None
            reply = self.ros.call(self.ros.Trigger, SLEEP_SERVICE, self.ros.Trigger.Request(),
                                  60.0, alive)
            entry['accepted'] = bool(reply.success)
            killed = False
            deadline = time.monotonic() + 20 * self.config.sleep_seconds + 600
            while reply.success and time.monotonic() < deadline:
                alive()
                status = self.ros.status
                if entry['kill_trainer'] and not killed and status is not None and \
                        status.phase == 'sleep' and status.progress >= 0.3:
                    entry['trainer_killed'] = self._kill_trainer()
                    killed = True
                if status is not None and status.phase == 'wake' and \
                        status.last_result != before:
                    entry['result'] = status.last_result
                    break
                time.sleep(0.2)
            else:
                entry.setdefault('result', reply.message)
        except DemoFailure as exc:
            entry['error'] = str(exc)
        finally:
            try:
                self.ros.set_sim_paused(False, alive)
            except DemoFailure as exc:
                entry['resume_error'] = str(exc)
            self._episode_rest.clear()
        entry['end_s'] = round(self.now(), 1)
        self.sleeping.append((start, self.now()))
        self.sleep_log.append(entry)
        self.say(f'  t+{start:7.1f} s  sleep {index} ({entry["end_s"] - start:.0f} s): '
                 f'{entry.get("result", entry.get("error"))}')

    def _poll(self):
        """Let the supervisor reap and respawn; note respawns; end faults that are due."""
        self.supervisor.poll()
        for event in self.events:
            if event['kind'] == 'kill' and 'pid' in event and 'respawned_mono' not in event:
                pid = self._pid(event['target'])
                if pid is not None and pid != event['pid']:
                    event['respawned_mono'] = time.monotonic()
        self._undo_due()

    def _kill_trainer(self):
        manager = self._pid('sleep_manager')
        if manager is None:
            return None
        for entry in Path('/proc').iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / 'stat').read_text().rsplit(')', 1)[1].split()
                cmdline = (entry / 'cmdline').read_bytes()
            except OSError:
                continue
            if int(stat[1]) == manager and b'sage_sleep.learning.trainer' in cmdline:
                os.kill(int(entry.name), signal.SIGKILL)
                return int(entry.name)
        return None

    # -- checks ----------------------------------------------------------------------------
    def stop(self):
        if self._episode_thread is not None:
            self._episode_stop.set()
            self._episode_thread.join(30.0)
        if self.supervisor is not None:
            self.supervisor.stop()
        if self.ros is not None:
            self.ros.close()
        self.ballast.unlink(missing_ok=True)
        if self._node_log is not None:
            self._node_log.close()

    def measure_faults(self):
        """Add to each kill/stall/e-stop: time to hold, and time to full operation again."""
        holding = self.ros.holding
        states = self.ros.l_states
        times = self.ros.command_times
        for event in self.events:
            if 'mono' not in event or event['kind'] not in ('kill', 'stall', 'estop'):
                continue
            t = event['mono']
            target = event.get('target') or 'l_module'
            was_holding = next((h for ts, h in reversed(holding) if ts < t), True)
            if event['kind'] == 'estop' or target in HOLD_AFTER:
                hold = next((ts for ts, h in holding if ts >= t and h), None)
                if not was_holding and hold is not None:
                    event['hold_after_s'] = round(hold - t, 3)
                    # Commands meanwhile: a steady stream means the L-module judged its
                    # inputs fresh; a gap, that it (or this process) was not running.
                    sent, gap = command_gap(times, t, hold)
                    event['commands_before_hold'] = sent
                    event['longest_command_gap_s'] = round(gap, 3)
            if target != 'l_module' and event['kind'] == 'kill':
                # A peer's death must not stop the L-module's command stream (holds included).
                event['command_gap_after_s'] = round(
                    command_gap(times, t, t + GAP_AFTER_KILL_S)[1], 3)
            if target == 'l_module' and event['kind'] == 'kill':
                stopped = t
                for c in times[bisect.bisect_left(times, t):]:
                    if c - stopped > 0.5:            # the gap: the next is the new node's
                        break
                    stopped = c
                event['commands_stopped_after_s'] = round(stopped - t, 3)
            if 'respawned_mono' in event:
                event['respawned_after_s'] = round(event['respawned_mono'] - t, 2)
            ended = event.get('respawned_mono') or event.get('resumed_mono') or \
                event.get('released_mono')
            if ended is None:
                continue
            if target in (*HOLD_AFTER, 'l_module'):   # back to full speed, not holding
                full = next((ts for ts, scale, held, _ in states
                             if ts > ended and scale == 1.0 and not held), None)
            elif target == 'sleep_manager':           # recording again
                full = next((ts for ts, values in self.ros.recorder
                             if ts > ended and values.get('recording') == 'True'), None)
            else:
                full = ended
            if full is not None:
                event['full_operation_after_s'] = round(full - t, 2)

    def results(self):
        cfg = self.config
        self.measure_faults()
        monitor = {}
        if self.monitor_file.is_file():
            monitor = json.loads(self.monitor_file.read_text())
        bags = check_bags(self.bags, [e['recorder'] for e in self.events
                                      if e['kind'] == 'kill' and e.get('recorder') and
                                      e.get('target') == 'sleep_manager'])
        models = check_models(self.models, self.sleeps)
        t0 = self.t0
        commands = [t - t0 for t in self.ros.command_times]
        latency = [(ts - t0, p99) for ts, _, _, p99 in self.ros.l_states]
        holds = [t - t0 for t, held in self.ros.holding if held]
        win = windows(0.0, cfg.minutes * 60.0, cfg.window_s, commands, latency, holds,
                      self.sleeping)
        first = next((w['camera_to_command_p99_ms_median'] for w in win
                      if w['camera_to_command_p99_ms_median'] is not None), None)
        worst = max((w['camera_to_command_p99_ms_median'] for w in win
                     if w['camera_to_command_p99_ms_median'] is not None), default=None)
        resources = drift(self.samples, min(cfg.warmup_s, cfg.minutes * 30.0))
        hold_delays = [e['hold_after_s'] for e in self.events if 'hold_after_s' in e and
                       e['kind'] != 'estop']
        recover = [e['full_operation_after_s'] for e in self.events
                   if 'full_operation_after_s' in e and e['kind'] == 'kill']
        growth = [abs(v) for r in resources.values()
                  for v in (r.get('rss_growth_pct_per_h'), r.get('fd_growth_pct_per_h'))
                  if v is not None]
        hold_deadline = self.stale_timeout + 0.1
        passed = {
            'no_unsafe_command': monitor.get('violations', None) == 0,
            'closed_segments_readable': not bags['unreadable'] and not bags['problems'],
            'no_bad_deploy': not models['bad_deploys'],
            'every_version_verifies': not models['broken'],
            'corrupt_versions_refused': all(e.get('refused', True) for e in self.events
                                            if e['kind'] == 'corrupt_model'),
            'every_sleep_answered': all(s.get('accepted') for s in self.sleep_log),
        }
        goals = {
            'hold_within_watchdog_plus_100ms': {
                'deadline_s': hold_deadline, 'worst_s': max(hold_delays, default=None),
                'met': all(h <= hold_deadline for h in hold_delays)},
            'resource_growth_below_5pct_per_h': {
                'worst_pct_per_h': max(growth, default=None),
                'met': all(g <= 5.0 for g in growth)},
            'latency_windows_within_1_5x_first': {
                'first_ms': first, 'worst_ms': worst,
                'met': None if first is None else worst <= 1.5 * first},
        }
        kinds, gaps = {}, {}
        for e in self.events:
            kinds[e['kind']] = kinds.get(e['kind'], 0) + 1
            if 'command_gap_after_s' in e:
                gaps.setdefault(e['target'], []).append(e['command_gap_after_s'])
        return {
            'run_id': self.run_id, 'config': dataclasses.asdict(cfg),
            'passed': all(passed.values()), 'checks': passed, 'goals': goals,
            'faults': kinds, 'respawns': dict(self.supervisor.respawns),
            'respawns_never_on_graph': dict(self.supervisor.unseen_respawns),
            'episodes': dict(self._episodes), 'sleeps': self.sleep_log,
            'monitor': monitor, 'bags': bags, 'models': models,
            'kill_recovery_s': {'median': _median(recover), 'max': max(recover, default=None)},
            'command_gap_after_kill_s': {target: {'median': _median(g, 3), 'max': max(g)}
                                         for target, g in sorted(gaps.items())},
            'resources': resources, 'resource_samples': self.samples, 'windows': win,
            'events': [{k: v for k, v in e.items() if not k.endswith('mono')}
                       for e in self.events],
        }


def _median(values, digits=2):
    return None if not values else round(float(np.median(values)), digits)


def write_report(results, path):
    """Write a short markdown report of a soak's results."""
    lines = [f'# Soak {results["run_id"]}: {"PASSED" if results["passed"] else "FAILED"}', '',
             f'{results["config"]["minutes"]:g} min, seed {results["config"]["seed"]}, '
             f'driver {results["config"]["driver"]}; faults {results["faults"]}; respawns '
             f'{results["respawns"]} (never on the ROS graph, so killed again: '
             f'{results["respawns_never_on_graph"]}); episodes {results["episodes"]}.', '',
             '## Checks', '']
    lines += [f'- {name}: {"yes" if ok else "NO"}' for name, ok in results['checks'].items()]
    monitor = results['monitor']
    lines += ['', f'Commands audited: {monitor.get("commands")}, violations '
              f'{monitor.get("violations")} {monitor.get("counts", {})}.',
              f'Bags: {results["bags"]["segments"]} segments, {results["bags"]["messages"]} '
              f'messages, salvaged {len(results["bags"]["salvaged"])}, unreadable '
              f'{results["bags"]["unreadable"]}; recorder kills '
              f'{results["bags"]["recorder_kills"]}.',
              f'Models: active {results["models"]["active"]}, sleep reports '
              f'{results["models"]["sleep_reports"]}, staging left '
              f'{results["models"]["staging_left"]}.', '', '## Goals', '']
    lines += [f'- {name}: {goal}' for name, goal in results['goals'].items()]
    lines += ['', f'Kill -> full operation: {results["kill_recovery_s"]} s.',
              f'Longest gap in the commands within {GAP_AFTER_KILL_S:g} s of a kill, by the '
              f'node killed: {results["command_gap_after_kill_s"]} s.', '',
              '## Resources (after warm-up)', '',
              '| node | incarnations | RSS MB first -> last | RSS %/h | fds first -> last '
              '| fd %/h | CPU % |', '|---|---|---|---|---|---|---|']
    for node, r in results['resources'].items():
        lines.append(f'| {node} | {r["incarnations"]} | {r.get("rss_mb_first")} -> '
                     f'{r.get("rss_mb_last")} | {r.get("rss_growth_pct_per_h")} | '
                     f'{r.get("fds_first")} -> {r.get("fds_last")} | '
                     f'{r.get("fd_growth_pct_per_h")} | {r.get("cpu_pct")} |')
    lines += ['', '## Windows', '', '| start s | commands/s | holds begun | camera->command '
              "p99 ms (median, max of the L-module's rolling p99) |", '|---|---|---|---|']
    lines += [f'| {w["start_s"]} | {w["command_rate_hz"]} | {w["holds"]} | '
              f'{w["camera_to_command_p99_ms_median"]}, {w["camera_to_command_p99_ms_max"]} |'
              for w in results['windows']]
    lines += ['', '## Faults', '']
    measured = ('hold_after_s', 'commands_before_hold', 'longest_command_gap_s',
                'command_gap_after_s', 'commands_stopped_after_s', 'respawned_after_s',
                'full_operation_after_s', 'error')
    lines += [f'- t+{e["t"]} s {e["kind"]} {e.get("target", "")}: {e.get("result", "")} '
              f'{ {k: e[k] for k in measured if k in e} }' for e in results['events']]
    lines += ['', '## Sleeps', ''] + [f'- {s}' for s in results['sleeps']]
    Path(path).write_text('\n'.join(lines) + '\n')


def main(argv=None):
    parser = argparse.ArgumentParser(prog='sage_bringup.soak',
                                     description=__doc__.split('\n')[1])
    parser.add_argument('--minutes', type=float, default=SoakConfig.minutes)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--driver', default='sage', choices=('sage', 'teacher'))
    parser.add_argument('--sleep-every', type=float, default=SoakConfig.sleep_every_min,
                        help='minutes between sleeps')
    parser.add_argument('--sleep-seconds', type=float, default=SoakConfig.sleep_seconds,
                        help="each sleep's training budget (s)")
    parser.add_argument('--gate-episodes', type=int, default=SoakConfig.gate_episodes)
    parser.add_argument('--fault-every', type=float, default=SoakConfig.fault_every_s,
                        help='mean seconds between faults')
    parser.add_argument('--faults', default=','.join(FAULT_KINDS),
                        help='comma-separated fault kinds')
    parser.add_argument('--targets', default=','.join(NODE_TARGETS),
                        help='comma-separated nodes that kills and stalls pick from')
    parser.add_argument('--sample-every', type=float, default=SoakConfig.sample_every_s,
                        help='seconds between resource samples')
    parser.add_argument('--window', type=float, default=SoakConfig.window_s,
                        help='seconds per latency/rate window')
    parser.add_argument('--warmup', type=float, default=SoakConfig.warmup_s,
                        help='seconds left out of the drift fit')
    parser.add_argument('--disk-headroom', type=float, default=SoakConfig.disk_headroom_mb,
                        help="the recorder's floor: this many MiB under today's free space "
                        '(the disk-fill fault preallocates that much plus 64 MiB)')
    parser.add_argument('--out', default=SoakConfig.out)
    parser.add_argument('--run-root', default='', help='default $SAGE_ROOT/runs')
    parser.add_argument('--report-root', default='', help='default $SAGE_ROOT/reports')
    parser.add_argument('--domain-id', type=int)
    args = parser.parse_args(argv)
    try:
        config = SoakConfig(
            minutes=args.minutes, seed=args.seed, driver=args.driver,
            sleep_every_min=args.sleep_every, sleep_seconds=args.sleep_seconds,
            gate_episodes=args.gate_episodes, fault_every_s=args.fault_every,
            kinds=tuple(k for k in args.faults.split(',') if k),
            targets=tuple(t for t in args.targets.split(',') if t),
            sample_every_s=args.sample_every, window_s=args.window, warmup_s=args.warmup,
            disk_headroom_mb=args.disk_headroom,
            out=args.out, run_root=args.run_root, report_root=args.report_root,
            domain_id=args.domain_id)
        sup.node_environment(domain_id=config.domain_id)
    except ValueError as exc:
        print(f'soak: error: {exc}', file=sys.stderr)
        return 2
    soak = Soak(config)
    try:
        soak.bring_up()
        soak.run()
    except (sup.NodeDied, sup.StartupError, DemoFailure) as exc:
        soak.say(f'soak: FAILED: {exc}')
        soak.stop()
        return 1
    except KeyboardInterrupt:
        soak.say('soak: interrupted')
        soak.stop()
        return 130
    soak.stop()
    results = soak.results()
    out = Path(config.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str))
    write_report(results, soak.report_dir / 'report.md')
    soak.say(f'soak: {"PASSED" if results["passed"] else "FAILED"} {results["checks"]}; goals '
             f'{ {k: g["met"] for k, g in results["goals"].items()} }; results in {out}, '
             f'report {soak.report_dir / "report.md"}')
    for example in results['monitor'].get('examples', [])[:5]:
        soak.say(f'  unsafe command: {example}')
    return 0 if results['passed'] else 1


if __name__ == '__main__':
    sys.exit(main())
