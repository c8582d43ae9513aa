# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Dreaming: hypothetical sequences built from recorded ones, and the coherence scorer.

A sequence batch is a dict of tensors with a leading (batch, time) shape:
``color`` (B, T, 3, H, W) in [0, 1], ``depth`` (B, T, 1, H, W) metres, ``joint_pos`` and
``joint_vel`` (B, T, J), ``action`` (B, T, J) the teacher's position targets.

Each modification breaks one regularity a model of the world should know:

- physics violation: the arm teleports mid-sequence (positions jump, velocities do not);
- object substitution: from mid-sequence on, the camera shows another moment's scene;
- temporal reversal: the sequence played backwards (velocities negated, as a reversed
  recording would show them) — only the order of cause and effect gives it away;
- scale distortion: the camera image is zoomed, the arm no longer matches its joint angles;
- causal inversion: commands follow the motion they should cause (effect before cause).

The coherence scorer reads a sequence of compressed contexts with joints and actions and gives
it a score (a logit: high = coherent). It is honest only if it separates real from dreamed
sequences, reported as AUROC per modification.
"""

from sage_perception.layout import COMPRESSED_DIM
import torch
from torch import nn
import torch.nn.functional as F

MODIFICATIONS = ('physics_violation', 'object_substitution', 'temporal_reversal',
                 'scale_distortion', 'causal_inversion')


def _clone(batch):
    return {k: v.clone() for k, v in batch.items()}


def physics_violation(batch, generator, min_jump=0.6, max_jump=1.5):
    """Joint positions jump by min_jump..max_jump rad from a random mid step on."""
    out = _clone(batch)
    b, t, j = out['joint_pos'].shape
    start = int(torch.randint(t // 4, max(t // 4 + 1, 3 * t // 4), (1,), generator=generator))
    size = torch.empty(b, 1, j).uniform_(min_jump, max_jump, generator=generator)
    sign = torch.where(torch.rand(b, 1, j, generator=generator) < 0.5, -1.0, 1.0)
    out['joint_pos'][:, start:] += size * sign
    return out


def object_substitution(batch, generator):
    """From a random mid step on, colour and depth come from another sequence of the batch."""
    out = _clone(batch)
    b, t = out['color'].shape[:2]
    if b < 2:
        raise ValueError('object substitution needs at least 2 sequences in the batch')
    start = int(torch.randint(t // 4, max(t // 4 + 1, 3 * t // 4), (1,), generator=generator))
    shift = int(torch.randint(1, b, (1,), generator=generator))
    for key in ('color', 'depth'):
        out[key][:, start:] = torch.roll(batch[key], shifts=shift, dims=0)[:, start:]
    return out


def temporal_reversal(batch, generator=None):
    """Play the sequence backwards; velocities change sign as in a reversed recording."""
    out = {k: torch.flip(v, dims=[1]) for k, v in batch.items()}
    out['joint_vel'] = -out['joint_vel']
    return out


def scale_distortion(batch, generator, min_zoom=1.3, max_zoom=1.8):
    """Zoom colour and depth images about their centre by min_zoom..max_zoom."""
    out = _clone(batch)
    zoom = float(torch.empty(1).uniform_(min_zoom, max_zoom, generator=generator))
    for key in ('color', 'depth'):
        x = out[key]
        b, t, c, h, w = x.shape
        theta = torch.tensor([[1.0 / zoom, 0, 0], [0, 1.0 / zoom, 0]]).expand(b * t, 2, 3)
        grid = F.affine_grid(theta, (b * t, c, h, w), align_corners=False)
        out[key] = F.grid_sample(x.reshape(b * t, c, h, w), grid, align_corners=False,
                                 padding_mode='border').reshape(b, t, c, h, w)
    return out


def causal_inversion(batch, generator, min_lag=3, max_lag=6):
    """Delay the commands by a few steps so they follow the motion they should have caused."""
    out = _clone(batch)
    t = out['action'].shape[1]
    lag = int(torch.randint(min_lag, max_lag + 1, (1,), generator=generator))
    lag = min(lag, t - 1)
    out['action'][:, lag:] = batch['action'][:, :t - lag]
    out['action'][:, :lag] = batch['action'][:, :1]
    return out


_APPLY = {
    'physics_violation': physics_violation,
    'object_substitution': object_substitution,
    'temporal_reversal': temporal_reversal,
    'scale_distortion': scale_distortion,
    'causal_inversion': causal_inversion,
}


def dream(batch, modification, generator):
    """Return a dreamed copy of a sequence batch under one named modification."""
    try:
        apply = _APPLY[modification]
    except KeyError:
        raise ValueError(f'unknown dream modification {modification!r}; '
                         f'expected one of {MODIFICATIONS}')
    return apply(batch, generator)


class CoherenceScorer(nn.Module):
    """
    Score a sequence: GRU over per-step [code, joint_pos, joint_vel, action] -> logit.

    The step features include first differences of the codes and of the dynamics, so that
    jumps and ordering (what changes after what) are visible to the recurrent summary.
    """

    def __init__(self, code_dim=COMPRESSED_DIM, num_joints=2, hidden=128):
        super().__init__()
        step_dim = 2 * code_dim + 6 * num_joints
        self.inp = nn.Sequential(nn.Linear(step_dim, hidden), nn.GELU())
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, codes, joint_pos, joint_vel, action):
        d = codes.shape[-1]
        steps = torch.cat([codes, joint_pos, joint_vel, action], dim=-1)
        change = torch.diff(steps, dim=1, prepend=steps[:, :1])
        # codes, their change, dynamics, their change: the order stored scorers were fit on
        x = self.inp(torch.cat([codes, change[..., :d], steps[..., d:], change[..., d:]], dim=-1))
        _, h = self.gru(x)
        return self.out(h[-1]).squeeze(-1)
