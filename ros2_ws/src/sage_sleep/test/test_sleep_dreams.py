# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Dream modifications and the consolidation objectives."""

import pytest
from sage_sleep.learning.dreams import CoherenceScorer, dream, MODIFICATIONS
from sage_sleep.learning.objectives import covariance_loss, variance_loss, vicreg_loss
import torch


def make_batch(b=4, t=12, j=2, size=16):
    g = torch.Generator().manual_seed(0)
    pos = torch.cumsum(0.05 * torch.randn(b, t, j, generator=g), dim=1)
    return {
        'color': torch.rand(b, t, 3, size, size, generator=g),
        'depth': torch.rand(b, t, 1, size, size, generator=g),
        'joint_pos': pos,
        'joint_vel': torch.diff(pos, dim=1, prepend=pos[:, :1]) / 0.033,
        'action': torch.roll(pos, -2, dims=1),
    }


@pytest.mark.parametrize('modification', MODIFICATIONS)
def test_each_dream_changes_the_sequence_and_keeps_shapes(modification):
    batch = make_batch()
    dreamed = dream(batch, modification, torch.Generator().manual_seed(1))
    assert {k: v.shape for k, v in dreamed.items()} == {k: v.shape for k, v in batch.items()}
    changed = [k for k in batch if not torch.equal(batch[k], dreamed[k])]
    assert changed, f'{modification} left the sequence unchanged'
    assert all(torch.isfinite(v).all() for v in dreamed.values())
    # The recorded batch itself is never modified in place.
    assert torch.equal(batch['joint_pos'], make_batch()['joint_pos'])


def test_dreams_touch_what_they_claim():
    batch, g = make_batch(), torch.Generator().manual_seed(2)
    assert not torch.equal(dream(batch, 'physics_violation', g)['joint_pos'], batch['joint_pos'])
    assert torch.equal(dream(batch, 'causal_inversion', g)['joint_pos'], batch['joint_pos'])
    assert not torch.equal(dream(batch, 'causal_inversion', g)['action'], batch['action'])
    reversed_ = dream(batch, 'temporal_reversal', g)
    assert torch.equal(reversed_['joint_pos'][:, 0], batch['joint_pos'][:, -1])
    assert torch.equal(reversed_['joint_vel'][:, 0], -batch['joint_vel'][:, -1])
    scaled = dream(batch, 'scale_distortion', g)
    assert torch.equal(scaled['joint_pos'], batch['joint_pos'])
    assert not torch.equal(scaled['color'], batch['color'])


def test_unknown_modification_is_a_clear_error():
    with pytest.raises(ValueError, match='unknown dream modification'):
        dream(make_batch(), 'teleport', torch.Generator())


def test_coherence_scorer_learns_to_separate_a_dream():
    torch.manual_seed(0)
    scorer = CoherenceScorer(code_dim=8, num_joints=2, hidden=32)
    opt = torch.optim.Adam(scorer.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(3)
    for _ in range(150):
        real = make_batch(b=16)
        real['joint_pos'] = real['joint_pos'] + torch.randn(16, 1, 2, generator=g)
        fake = dream(real, 'physics_violation', g)
        codes = torch.zeros(16, 12, 8)
        logits = torch.cat([scorer(codes, real['joint_pos'], real['joint_vel'], real['action']),
                            scorer(codes, fake['joint_pos'], fake['joint_vel'], fake['action'])])
        labels = torch.cat([torch.ones(16), torch.zeros(16)])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3


def test_vicreg_penalizes_collapse_and_rewards_spread():
    torch.manual_seed(0)
    spread = torch.randn(256, 16) * 2
    collapsed = torch.zeros(256, 16)
    assert variance_loss(spread) < 0.05 < variance_loss(collapsed)
    correlated = torch.randn(256, 1).repeat(1, 16)
    assert covariance_loss(correlated) > 10 * covariance_loss(torch.randn(256, 16))
    total, parts = vicreg_loss(spread, spread)
    assert parts['invariance'] == 0 and total < vicreg_loss(collapsed, collapsed)[0]
