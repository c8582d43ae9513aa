# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The recording path's fast parts, without ROS: zero-copy MCAP storage, batches, every:N."""

import hashlib

from mcap.reader import make_reader
import pytest
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from sage_sleep.recording.bag_reader import list_wake_periods
from sage_sleep.recording.mcap_storage import BagWriter
from sage_sleep.recording.msgdefs import MessageDefinitions
from sage_sleep.recording.recorder import (keep_freed_buffers, name_native_thread, parse_mode,
                                           Recorder, TopicInfo)

DEFS = MessageDefinitions()
STORE = DEFS.typestore
STRING = 'std_msgs/msg/String'
IMAGE = 'sensor_msgs/msg/Image'


def string_cdr(text):
    return bytes(STORE.serialize_cdr(STORE.types[STRING](data=text), STRING))


def info(topic, msgtype, every=1):
    msgdef, rihs01 = DEFS.definition(msgtype)
    return TopicInfo(topic, msgtype, msgdef, rihs01, every=every)


def messages():
    """Return a recording day in miniature: big and small payloads, some as memoryview."""
    out = []
    for i in range(400):
        out.append(('/s', 1_000_000 + 10 * i, string_cdr(f'{i:05d}' + 'x' * (i % 37))))
        if i % 10 == 0:  # 300 kB-1.3 MB, so chunks close on size with one or several inside
            size = 300_000 + 50_000 * (i % 21)
            out.append(('/big', 1_000_000 + 10 * i + 5, memoryview(bytes([i % 251]) * size)))
    return out


def write_bag(cls, path, version, flush_every):
    writer = cls(path, version=version, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    conns = {t: writer.add_connection(t, STRING, msgdef=DEFS.definition(STRING)[0],
                                      rihs01=DEFS.definition(STRING)[1])
             for t in ('/s', '/big')}
    for n, (topic, stamp, data) in enumerate(messages()):
        writer.write(conns[topic], stamp, data)
        if flush_every and n % flush_every == flush_every - 1 and \
                writer.storage.chunk.bio.tell():
            writer.storage.close_chunk()  # what SegmentWriter.flush does
    writer.close()
    return path


@pytest.mark.parametrize('version,flush_every', [(8, 0), (8, 7), (9, 50)])
def test_sleep_zero_copy_bag_is_byte_identical_to_rosbags(tmp_path, version, flush_every):
    ours = write_bag(BagWriter, tmp_path / 'a' / 'bag', version, flush_every)
    theirs = write_bag(Writer, tmp_path / 'b' / 'bag', version, flush_every)
    for name in ('bag.mcap', 'metadata.yaml'):
        assert hashlib.sha256((ours / name).read_bytes()).hexdigest() == \
            hashlib.sha256((theirs / name).read_bytes()).hexdigest(), name


def test_sleep_zero_copy_bag_reads_back_with_rosbags_and_mcap(tmp_path):
    bag = write_bag(BagWriter, tmp_path / 'bag', 8, 13)
    expected = [(t, s, bytes(d)) for t, s, d in messages()]
    with Reader(bag) as reader:
        got = [(c.topic, s, bytes(d)) for c, s, d in reader.messages()]
    assert got == expected
    with open(bag / 'bag.mcap', 'rb') as f:
        reader = make_reader(f, validate_crcs=True)
        summary = reader.get_summary()
        assert {s.encoding for s in summary.schemas.values()} == {'ros2msg'}
        assert {c.message_encoding for c in summary.channels.values()} == {'cdr'}
        got = [(c.topic, m.log_time, m.data) for _, c, m in reader.iter_messages()]
    assert got == expected


def test_sleep_recording_mode_parses():
    assert parse_mode('full') == parse_mode('') == parse_mode('every:1') == 1
    assert parse_mode(' every:3 ') == 3
    for bad in ('every:0', 'every:', 'every:x', 'half', 'every:-2', 'downscale'):
        with pytest.raises(ValueError, match='full'):
            parse_mode(bad)


def test_sleep_every_n_keeps_the_first_of_every_n(tmp_path):
    recorder = Recorder(tmp_path)
    recorder.add_topic(info('/cam', STRING, every=3))
    recorder.add_topic(info('/s', STRING))
    recorder.start()
    for i in range(10):
        recorder.offer_batch([('/cam', string_cdr(f'cam{i}')), ('/s', string_cdr(f's{i}'))])
    recorder.close()
    cam, s = recorder.counts['/cam'], recorder.counts['/s']
    assert (cam.received, cam.written, cam.decimated) == (10, 4, 6)
    assert (s.received, s.written, s.decimated) == (10, 10, 0)
    (period,) = list_wake_periods(tmp_path)
    with Reader(period.segments[0].path) as reader:
        texts = [(c.topic, STORE.deserialize_cdr(d, STRING).data)
                 for c, _, d in reader.messages()]
    assert [t for topic, t in texts if topic == '/cam'] == ['cam0', 'cam3', 'cam6', 'cam9']
    assert len([t for topic, t in texts if topic == '/s']) == 10


def test_sleep_offer_batch_is_bounded_counted_and_ordered(tmp_path):
    recorder = Recorder(tmp_path, queue_max_bytes=1 << 20)
    recorder.add_topic(info('/s', STRING))
    recorder.start()
    recorder.pause()
    assert recorder.offer_batch([('/s', string_cdr('asleep'))]) == 0
    assert recorder.counts['/s'].skipped_paused == 1
    recorder.resume()
    big = string_cdr('y' * (300 << 10))
    queued = sum(recorder.offer_batch([('/s', big)] * 8) for _ in range(20))
    stamps = []
    recorder.offer_batch([('/s', string_cdr(f'{i}')) for i in range(50)])
    recorder.close()
    counts = recorder.counts['/s']
    assert counts.received == 1 + 160 + 50
    assert counts.dropped_queue == 160 - queued > 0
    assert counts.written == queued + 50
    for period in list_wake_periods(tmp_path):
        for segment in period.segments:
            with Reader(segment.path) as reader:
                stamps += [s for _, s, _ in reader.messages()]
    assert stamps == sorted(stamps) and len(stamps) == counts.written


def test_sleep_recorder_process_tuning_is_harmless():
    import sys
    import threading
    if sys.platform.startswith('linux'):
        assert keep_freed_buffers() in (True, False)  # False only off glibc
        names = []

        def named():
            name_native_thread('sage-test-name')
            names.append(open(f'/proc/self/task/{threading.get_native_id()}/comm').read())
        thread = threading.Thread(target=named)
        thread.start()
        thread.join()
        assert names == ['sage-test-name\n']
