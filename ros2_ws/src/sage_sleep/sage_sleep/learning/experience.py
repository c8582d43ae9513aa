# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Experience: aligned training samples streamed out of recorded messages, and the memory.

`SampleExtractor` turns a time-ordered stream of decoded messages (colour, depth, joint
states, the teacher's commands, episode state) into samples at camera-frame times, holding
only what it needs to align: joints and depth as-of the frame (within a tolerance), and the
teacher's action chunk — the command in force at t, t + dt, ..., t + (K-1) dt — once the
stream has passed t + (K-1) dt. When the episode ends inside a chunk, the rest of the chunk
holds the teacher's last command (the robot holds there). Frames outside a running episode,
without joints, or whose teacher fell silent, are skipped and counted by reason, as are
commands the L-module could never send (a wrong joint count, a non-finite value, a target
outside its position limits): a policy must not learn to aim past a limit.

`ExperienceMemory` is the ring buffer the trainer samples from: fixed capacity (100K by
default), episode boundaries kept, uniform random sampling of samples and of short sequences
that never cross an episode boundary, and retrieval of whole episodes.
"""

import bisect
import collections
import dataclasses

import numpy as np
from sage_hl_control.controller import PARAMETERS as CONTROLLER_PARAMETERS

NS = 1_000_000_000


@dataclasses.dataclass
class Sample:
    """One moment: what the robot saw and felt, and what the teacher commanded next."""

    stamp_ns: int
    episode: int
    color: np.ndarray        # (3, H, W) uint8, the encoder's input size
    depth: np.ndarray        # (1, H, W) float32 metres
    joint_pos: np.ndarray    # (J,) float32
    joint_vel: np.ndarray    # (J,) float32
    joint_eff: np.ndarray    # (J,) float32
    action: np.ndarray       # (K, J) float32 teacher position targets at t + k * chunk_dt
    depth_present: bool = True
    # (task_buckets,) float32: the encoder's task input of the task in force (zeros: none)
    task: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.float32))


@dataclasses.dataclass
class ExtractorConfig:
    """Which topics play which role, and how samples are aligned."""

    color_topic: str = '/camera/color/image_raw'
    depth_topic: str = '/camera/depth/image_rect_raw'
    joints_topic: str = '/joint_states'
    action_topic: str = '/arm_controller/commands'
    episode_topic: str = '/sim/episode'
    task_topic: str = '/sage/task'
    joint_names: tuple = tuple(CONTROLLER_PARAMETERS['joint_names'][0])
    # The L-module's position limits (rad, per joint): commands outside are skipped.
    position_lower: tuple = tuple(CONTROLLER_PARAMETERS['position_lower'][0])
    position_upper: tuple = tuple(CONTROLLER_PARAMETERS['position_upper'][0])
    chunk_len: int = 10
    chunk_dt: float = 1.0 / 30.0
    tolerance: float = 0.05          # seconds, as-of alignment of joints and depth
    frame_stride: int = 1            # keep every n-th camera frame

    def topics(self):
        return [self.color_topic, self.depth_topic, self.joints_topic, self.action_topic,
                self.episode_topic, self.task_topic]


def stamp_ns_of(msg, fallback_ns):
    """
    Return the header stamp of a message in ns, or fallback_ns when it has none/zero.

    A message read straight from CDR (sage_perception.decode.CdrImage) carries it as stamp_ns.
    """
    ns = getattr(msg, 'stamp_ns', None)
    if ns is None:
        header = getattr(msg, 'header', None)
        if header is None:
            return fallback_ns
        stamp = header.stamp
        ns = int(stamp.sec) * NS + int(getattr(stamp, 'nanosec', 0))
    return ns if ns > 0 else fallback_ns


class SampleExtractor:
    """
    Stream (topic, receive_ns, msg) tuples in; aligned Samples out.

    decode_color(msg) -> (3, H, W) uint8 and decode_depth(msg) -> (1, H, W) float32 turn the
    image messages into encoder inputs (the perception package's preprocessing, so training
    sees what the node feeds its model); they raise ValueError on bad images. They may
    instead return full-size frames that a batch step turns into encoder inputs later
    (sample_cache.decode_period's `finish`); that step then also sets the depth of samples
    without one (depth_present False), which the extractor fills with zeros shaped after
    color[0]. encode_task(text or None) gives the encoder's task input of a task sentence
    (None: no task), raising ValueError for a text that cannot be one; each frame carries
    the task in force when it was taken. Without it, samples carry an empty task.
    """

    def __init__(self, config, decode_color, decode_depth, encode_task=None):
        self.config = config
        self._decode_color = decode_color
        self._decode_depth = decode_depth
        self._encode_task = encode_task
        # The encoder's task input of the task in force (zeros or empty: none).
        self.task = encode_task(None) if encode_task else np.zeros(0, np.float32)
        self.skipped = collections.Counter()
        self._lower = np.asarray(config.position_lower, np.float32)
        self._upper = np.asarray(config.position_upper, np.float32)
        if self._lower.shape != self._upper.shape or self._lower.shape != (
                len(config.joint_names),):
            raise ValueError(f'position limits {config.position_lower} / '
                             f'{config.position_upper}: need one per joint of '
                             f'{list(config.joint_names)}')
        self._joint_index = None
        self._joints = collections.deque(maxlen=512)   # (ns, pos, vel, eff)
        self._depths = collections.deque(maxlen=8)      # (ns, depth)
        self._command_ns = []                           # the episode's command times
        self._command_targets = []                      # ... and their targets
        self._pending = collections.deque()             # frames waiting for their chunk
        self._episode = None                            # (episode, running)
        self._frame_count = 0

    def feed(self, topic, receive_ns, msg):
        """Consume one message; return the samples it completed (possibly none)."""
        cfg = self.config
        if topic == cfg.episode_topic:
            return self._on_episode(msg)
        if topic == cfg.task_topic:
            self._on_task(msg)
            return []
        stamp = stamp_ns_of(msg, receive_ns)
        if topic == cfg.joints_topic:
            self._on_joints(stamp, msg)
        elif topic == cfg.depth_topic:
            try:
                self._depths.append((stamp, self._decode_depth(msg)))
            except ValueError:
                self.skipped['bad_depth'] += 1
        elif topic == cfg.action_topic:
            targets = np.asarray(msg.data, dtype=np.float32)
            if targets.shape != (len(cfg.joint_names),) or not np.isfinite(targets).all():
                self.skipped['bad_command'] += 1
            elif np.any(targets < self._lower) or np.any(targets > self._upper):
                self.skipped['command_out_of_limits'] += 1
            elif self._episode_running():
                self._command_ns.append(receive_ns)
                self._command_targets.append(targets)
        elif topic == cfg.color_topic:
            self._on_color(stamp, msg)
        return self._complete(receive_ns)

    def finish(self):
        """End of stream: frames still waiting for their action chunk are dropped."""
        self.skipped['chunk_incomplete'] += len(self._pending)
        self._pending.clear()
        return []

    # -- internals ---------------------------------------------------------------------
    def _episode_running(self):
        return self._episode is not None and self._episode[1]

    def _on_episode(self, msg):
        key = (int(msg.episode), bool(msg.running))
        if key == self._episode:
            return []
        # The episode changed or ended: frames of the old one can use commands up to now
        # only; whatever lacks a full chunk is dropped.
        done = self._complete(None, flush=True)
        if self._episode is None or key[0] != self._episode[0]:
            self._command_ns, self._command_targets = [], []
        self._episode = key
        return done

    def _on_joints(self, stamp, msg):
        if self._joint_index is None:
            names = list(msg.name)
            missing = [n for n in self.config.joint_names if n not in names]
            if missing:
                self.skipped['joints_missing_names'] += 1
                return
            self._joint_index = [names.index(n) for n in self.config.joint_names]
        idx = self._joint_index
        try:
            pos = np.asarray(msg.position, dtype=np.float32)[idx]
            vel = np.asarray(msg.velocity, dtype=np.float32)[idx]
            eff = (np.asarray(msg.effort, dtype=np.float32)[idx] if len(msg.effort)
                   else np.zeros(len(idx), np.float32))
        except IndexError:
            self._joint_index = None  # joint order changed: look the names up again
            self.skipped['joints_bad_layout'] += 1
            return
        if not (np.isfinite(pos).all() and np.isfinite(vel).all()):
            self.skipped['joints_non_finite'] += 1
            return
        self._joints.append((stamp, pos, vel, eff))

    def _on_task(self, msg):
        if self._encode_task is None:
            return
        try:
            self.task = self._encode_task(msg.data)
        except ValueError:
            self.skipped['bad_task'] += 1
            self.task = self._encode_task(None)  # the sender replaced the last task

    def _on_color(self, stamp, msg):
        if not self._episode_running():
            self.skipped['outside_episode'] += 1
            return
        self._frame_count += 1
        if (self._frame_count - 1) % self.config.frame_stride:
            return
        tol = int(self.config.tolerance * NS)
        joints = _as_of(self._joints, stamp, tol)
        if joints is None:
            self.skipped['no_joints'] += 1
            return
        try:
            color = self._decode_color(msg)
        except ValueError:
            self.skipped['bad_color'] += 1
            return
        depth = _nearest(self._depths, stamp, tol)
        self._pending.append((stamp, self._episode[0], color, depth, joints, self.task))

    def _complete(self, now_ns, flush=False):
        cfg = self.config
        horizon = int((cfg.chunk_len - 1) * cfg.chunk_dt * NS)
        out = []
        while self._pending:
            stamp, episode, color, depth, joints, task = self._pending[0]
            if not flush and (now_ns is None or now_ns < stamp + horizon):
                break
            self._pending.popleft()
            chunk = self._chunk(stamp)
            if chunk is None:
                self.skipped['chunk_incomplete'] += 1
                continue
            _, pos, vel, eff = joints
            present = depth is not None
            if depth is None:
                depth = np.zeros((1,) + color.shape[1:], np.float32)
            out.append(Sample(stamp, episode, color, depth, pos, vel, eff, chunk, present,
                              task))
        return out

    def _chunk(self, stamp):
        cfg = self.config
        times = self._command_ns
        if not times or times[0] > stamp:
            return None  # no command in force yet at t
        if times[-1] < stamp + int((cfg.chunk_len - 1) * cfg.chunk_dt * NS) - NS // 2:
            return None  # the teacher fell silent before the chunk's end
        targets = self._command_targets
        return np.array([targets[bisect.bisect_right(times, stamp + int(k * cfg.chunk_dt * NS))
                                 - 1] for k in range(cfg.chunk_len)], np.float32)


def _as_of(buffer, stamp, tol):
    best = None
    for item in reversed(buffer):
        if item[0] <= stamp:
            best = item
            break
    if best is None or stamp - best[0] > tol:
        return None
    return best


def _nearest(buffer, stamp, tol):
    if not buffer:
        return None
    item = min(buffer, key=lambda it: abs(it[0] - stamp))
    return item[1] if abs(item[0] - stamp) <= tol else None


class ExperienceMemory:
    """Fixed-capacity ring buffer of Samples with episode boundaries."""

    FIELDS = ('color', 'depth', 'joint_pos', 'joint_vel', 'joint_eff', 'action', 'task')

    def __init__(self, capacity=100_000):
        self.capacity = int(capacity)
        self._arrays = None
        self.stamp_ns = np.zeros(self.capacity, np.int64)
        self.episode = np.full(self.capacity, -1, np.int64)
        self.depth_present = np.zeros(self.capacity, bool)
        self._next = 0
        self.size = 0

    def __len__(self):
        return self.size

    def add(self, sample):
        """Store one sample, overwriting the oldest when full."""
        if self._arrays is None:
            self._arrays = {f: np.zeros((self.capacity,) + getattr(sample, f).shape,
                                        getattr(sample, f).dtype) for f in self.FIELDS}
        i = self._next
        for f in self.FIELDS:
            self._arrays[f][i] = getattr(sample, f)
        self.stamp_ns[i] = sample.stamp_ns
        self.episode[i] = sample.episode
        self.depth_present[i] = sample.depth_present
        self._next = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def extend(self, samples):
        for s in samples:
            self.add(s)

    def extend_columns(self, columns):
        """
        Store stacked samples, oldest first; return how many were given.

        columns holds what get() returns: an (N, ...) array per FIELDS entry, and stamp_ns,
        episode and depth_present. The same as add() of each sample in turn, in one copy.
        """
        n = len(columns['stamp_ns'])
        if n == 0:
            return 0
        if self._arrays is None:
            self._arrays = {f: np.zeros((self.capacity,) + columns[f].shape[1:],
                                        columns[f].dtype) for f in self.FIELDS}
        keep = slice(max(0, n - self.capacity), n)   # a wrap overwrites all but the last
        where = (self._next + np.arange(n)[keep]) % self.capacity
        for f in self.FIELDS:
            self._arrays[f][where] = columns[f][keep]
        self.stamp_ns[where] = columns['stamp_ns'][keep]
        self.episode[where] = columns['episode'][keep]
        self.depth_present[where] = columns['depth_present'][keep]
        self._next = (self._next + n) % self.capacity
        self.size = min(self.size + n, self.capacity)
        return n

    def _order(self):
        """Return storage indices oldest first."""
        if self.size < self.capacity:
            return np.arange(self.size)
        return (np.arange(self.capacity) + self._next) % self.capacity

    def get(self, indices):
        """Return a dict of arrays for storage indices."""
        out = {f: self._arrays[f][indices] for f in self.FIELDS}
        out['episode'] = self.episode[indices]
        out['stamp_ns'] = self.stamp_ns[indices]
        out['depth_present'] = self.depth_present[indices]
        return out

    def episodes(self):
        """Return {episode id: storage indices in time order}."""
        order = self._order()
        result = collections.OrderedDict()
        for idx in order:
            result.setdefault(int(self.episode[idx]), []).append(int(idx))
        return {k: np.asarray(v) for k, v in result.items()}

    def sample(self, batch_size, rng):
        """Return storage indices of batch_size uniformly drawn samples."""
        if self.size == 0:
            raise ValueError('experience memory is empty')
        return self._order()[rng.integers(0, self.size, size=batch_size)]

    def motion_weights(self, floor=0.2):
        """
        Return a sampling weight per sample (storage order, oldest first): floor + how far.

        How far the teacher's chunk goes from the current joint positions (mean abs, rad).
        Most recorded frames show the arm parked on its goal; drawn uniformly they teach
        "stay" and drown the frames where the teacher decides where to go.
        """
        order = self._order()
        actions = self._arrays['action'][order]
        moved = np.abs(actions[:, -1] - self._arrays['joint_pos'][order]).mean(axis=-1)
        return floor + moved

    def sequence_starts(self, length):
        """Return storage-order positions where a `length`-long run stays in one episode."""
        order = self._order()
        ep = self.episode[order]
        if len(order) < length:
            return np.zeros(0, np.int64)
        same = ep[length - 1:] == ep[:len(ep) - length + 1]
        # A run inside one episode has the same id at both ends and no id change inside.
        changes = np.concatenate([[0], np.cumsum(ep[1:] != ep[:-1])])
        inside = changes[length - 1:] == changes[:len(ep) - length + 1]
        return np.nonzero(same & inside)[0]

    def sample_sequences(self, batch_size, length, rng, starts=None, weights=None):
        """
        Return (batch_size, length) storage indices of sequences inside one episode each.

        weights (storage order, e.g. motion_weights()) weigh a sequence by its last sample.
        """
        starts = self.sequence_starts(length) if starts is None else starts
        if len(starts) == 0:
            raise ValueError(f'no episode holds {length} consecutive samples')
        order = self._order()
        if weights is None:
            chosen = starts[rng.integers(0, len(starts), size=batch_size)]
        else:
            p = weights[starts + length - 1]
            chosen = rng.choice(starts, size=batch_size, p=p / p.sum())
        return order[chosen[:, None] + np.arange(length)[None, :]]
