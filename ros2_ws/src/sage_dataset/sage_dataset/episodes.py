# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Episodes: what a dataset holds of one recorded episode, read out of SAGE's bags.

The bags are read the way the sleep trainer reads them (`sage_sleep`'s wake periods, its
`SampleExtractor` aligning joints and the teacher's command to each camera frame, episodes
bounded by `/sim/episode`), with an action chunk of one step: a frame's action is the
teacher's command in force at that frame. The colour image is kept at the camera's
resolution (decoded by `sage_perception.decode`), not resized for the encoder.

A dataset frame's state is [joint positions, velocities, efforts] (names `<joint>.pos`,
`<joint>.vel`, `<joint>.effort`); its action the joint position targets (`<joint>.pos`).
"""

import dataclasses

import numpy as np

STATE_PARTS = (('joint_pos', 'pos'), ('joint_vel', 'vel'), ('joint_eff', 'effort'))
COLOR_KEY = 'observation.images.color'
DEFAULT_TASK = 'reach the goal'
TEACHER_TOPICS = ('/teacher/commands', '/arm_controller/commands')  # as sage_train's default
EPISODE_STRIDE = 1_000_000  # episode ids unique across wake periods, as the trainer does


class DatasetError(Exception):
    """Input that cannot become a dataset or bags; the message names the file and field."""


@dataclasses.dataclass
class EpisodeData:
    """One episode: per-frame state and action, camera frames, its task."""

    index: int
    state: np.ndarray          # (n, 3J) float32
    action: np.ndarray         # (n, J) float32
    frames: dict               # {video key: (n, H, W, 3) uint8}
    task: str = DEFAULT_TASK
    stamps_ns: np.ndarray = None   # the recorded frame times (bags only)

    def __len__(self):
        return len(self.action)


def state_names(joint_names):
    """Return the names of the state vector's entries."""
    return [f'{j}.{suffix}' for _, suffix in STATE_PARTS for j in joint_names]


def action_names(joint_names):
    """Return the names of the action vector's entries."""
    return [f'{j}.pos' for j in joint_names]


def estimate_fps(stamps_ns):
    """Return the integer frame rate of recorded frame times (median interval)."""
    stamps = np.asarray(stamps_ns, np.int64)
    if len(stamps) < 2:
        raise DatasetError('an episode of fewer than 2 frames gives no frame rate')
    dt = np.median(np.diff(stamps)) / 1e9
    if dt <= 0:
        raise DatasetError('camera frames share one timestamp: no frame rate')
    return max(1, int(round(1.0 / dt)))


def bag_episodes(bag_root, joint_names=('joint0', 'joint1'), teacher_topics=TEACHER_TOPICS,
                 color_topic='/camera/color/image_raw', log=print, stats=None):
    """
    Yield the EpisodeData of every episode recorded under bag_root, in recording order.

    Wake periods and samples come from sage_sleep (list_wake_periods, decode_period): the
    action topic of a period is the first of teacher_topics it recorded, as in sage_train.
    stats (a dict), if given, collects 'periods', 'messages' and the extractor's skips.
    """
    from sage_perception.decode import decode_color
    from sage_sleep.learning.experience import ExtractorConfig
    from sage_sleep.learning.sample_cache import decode_period
    from sage_sleep.recording.bag_reader import list_wake_periods

    stats = {} if stats is None else stats
    stats.update(periods=0, messages=0, skipped={})
    periods = list_wake_periods(bag_root, log=log)
    if not periods:
        raise DatasetError(f'{bag_root}: no recorded wake period (wake-*/segment-*/ bags)')

    def no_depth(msg):
        raise ValueError('depth is not exported')

    episode_index = 0
    for number, period in enumerate(periods):
        counts = period.message_counts
        action_topic = next((t for t in teacher_topics if counts.get(t)), teacher_topics[-1])
        # No depth topic: depth is not exported, so its messages are not even read.
        config = ExtractorConfig(color_topic=color_topic, depth_topic='/sage_dataset/no_depth',
                                 action_topic=action_topic, joint_names=tuple(joint_names),
                                 chunk_len=1)
        decoded = decode_period(period, config, _hwc_color(decode_color), no_depth)
        stats['periods'] += 1
        stats['messages'] += sum(counts.get(t, 0) for t in config.topics())
        current, rows = None, []
        for sample in decoded.samples:
            episode = (number + 1) * EPISODE_STRIDE + sample.episode
            if current is not None and episode != current and rows:
                yield _episode(episode_index, rows)
                episode_index += 1
                rows = []
            current = episode
            rows.append(sample)
        if rows:
            yield _episode(episode_index, rows)
            episode_index += 1
        for reason, n in dict(decoded.skipped).items():
            stats['skipped'][reason] = stats['skipped'].get(reason, 0) + n
        for problem in decoded.problems:
            log(f'skipped: {problem}')


def _hwc_color(decode_color):
    def decode(msg):
        return np.ascontiguousarray(decode_color(msg), np.uint8)
    return decode


def _episode(index, samples):
    state = np.stack([np.concatenate([getattr(s, f) for f, _ in STATE_PARTS])
                      for s in samples]).astype(np.float32)
    action = np.stack([s.action[0] for s in samples]).astype(np.float32)
    frames = {COLOR_KEY: np.stack([s.color for s in samples])}
    stamps = np.asarray([s.stamp_ns for s in samples], np.int64)
    return EpisodeData(index=index, state=state, action=action, frames=frames, stamps_ns=stamps)
