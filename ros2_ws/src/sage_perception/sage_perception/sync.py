# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Approximate time alignment of streams by header stamp.

`make_synchronizer` uses message_filters' ApproximateTimeSynchronizer when a ROS install
provides it, else `ApproxTimeSync`, a plain class that follows the same rules (the PyPI wheels
lack message_filters; test_perception_sync_parity holds the two to the same output). Both are
fed through `.add(index, msg)` after the caller has validated the message, so bad input never
reaches the pairing. `AsOfBuffer` answers "the value as of a stamp" for fast streams (joint
states at 100+ Hz against a 30 Hz camera).
"""

import bisect
import collections
import itertools

from sage_common.messages import stamp_to_ns

NS_PER_S = 1000 * 1000 * 1000


def header_stamp_ns(msg):
    """Return msg.header.stamp in integer nanoseconds (what message_filters keys by)."""
    return stamp_to_ns(msg.header.stamp)


class ApproxTimeSync:
    """
    Pair one message from each of N streams whose stamps lie within `slop` seconds.

    The rules of message_filters.ApproximateTimeSynchronizer (Python), step for step:

    * each stream keeps a queue keyed by stamp in integer nanoseconds (a second message with
      the same stamp replaces the first); past `queue_size` entries the oldest *stamp* goes,
      whatever the arrival order;
    * a new message is matched against, for each other stream, the queued messages at most
      `slop` from it (inclusive), closest first (ties in queue order);
    * the first combination in that order (itertools.product, the first other stream
      varying slowest) whose stamps span strictly less than `slop` is emitted, and only the
      matched messages leave the queues: older unmatched ones stay and can still pair;
    * slop becomes nanoseconds as rclpy.Duration(seconds=slop) does (truncated).

    `stamp` (msg -> seconds) replaces the header stamp; default header_stamp_ns, exact.
    """

    def __init__(self, n, queue_size, slop, callback, stamp=None):
        self._queues = [{} for _ in range(n)]   # stamp ns -> msg, dict order = queue order
        self._queue_size = queue_size
        self._slop_ns = int(slop * NS_PER_S)
        self._callback = callback
        self._stamp_ns = header_stamp_ns if stamp is None else \
            (lambda msg: int(round(stamp(msg) * NS_PER_S)))
        self.emitted = 0
        self.dropped = 0  # messages discarded without a partner (queue overflow, same stamp)

    def add(self, index, msg):
        """Add a message to stream index; call the callback with a matched set, if any."""
        t = self._stamp_ns(msg)
        queue = self._queues[index]
        self.dropped += t in queue
        queue[t] = msg
        while len(queue) > self._queue_size:
            del queue[min(queue)]
            self.dropped += 1
        if t not in queue:
            return  # it was the oldest stamp of a full queue: nothing can match it
        candidates = []
        for i, other in enumerate(self._queues):
            if i == index:
                continue
            near = [s for s in other if abs(s - t) <= self._slop_ns]
            if not near:
                return
            candidates.append(sorted(near, key=lambda s: abs(s - t)))
        for combo in itertools.product(*candidates):
            chosen = list(combo)
            chosen.insert(index, t)
            if max(chosen) - min(chosen) < self._slop_ns:
                msgs = [q.pop(s) for q, s in zip(self._queues, chosen)]
                self.emitted += 1
                self._callback(*msgs)
                return


class _MessageFiltersSync:
    """message_filters' ApproximateTimeSynchronizer behind the same `.add` interface."""

    dropped = None  # message_filters does not report unpaired messages

    def __init__(self, n, queue_size, slop, callback):
        import message_filters

        self._inputs = [message_filters.SimpleFilter() for _ in range(n)]
        self._sync = message_filters.ApproximateTimeSynchronizer(
            self._inputs, queue_size, slop)
        self._sync.registerCallback(callback)

    def add(self, index, msg):
        self._inputs[index].signalMessage(msg)


def make_synchronizer(n, queue_size, slop, callback, prefer_message_filters=True):
    """Return (synchronizer, implementation name) pairing n streams within slop seconds."""
    if prefer_message_filters:
        try:
            return _MessageFiltersSync(n, queue_size, slop, callback), 'message_filters'
        except ImportError:
            pass
    return ApproxTimeSync(n, queue_size, slop, callback), 'sage_perception.sync'


class AsOfBuffer:
    """The last `size` (stamp, value) samples of a stream, looked up as of a stamp."""

    def __init__(self, size=256):
        self._stamps = collections.deque(maxlen=size)
        self._values = collections.deque(maxlen=size)

    def add(self, stamp, value):
        """Append a sample; stamps must not decrease (the caller rejects out-of-order ones)."""
        self._stamps.append(stamp)
        self._values.append(value)

    def latest_stamp(self):
        """Return the newest stamp, or None when empty."""
        return self._stamps[-1] if self._stamps else None

    def as_of(self, stamp, max_age, tolerance=0.0):
        """
        Return (sample_stamp, value) of the newest sample at or before stamp + tolerance.

        Returns None when there is none or it is more than max_age older than stamp.
        """
        i = bisect.bisect_right(self._stamps, stamp + tolerance) - 1
        if i < 0:
            return None
        found = self._stamps[i]
        if stamp - found > max_age:
            return None
        return found, self._values[i]
