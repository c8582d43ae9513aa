# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The GR00T teacher without ROS: the robot's layout, the request thread, chunk scheduling.

RobotLayout says how the robot's joints map onto the policy's state and action parts and
which video keys its cameras fill; it checks a server's modality config against that (an
action layout that does not cover exactly the robot's joints is refused). GrootSession makes
the blocking calls (ping + get_modality_config on connect, N1.6 reset at an episode's start,
get_action). RequestWorker runs a session on a thread so the control loop never waits for
the server. GrootTeacher ties them to a ChunkScheduler: each control tick takes a finished
reply, asks for the next chunk when the one in play runs low, and returns the step for now
— or None, and then the caller publishes nothing: any fault (server down, timeout, error
reply, not msgpack, a pickle, wrong shapes, NaN, a layout mismatch) drops the chunk in
play, is counted by reason, and the next attempt waits for the reconnect backoff.
"""

from dataclasses import dataclass, field
import threading
import time

import numpy as np
from sage_common.rejects import RejectCounter
from sage_common.stats import LatencyWindow

from . import protocol as wire
from .client import Backoff
from .scheduler import ChunkScheduler

JOINT_FIELDS = ('position', 'velocity', 'effort')


def parse_parts(entries, what, fields=True):
    """
    Parse ['arm=joint0 joint1', 'arm_velocity=joint0/velocity joint1/velocity'].

    Joints are separated by spaces or commas (spaces survive YAML flow lists and `-p`
    command-line parameters, where a comma splits the list). Returns {part: [(joint, field)]}
    (field 'position' unless given) or, with fields=False, {part: [joint]}. Raises
    ValueError on a malformed entry.
    """
    parts = {}
    for entry in entries:
        name, sep, joints = str(entry).partition('=')
        name = name.strip()
        items = joints.replace(',', ' ').split()
        if not sep or not name or not items or name in parts:
            raise ValueError(f'{what}: expected distinct "part=joint joint ...", got {entry!r}')
        parsed = []
        for item in items:
            joint, _, kind = item.partition('/')
            kind = kind or 'position'
            if kind not in JOINT_FIELDS or (not fields and kind != 'position'):
                raise ValueError(f'{what}: {item!r}: field must be one of '
                                 f'{JOINT_FIELDS if fields else ("position",)}')
            parsed.append((joint, kind) if fields else joint)
        parts[name] = parsed
    return parts


def parse_cameras(entries):
    """Parse ['top_down=/camera/color/image_raw'] into {video key: topic}."""
    cameras = {}
    for entry in entries:
        key, sep, topic = str(entry).partition('=')
        if not sep or not key.strip() or not topic.strip() or key.strip() in cameras:
            raise ValueError(f'cameras: expected distinct "video_key=topic", got {entry!r}')
        cameras[key.strip()] = topic.strip()
    return cameras


class RobotLayout:
    """The robot's side of the modality config: joints, state/action parts, cameras."""

    def __init__(self, joint_names, state_parts, action_parts, cameras=(), goal_part=''):
        self.joint_names = list(joint_names)
        if len(set(self.joint_names)) != len(self.joint_names) or not self.joint_names:
            raise ValueError(f'joint_names must be distinct and non-empty: {self.joint_names}')
        self.state_parts = dict(state_parts)
        self.action_parts = dict(action_parts)
        self.cameras = list(cameras)
        self.goal_part = goal_part or ''
        known = set(self.joint_names)
        for part, items in self.state_parts.items():
            unknown = [j for j, _ in items if j not in known]
            if unknown:
                raise ValueError(f'state part {part!r} names unknown joints {unknown}')
        covered = [j for joints in self.action_parts.values() for j in joints]
        if sorted(covered) != sorted(self.joint_names):
            raise ValueError(f'action parts {self.action_parts} must cover each of the joints '
                             f'{self.joint_names} exactly once')
        if self.goal_part and self.goal_part in self.state_parts:
            raise ValueError(f'goal part {self.goal_part!r} is also a joint state part')
        self._order = {}
        for part, joints in self.action_parts.items():
            self._order[part] = [self.joint_names.index(j) for j in joints]

    @property
    def action_dims(self):
        """Return {action part: D}."""
        return {part: len(joints) for part, joints in self.action_parts.items()}

    def check(self, layout):
        """Raise ProtocolError('layout_mismatch') unless the server's layout fits this robot."""
        problems = []
        if set(layout.action) != set(self.action_parts):
            problems.append(f"action parts {layout.action} != the robot's "
                            f'{sorted(self.action_parts)}')
        offered = set(self.state_parts) | ({self.goal_part} if self.goal_part else set())
        missing = [k for k in layout.state if k not in offered]
        if missing:
            problems.append(f'state parts {missing} are not configured (have {sorted(offered)})')
        missing = [k for k in layout.video if k not in self.cameras]
        if missing:
            problems.append(f'video keys {missing} have no camera (have {self.cameras})')
        if layout.video and layout.video_horizon != 1 or layout.state and \
                layout.state_horizon != 1:
            problems.append(f'observation horizons video {layout.video_horizon}, state '
                            f'{layout.state_horizon}: only 1 frame is sent')
        if layout.action_horizon < 1:
            problems.append('an action horizon of 0 steps')
        if problems:
            raise wire.ProtocolError('layout_mismatch', '; '.join(problems))

    def states(self, joints, goal=None):
        """
        Return {part: (D,) float64} from joints = {name: (position, velocity, effort)}.

        Raises KeyError for a missing joint; the goal part is added when configured.
        """
        index = {'position': 0, 'velocity': 1, 'effort': 2}
        out = {part: np.array([joints[j][index[kind]] for j, kind in items], float)
               for part, items in self.state_parts.items()}
        if self.goal_part:
            if goal is None:
                raise KeyError(self.goal_part)
            out[self.goal_part] = np.asarray(goal, float).reshape(-1)
        return out

    def commands(self, actions):
        """Return (H, joints) targets in joint_names order from {part: (H, D)} actions."""
        horizon = next(iter(actions.values())).shape[0]
        out = np.empty((horizon, len(self.joint_names)))
        for part, columns in self._order.items():
            out[:, columns] = actions[part]
        return out


@dataclass
class Frame:
    """What one request is built from, taken at t_obs (the caller's clock)."""

    videos: dict
    states: dict
    task: str
    t_obs: float = 0.0
    generation: int = 0
    reset: bool = False


@dataclass
class Result:
    """A finished request: commands (H, joints) or an error, and its timings."""

    frame: Frame
    commands: object = None
    error: object = None
    round_trip_s: float = None       # the get_action exchange alone
    done_at: float = 0.0             # the caller's clock when the chunk was ready
    connected: bool = False
    info: dict = field(default_factory=dict)


class GrootSession:
    """Blocking calls to one server: connect (ping + layout check), reset, get_action."""

    def __init__(self, client, robot):
        self.client = client
        self.robot = robot
        self.layout = None
        self.connects = 0

    def connect(self):
        self.client.ping()
        layout = self.client.get_modality_config()
        self.robot.check(layout)
        self.layout = layout
        self.connects += 1

    def request(self, frame):
        """Return (commands (H, joints), get_action round trip s); ProtocolError on faults."""
        try:
            if self.layout is None:
                self.connect()
            if frame.reset:
                self.client.reset()
            layout = self.layout
            try:
                videos = {k: frame.videos[k] for k in layout.video}
                states = {k: frame.states[k] for k in layout.state}
            except KeyError as exc:
                raise wire.ProtocolError('layout_mismatch', f'no data for {exc}') from None
            obs = wire.build_observation(self.client.protocol, videos, states, frame.task,
                                         layout.task_key)
            reply = self.client.get_action(obs)
            rtt = self.client.last_round_trip_s
            actions = wire.parse_action_reply(self.client.protocol, reply,
                                              self.robot.action_dims, layout.action_horizon)
            return self.robot.commands(actions), rtt
        except wire.ProtocolError:
            self.layout = None   # reconnect (ping, modality config) before the next request
            raise

    def close(self):
        self.client.close()


class RequestWorker:
    """Runs session.request(frame) on a thread, one at a time; results are polled."""

    def __init__(self, session, clock=time.monotonic):
        self.session = session
        self._clock = clock
        self._cond = threading.Condition()
        self._job = None
        self._result = None
        self._busy = False
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True, name='groot_requests')
        self._thread.start()

    @property
    def busy(self):
        with self._cond:
            return self._busy

    def submit(self, frame):
        """Start a request; False when one is already running."""
        with self._cond:
            if self._busy or self._stop:
                return False
            self._job, self._busy = frame, True
            self._cond.notify()
            return True

    def take_result(self):
        """Return the finished Result once (None while running or idle)."""
        with self._cond:
            result, self._result = self._result, None
            return result

    def _run(self):
        try:
            from sage_common.node import block_stop_signals
            block_stop_signals()
        except ImportError:   # pragma: no cover - sage_common is a dependency
            pass
        while True:
            with self._cond:
                while self._job is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                frame, self._job = self._job, None
            result = Result(frame)
            try:
                result.commands, result.round_trip_s = self.session.request(frame)
            except wire.ProtocolError as exc:
                result.error = exc
            except Exception as exc:   # a bug must not kill the thread: count it as a fault
                result.error = wire.ProtocolError('client_error', f'{type(exc).__name__}: '
                                                  f'{exc}')
            result.done_at = self._clock()
            result.connected = self.session.layout is not None
            with self._cond:
                self._result, self._busy = result, False

    def stop(self, timeout=5.0):
        """Stop the thread (after the call in progress, bounded by the client's timeout)."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout)
        return not self._thread.is_alive()


class GrootTeacher:
    """
    The control loop's view: tick(now, active, make_frame) -> the step for now, or None.

    active: an episode runs and the inputs are fresh; make_frame() -> Frame or None (inputs
    not ready). Faults are counted in `faults` (a RejectCounter, by reason).
    """

    def __init__(self, session, step_dt, backoff=None, logger=None, clock=time.monotonic,
                 initial_latency=0.35, margin_steps=2):
        self.session = session
        self.scheduler = ChunkScheduler(step_dt, initial_latency, margin_steps)
        self.backoff = backoff or Backoff()
        self.faults = RejectCounter(logger)
        self._logger = logger
        self.worker = RequestWorker(session, clock)
        self.generation = 0
        self._need_reset = True
        self.requests = 0
        self.chunks = 0
        self.stale_replies = 0
        self.commands = 0
        self.starved_ticks = 0      # active ticks without a step to publish
        self.stalled_ticks = 0      # of those, after the episode's first chunk: a stall
        self._episode_started = False
        self.connected = False
        self.holding = True
        self.round_trips = LatencyWindow()
        self.obs_to_chunk = LatencyWindow()

    def new_episode(self):
        """Forget the chunk in play and any reply still on its way (a new episode starts)."""
        self.generation += 1
        self.scheduler.clear()
        self._need_reset = True
        self._episode_started = False

    def tick(self, now, active, make_frame):
        """Return the (joints,) step to publish now, or None (publish nothing)."""
        self._take(now)
        if not active:
            self.holding = True
            return None
        if not self.worker.busy and self.backoff.ready(now) and self.scheduler.request_due(now):
            frame = make_frame()
            if frame is not None:
                frame.t_obs, frame.generation, frame.reset = now, self.generation, \
                    self._need_reset
                if self.worker.submit(frame):
                    self.requests += 1
                    self._need_reset = False
        step = self.scheduler.action(now)
        self.holding = step is None
        if step is None:
            self.starved_ticks += 1
            self.stalled_ticks += self._episode_started
            return None
        self.commands += 1
        return step

    def _take(self, now):
        result = self.worker.take_result()
        if result is None:
            return
        self.connected = result.connected
        if result.error is not None:
            err = result.error
            self.faults.reject(err.reason, err.message)
            self.scheduler.clear()   # hold: nothing from a misbehaving server is played
            delay = self.backoff.failed(now)
            if result.frame.reset and result.frame.generation == self.generation:
                self._need_reset = True
            if self._logger is not None and self.backoff.failures in (1, 5, 20):
                self._logger.warning(f'GR00T server fault #{self.backoff.failures} in a row '
                                     f'({err.reason}); holding, next attempt in {delay:.2f} s')
            return
        self.backoff.succeeded()
        if result.frame.generation != self.generation:
            self.stale_replies += 1   # asked in the previous episode
            return
        if result.round_trip_s is not None:
            self.round_trips.add(result.round_trip_s)
        latency = max(0.0, result.done_at - result.frame.t_obs)
        self.obs_to_chunk.add(latency)
        self.scheduler.record_latency(latency)
        self.scheduler.add(result.commands, result.frame.t_obs, now)
        self.chunks += 1
        self._episode_started = True

    def values(self):
        """Return the diagnostics values."""
        values = {
            'connected': self.connected, 'holding': self.holding, 'requests': self.requests,
            'chunks': self.chunks, 'commands': self.commands,
            'starved_ticks': self.starved_ticks, 'stalled_ticks': self.stalled_ticks,
            'skipped_steps': self.scheduler.skipped_steps,
            'stale_replies': self.stale_replies, 'faults_total': self.faults.total(),
            'faults_in_a_row': self.backoff.failures, 'backoff_s': self.backoff.delay,
            'sockets_created': getattr(self.session.client, 'sockets_created', 0),
            'connects': self.session.connects,
            'expected_latency_ms': 1e3 * self.scheduler.expected_latency(),
            'round_trip_p50_ms': self.round_trips.percentile_ms(50),
            'round_trip_p99_ms': self.round_trips.percentile_ms(99),
            'obs_to_chunk_p50_ms': self.obs_to_chunk.percentile_ms(50),
            'obs_to_chunk_p99_ms': self.obs_to_chunk.percentile_ms(99),
        }
        values.update(self.faults.as_values('fault_'))
        return values

    def stop(self):
        """Stop the request thread; close the client if the thread ended."""
        if self.worker.stop(timeout=3 * self.session.client.timeout_s + 1.0):
            self.session.close()
