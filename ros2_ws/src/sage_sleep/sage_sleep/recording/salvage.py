# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Salvage of segments left open by a crash.

A segment directory without metadata.yaml was being written when the recorder died: its MCAP
file has no summary or footer, so rosbag2 readers refuse it. The `mcap` StreamReader reads
its records front to back up to the first truncated one; every whole message is copied into
a fresh, complete bag that replaces the broken one. The journal the recorder kept beside the
segment tells how many messages had been handed to the writer, so the loss is known (as a
lower bound: messages that arrived after the last journal update are not counted).
"""

from dataclasses import dataclass, field
import logging
from pathlib import Path
import shutil
import struct

from mcap.exceptions import McapError
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.metadata import parse_qos
from rosbags.typesys import get_types_from_msg, get_typestore, Stores

from .segments import (dir_bytes, is_complete, PeriodIndex, read_json, SEGMENT_RE,
                       SegmentRecord, write_json_atomic)

LOG = logging.getLogger(__name__)
STAGING = '.salvage'


@dataclass
class SalvageResult:
    """What a salvage recovered from one crashed segment."""

    segment: str
    recovered: int = 0
    lost: int = 0
    journaled: int = 0
    topics: dict = field(default_factory=dict)
    lost_topics: dict = field(default_factory=dict)
    error: str = ''
    removed: bool = False

    def summary(self):
        where = f'{self.segment}: '
        if self.removed:
            return where + f'nothing recoverable, removed ({self.error or "empty"}); ' \
                f'lost >= {self.lost}'
        return where + (f'recovered {self.recovered} messages, lost >= {self.lost} '
                        f'(journal counted {self.journaled})'
                        + (f'; stream ended with: {self.error}' if self.error else ''))


def read_stream(mcap_path):
    """Return (schemas, channels, messages, error) of every whole record in a raw MCAP file."""
    schemas, channels, messages = {}, {}, []
    error = ''
    try:
        with open(mcap_path, 'rb') as stream:
            for record in StreamReader(stream, skip_magic=False).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Channel):
                    channels[record.id] = record
                elif isinstance(record, Message):
                    messages.append(record)
    except (McapError, EOFError, struct.error, ValueError, OSError) as exc:
        error = f'{type(exc).__name__}: {exc}' if str(exc) else type(exc).__name__
    return schemas, channels, messages, error


def _rihs01(schema):
    store = get_typestore(Stores.EMPTY)
    store.register(get_types_from_msg(schema.data.decode(), schema.name))
    return store.hash_rihs01(schema.name)


def salvage_segment(segment_dir, version=8):
    """Replace the crashed segment_dir by a complete bag of what it holds; return the result."""
    segment_dir = Path(segment_dir)
    period_dir = segment_dir.parent
    name = segment_dir.name
    journal_path = period_dir / f'{name}.journal.json'
    journal = read_json(journal_path) or {}
    journal_topics = journal.get('topics', {})
    result = SalvageResult(segment=f'{period_dir.name}/{name}',
                           journaled=sum(journal_topics.values()))
    mcap_path = segment_dir / f'{name}.mcap'
    if mcap_path.is_file():
        schemas, channels, messages, result.error = read_stream(mcap_path)
    else:
        schemas, channels, messages, result.error = {}, {}, [], 'no mcap file'
    usable = {cid: ch for cid, ch in channels.items() if ch.schema_id in schemas}
    messages = [m for m in messages if m.channel_id in usable]
    staging = period_dir / STAGING / name
    if staging.exists():
        shutil.rmtree(staging)
    if messages:
        staging.parent.mkdir(parents=True, exist_ok=True)
        writer = Writer(staging, version=version, storage_plugin=StoragePlugin.MCAP)
        writer.open()
        connections = {}
        for cid, channel in sorted(usable.items()):
            schema = schemas[channel.schema_id]
            qos = parse_qos(channel.metadata.get('offered_qos_profiles', '') or [])
            connections[cid] = writer.add_connection(
                channel.topic, schema.name, msgdef=schema.data.decode(),
                rihs01=_rihs01(schema), offered_qos_profiles=qos)
        for message in sorted(messages, key=lambda m: m.log_time):
            writer.write(connections[message.channel_id], message.log_time, message.data)
            topic = usable[message.channel_id].topic
            result.topics[topic] = result.topics.get(topic, 0) + 1
        writer.set_custom_data('sage_salvaged', 'true')
        writer.close()
    result.recovered = len(messages)
    for topic, count in journal_topics.items():
        missing = count - result.topics.get(topic, 0)
        if missing > 0:
            result.lost_topics[topic] = missing
    result.lost = sum(result.lost_topics.values())
    crashed = period_dir / STAGING / f'{name}.crashed'
    if crashed.exists():
        shutil.rmtree(crashed)
    crashed.parent.mkdir(parents=True, exist_ok=True)
    segment_dir.rename(crashed)
    index = PeriodIndex(period_dir)
    if messages:
        staging.rename(segment_dir)
        record = SegmentRecord(name=name, state='salvaged', messages=result.recovered,
                               start_ns=min(m.log_time for m in messages),
                               end_ns=max(m.log_time for m in messages),
                               nbytes=dir_bytes(segment_dir), topics=dict(result.topics),
                               lost=result.lost)
        index.update(record)
    else:
        result.removed = True
        index.remove(name)
    write_json_atomic(period_dir / f'{name}.salvage.json', vars(result))
    shutil.rmtree(crashed)
    journal_path.unlink(missing_ok=True)
    shutil.rmtree(period_dir / STAGING, ignore_errors=True)
    return result


def open_segments(bag_root):
    """Return the segment directories under bag_root that have no metadata.yaml (oldest first)."""
    found = []
    root = Path(bag_root)
    if not root.is_dir():
        return found
    for period in sorted(p for p in root.iterdir() if p.is_dir()):
        for segment in sorted(period.iterdir()):
            if segment.is_dir() and SEGMENT_RE.match(segment.name) and not is_complete(segment):
                found.append(segment)
    return found


def salvage_all(bag_root, version=8, log=LOG.info):
    """Salvage every segment left open under bag_root; return the list of SalvageResult."""
    results = []
    for segment in open_segments(bag_root):
        result = salvage_segment(segment, version=version)
        log(f'salvaged crashed segment {result.summary()}')
        results.append(result)
    return results
