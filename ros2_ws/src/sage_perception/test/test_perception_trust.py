# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Trust from surprise: the checks, the attribution, the hysteresis and the masking gate."""

import numpy as np
import pytest
from sage_perception import layout
from sage_perception.context_core import TrustGate
from sage_perception.trust import (fit_trust_model, FROZEN_Z, SOURCES, still_motion,
                                   TrustModel, TrustMonitor)

ALL = layout.PRESENT_COLOR | layout.PRESENT_DEPTH | layout.PRESENT_JOINTS
COLOR, DEPTH = SOURCES.index('color'), SOURCES.index('depth')


class World:
    """Contexts whose colour and depth groups are fixed functions of a moving arm's pose."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.joint_map = rng.normal(size=(2, 256))
        self.color_map = rng.normal(size=(256, 512)) / 16
        self.depth_map = rng.normal(size=(256, 256)) / 16

    def episode(self, rng, frames=40):
        q = np.cumsum(rng.normal(0, 0.15, (frames, 2)), axis=0) + rng.uniform(-1, 1, 2)
        proprio = np.tanh(q @ self.joint_map)
        contexts = np.zeros((frames, layout.DIM), np.float32)
        contexts[:, layout.SLICES['proprioceptive']] = proprio
        contexts[:, layout.SLICES['visual']] = np.tanh(proprio @ self.color_map) + \
            rng.normal(0, 0.02, (frames, 512))
        contexts[:, layout.SLICES['depth']] = np.tanh(proprio @ self.depth_map) + \
            rng.normal(0, 0.02, (frames, 256))
        return contexts


@pytest.fixture(scope='module')
def world():
    return World()


@pytest.fixture(scope='module')
def model(world):
    rng = np.random.default_rng(1)
    return fit_trust_model([world.episode(rng) for _ in range(60)],
                           [world.episode(rng) for _ in range(20)])


def run(model, contexts, presence=ALL, params=None):
    monitor = TrustMonitor(model, params)
    trust, flags = [], []
    for c in contexts:
        trust.append(monitor.update(c, presence).copy())
        flags.append(monitor.distrusted.copy())
    return np.array(trust), np.array(flags)


def test_good_data_keeps_trust(world, model):
    rng = np.random.default_rng(2)
    for _ in range(10):
        trust, flags = run(model, world.episode(rng))
        assert not flags.any()
        assert trust.min() > 0.5


@pytest.mark.parametrize('fault, blamed', [
    ('black_color', {'color'}),
    ('depth_dropout', {'depth'}),
    ('frozen_camera', {'color', 'depth'}),
])
def test_a_fault_is_blamed_on_its_source_within_a_few_frames(world, model, fault, blamed):
    rng = np.random.default_rng(3)
    contexts = world.episode(rng, 60)
    onset = 20
    visual, depth = layout.SLICES['visual'], layout.SLICES['depth']
    if fault == 'black_color':
        contexts[onset:, visual] = 0.0
    elif fault == 'depth_dropout':
        contexts[onset:, depth] = rng.normal(0, 1, contexts[onset:, depth].shape)
    else:
        contexts[onset:, visual] = contexts[onset - 1, visual]
        contexts[onset:, depth] = contexts[onset - 1, depth]
    _, flags = run(model, contexts)
    assert not flags[:onset].any()
    for source in SOURCES:
        index = SOURCES.index(source)
        if source in blamed:
            detected = onset + int(np.argmax(flags[onset:, index]))
            assert flags[onset:, index].any() and detected - onset <= 8, source
        else:
            assert not flags[:, index].any(), source


def test_one_odd_frame_does_not_flip_trust(world, model):
    contexts = world.episode(np.random.default_rng(4), 30)
    contexts[15, layout.SLICES['visual']] = 0.0
    trust, flags = run(model, contexts)
    assert not flags.any()


def test_hysteresis_holds_distrust_until_trust_recovers(world, model):
    contexts = world.episode(np.random.default_rng(5), 60)
    contexts[10:30, layout.SLICES['visual']] = 0.0
    trust, flags = run(model, contexts)
    first_bad = 10 + int(np.argmax(flags[10:, COLOR]))
    released = first_bad + int(np.argmax(~flags[first_bad:, COLOR]))
    assert 30 <= released < 45
    # trust between the thresholds while released: never re-flagged by the lower threshold
    assert np.all(trust[released:, COLOR] >= 0.75) or not flags[released:, COLOR].any()


def test_absent_source_is_not_judged(world, model):
    contexts = world.episode(np.random.default_rng(6))
    contexts[:, layout.SLICES['depth']] = 0.0
    trust, flags = run(model, contexts, presence=layout.PRESENT_COLOR | layout.PRESENT_JOINTS)
    assert not flags.any() and np.all(trust[:, DEPTH] == 1.0)


def test_model_round_trip_and_bad_files(tmp_path, world, model):
    path = tmp_path / 'trust.npz'
    path.write_bytes(model.to_bytes())
    loaded = TrustModel.from_file(path)
    contexts = world.episode(np.random.default_rng(7))
    np.testing.assert_allclose(run(loaded, contexts)[0], run(model, contexts)[0], atol=1e-5)
    (tmp_path / 'junk.npz').write_bytes(b'not a zip')
    with pytest.raises(ValueError, match='not a trust model'):
        TrustModel.from_file(tmp_path / 'junk.npz')
    arrays = dict(np.load(path))
    arrays['color|depth/w'] = arrays['color|depth/w'] * np.nan
    np.savez(tmp_path / 'nan.npz', **arrays)
    with pytest.raises(ValueError, match='non-finite'):
        TrustModel.from_file(tmp_path / 'nan.npz')


def _with_still_runs(contexts, starts, length):
    """Good data of a simulator: the arm pauses, each stream repeating its frame `length` times."""
    proprio = layout.SLICES['proprioceptive']
    for start in sorted(starts, reverse=True):
        pause = np.repeat(contexts[start:start + 1], length - 1, axis=0)
        pause[:, proprio] += 1e-3 * np.arange(1, length)[:, None]   # a servo's creep
        contexts = np.concatenate([contexts[:start + 1], pause, contexts[start + 1:]])
    return contexts


def test_frozen_stream_is_judged_by_the_joint_motion_it_missed(world):
    """Identical frames while the arm moves past what good data allows: FROZEN_Z."""
    rng = np.random.default_rng(8)
    good = [_with_still_runs(world.episode(rng), [5, 25], 4) for _ in range(80)]
    model = fit_trust_model(good[:60], good[60:])
    # the largest still motion of good data (3 steps of 1e-3 * the group's norm) doubled
    largest = max(still_motion(e, 'color') for e in good)
    assert model.frozen_motion['color'] >= 2 * largest > 0
    for episode in good[60:]:   # its own still runs are not frozen
        monitor = TrustMonitor(model)
        for c in episode:
            monitor.update(c, ALL)
            assert monitor.surprise.max() < FROZEN_Z
    # a frozen colour stream while the arm keeps moving; depth keeps changing
    contexts = world.episode(np.random.default_rng(9), 40)
    contexts[20:, layout.SLICES['visual']] = contexts[19, layout.SLICES['visual']]
    monitor = TrustMonitor(model)
    surprise = []
    for c in contexts:
        monitor.update(c, ALL)
        surprise.append(monitor.surprise.copy())
    surprise = np.array(surprise)
    assert surprise[:20, COLOR].max() < FROZEN_Z
    assert surprise[25, COLOR] == FROZEN_Z          # median of 5 frames: within 5 frames
    assert monitor.distrusted[COLOR]
    # at rest, a repeated frame is no fault
    still = np.repeat(world.episode(np.random.default_rng(10), 2)[:1], 30, axis=0)
    assert not run(model, still)[1].any()


def test_models_without_the_frozen_check_load_and_never_judge_frozen(tmp_path, world, model):
    assert set(model.frozen_motion) == set(SOURCES)
    path = tmp_path / 'trust.npz'
    path.write_bytes(model.to_bytes())
    assert TrustModel.from_file(path).frozen_motion == pytest.approx(model.frozen_motion)
    arrays = {k: v for k, v in np.load(path).items() if not k.startswith('frozen_motion/')}
    np.savez(tmp_path / 'old.npz', **arrays)
    old = TrustModel.from_file(tmp_path / 'old.npz')
    assert old.frozen_motion == {}
    monitor = TrustMonitor(old)
    contexts = world.episode(np.random.default_rng(11), 30)
    for c in contexts[:5]:
        monitor.update(c, ALL)
    for k in range(1, 26):   # the cameras' last frame repeated while the joints move
        moved = contexts[4].copy()
        moved[layout.SLICES['proprioceptive']] += 0.05 * k
        monitor.update(moved, ALL)
        assert np.all(monitor.surprise < FROZEN_Z)
    arrays['frozen_motion/color'] = np.array(-1.0)
    np.savez(tmp_path / 'bad.npz', **arrays)
    with pytest.raises(ValueError, match='frozen_motion'):
        TrustModel.from_file(tmp_path / 'bad.npz')


def test_monitor_parameters_are_checked(model):
    with pytest.raises(ValueError, match='unknown'):
        TrustMonitor(model, {'windw': 3})
    with pytest.raises(ValueError, match='z_bad > z_ok'):
        TrustMonitor(model, {'z_ok': 5.0, 'z_bad': 5.0})


class EncoderDouble:
    """Stands in for EncoderRuntime: the context is the feeds' colour group, as presence says."""

    version = 'v-test'

    def __init__(self, trust, contexts):
        self.trust = trust
        self.contexts = contexts
        self.calls = []

    def encode(self, feeds):
        context = self.contexts[feeds['frame']].copy()
        flags = feeds['presence'][0]
        for name, bit in layout.MODALITY_BITS:
            if not flags[layout.MODALITY_INDEX[name]]:
                context[layout.SLICES[layout.MODALITY_GROUPS[name]]] = 0.0
        self.calls.append(flags.copy())
        return context, np.zeros((1, 4), np.float32)


@pytest.mark.parametrize('use', [True, False])
def test_gate_masks_a_distrusted_source_only_when_used(world, model, use):
    contexts = world.episode(np.random.default_rng(8), 40)
    contexts[10:, layout.SLICES['visual']] = 0.0
    runtime = EncoderDouble(model, contexts)
    gate = TrustGate(use)
    presences = []
    for frame in range(40):
        feeds = {'frame': frame, 'presence': np.ones((1, 3), np.float32)}
        context, _, presence, trust = gate.encode(runtime, feeds, ALL)
        presences.append(presence)
        assert trust is not None
        if presence != ALL:
            assert not np.any(context[layout.SLICES['visual']])
    masked = [p for p in presences if not p & layout.PRESENT_COLOR]
    assert bool(masked) == use and gate.masked == len(masked)
    assert all(p & layout.PRESENT_DEPTH for p in presences)


def test_gate_without_a_trust_model_passes_through(world):
    runtime = EncoderDouble(None, world.episode(np.random.default_rng(9), 3))
    context, _, presence, trust = TrustGate().encode(
        runtime, {'frame': 0, 'presence': np.ones((1, 3), np.float32)}, ALL)
    assert trust is None and presence == ALL and len(runtime.calls) == 1
