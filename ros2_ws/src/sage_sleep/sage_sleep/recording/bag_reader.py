# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Reading the recorded day back: wake periods, their segments in order, decoded messages.

    periods = list_wake_periods(bag_root)
    for topic, stamp_ns, msg in iter_messages(periods[0], topics=['/joint_states']):
        ...
    episodes = list_episodes(periods[0])        # from /sim/episode

Messages are decoded with the definitions each bag carries (rosbags dataclasses; arrays
as numpy), or, for the types given in `decoders`, by a function of the raw CDR bytes (the
trainer reads images, joint states and commands at their offsets). A bad bag (truncated,
corrupt, no metadata, unknown or undefined types, empty) is named in one clear log line and
skipped; the rest is still read. A malformed message (an Image whose data is not its declared
height*step) is skipped, named by bag and offset, and never decoded.
"""

from dataclasses import dataclass, field
import logging
from pathlib import Path

from rosbags.interfaces import MessageDefinitionFormat
from rosbags.rosbag2 import Reader
from rosbags.serde import SerdeError
from rosbags.typesys import get_types_from_msg, get_typestore, Stores

from .segments import is_complete, PERIOD_RE, PeriodIndex, SEGMENT_RE

LOG = logging.getLogger(__name__)
EPISODE_TOPIC = '/sim/episode'


class BagError(Exception):
    """A segment that cannot be read; the message names the bag and what is wrong."""


@dataclass
class Segment:
    """One closed (or salvaged) segment: a complete rosbag2 bag."""

    path: Path
    state: str
    start_ns: int
    end_ns: int
    message_counts: dict

    @property
    def name(self):
        return self.path.name

    @property
    def message_count(self):
        return sum(self.message_counts.values())


@dataclass
class WakePeriod:
    """The segments recorded in one wake period, in recording order."""

    id: str  # noqa: A003 (the name the trainer uses)
    path: Path
    segments: list
    problems: list = field(default_factory=list)

    @property
    def start_ns(self):
        return min((s.start_ns for s in self.segments), default=0)

    @property
    def end_ns(self):
        return max((s.end_ns for s in self.segments), default=0)

    @property
    def message_counts(self):
        counts = {}
        for segment in self.segments:
            for topic, n in segment.message_counts.items():
                counts[topic] = counts.get(topic, 0) + n
        return counts

    @property
    def message_count(self):
        return sum(s.message_count for s in self.segments)


@dataclass
class Episode:
    """One episode of a simulated task, bounded by its /sim/episode messages."""

    episode: int
    seed: int
    start_ns: int
    end_ns: int
    steps: int
    success: bool
    final_distance: float


def open_segment(path):
    """Return the Segment at path; raise BagError saying why it cannot be read."""
    path = Path(path)
    if not is_complete(path):
        raise BagError(f'bag {path}: no metadata.yaml (still being recorded, or crashed and '
                       'not salvaged yet)')
    try:
        with Reader(path) as reader:
            counts = {c.topic: 0 for c in reader.connections}
            for connection in reader.connections:
                counts[connection.topic] += connection.msgcount
            start, end = reader.start_time, reader.end_time
    except Exception as exc:  # rosbags raises many kinds for broken files
        raise BagError(f'bag {path}: unreadable ({type(exc).__name__}: {exc})') from None
    if not sum(counts.values()):
        raise BagError(f'bag {path}: empty (no messages)')
    return Segment(path=path, state='closed', start_ns=start, end_ns=end,
                   message_counts=counts)


def list_wake_periods(bag_root, log=LOG.warning):
    """Return the recorded WakePeriods under bag_root, oldest first; bad bags logged, skipped."""
    root = Path(bag_root)
    periods = []
    if not root.is_dir():
        return periods
    for path in sorted(p for p in root.iterdir() if p.is_dir() and PERIOD_RE.match(p.name)):
        index = PeriodIndex(path)
        names = {s.name for s in index.ordered()}
        names.update(p.name for p in path.iterdir() if p.is_dir() and SEGMENT_RE.match(p.name))
        period = WakePeriod(id=path.name, path=path, segments=[])
        for name in sorted(names, key=lambda n: int(SEGMENT_RE.match(n)[1])):
            if not (path / name).is_dir():
                continue
            try:
                segment = open_segment(path / name)
            except BagError as exc:
                period.problems.append(str(exc))
                log(f'skipping {exc}')
                continue
            record = index.segments.get(name)
            segment.state = record.state if record else 'closed'
            period.segments.append(segment)
        if period.segments:
            periods.append(period)
    return periods


def _segments_of(period_or_segments):
    if isinstance(period_or_segments, WakePeriod):
        return list(period_or_segments.segments)
    if isinstance(period_or_segments, (Segment, str, Path)):
        period_or_segments = [period_or_segments]
    return list(period_or_segments)


def _typestore_for(reader, path, log):
    """Return (typestore, decodable connections) of an open reader."""
    store = get_typestore(Stores.EMPTY)
    usable = []
    for connection in reader.connections:
        try:
            if connection.msgdef.format != MessageDefinitionFormat.MSG:
                raise ValueError('the bag carries no .msg definition of it')
            types = get_types_from_msg(connection.msgdef.data, connection.msgtype)
            store.register(types)
            usable.append(connection)
        except Exception as exc:  # a broken or foreign definition: skip that topic only
            log(f'bag {path}: topic {connection.topic} has unknown type {connection.msgtype} '
                f'({type(exc).__name__}: {exc}); skipped')
    return store, usable


MALFORMED_NAMED = 3  # malformed messages named one by one per bag; the rest are counted


def iter_messages(period_or_segments, topics=None, log=LOG.warning, decoders=None):
    """
    Yield (topic, stamp_ns, msg) in time order across the segments, decoded.

    period_or_segments is a WakePeriod, a Segment, a segment path or a list of them (in
    recording order). stamp_ns is the receive time the recorder wrote (non-decreasing
    within a wake period).

    decoders maps a message type ('sensor_msgs/msg/Image') to a function of the raw CDR
    bytes that replaces rosbags' deserialisation for it (e.g. sage_perception's
    image_from_cdr). A ValueError from it means the payload is malformed (an Image whose
    data is not its declared height*step): that message is skipped, never yielded, and
    named with its bag, topic and offset (its index among the bag's messages read, and its
    receive time); past the first few in a bag they are counted in one line.
    """
    wanted = set(topics) if topics else None
    decoders = decoders or {}
    for item in _segments_of(period_or_segments):
        path = Path(item.path if isinstance(item, Segment) else item)
        count = undecodable = malformed = 0
        try:
            with Reader(path) as reader:
                store, usable = _typestore_for(reader, path, log)
                connections = [c for c in usable if wanted is None or c.topic in wanted]
                if not connections:
                    continue
                fast = {c.id: decoders.get(c.msgtype) for c in connections}
                for offset, (connection, stamp, raw) in enumerate(
                        reader.messages(connections=connections)):
                    decode = fast[connection.id]
                    try:
                        msg = (decode(raw) if decode else
                               decode_cdr(store, raw, connection.msgtype))
                    except SerdeError as exc:  # one bad message, not a bad bag
                        undecodable += 1
                        if undecodable == 1:
                            log(f'bag {path}: a {connection.msgtype} message on '
                                f'{connection.topic} does not decode ({exc}); skipping such')
                        continue
                    except ValueError as exc:  # a payload contradicting its own header
                        malformed += 1
                        if malformed <= MALFORMED_NAMED:
                            log(f'bag {path}: message at offset {offset} ({connection.topic}, '
                                f'received {stamp} ns) is a malformed {connection.msgtype} '
                                f'({exc}); skipped, not decoded')
                        continue
                    count += 1
                    yield connection.topic, stamp, msg
        except Exception as exc:  # truncated/corrupt bag: name it, go on with the next one
            log(f'bag {path}: unreadable after {count} messages ({type(exc).__name__}: {exc})'
                '; skipped the rest of it')
        if undecodable:
            log(f'bag {path}: {undecodable} messages did not decode and were skipped')
        if malformed > MALFORMED_NAMED:
            log(f'bag {path}: {malformed} malformed messages in all were skipped')


def decode_cdr(store, raw, msgtype):
    """
    Deserialize CDR bytes, accepting bytes after the message's end.

    rosbags refuses a message with trailing bytes, but rmw serializers add them: rclpy
    serializes a JointState whose velocity and effort are empty with 8 bytes of padding
    (a robot driver that publishes no efforts), and a whole recorded day of them would be
    unreadable.
    """
    try:
        return store.deserialize_cdr(raw, msgtype)
    except SerdeError as exc:
        if 'size mismatch' not in str(exc):
            raise
    msgdef = store.get_msgdef(msgtype)
    func = msgdef.deserialize_cdr_le if raw[1] else msgdef.deserialize_cdr_be
    return func(raw[4:], 0, msgdef.cls, store)[0]


def list_episodes(period_or_segments, topic=EPISODE_TOPIC, log=LOG.warning):
    """Return the Episodes seen on the EpisodeState topic, in order."""
    episodes = []
    for _, stamp, msg in iter_messages(period_or_segments, topics=[topic], log=log):
        current = episodes[-1] if episodes else None
        if current is None or current.episode != msg.episode:
            current = Episode(episode=int(msg.episode), seed=int(msg.seed), start_ns=stamp,
                              end_ns=stamp, steps=0, success=False, final_distance=0.0)
            episodes.append(current)
        current.end_ns = stamp
        current.steps = int(msg.step)
        current.success = bool(msg.success)
        current.final_distance = float(msg.distance)
    return episodes
