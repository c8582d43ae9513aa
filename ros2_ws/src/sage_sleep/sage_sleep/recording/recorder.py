# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The wake recorder: serialized messages in, rotating rosbag2 (MCAP) segments out.

Callers (subscription callbacks, or the take loop with a batch at a time) `offer()` or
`offer_batch()` raw CDR bytes; a bounded queue (in bytes) holds them for the writer thread,
and whatever does not fit is dropped and counted per topic, so a slow disk never blocks the
callbacks. A topic recorded `every:N` keeps the first of every N messages offered (counted
as `decimated` otherwise). The writer thread rotates segments by size and
duration, flushes the pending MCAP chunk every `flush_period_s`, keeps a journal of the
open segment's counts (for the loss report of a salvage) and enforces the disk budget.
"""

import collections
from dataclasses import dataclass
import logging
import threading
import time

from .quota import DiskQuota
from .salvage import salvage_segment
from .segments import (dir_bytes, new_period_id, PeriodIndex, segment_name,
                       SegmentWriter, write_json_atomic)

LOG = logging.getLogger(__name__)
MESSAGE_OVERHEAD = 64  # MCAP message record + index entry, bytes
BATCH_BYTES = 4 << 20  # the writer thread takes up to this much of the queue at a time


def keep_freed_buffers(trim_bytes=256 << 20, mmap_bytes=32 << 20):
    """
    Let glibc's malloc reuse freed message buffers instead of returning them at once.

    A recorded image is a 1 MB bytes object allocated by the take loop and freed after it is
    written (or at once when decimated). With glibc's defaults each such buffer was mapped
    and unmapped, or the heap top trimmed and faulted in again: the take loop's system time
    was 3-9% of a core at the recording benchmark's load, 0.4-0.7% with this (process-wide:
    allocations under mmap_bytes come from the heap, which keeps up to trim_bytes free at
    its top). Returns False where mallopt is not available (not glibc).
    """
    try:
        import ctypes
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, int(mmap_bytes)) and
                mallopt(m_trim_threshold, int(trim_bytes)))


def name_native_thread(name):
    """Name the calling thread for the OS (top -H, /proc/<pid>/task/<tid>/comm); Linux only."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def parse_mode(mode):
    """Return N of a per-topic recording mode: 'full' (1) or 'every:N' (N >= 1)."""
    text = str(mode).strip()
    if text in ('', 'full'):
        return 1
    name, _, value = text.partition(':')
    if name == 'every' and value.strip().isdigit() and int(value) >= 1:
        return int(value)
    raise ValueError(f"recording mode {mode!r} is not 'full' or 'every:N' (N >= 1)")


@dataclass
class TopicInfo:
    """A recorded topic: its type, definition and the QoS it is recorded with."""

    topic: str
    msgtype: str
    msgdef: str
    rihs01: str
    qos_profiles: tuple = ()
    every: int = 1     # keep the first of every N messages offered (1 = all)


@dataclass
class TopicCounts:
    """Per-topic counters (read by other threads for diagnostics)."""

    received: int = 0
    written: int = 0
    nbytes: int = 0
    dropped_queue: int = 0
    dropped_quota: int = 0
    skipped_paused: int = 0
    decimated: int = 0


class Recorder:
    """Writes offered messages into wake periods of rotating, crash-salvageable segments."""

    def __init__(self, bag_root, segment_max_bytes=512 << 20, segment_max_seconds=300.0,
                 queue_max_bytes=256 << 20, flush_period_s=1.0, journal_period_s=0.25,
                 quota=None, metadata_version=8, log=None, clock_ns=time.time_ns):
        self.bag_root = bag_root
        self.segment_max_bytes = int(segment_max_bytes)
        self.segment_max_seconds = float(segment_max_seconds)
        self.queue_max_bytes = int(queue_max_bytes)
        self.flush_period_s = flush_period_s
        self.journal_period_s = journal_period_s
        self.quota = quota or DiskQuota(bag_root)
        self.metadata_version = metadata_version
        self.log = log or LOG
        self._clock_ns = clock_ns
        self.topics = {}
        self.counts = collections.defaultdict(TopicCounts)
        self._queue = collections.deque()
        self._queued_bytes = 0
        self._cond = threading.Condition()
        self._accepting = False
        self._stopping = False
        self._last_stamp = 0
        self._thread = None
        # writer-thread state
        self.period = None
        self.segment = None
        self._index = None
        self._quota_blocked = False
        self._quota_retry_at = 0.0
        self._last_flush = 0.0
        self._last_journal = 0.0
        self.segments_closed = 0
        self.errors = 0
        self.last_error = ''

    # -- any thread ------------------------------------------------------------------------
    def add_topic(self, info):
        """Register a topic (before or while recording)."""
        self.topics[info.topic] = info

    def start(self):
        """Start the writer thread and a first wake period."""
        self._thread = threading.Thread(target=self._run, name='sage-recorder', daemon=True)
        self._thread.start()
        self.resume()

    @property
    def recording(self):
        return self._accepting

    @property
    def queued_bytes(self):
        return self._queued_bytes

    def offer(self, topic, data):
        """Queue one serialized message of topic; return False if it was dropped or skipped."""
        return self.offer_batch(((topic, data),)) == 1

    def offer_batch(self, items):
        """Queue [(topic, serialized message)...] under one lock; return how many were queued."""
        kept = []
        for topic, data in items:
            counts = self.counts[topic]
            counts.received += 1
            if not self._accepting:
                counts.skipped_paused += 1
                continue
            info = self.topics.get(topic)
            if info is not None and info.every > 1 and (counts.received - 1) % info.every:
                counts.decimated += 1
                continue
            kept.append((topic, counts, data))
        if not kept:
            return 0
        queued = 0
        with self._cond:
            for topic, counts, data in kept:
                size = len(data)
                if self._queued_bytes + size > self.queue_max_bytes:
                    counts.dropped_queue += 1
                    continue
                stamp = max(self._clock_ns(), self._last_stamp)
                self._last_stamp = stamp
                self._queue.append((topic, stamp, data, size))
                self._queued_bytes += size
                queued += 1
            if queued:
                self._cond.notify()
        return queued

    def pause(self, timeout=30.0):
        """Stop accepting, write out the queue, close the segment and end the wake period."""
        self._accepting = False
        return self._control('end_period', timeout)

    def resume(self, timeout=30.0):
        """Begin a new wake period and accept messages again."""
        done = self._control('begin_period', timeout)
        self._accepting = True
        return done

    def close(self, timeout=30.0):
        """Finish: like pause, then stop the writer thread."""
        if self._thread is None:
            return
        self.pause(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)
        self._thread = None

    def _control(self, what, timeout):
        event = threading.Event()
        with self._cond:
            self._queue.append((what, None, event, 0))
            self._cond.notify()
        return event.wait(timeout)

    def snapshot(self):
        """Return a dict of counters for diagnostics."""
        topics = {t: vars(c).copy() for t, c in list(self.counts.items())}
        segment = self.segment
        return {
            'recording': self._accepting,
            'period': self.period or '',
            'segment': segment.path.name if segment else '',
            'segment_messages': segment.messages() if segment else 0,
            'queued_bytes': self._queued_bytes,
            'segments_closed': self.segments_closed,
            'quota_blocked': self._quota_blocked,
            'closed_bytes': self.quota.closed_bytes,
            'pruned_segments': self.quota.pruned,
            'errors': self.errors,
            'last_error': self.last_error,
            'topics': topics,
        }

    # -- writer thread ---------------------------------------------------------------------
    def _run(self):
        name_native_thread('sage-rec-write')
        while True:
            batch = []
            with self._cond:
                if not self._queue and not self._stopping:
                    self._cond.wait(0.1)
                if not self._queue and self._stopping:
                    break
                taken = 0
                while self._queue and taken < BATCH_BYTES:
                    item = self._queue.popleft()
                    taken += item[3]
                    batch.append(item)
                self._queued_bytes -= taken
            for item in batch:
                try:
                    self._handle(*item[:3])
                except Exception as exc:  # noqa: B902 the writer thread must survive to report
                    self._fail(exc)
            try:
                self._housekeeping()
            except Exception as exc:  # noqa: B902
                self._fail(exc)

    def _handle(self, topic, stamp, payload):
        if topic == 'begin_period':
            self._end_period()
            self.period = new_period_id(self.bag_root)
            self._index = PeriodIndex(self.quota.root / self.period)
            self.log.info(f'wake period {self.period} begins')
            payload.set()
            return
        if topic == 'end_period':
            self._end_period()
            payload.set()
            return
        counts = self.counts[topic]
        if self.period is None or topic not in self.topics:
            counts.skipped_paused += 1
            return
        if self._quota_blocked and not self._retry_quota():
            counts.dropped_quota += 1
            return
        size = len(payload) + MESSAGE_OVERHEAD
        seg = self.segment
        if seg is not None and seg.messages() and \
                seg.bytes_estimate() + size > self.segment_max_bytes:
            self._close_segment('size')
            seg = None
        if not self._make_room(size):
            counts.dropped_quota += 1
            return
        seg = self.segment  # making room may have closed it
        if seg is None:
            seg = self._open_segment()
        if not seg.has_topic(topic):
            info = self.topics[topic]
            seg.add_topic(topic, info.msgtype, info.msgdef, info.rihs01, info.qos_profiles)
        seg.write(topic, stamp, payload)
        self.quota.note_written(size)
        counts.written += 1
        counts.nbytes += len(payload)

    def _make_room(self, size):
        """Return True once size bytes fit the budget; prune or block as configured."""
        quota = self.quota
        seg = self.segment
        open_bytes = seg.bytes_estimate() if seg else 0
        unwritten = seg.unwritten_estimate() if seg else 0
        if quota.fits(open_bytes, size, unwritten):
            return True
        if quota.action == 'prune':
            while not quota.fits(open_bytes, size, unwritten) and \
                    quota.prune_oldest() is not None:
                self.log.warning(f'disk budget: pruned the oldest segment ({quota.pruned} '
                                 f'so far, {quota.pruned_bytes} bytes)')
            if not quota.fits(open_bytes, size, unwritten) and seg is not None:
                self._close_segment('quota')
                open_bytes = unwritten = 0
                while not quota.fits(0, size) and quota.prune_oldest() is not None:
                    self.log.warning('disk budget: pruned the oldest segment '
                                     f'({quota.pruned} so far)')
            if quota.fits(open_bytes, size, unwritten):
                return True
        if self.segment is not None:
            self._close_segment('quota')
        self._block('disk budget reached (quota %d bytes, min free %d bytes): recording paused '
                    'until space is available' % (quota.quota_bytes, quota.min_free_bytes))
        return False

    def _block(self, why):
        if not self._quota_blocked:
            self.log.error(why)
        self._quota_blocked = True
        self._quota_retry_at = time.monotonic() + 1.0

    def _retry_quota(self):
        if time.monotonic() < self._quota_retry_at:
            return False
        self._quota_retry_at = time.monotonic() + 1.0
        self.quota.free_bytes()
        if self.quota.fits(0, self.segment_max_bytes // 16):
            self._quota_blocked = False
            self.log.info('disk budget: space available again, recording resumes')
            return True
        return False

    def _open_segment(self):
        name = segment_name(self._index.next_index())
        self.segment = SegmentWriter(self._index.dir / name, version=self.metadata_version)
        self._index.update(self.segment.record('open'))
        self._last_flush = self._last_journal = time.monotonic()
        return self.segment

    def _close_segment(self, why):
        seg, self.segment = self.segment, None
        seg.close()
        record = seg.record('closed')
        self._index.update(record)
        self.quota.add_closed(seg.path, record.nbytes)
        (seg.path.parent / f'{seg.path.name}.journal.json').unlink(missing_ok=True)
        self.segments_closed += 1
        self.log.info(f'closed {self.period}/{seg.path.name} ({why}): {record.messages} '
                      f'messages, {record.nbytes} bytes')

    def _end_period(self):
        if self.segment is not None:
            self._close_segment('end of wake period')
        if self.period is not None:
            self.log.info(f'wake period {self.period} ends')
        self.period = None

    def _housekeeping(self):
        seg = self.segment
        if seg is None:
            return
        now = time.monotonic()
        if now - seg.opened >= self.segment_max_seconds:
            self._close_segment('duration')
            return
        if now - self._last_flush >= self.flush_period_s:
            seg.flush()
            self._last_flush = now
        if now - self._last_journal >= self.journal_period_s:
            write_json_atomic(seg.path.parent / f'{seg.path.name}.journal.json',
                              {'topics': dict(seg.counts), 'end_ns': seg.end_ns})
            self._last_journal = now

    def _fail(self, exc):
        """Keep what a failed write left (e.g. the volume filled up behind our back); block."""
        self.errors += 1
        self.last_error = f'{type(exc).__name__}: {exc}'
        self.log.error(f'recording failed: {self.last_error}')
        seg, self.segment = self.segment, None
        if seg is not None:
            seg.writer.abort()
            try:
                result = salvage_segment(seg.path, version=self.metadata_version)
                self.log.warning(f'salvaged the failed segment {result.summary()}')
                if not result.removed:
                    self.quota.add_closed(seg.path, dir_bytes(seg.path))
            except OSError as again:
                self.log.error(f'could not salvage {seg.path} now ({again}); it will be '
                               'salvaged on the next start')
        self._block('recording paused after a write error until space is available')
