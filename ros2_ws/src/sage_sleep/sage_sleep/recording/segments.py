# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
On-disk layout of the recorded day, and one open rosbag2 (MCAP) segment.

    <bag_root>/<wake-period-id>/index.json        segments in order, their state and counts
    <bag_root>/<wake-period-id>/segment-NNN/      a complete rosbag2 bag once closed:
        metadata.yaml, segment-NNN.mcap
    <bag_root>/<wake-period-id>/segment-NNN.journal.json   counts while the segment is open
    <bag_root>/<wake-period-id>/segment-NNN.salvage.json   salvage report (after a crash)

Wake period ids sort by their start time (`wake-YYYYmmddTHHMMSS.mmmZ`). A segment directory
without metadata.yaml is open (being written) or was left open by a crash.
"""

from dataclasses import dataclass, field
import datetime
import json
import os
from pathlib import Path
import re
import time

from rosbags.rosbag2 import StoragePlugin

from .mcap_storage import BagWriter

INDEX = 'index.json'
SEGMENT_RE = re.compile(r'^segment-(\d{3,})$')
PERIOD_RE = re.compile(r'^wake-\d{8}T\d{6}\.\d{3}Z(-\d+)?$')
STATES = ('open', 'closed', 'salvaged')


def new_period_id(bag_root, now=None):
    """Return a fresh, sortable wake period id that does not exist under bag_root yet."""
    now = datetime.datetime.now(datetime.timezone.utc) if now is None else now
    base = now.strftime('wake-%Y%m%dT%H%M%S.') + f'{now.microsecond // 1000:03d}Z'
    candidate, n = base, 0
    while (Path(bag_root) / candidate).exists():
        n += 1
        candidate = f'{base}-{n}'
    return candidate


def segment_name(index):
    return f'segment-{index:03d}'


def is_complete(segment_dir):
    """Return True when segment_dir is a closed bag (metadata.yaml written last by the writer)."""
    return (Path(segment_dir) / 'metadata.yaml').is_file()


def dir_bytes(path):
    """Return the bytes of all files under path (0 if it vanished meanwhile)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                continue
    return total


def write_json_atomic(path, obj):
    """Write obj as JSON to path via a temporary file and rename (readers never see half)."""
    path = Path(path)
    tmp = path.with_name(f'.{path.name}.tmp')
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
    os.replace(tmp, path)


def read_json(path):
    """Return the JSON object in path, or None if missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


@dataclass
class SegmentRecord:
    """What the index says about one segment."""

    name: str
    state: str
    messages: int = 0
    start_ns: int = 0
    end_ns: int = 0
    nbytes: int = 0
    topics: dict = field(default_factory=dict)
    lost: int = 0


class PeriodIndex:
    """The index.json of one wake period: its segments in recording order."""

    def __init__(self, period_dir):
        self.dir = Path(period_dir)
        self.segments = {}
        data = read_json(self.dir / INDEX) or {}
        for entry in data.get('segments', []):
            try:
                self.segments[entry['name']] = SegmentRecord(**entry)
            except TypeError:
                continue

    def ordered(self):
        """Return the segment records in recording order (by segment number)."""
        return sorted(self.segments.values(), key=lambda s: int(SEGMENT_RE.match(s.name)[1]))

    def next_index(self):
        numbers = [int(m[1]) for p in self.dir.iterdir() if (m := SEGMENT_RE.match(p.name))] \
            if self.dir.is_dir() else []
        return max(numbers, default=-1) + 1

    def update(self, record):
        self.segments[record.name] = record
        self.save()

    def remove(self, name):
        if self.segments.pop(name, None) is not None:
            self.save()

    def save(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.dir / INDEX, {
            'period': self.dir.name,
            'segments': [vars(s) for s in self.ordered()],
        })


class SegmentWriter:
    """
    One open segment: a rosbags rosbag2 Writer with MCAP storage (`mcap_storage.BagWriter`).

    The writer keeps MCAP chunks of 1 MiB in memory (as references to the payloads); `flush()`
    closes the pending chunk and pushes it to the file so a crash loses at most what arrived
    since the last flush. That uses the McapWriter's `close_chunk`/`chunk`/`bio` of rosbags
    0.11 (pinned).
    """

    def __init__(self, path, version=8):
        self.path = Path(path)
        self.writer = BagWriter(self.path, version=version, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        self.connections = {}
        self.counts = {}
        self.start_ns = None
        self.end_ns = 0
        self.opened = time.monotonic()

    @property
    def storage(self):
        return self.writer.storage

    def has_topic(self, topic):
        return topic in self.connections

    def add_topic(self, topic, msgtype, msgdef, rihs01, qos_profiles=()):
        self.connections[topic] = self.writer.add_connection(
            topic, msgtype, msgdef=msgdef, rihs01=rihs01, offered_qos_profiles=qos_profiles)
        self.counts[topic] = 0

    def write(self, topic, stamp_ns, data):
        self.writer.write(self.connections[topic], stamp_ns, data)
        self.counts[topic] += 1
        if self.start_ns is None:
            self.start_ns = stamp_ns
        self.end_ns = stamp_ns

    def messages(self):
        return sum(self.counts.values())

    def bytes_estimate(self):
        """Return the bytes this segment will take once closed (file + pending + summary)."""
        return self.storage.bio.tell() + self.unwritten_estimate()

    def unwritten_estimate(self):
        """Return the bytes of this segment not in the file yet (pending chunk, summary)."""
        storage = self.storage
        return storage.chunk.bio.tell() + 4096 + 64 * len(storage.chunks) + \
            512 * len(storage.channels) + 26 * self.messages()

    def flush(self):
        """Write the pending chunk to the file (not fsync: a process crash keeps page cache)."""
        storage = self.storage
        if storage.chunk.bio.tell():
            storage.close_chunk()
        storage.bio.flush()

    def close(self):
        """Close the bag (MCAP summary + footer, then metadata.yaml) and fsync it."""
        mcap_path = self.storage.path
        self.writer.close()
        for path in (mcap_path, self.path / 'metadata.yaml'):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def record(self, state):
        return SegmentRecord(name=self.path.name, state=state, messages=self.messages(),
                             start_ns=self.start_ns or 0, end_ns=self.end_ns,
                             nbytes=dir_bytes(self.path), topics=dict(self.counts))
