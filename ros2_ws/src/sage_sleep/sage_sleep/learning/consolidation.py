# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Consolidation: one training step of encoder + H-module + L-module (+ coherence scorer).

The models are the ones the nodes run (imported from sage_perception and sage_hl_control).
A training batch is a set of short recorded sequences (B, T), as long as the encoder's history
register (T = history_frames), one geometric warp per sequence. Per step:

- the L-module imitates the teacher's recorded action chunks (L1, as in ACT) on every frame,
  through encoder (all T frames in one batch) and H-module: the action shapes the trunk;
- every `selfsup_every`-th step, the self-supervised terms: the H-module's reconstruction of
  the context and its action probe, and dreaming (one of the five modifications of
  `sage_sleep.learning.dreams` applied to half the batch, the coherence scorer learning to
  score real above dreamed). By default their heads read the code detached (`selfsup_shapes_code`):
  the learning bench measured each of them costing most of the closed-loop success when its
  gradient reached encoder and H-module;
- available, off by default for the same reason: VICReg between two views (colour/depth noise,
  the second view's history resampled at 0.5x or 2x), the predictive group predicting the
  immediate group `predict_horizon` frames ahead, and the KL of a variational bottleneck.
"""

import dataclasses
import math

import numpy as np
from sage_hl_control.context_window import presence_group_mask
from sage_perception import layout
from sage_perception.encoder import preprocess
from sage_sleep.learning.dreams import CoherenceScorer, dream, MODIFICATIONS
from sage_sleep.learning.objectives import kl_standard_normal, vicreg_loss
import torch
import torch.nn.functional as F


@dataclasses.dataclass
class ConsolidationConfig:
    """Budgets, augmentations and loss weights of consolidation."""

    steps: int = 300                 # optimizer steps (None: only `seconds` limits training)
    seconds: float = None           # wall-clock training budget (None: only `steps` does)
    # Sequences as long as the history needs (the encoder's register of history_frames
    # frames with a window of 1): more independent sequences per step, the same frames.
    batch_size: int = 48
    seq_len: int = 2
    # Peak of the cosine schedule. Learning bench (240 s, 198 demos, 30 development seeds),
    # training seed 0: 5e-4 93%, 1e-3 77%, 2e-3 0% (the deep trunk, encoder -> 4096-D
    # context -> H -> L, diverges); 5e-4 with training seed 1: 63%. Seeds vary that much.
    lr: float = 5e-4
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    dreams: bool = True
    # Geometric augmentation, the same for both views of a sequence (see
    # consolidation_losses): shifting one view against the other and asking VICReg for the
    # same code taught the code to drop the goal's position (15 cm median error vs 4.3 cm
    # without, 600 steps on 80 demos), while shifts of the imitated frames are what lifted a
    # plain BC under camera perturbation (86% -> 94% with +-4 px).
    shift_px: float = 4.0
    rotate_deg: float = 0.0
    color_noise: float = 0.03
    brightness: float = 0.1
    depth_noise: float = 0.01
    resample_prob: float = 0.5
    w_action: float = 1.0
    w_probe: float = 0.1
    w_recon: float = 0.1
    w_vicreg: float = 0.0            # 0.02 cost nearly all closed-loop success (see below)
    w_predict: float = 0.0           # shapes the encoder; off until it earns its place
    w_kl: float = 0.0                # shapes the H bottleneck; off until it earns its place
    w_coherence: float = 0.5
    # Whether the heads of the self-supervised terms (reconstruction, probe, coherence) pass
    # their gradient into the code, i.e. into encoder and H-module. Measured at the same
    # wall time (learning bench, 180 s, 198 demos, 30 development seeds), each term that did
    # cost the action most of its success: +VICReg 3%, +dreams 20%, +reconstruction/probe 13%,
    # against 80% for the action alone at 240 s. Off, they train their own heads on the
    # detached code: the dream AUROC and reconstruction R^2 still measure what the code
    # holds, and the action keeps the trunk.
    selfsup_shapes_code: bool = False
    # Every self-supervised term (VICReg and its second view, prediction, reconstruction,
    # probe, KL, dreams) runs on every n-th step, the action path on all: at the same wall
    # time, self-supervision on every step cost the action path a third of its steps and
    # 10 points of success (learning bench, 240 s: 27% vs 37% action alone).
    selfsup_every: int = 4


# -- batches --------------------------------------------------------------------------------
def joint_inputs(joint_pos, joint_vel, joint_eff, encoder_config):
    """Return the encoder's `joints` features (N, 4J), computed by the node's preprocess."""
    rows = [preprocess(None, None, p, v, e, encoder_config)['joints'][0]
            for p, v, e in zip(joint_pos, joint_vel, joint_eff)]
    return np.stack(rows).astype(np.float32)


def make_batch(memory, indices, encoder_config):
    """Return a dict of torch tensors (B, T, ...) for storage indices (B, T) of the memory."""
    b, t = indices.shape
    got = memory.get(indices.reshape(-1))
    joints = joint_inputs(got['joint_pos'], got['joint_vel'], got['joint_eff'], encoder_config)
    presence = np.ones((b * t, len(layout.MODALITY_BITS)), np.float32)
    presence[:, layout.MODALITY_INDEX['depth']] = got['depth_present']
    tasked = got['task'].any(axis=1)
    bits = layout.PRESENT_COLOR | layout.PRESENT_JOINTS
    group_mask = np.stack([presence_group_mask(bits | (layout.PRESENT_DEPTH if d else 0)
                                               | (layout.PRESENT_TASK if k else 0))
                           for d, k in zip(got['depth_present'], tasked)])

    def tensor(x, dtype=torch.float32):
        x = torch.from_numpy(np.ascontiguousarray(x)).to(dtype)
        return x.reshape((b, t) + tuple(x.shape[1:]))

    return {
        'color': tensor(got['color']) / 255.0,
        'depth': tensor(got['depth']),
        'joints': tensor(joints),
        'presence': tensor(presence),
        'group_mask': tensor(group_mask),
        'joint_pos': tensor(got['joint_pos']),
        'joint_vel': tensor(got['joint_vel']),
        'joint_eff': tensor(got['joint_eff']),
        'action': tensor(got['action']),
        **({'task': tensor(got['task'])} if got['task'].shape[1] else {}),  # none: no task
    }


def dream_batch(batch, modification, generator, encoder_config):
    """Return a dreamed batch whose encoder joint features match its dreamed joints."""
    dreamed = dream(batch, modification, generator)
    b, t, j = dreamed['joint_pos'].shape
    feats = joint_inputs(dreamed['joint_pos'].reshape(-1, j).numpy(),
                         dreamed['joint_vel'].reshape(-1, j).numpy(),
                         dreamed['joint_eff'].reshape(-1, j).numpy(), encoder_config)
    dreamed['joints'] = torch.from_numpy(feats).reshape(b, t, -1)
    return dreamed


# -- augmentation ---------------------------------------------------------------------------
def warp_images(color, depth, cfg, generator):
    """Random shift + rotation per sequence (the same for all its frames) of (B, T, C, H, W)."""
    if not (cfg.shift_px or cfg.rotate_deg):
        return color, depth
    b, t, _, h, w = color.shape
    angle = (torch.rand(b, generator=generator) * 2 - 1) * math.radians(cfg.rotate_deg)
    shift = (torch.rand(b, 2, generator=generator) * 2 - 1) * (2.0 * cfg.shift_px / w)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], dim=1),
                         torch.stack([sin, cos, shift[:, 1]], dim=1)], dim=1)
    theta = theta.repeat_interleave(t, dim=0)

    def warp(x):
        c = x.shape[2]
        flat = x.reshape(b * t, c, h, w)
        grid = F.affine_grid(theta, flat.shape, align_corners=False)
        return F.grid_sample(flat, grid, align_corners=False,
                             padding_mode='border').reshape(b, t, c, h, w)

    return warp(color), warp(depth)


def photometric(color, depth, cfg, generator):
    """Brightness gain per sequence, colour and depth noise per pixel."""
    b = color.shape[0]
    gain = 1.0 + (torch.rand(b, 1, 1, 1, 1, generator=generator) * 2 - 1) * cfg.brightness
    noise = torch.randn(color.shape, generator=generator) * cfg.color_noise
    color = (color * gain + noise).clamp(0.0, 1.0)
    depth = depth + torch.randn(depth.shape, generator=generator) * cfg.depth_noise
    return color, depth.clamp(0.0, 1.0)


def resampled_history(t, speed):
    """Return frame indices (T,) ending at the last frame, played at `speed` x (0.5 or 2)."""
    back = torch.arange(t - 1, -1, -1, dtype=torch.float32)  # frames before the last
    idx = (t - 1) - torch.floor(back * speed).long()
    return idx.clamp(0, t - 1)


def view(batch, cfg, generator, resample):
    """Return an augmented view of a batch; `resample` also retimes the history."""
    out = dict(batch)
    if resample and float(torch.rand(1, generator=generator)) < cfg.resample_prob:
        speed = 2.0 if float(torch.rand(1, generator=generator)) < 0.5 else 0.5
        idx = resampled_history(batch['color'].shape[1], speed)
        out = {k: v[:, idx] for k, v in batch.items()}
    out['color'], out['depth'] = photometric(out['color'], out['depth'], cfg, generator)
    return out


# -- forward passes -------------------------------------------------------------------------
def encode_sequence(encoder, batch):
    """Encode T frames from an empty history; return contexts (B, T, 4096)."""
    return encoder.forward_sequence(batch['color'], batch['depth'], batch['joints'],
                                    batch['presence'], batch.get('task'))


def compress_sequence(h_module, contexts, group_mask, first=0, sample=False):
    """
    Run the H-module on the window ending at each frame from `first` on.

    sample: draw the bottleneck's code (reparameterisation) instead of taking its mean; only
    a KL term gives that noise a purpose.

    Returns a dict of (B, T', ...) tensors: z, mu, logvar (None without a bottleneck).
    Frames before the window is full see invalid (padded) slots, as the node does at start.
    """
    b, t, d = contexts.shape
    w = int(h_module.config['window'])
    padded = torch.cat([contexts.new_zeros(b, w - 1, d), contexts], dim=1)
    masks = torch.cat([group_mask.new_zeros(b, w - 1, group_mask.shape[-1]), group_mask], 1)
    valid_all = torch.cat([contexts.new_zeros(b, w - 1), contexts.new_ones(b, t)], dim=1)
    steps = range(first, t)
    windows = torch.stack([padded[:, i:i + w] for i in steps], dim=1).reshape(-1, w, d)
    valid = torch.stack([valid_all[:, i:i + w] for i in steps], dim=1).reshape(-1, w)
    gm = torch.stack([masks[:, i:i + w] for i in steps], dim=1).reshape(-1, w, masks.shape[-1])
    out = h_module.encode(windows, valid, gm, sample=sample)
    n = len(steps)
    return {k: (None if v is None else v.reshape(b, n, *v.shape[1:]))
            for k, v in out.items()}


class SleepModels(torch.nn.Module):
    """The models consolidation trains together, so one optimizer (and DDP) covers them."""

    def __init__(self, encoder, h_module, l_module, scorer=None):
        super().__init__()
        self.encoder = encoder
        self.h_module = h_module
        self.l_module = l_module
        self.scorer = scorer or CoherenceScorer(
            code_dim=layout.COMPRESSED_DIM,
            num_joints=int(l_module.config['num_joints']))

    HEADS = ('recon', 'probe', 'coherence')

    def forward(self, batch, heads=HEADS, shape_code=True, sample_code=False):
        """
        Run the models on a batch of sequences; return a dict of (B, T, ...) tensors.

        Always contexts, z, mu, logvar (None without a bottleneck), refined and chunk (the
        L-module's action chunks, (B, T, K, J)); of `heads`, those asked for: recon (the
        H-module's reconstruction of the context), probe (its action probe) and coherence
        (the scorer's logit per sequence, (B,)). A head without a loss this step is not
        computed at all (DDP runs with find_unused_parameters), so it costs nothing. Without
        `shape_code`, these heads read the code detached: they learn from it without pulling
        it away from what the action needs. `sample_code`: see compress_sequence.
        """
        contexts = encode_sequence(self.encoder, batch)
        out = compress_sequence(self.h_module, contexts, batch['group_mask'],
                                sample=sample_code)
        z = out['z']
        b, t = z.shape[:2]
        flat = z.reshape(b * t, -1)
        out['contexts'] = contexts
        code = flat if shape_code else flat.detach()
        if 'recon' in heads:
            out['recon'] = self.h_module.decode(code).reshape(b, t, -1)
        if 'probe' in heads:
            out['probe'] = self.h_module.probe(code).reshape(b, t, -1)
        chunk = self.l_module(flat, batch['joint_pos'].reshape(b * t, -1),
                              batch['joint_vel'].reshape(b * t, -1))
        out['chunk'] = chunk.reshape(b, t, *chunk.shape[1:])
        if 'coherence' in heads:
            out['coherence'] = self.scorer(z if shape_code else z.detach(), batch['joint_pos'],
                                           batch['joint_vel'], batch['action'][:, :, 0])
        return out

    def coherence(self, batch):
        """Return the coherence logit (B,) of each sequence of a batch."""
        return self(batch, heads=('coherence',))['coherence']


def _concat(batches):
    return {k: torch.cat([b[k] for b in batches]) for k in batches[0]}


def consolidation_losses(models, batch, cfg, generator, step, module=None):
    """
    Return (total loss, dict of float parts) for one batch.

    `models` is what is called (a SleepModels or its DDP wrapper); `module` the SleepModels
    itself (for attribute access under DDP). Every view (and the dreams) goes through one
    forward pass. The second view exists for VICReg (none when its weight is 0) and is also
    imitated: every real frame that is computed teaches the action.
    """
    module = module or models
    enc_cfg = module.encoder.config
    n = batch['color'].shape[0]
    # One geometric warp for both views: the action path learns to find the goal wherever a
    # slightly moved camera shows it, and VICReg never asks for a code invariant to where
    # things are (which erased the goal's position when the views were shifted apart).
    batch = dict(batch)
    batch['color'], batch['depth'] = warp_images(batch['color'], batch['depth'], cfg, generator)
    view_a = view(batch, cfg, generator, resample=False)
    parts_in = [view_a]
    selfsup = step % cfg.selfsup_every == 0
    two_views = cfg.w_vicreg > 0 and selfsup
    if two_views:
        parts_in.append(view(batch, cfg, generator, resample=True))
    real = len(parts_in) * n
    half = n // 2
    dreaming = cfg.dreams and half >= 2 and selfsup
    if dreaming:
        # Dream on half of the first view (a different modification each dreaming step):
        # real and dreamed sequences then share the augmentation, which cannot give dreams
        # away.
        modification = MODIFICATIONS[(step // cfg.selfsup_every) % len(MODIFICATIONS)]
        parts_in.append(dream_batch({k: v[:half] for k, v in view_a.items()}, modification,
                                    generator, enc_cfg))
    inputs = _concat(parts_in)
    heads = tuple(h for h, used in (('recon', selfsup and cfg.w_recon > 0),
                                    ('probe', selfsup and cfg.w_probe > 0),
                                    ('coherence', dreaming)) if used)
    out = models(inputs, heads=heads, shape_code=cfg.selfsup_shapes_code,
                 sample_code=cfg.w_kl > 0)
    a = {k: (None if v is None else v[:n]) for k, v in out.items()}
    z_a, contexts_a = a['z'], a['contexts']
    t = z_a.shape[1]
    parts = {}
    total = z_a.new_zeros(())

    if two_views:
        # Invariance + anti-collapse on the last frame's code (the moment both views share).
        vic, vic_parts = vicreg_loss(z_a[:, -1], out['z'][n:2 * n, -1])
        parts.update({f'vicreg_{k}': float(v) for k, v in vic_parts.items()})
        parts['vicreg'] = float(vic.detach())
        total = total + cfg.w_vicreg * vic

    # The predictive group predicts the immediate group `h` frames ahead.
    h = int(enc_cfg['predict_horizon'])
    if selfsup and cfg.w_predict > 0 and t > h:
        predictive = F.mse_loss(contexts_a[:, :t - h, layout.SLICES['predictive']],
                                contexts_a[:, h:, layout.SLICES[layout.PREDICTIVE_TARGET]]
                                .detach())
        parts['predictive'] = float(predictive.detach())
        total = total + cfg.w_predict * predictive

    # H keeps what reconstruction and the L-module need.
    if selfsup and cfg.w_recon > 0:
        recon = F.mse_loss(a['recon'], contexts_a.detach())
        parts['recon'] = float(recon.detach())
        total = total + cfg.w_recon * recon
    if selfsup and cfg.w_probe > 0:
        probe = F.mse_loss(a['probe'], batch['action'][:, :, 0])
        parts['probe'] = float(probe.detach())
        total = total + cfg.w_probe * probe
    if selfsup and cfg.w_kl > 0 and a['mu'] is not None:
        kl = kl_standard_normal(a['mu'].reshape(-1, z_a.shape[-1]),
                                a['logvar'].reshape(-1, z_a.shape[-1]))
        parts['kl'] = float(kl.detach())
        total = total + cfg.w_kl * kl

    # The L-module imitates the teacher's chunks (L1, as in ACT) on every real view.
    action = F.l1_loss(out['chunk'][:real], inputs['action'][:real])
    parts['action'] = float(action.detach())
    parts['frames'] = real * t  # imitated this step
    total = total + cfg.w_action * action

    if dreaming:
        real_logit, fake_logit = out['coherence'][:half], out['coherence'][real:]
        logits = torch.cat([real_logit, fake_logit])
        labels = torch.cat([torch.ones_like(real_logit), torch.zeros_like(fake_logit)])
        coherence = F.binary_cross_entropy_with_logits(logits, labels)
        parts['coherence'] = float(coherence.detach())
        total = total + cfg.w_coherence * coherence
    parts['total'] = float(total.detach())
    return total, parts
