# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
`sage_replay`: play recorded bags back onto the ROS graph (`ros2 bag play` without rosbag2).

    sage_replay PATH... [--rate R] [--loop] [--topics T,...] [--exclude T,...] [--restamp]
                [--reliable] [--clock HZ] [--delay S] [--wait-for-subscribers S]

PATH is a bag root (every wake period in it, oldest first), a wake period, or one segment (any
rosbag2 bag). Each message goes out as the CDR bytes it was recorded as, at its recorded time
scaled by 1/rate, with the QoS it was recorded with (reliable or best effort, volatile or
latched; --reliable makes every topic reliable, so a reliable subscriber loses nothing).
E.g. yesterday's sensor stream into today's nodes, the L-module in shadow mode:

    sage_replay bags/wake-20261130T080000.000Z --topics /camera/color/image_raw,\
/camera/depth/image_rect_raw,/joint_states,/sage/episode_start --restamp

--restamp moves every top-level `header.stamp` by (now - the first message's time), so nodes
that check stamps against their clock take the replayed day as today's. --clock publishes
/clock (rosgraph_msgs/Clock) with the bag's time at HZ, for nodes run with use_sim_time.

Exit codes: 0 played, 2 bad arguments (no bag there, a type not installed here), 130 stopped
by SIGINT/SIGTERM.
"""

import argparse
import dataclasses
from pathlib import Path
import sys
import time

from rosbags.interfaces import QosDurability, QosReliability
from rosbags.rosbag2 import Reader
from sage_common.messages import stamp_to_ns

from .bag_reader import BagError, list_wake_periods, open_segment
from .segments import PERIOD_RE, SEGMENT_RE
from .topics import message_class


class ReplayError(Exception):
    """Nothing can be played: the message says what is missing."""


@dataclasses.dataclass
class Topic:
    """A recorded topic: its type and the QoS it was offered with."""

    name: str
    msgtype: str
    reliable: bool = True
    latched: bool = False
    count: int = 0


def find_segments(paths):
    """Return the bags under paths in recording order; raise ReplayError if there are none."""
    segments = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ReplayError(f'{path}: no such file or directory')
        if (path / 'metadata.yaml').is_file():
            found = [path]
        elif PERIOD_RE.match(path.name) or any(SEGMENT_RE.match(p.name) for p in path.iterdir()):
            found = [s.path for p in list_wake_periods(path.parent) if p.path == path
                     for s in p.segments]
        else:
            found = [s.path for p in list_wake_periods(path) for s in p.segments]
        if not found:
            raise ReplayError(f'{path}: no readable bag (a bag root, a wake period or a bag '
                              'with metadata.yaml)')
        segments += found
    return segments


def read_topics(segments, wanted=None, excluded=()):
    """Return {topic: Topic} of the segments, filtered; raise ReplayError if none is left."""
    topics = {}
    for segment in segments:
        try:
            open_segment(segment)
        except BagError as exc:
            raise ReplayError(str(exc)) from None
        with Reader(segment) as reader:
            for c in reader.connections:
                if (wanted and c.topic not in wanted) or c.topic in excluded:
                    continue
                qos = list(getattr(c.ext, 'offered_qos_profiles', None) or [])
                topic = topics.setdefault(c.topic, Topic(c.topic, c.msgtype))
                if topic.msgtype != c.msgtype:
                    raise ReplayError(f'{c.topic} changes type between bags: {topic.msgtype} '
                                      f'and {c.msgtype}')
                if qos:
                    topic.reliable = qos[0].reliability != QosReliability.BEST_EFFORT
                    topic.latched = qos[0].durability == QosDurability.TRANSIENT_LOCAL
                topic.count += c.msgcount
    missing = sorted(set(wanted or ()) - set(topics))
    if missing:
        raise ReplayError(f'not in the bags: {", ".join(missing)}')
    if not topics:
        raise ReplayError('no topic left to play')
    return topics


def iter_raw(segments, topics):
    """Yield (topic, time_ns, cdr bytes) of the wanted topics, segment after segment."""
    for segment in segments:
        with Reader(segment) as reader:
            connections = [c for c in reader.connections if c.topic in topics]
            for connection, time_ns, data in reader.messages(connections=connections):
                yield connection.topic, time_ns, bytes(data)


class Player:
    """Publishers for the topics, and the timed loop that feeds them."""

    def __init__(self, node, topics, rate=1.0, restamp=False, clock_hz=0.0, reliable=False):
        from rclpy.serialization import deserialize_message
        from sage_common.qos import latched_qos, reliable_qos, sensor_qos

        if not rate > 0:
            raise ReplayError(f'--rate must be > 0, got {rate}')
        self.node = node
        self.rate = float(rate)
        self.restamp = restamp
        self._deserialize = deserialize_message
        self.classes = {t.name: message_class(t.msgtype) for t in topics.values()}
        self.publishers = {}
        for t in topics.values():
            qos = latched_qos() if t.latched else reliable_qos(100) if t.reliable or reliable \
                else sensor_qos()
            self.publishers[t.name] = node.create_publisher(self.classes[t.name], t.name, qos)
        self.clock_pub = None
        self.clock_period = 1.0 / clock_hz if clock_hz > 0 else None
        if self.clock_period:
            self.Clock = message_class('rosgraph_msgs/msg/Clock')
            self.clock_pub = node.create_publisher(self.Clock, '/clock', 10)
        self.published = dict.fromkeys(topics, 0)
        self.bytes = 0

    def wait_for_subscribers(self, timeout, stop):
        """Wait until every publisher has a subscriber (or timeout s); return the unmatched."""
        deadline = time.monotonic() + timeout
        while not stop():
            unmatched = [n for n, p in self.publishers.items() if not p.get_subscription_count()]
            if not unmatched or time.monotonic() >= deadline:
                return unmatched
            time.sleep(0.05)
        return []

    def play(self, messages, stop):
        """Publish (topic, time_ns, data) at their recorded pace; False if stopped early."""
        start_wall = first_ns = None
        shift_ns = 0
        next_clock = 0.0
        for topic, time_ns, data in messages:
            if start_wall is None:
                start_wall, first_ns = time.monotonic(), time_ns
                shift_ns = time.time_ns() - time_ns
            due = start_wall + (time_ns - first_ns) * 1e-9 / self.rate
            while True:
                if stop():
                    return False
                wait = due - time.monotonic()
                if wait <= 0:
                    break
                time.sleep(min(wait, 0.05))
            if self.clock_pub is not None and time.monotonic() >= next_clock:
                self.clock_pub.publish(self.Clock(clock=_time_msg(time_ns)))
                next_clock = time.monotonic() + self.clock_period
            self.publishers[topic].publish(self._restamped(topic, data, shift_ns))
            self.published[topic] += 1
            self.bytes += len(data)
        return True

    def wait_for_all_acked(self, timeout_s=5.0):
        """
        Wait until reliable subscribers acknowledged everything; return the topics that did not.

        A reliable writer destroyed with samples in flight loses them (rclpy >= Galactic has
        the call; without it a short pause stands in).
        """
        from rclpy.duration import Duration

        late = []
        for name, publisher in self.publishers.items():
            if not hasattr(publisher, 'wait_for_all_acked'):
                time.sleep(0.5)
                return []
            if not publisher.wait_for_all_acked(Duration(seconds=timeout_s)):
                late.append(name)
        return late

    def _restamped(self, topic, data, shift_ns):
        if not self.restamp:
            return data
        msg = self._deserialize(data, self.classes[topic])
        header = getattr(msg, 'header', None)
        stamp = getattr(header, 'stamp', None)
        if stamp is None or not (stamp.sec or stamp.nanosec):
            return msg
        header.stamp = _time_msg(stamp_to_ns(stamp) + shift_ns)
        return msg


def _time_msg(ns):
    from builtin_interfaces.msg import Time

    return Time(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def main(argv=None):
    parser = argparse.ArgumentParser(prog='sage_replay', description=__doc__.split('\n')[1])
    parser.add_argument('paths', nargs='+', help='bag root, wake period or bag directory')
    parser.add_argument('--rate', type=float, default=1.0, help='playback speed factor')
    parser.add_argument('--loop', action='store_true', help='play again until stopped')
    parser.add_argument('--topics', default='', help='comma-separated topics to play (all)')
    parser.add_argument('--exclude', default='', help='comma-separated topics not to play')
    parser.add_argument('--restamp', action='store_true',
                        help='shift header stamps to now')
    parser.add_argument('--clock', type=float, default=0.0, metavar='HZ',
                        help='publish /clock at HZ with the bag time (0: no)')
    parser.add_argument('--reliable', action='store_true',
                        help='publish best-effort topics reliably (a reliable subscriber '
                        'matches, and nothing is lost between processes)')
    parser.add_argument('--delay', type=float, default=1.0,
                        help='seconds between creating the publishers and the first message')
    parser.add_argument('--wait-for-subscribers', type=float, default=0.0, metavar='S',
                        help='wait up to S s for every topic to have a subscriber')
    argv = list(sys.argv[1:] if argv is None else argv)
    ros_args = argv[argv.index('--ros-args'):] if '--ros-args' in argv else []
    args = parser.parse_args(argv[:len(argv) - len(ros_args)])
    wanted = [t for t in args.topics.split(',') if t]
    excluded = {t for t in args.exclude.split(',') if t}
    try:
        segments = find_segments(args.paths)
        topics = read_topics(segments, wanted, excluded)
        for t in topics.values():
            message_class(t.msgtype)
    except (ReplayError, ImportError) as exc:
        print(f'sage_replay: error: {exc}', file=sys.stderr)
        return 2

    import rclpy
    from sage_common.node import init_rclpy, native_threads_without_stop_signals, stop_requested

    init_rclpy(['sage_replay', *ros_args])
    with native_threads_without_stop_signals():
        node = rclpy.create_node('sage_replay')
    try:
        player = Player(node, topics, args.rate, args.restamp, args.clock, args.reliable)
    except ReplayError as exc:
        print(f'sage_replay: error: {exc}', file=sys.stderr)
        node.destroy_node()
        rclpy.try_shutdown()
        return 2
    total = sum(t.count for t in topics.values())
    print(f'sage_replay: {len(segments)} bag(s), {len(topics)} topics, {total} messages at '
          f'x{args.rate:g}{", looping" if args.loop else ""}', flush=True)
    unmatched = player.wait_for_subscribers(args.wait_for_subscribers, stop_requested) \
        if args.wait_for_subscribers > 0 else []
    if unmatched:
        print(f'sage_replay: no subscriber yet on {", ".join(unmatched)}; playing anyway',
              flush=True)
    time.sleep(max(0.0, args.delay))
    started = time.monotonic()
    finished = True
    try:
        while finished and not stop_requested():
            finished = player.play(iter_raw(segments, topics), stop_requested)
            if not args.loop:
                break
    finally:
        seconds = time.monotonic() - started
        late = player.wait_for_all_acked()
        if late:
            print(f'sage_replay: not acknowledged within 5 s on {", ".join(late)}', flush=True)
        sent = sum(player.published.values())
        print(f'sage_replay: published {sent} messages ({player.bytes / 1e6:.1f} MB) in '
              f'{seconds:.1f} s: ' + ', '.join(f'{n} {c}' for n, c in player.published.items()),
              flush=True)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0 if finished else 130


if __name__ == '__main__':
    sys.exit(main())
