# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The sample cache on real recorded bags: the same memory and report, each period decoded once.

Every test works on its own copy of the session's two recorded wake periods.
"""

import dataclasses
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from sage_perception.encoder import encoder_config
from sage_sleep.learning import sample_cache, trainer
from sage_sleep.recording.bag_reader import list_wake_periods
from sage_sleep.learning.experience import ExperienceMemory, ExtractorConfig
from sage_sleep.recording.quota import closed_segments
from sage_sleep.recording.segments import SegmentWriter

TOPICS = ['/teacher/commands', '/arm_controller/commands']


@pytest.fixture
def bags(wake_bags, tmp_path):
    """Return a copy of the session's bags without the cache a trainer test may have left."""
    return Path(shutil.copytree(wake_bags, tmp_path / 'bags',
                                ignore=shutil.ignore_patterns(sample_cache.CACHE_DIR)))


def load(bags, cache=True, image_size=64, capacity=100_000, workers=None):
    """Return (memory, report, log lines) of load_experience on bags."""
    lines = []
    memory, report = trainer.load_experience(
        bags, ExtractorConfig(), encoder_config(image_size=image_size), TOPICS,
        capacity=capacity, log=lines.append,
        cache_dir=sample_cache.default_cache_dir(bags) if cache else None, workers=workers)
    return memory, report, lines


def contents(memory):
    """Return every stored array of a memory, oldest first."""
    return memory.get(memory._order())


def assert_same(a, b):
    (mem_a, report_a, _), (mem_b, report_b, _) = a, b
    assert report_a == report_b
    assert len(mem_a) == len(mem_b) > 0
    got_a, got_b = contents(mem_a), contents(mem_b)
    assert set(got_a) == set(got_b) == set(ExperienceMemory.FIELDS) | {
        'stamp_ns', 'episode', 'depth_present'}
    for name in got_a:
        assert got_a[name].dtype == got_b[name].dtype, name
        np.testing.assert_array_equal(got_a[name], got_b[name], err_msg=name)


def cache_files(bags):
    return sorted(sample_cache.default_cache_dir(bags).glob('*.npz'))


def forbid_decoding(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError('decoded although the cache holds the period')

    monkeypatch.setattr(trainer, 'decode_color', fail)
    monkeypatch.setattr(trainer, 'decode_depth', fail)
    monkeypatch.setattr(sample_cache, 'iter_messages', fail)


def test_cached_load_equals_uncached_load_and_decodes_nothing(bags, monkeypatch):
    periods = [p.id for p in list_wake_periods(bags)]
    segments = closed_segments(bags)
    plain = load(bags, cache=False)
    assert not sample_cache.default_cache_dir(bags).exists()
    first = load(bags)
    assert [f.stem for f in cache_files(bags)] == periods
    assert sum('not cached yet' in line for line in first[2]) == 2
    forbid_decoding(monkeypatch)
    second = load(bags)
    assert sum('samples from' in line for line in second[2]) == 2
    assert_same(plain, first)
    assert_same(plain, second)
    # The cache sits beside the wake periods without becoming one, or a segment to prune.
    assert [p.id for p in list_wake_periods(bags)] == periods
    assert closed_segments(bags) == segments


def test_cached_load_equals_uncached_load_when_the_memory_wraps(bags):
    capacity = len(load(bags, cache=False)[0]) * 2 // 3
    plain = load(bags, cache=False, capacity=capacity)
    load(bags)
    assert_same(plain, load(bags, capacity=capacity))


def test_one_changed_byte_in_a_bag_rebuilds_that_period_only(bags, monkeypatch):
    load(bags)
    first, second = sorted(bags.glob('wake-*'))
    mcap = next(second.glob('segment-*/*.mcap'))
    stat = mcap.stat()
    data = bytearray(mcap.read_bytes())
    data[len(data) // 2] ^= 0x01
    mcap.write_bytes(bytes(data))
    os.utime(mcap, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the key is content, not times
    cached = load(bags)
    stale = [line for line in cached[2] if 'stale' in line]
    assert len(stale) == 1 and second.name in stale[0] and '(segments changed)' in stale[0]
    assert any(first.name in line and 'samples from' in line for line in cached[2])
    assert_same(load(bags, cache=False), cached)
    forbid_decoding(monkeypatch)
    assert_same(cached, load(bags))


def rewrite_color(path):
    """Rewrite a cache file with one colour value changed: a valid zip, wrong arrays."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    color = bytearray(members['color.npy'])
    color[-1] ^= 0xFF
    members['color.npy'] = bytes(color)
    with zipfile.ZipFile(path, 'w') as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def truncate(path):
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize('damage', [truncate, flip_byte, rewrite_color,
                                    lambda path: path.write_bytes(b'')],
                         ids=['truncated', 'flipped-byte', 'wrong-arrays', 'empty'])
def test_a_damaged_cache_file_is_rebuilt_and_logged(bags, damage, monkeypatch):
    plain = load(bags, cache=False)
    load(bags)
    damaged = cache_files(bags)[0]
    damage(damaged)
    rebuilt = load(bags)
    unusable = [line for line in rebuilt[2] if 'unusable' in line]
    assert len(unusable) == 1 and str(damaged) in unusable[0], rebuilt[2]
    assert_same(plain, rebuilt)
    forbid_decoding(monkeypatch)
    assert_same(plain, load(bags))


def test_another_image_size_rebuilds(bags):
    load(bags)
    small = load(bags, image_size=32)
    assert sum('stale (encoder changed)' in line for line in small[2]) == 2, small[2]
    assert contents(small[0])['color'].shape[-2:] == (32, 32)
    assert_same(load(bags, cache=False, image_size=32), small)


def test_a_period_with_an_open_segment_is_not_cached(bags):
    first, second = sorted(bags.glob('wake-*'))
    (second / 'segment-009').mkdir()  # being recorded: no metadata.yaml yet
    plain = load(bags, cache=False)
    cached = load(bags)
    assert [f.stem for f in cache_files(bags)] == [first.name]
    assert any(second.name in line and 'open segment' in line for line in cached[2])
    assert_same(plain, cached)


def test_a_killed_write_leaves_no_cache_file_and_its_temp_is_removed(bags, monkeypatch):
    def killed(src, dst):
        raise KeyboardInterrupt  # the process dies between writing and renaming

    with monkeypatch.context() as patch:  # in this process: no decoding workers
        patch.setattr(sample_cache.os, 'replace', killed)
        with pytest.raises(KeyboardInterrupt):
            load(bags, workers=1)
    cache_dir = sample_cache.default_cache_dir(bags)
    (temp,) = cache_dir.iterdir()
    assert not cache_files(bags)
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True, check=True).stdout.strip()
    temp.rename(temp.with_name(temp.name.replace(f'.{os.getpid()}.', f'.{dead}.')))
    load(bags)
    periods = sorted(bags.glob('wake-*'))
    assert sorted(p.name for p in cache_dir.iterdir()) == [f'{p.name}.npz' for p in periods]


def add_period_with_a_broken_topic(bags):
    """Add a closed wake period that reads with a problem (a topic without a usable type)."""
    writer = SegmentWriter(bags / 'wake-20991231T000000.000Z' / 'segment-000')
    writer.add_topic('/joint_states', 'sensor_msgs/msg/JointState', 'not a ][ definition',
                     'RIHS01_' + '0' * 64)
    writer.write('/joint_states', 1, bytes(4))
    writer.close()


def test_a_moved_bag_root_reads_back_its_own_paths(bags, monkeypatch):
    add_period_with_a_broken_topic(bags)
    load(bags)
    moved = bags.rename(bags.with_name('moved'))
    plain = load(moved, cache=False)
    assert any(str(moved) in problem for problem in plain[1]['problems']), plain[1]
    forbid_decoding(monkeypatch)
    assert_same(plain, load(moved))


def test_the_cache_of_a_pruned_period_is_removed(bags):
    load(bags)
    first, second = sorted(bags.glob('wake-*'))
    shutil.rmtree(first)
    _, report, lines = load(bags)
    assert [f.stem for f in cache_files(bags)] == [second.name]
    assert any('is gone' in line for line in lines)
    assert [p['id'] for p in report['periods']] == [second.name]


def test_the_cache_file_is_a_plain_npz_with_its_key(bags):
    load(bags)
    path = cache_files(bags)[0]
    with np.load(path, allow_pickle=False) as npz:
        assert npz['color'].dtype == np.uint8 and npz['depth'].dtype == np.float32
        meta = json.loads(npz['meta.json'])  # not a .npy member: its bytes
    assert meta['key']['format'] == sample_cache.FORMAT_VERSION
    assert meta['key']['encoder'] == {'image_size': 64, 'max_depth_m': 4.0, 'task_buckets': 64}
    assert len(meta['key']['segments'][0][1]['metadata.yaml']) == 64


def test_the_fast_path_gives_the_samples_of_the_message_by_message_path(bags):
    """CDR offsets + batched resize == rosbags deserialisation + per-frame preprocess."""
    enc = encoder_config()
    for period in list_wake_periods(bags):
        config = dataclasses.replace(ExtractorConfig(), action_topic=TOPICS[-1])
        slow = sample_cache.decode_period(period, config, *trainer.image_decoders(enc))
        fast = sample_cache.decode_period(period, config, *trainer.batched_decoding(enc))
        slow_samples, fast_samples = list(slow.samples), list(fast.samples)
        assert len(slow_samples) == len(fast_samples) > 0
        assert dict(slow.skipped) == dict(fast.skipped) and slow.problems == fast.problems
        for a, b in zip(slow_samples, fast_samples):
            for name in ('stamp_ns', 'episode', 'depth_present') + ExperienceMemory.FIELDS:
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name),
                                              err_msg=name)
                assert np.asarray(getattr(a, name)).dtype == np.asarray(
                    getattr(b, name)).dtype, name


def test_decoding_workers_give_the_memory_of_one_process(bags):
    assert_same(load(bags, cache=False, workers=1), load(bags, cache=False, workers=2))
    periods = list_wake_periods(bags)
    assert trainer.decode_workers(periods, min_bytes=0) == min(2, os.cpu_count())
    assert trainer.decode_workers(periods) == 1  # a few MB: forking costs more than it saves
    assert trainer.decode_workers([1, 2, 3], workers=8) == 3


def record_period_with_a_malformed_image(root):
    """Record one short episode whose 10th colour frame declares a row more than it holds."""
    from sage_common.messages import fill_image
    from sage_common.qos import reliable_qos, sensor_qos
    from sage_interfaces.msg import EpisodeState
    from sage_sleep.recording.sim_clock_bag import SimClockBag
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import Float64MultiArray

    topics = {'/camera/color/image_raw': ('sensor_msgs/msg/Image', sensor_qos()),
              '/joint_states': ('sensor_msgs/msg/JointState', sensor_qos()),
              '/arm_controller/commands': ('std_msgs/msg/Float64MultiArray', reliable_qos()),
              '/sim/episode': ('sage_interfaces/msg/EpisodeState', reliable_qos())}
    bag = SimClockBag(root, topics)
    rgb = np.full((48, 64, 3), 90, np.uint8)
    try:
        for step in range(100):  # 10 ms steps
            bag.write('/sim/episode', bag.stamp(EpisodeState(episode=1, running=step < 99,
                                                             step=step)))
            bag.write('/joint_states', bag.stamp(JointState(
                name=['joint0', 'joint1'], position=[0.1, 0.2], velocity=[0.0, 0.0])))
            if step % 2 == 0:
                bag.write('/arm_controller/commands', Float64MultiArray(data=[0.3, 0.4]))
            if step % 3 == 0:
                image = bag.stamp(fill_image(Image(), rgb, 'rgb8'))
                if step == 27:
                    image.height += 1  # data no longer height*step
                bag.write('/camera/color/image_raw', image)
            bag.advance(10_000_000)
    finally:
        bag.close()
    return root


def test_a_malformed_image_is_skipped_named_and_counted_never_decoded(tmp_path):
    bags = record_period_with_a_malformed_image(tmp_path / 'bags')
    memory, report, lines = load(bags, cache=False)
    (period,) = report['periods']
    assert period['skipped']['malformed_Image'] == 1
    (problem,) = [p for p in report['problems'] if 'malformed' in p]
    segment = next(bags.glob('wake-*/segment-*'))
    assert f'bag {segment}' in problem and 'offset' in problem and 'height*step' in problem
    assert any(problem in line for line in lines)
    assert period['samples'] == len(memory) > 0
    assert (contents(memory)['color'] == 90).all()  # the other frames, none of it garbage
