# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Sample extraction from a recorded stream, and the experience memory."""

from types import SimpleNamespace as NS

import numpy as np
import pytest
from sage_sleep.learning.experience import (ExperienceMemory, ExtractorConfig, Sample,
                                            SampleExtractor)

SEC = 1_000_000_000
T0 = 10 * SEC  # the synthetic stream's start; its commands carry [episode, seconds since]


def stamp(ns):
    return NS(stamp=NS(sec=ns // SEC, nanosec=ns % SEC))


def image(ns, value):
    return NS(header=stamp(ns), value=value)


def joints(ns, pos, names=('joint0', 'joint1')):
    return NS(header=stamp(ns), name=list(names), position=list(pos), velocity=[0.0] * len(pos),
              effort=[])


def episode(n, running):
    return NS(episode=n, running=running)


def decode_color(msg):
    if msg.value is None:
        raise ValueError('bad image')
    return np.full((3, 4, 4), msg.value, np.uint8)


def decode_depth(msg):
    return np.full((1, 4, 4), 1.0, np.float32)


def synthetic_stream(episodes=2, seconds=1.0, cam_hz=30, joint_hz=100, cmd_hz=50, gap=0.2):
    """Yield (topic, ns, msg) in time order: episodes separated by idle gaps."""
    cfg = ExtractorConfig()
    events = []
    for e in range(episodes):
        start = T0 + int(e * (seconds + gap) * SEC)
        end = start + int(seconds * SEC)
        events.append((start, cfg.episode_topic, episode(e + 1, True)))
        events.append((end, cfg.episode_topic, episode(e + 1, False)))
        for k in range(int(seconds * joint_hz)):
            ns = start + k * SEC // joint_hz
            events.append((ns, cfg.joints_topic, joints(ns, [k * 0.01, -k * 0.01])))
        for k in range(int(seconds * cmd_hz)):
            ns = start + k * SEC // cmd_hz
            events.append((ns, cfg.action_topic, NS(data=[float(e), (ns - T0) / SEC])))
        for k in range(int(seconds * cam_hz)):
            ns = start + k * SEC // cam_hz + 1000
            events.append((ns, cfg.depth_topic, image(ns, 1)))
            events.append((ns + 1, cfg.color_topic, image(ns, k % 250)))
    events.sort(key=lambda x: x[0])
    for ns, topic, msg in events:
        yield topic, ns, msg


def extract(stream, **cfg):
    ex = SampleExtractor(ExtractorConfig(**cfg), decode_color, decode_depth)
    out = []
    for topic, ns, msg in stream:
        out += ex.feed(topic, ns, msg)
    out += ex.finish()
    return out, ex


def test_samples_align_joints_depth_and_action_chunks():
    samples, ex = extract(synthetic_stream())
    assert samples and all(isinstance(s, Sample) for s in samples)
    assert {s.episode for s in samples} == {1, 2}
    for s in samples:
        assert s.action.shape == (10, 2) and s.color.shape == (3, 4, 4) and s.depth_present
        # The chunk's first target is the command in force at the frame time ...
        t = (s.stamp_ns - T0) / SEC
        assert s.action[0, 1] <= t + 1e-6
        assert t - s.action[0, 1] < 0.021
        # ... and later targets are later commands, never from another episode.
        assert np.all(np.diff(s.action[:, 1]) >= 0)
        assert np.all(s.action[:, 0] == s.episode - 1)
    # Frames at the end of an episode hold the teacher's last command for the rest of it.
    last = [s for s in samples if s.episode == 1][-1]
    assert np.all(last.action[-1] == last.action[-2])
    stamps = [s.stamp_ns for s in samples]
    assert stamps == sorted(stamps)


def test_frames_outside_episodes_and_bad_images_are_counted():
    stream = list(synthetic_stream(episodes=1))
    cfg = ExtractorConfig()
    late = 30 * SEC
    stream.append((cfg.color_topic, late, image(late, 3)))
    colors = [i for i, item in enumerate(stream) if item[0] == cfg.color_topic]
    bad = [(t, ns, image(ns, None) if i in colors[::3] else m)
           for i, (t, ns, m) in enumerate(stream)]
    samples, ex = extract(bad)
    assert ex.skipped['outside_episode'] == 1
    assert ex.skipped['bad_color'] > 0
    assert samples


def test_joint_states_by_name_in_any_order():
    cfg = ExtractorConfig()
    stream = []
    for topic, ns, msg in synthetic_stream(episodes=1):
        if topic == cfg.joints_topic:
            msg = joints(ns, list(reversed(msg.position)), names=('joint1', 'joint0'))
        stream.append((topic, ns, msg))
    samples, _ = extract(stream)
    assert samples and all(s.joint_pos[0] >= 0 >= s.joint_pos[1] for s in samples)


def test_stream_cut_mid_episode_drops_frames_without_a_chunk():
    stream = list(synthetic_stream(episodes=1))
    samples, ex = extract(stream[:len(stream) // 2])
    assert samples and ex.skipped['chunk_incomplete'] > 0


def test_commands_the_l_module_could_not_send_are_not_learned():
    cfg = ExtractorConfig()
    wild = {0: [1e9, 0.0], 1: [0.0, -3.5], 2: [float('nan'), 0.0], 3: [0.1]}
    stream, commands = [], 0
    for topic, ns, msg in synthetic_stream(episodes=1):
        if topic == cfg.action_topic:
            msg = NS(data=wild.get(commands % 10, msg.data))
            commands += 1
        stream.append((topic, ns, msg))
    samples, ex = extract(stream)
    assert ex.skipped['command_out_of_limits'] == 2 * 5 and ex.skipped['bad_command'] == 2 * 5
    assert samples and all(np.all((s.action >= -3.0) & (s.action <= 3.0)) for s in samples)
    with pytest.raises(ValueError, match='one per joint'):
        SampleExtractor(ExtractorConfig(position_lower=(-1.0,)), decode_color, decode_depth)


def test_missing_joints_means_no_samples():
    stream = [x for x in synthetic_stream(episodes=1) if x[0] != '/joint_states']
    samples, ex = extract(stream)
    assert samples == [] and ex.skipped['no_joints'] > 0


def fake_sample(i, ep):
    z = np.zeros
    return Sample(i, ep, z((3, 2, 2), np.uint8) + i % 255, z((1, 2, 2), np.float32),
                  z(2, np.float32) + i, z(2, np.float32), z(2, np.float32), z((3, 2), np.float32))


def test_memory_ring_buffer_keeps_the_newest_and_episode_boundaries():
    mem = ExperienceMemory(capacity=10)
    mem.extend(fake_sample(i, ep=i // 4) for i in range(14))
    assert len(mem) == 10
    eps = mem.episodes()
    assert list(eps) == [1, 2, 3]
    assert [int(mem.get(eps[1])['stamp_ns'][0]) for _ in [0]] == [4]
    rng = np.random.default_rng(0)
    seqs = mem.sample_sequences(50, 3, rng)
    for row in seqs:
        got = mem.get(row)
        assert len(set(got['episode'])) == 1
        assert np.all(np.diff(got['stamp_ns']) == 1)
    with pytest.raises(ValueError, match='consecutive'):
        mem.sample_sequences(1, 5, rng)
    assert len(mem.sample(7, rng)) == 7


def test_empty_memory_is_a_clear_error():
    with pytest.raises(ValueError, match='empty'):
        ExperienceMemory(4).sample(1, np.random.default_rng(0))


@pytest.mark.parametrize('chunks', [[14], [3, 0, 5, 6], [25], [7, 9]])
def test_memory_extend_columns_is_add_of_each_sample(chunks):
    """Stacked samples go in with one copy, wrapping the ring like add() one by one."""
    one, bulk, i = ExperienceMemory(capacity=10), ExperienceMemory(capacity=10), 0
    for n in chunks:
        samples = [fake_sample(i + k, ep=(i + k) // 4) for k in range(n)]
        i += n
        one.extend(samples)
        columns = {f: np.stack([getattr(s, f) for s in samples]) if n else
                   np.zeros((0,) + getattr(fake_sample(0, 0), f).shape)
                   for f in ExperienceMemory.FIELDS}
        columns['stamp_ns'] = np.array([s.stamp_ns for s in samples], np.int64)
        columns['episode'] = np.array([s.episode for s in samples], np.int64)
        columns['depth_present'] = np.array([s.depth_present for s in samples], bool)
        assert bulk.extend_columns(columns) == n
    assert len(one) == len(bulk)
    a, b = one.get(one._order()), bulk.get(bulk._order())
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
