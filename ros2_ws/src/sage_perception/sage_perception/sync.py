# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Approximate time alignment of streams by header stamp.

`make_synchronizer` uses message_filters' ApproximateTimeSynchronizer when a ROS install
provides it, else `ApproxTimeSync`, an equivalent plain class (the PyPI wheels lack
message_filters). Both are fed through `.add(index, msg)` after the caller has validated the
message, so bad input never reaches the pairing. `AsOfBuffer` answers "the value as of a
stamp" for fast streams (joint states at 100+ Hz against a 30 Hz camera).
"""

import bisect
import collections

from sage_common.messages import stamp_to_sec


class ApproxTimeSync:
    """
    Pair one message from each of N streams whose stamps lie within `slop` seconds.

    Like message_filters.ApproximateTimeSynchronizer: each stream keeps its last
    `queue_size` messages by stamp; when a message arrives, the closest message of every
    other stream is looked up, and if all of them lie within `slop` of each other the set is
    emitted and everything up to it dropped from the queues.
    """

    def __init__(self, n, queue_size, slop, callback, stamp=None):
        self._queues = [collections.OrderedDict() for _ in range(n)]
        self._queue_size = queue_size
        self._slop = slop
        self._callback = callback
        self._stamp = stamp or (lambda msg: stamp_to_sec(msg.header.stamp))
        self.emitted = 0
        self.dropped = 0  # messages discarded without a partner (queue overflow or stale)

    def add(self, index, msg):
        """Add a message to stream index; call the callback with a matched set, if any."""
        t = self._stamp(msg)
        queue = self._queues[index]
        queue[t] = msg
        while len(queue) > self._queue_size:
            queue.popitem(last=False)
            self.dropped += 1
        chosen = [None] * len(self._queues)
        chosen[index] = t
        for i, other in enumerate(self._queues):
            if i == index:
                continue
            if not other:
                return
            best = min(other, key=lambda s: abs(s - t))
            if abs(best - t) > self._slop:
                return
            chosen[i] = best
        if max(chosen) - min(chosen) > self._slop:
            return
        msgs = [q[s] for q, s in zip(self._queues, chosen)]
        for q, s in zip(self._queues, chosen):
            for stale in [k for k in q if k <= s]:
                del q[stale]
                self.dropped += stale < s
        self.emitted += 1
        self._callback(*msgs)


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
