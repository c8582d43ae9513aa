# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The disk budget of the recordings: a byte quota on the bags and a floor of free space.

The recorder asks `fits(open_bytes, extra)` before every write. Closed segments are known
with their sizes (oldest first, across wake periods) so the oldest can be pruned; free
space comes from statvfs, refreshed at most every `refresh_s` and reduced meanwhile by what
the recorder wrote, so a burst between two refreshes cannot overrun the floor.
"""

import collections
import os
from pathlib import Path
import shutil
import time

from .segments import (dir_bytes, INDEX, is_complete, PERIOD_RE, PeriodIndex,
                       SEGMENT_RE)

ACTIONS = ('prune', 'pause')
FREE_RESERVE = 256 << 10  # metadata.yaml, index and journal rewrites, filesystem blocks


def closed_segments(bag_root):
    """Return [(segment_dir, bytes)] of the closed segments under bag_root, oldest first."""
    found = []
    root = Path(bag_root)
    if not root.is_dir():
        return found
    for period in sorted(p for p in root.iterdir() if p.is_dir() and PERIOD_RE.match(p.name)):
        index = PeriodIndex(period)
        segments = sorted((s for s in period.iterdir()
                           if s.is_dir() and SEGMENT_RE.match(s.name) and is_complete(s)),
                          key=lambda s: int(SEGMENT_RE.match(s.name)[1]))
        for segment in segments:
            record = index.segments.get(segment.name)
            size = record.nbytes if record and record.nbytes else dir_bytes(segment)
            found.append((segment, size))
    return found


class DiskQuota:
    """Quota (total bag bytes, 0 = none) and minimum free bytes on the volume."""

    def __init__(self, bag_root, quota_bytes=0, min_free_bytes=0, action='prune',
                 refresh_s=0.5, clock=time.monotonic):
        if action not in ACTIONS:
            raise ValueError(f'quota action must be one of {ACTIONS}, not {action!r}')
        self.root = Path(bag_root)
        self.quota_bytes = int(quota_bytes)
        self.min_free_bytes = int(min_free_bytes)
        self.action = action
        self.refresh_s = refresh_s
        self._clock = clock
        self.closed = collections.deque(closed_segments(self.root))
        self.closed_bytes = sum(size for _, size in self.closed)
        self.pruned = 0
        self.pruned_bytes = 0
        self._free = None
        self._free_at = -1e18
        self._written_since = 0

    def free_bytes(self):
        """Return the estimated free bytes on the volume (statvfs minus writes since)."""
        now = self._clock()
        if now - self._free_at >= self.refresh_s:
            self.root.mkdir(parents=True, exist_ok=True)
            st = os.statvfs(self.root)
            self._free = st.f_bavail * st.f_frsize
            self._free_at = now
            self._written_since = 0
        return self._free - self._written_since

    def note_written(self, nbytes):
        """Account bytes just written (until the next statvfs refresh)."""
        self._written_since += nbytes

    def used_bytes(self, open_bytes=0):
        return self.closed_bytes + open_bytes

    def fits(self, open_bytes, extra, unwritten=0):
        """
        Return True if extra more bytes keep within the quota and above the free floor.

        open_bytes is the open segment's size once closed, unwritten the part of it still in
        memory (pending chunk, summary) that will reach the disk later.
        """
        if self.quota_bytes and self.closed_bytes + open_bytes + extra > self.quota_bytes:
            return False
        free = self.free_bytes() - unwritten - extra - FREE_RESERVE
        return free >= self.min_free_bytes

    def add_closed(self, segment_dir, nbytes):
        self.closed.append((Path(segment_dir), nbytes))
        self.closed_bytes += nbytes

    def prune_oldest(self):
        """Delete the oldest closed segment (and its period if now empty); return it or None."""
        if not self.closed:
            return None
        segment, nbytes = self.closed.popleft()
        self.closed_bytes -= nbytes
        period = segment.parent
        shutil.rmtree(segment, ignore_errors=True)
        for sidecar in (f'{segment.name}.salvage.json',):
            (period / sidecar).unlink(missing_ok=True)
        PeriodIndex(period).remove(segment.name)
        if period.is_dir() and not any(SEGMENT_RE.match(p.name) for p in period.iterdir()):
            (period / INDEX).unlink(missing_ok=True)
            shutil.rmtree(period, ignore_errors=True)
        self.pruned += 1
        self.pruned_bytes += nbytes
        self._free_at = -1e18
        return segment
