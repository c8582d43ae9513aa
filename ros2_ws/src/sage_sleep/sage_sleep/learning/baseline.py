# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The plain behaviour-cloning baseline SAGE has to beat.

Raw image + joints -> action chunk, trained on the same recorded samples with the same
wall-clock budget as the sleeps: no 4K context, no consolidation, no dreams. It is a tuned
baseline, not a strawman (before SAGE existed, a spatial-softmax CNN predicting chunks,
blended by temporal ensembling, with random image shifts, reached 94% on Reacher): a CNN
with a spatial soft-argmax over its feature maps (the encoder's keypoint CNN, the width the
learning bench found best per second of training), joints through sin/cos, a chunk of
residual position targets like the L-module's, and +-4 px shift augmentation.

    python -m sage_sleep.learning.baseline --bags bags/ --models runs/bc --seconds 480 --steps 0
"""

import argparse
import io
import os
from pathlib import Path
import sys
import tempfile

import numpy as np
from sage_common.registry import ModelRegistry, tensor_spec
from sage_perception.encoder import DEFAULT_ENCODER_CONFIG, keypoint_cnn, spatial_softmax
from sage_sleep.learning.budget import adamw, TrainingBudget
from sage_sleep.learning.consolidation import ConsolidationConfig, warp_images
import torch
from torch import nn
import torch.nn.functional as F

MODEL_NAME = 'bc_policy'
DEFAULT_BC_CONFIG = {'image_size': 64, 'num_joints': 2, 'chunk_size': 10,
                     'chunk_dt': 1.0 / 30.0, 'max_residual': 3.14159, 'velocity_scale': 0.1,
                     'color_widths': DEFAULT_ENCODER_CONFIG['color_widths'],
                     'keypoints': DEFAULT_ENCODER_CONFIG['keypoints'], 'seed': 0}


class PlainBCPolicy(nn.Module):
    """(colour (B,3,S,S) in [0,1], joint_pos, joint_vel) -> chunk (B, K, J) of targets."""

    def __init__(self, config):
        super().__init__()
        self.config = dict(config)
        j, k = int(config['num_joints']), int(config['chunk_size'])
        kp = int(config['keypoints'])
        self.cnn = keypoint_cnn(config['color_widths'], kp)
        self.keypoints = spatial_softmax()
        self.mlp = nn.Sequential(nn.Linear(2 * kp + 3 * j, 256), nn.ReLU(),
                                 nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, k * j))
        self.k, self.j = k, j

    def forward(self, color, joint_pos, joint_vel):
        points = self.keypoints(self.cnn(color))
        features = torch.cat([points, torch.sin(joint_pos), torch.cos(joint_pos),
                              joint_vel * self.config['velocity_scale']], dim=-1)
        residual = torch.tanh(self.mlp(features)) * self.config['max_residual']
        return joint_pos[:, None, :] + residual.reshape(-1, self.k, self.j)


def build_bc_policy(config=None):
    config = {**DEFAULT_BC_CONFIG, **(config or {})}
    torch.manual_seed(int(config['seed']))
    return PlainBCPolicy(config)


def train_bc(memory, train_episodes, steps=None, frames_per_step=96, seed=0, lr=1e-3,
             seconds=None, overrides=None):
    """
    Train a PlainBCPolicy on memory samples of the given episodes.

    The budget is `steps`, `seconds` of wall time, or both (sage_sleep.learning.budget): at
    the same wall-clock budget as a sleep, the comparison with SAGE is fair whatever each model
    costs. `overrides` change DEFAULT_BC_CONFIG entries (e.g. color_widths). Returns (model,
    losses, stats) with stats {steps, frames, train_seconds}.
    """
    from tqdm import tqdm

    sample = memory.get(np.array([0]))
    config = {**DEFAULT_BC_CONFIG, 'image_size': int(sample['color'].shape[-1]),
              'num_joints': int(sample['joint_pos'].shape[-1]),
              'chunk_size': int(sample['action'].shape[1]), 'seed': seed, **(overrides or {})}
    model = build_bc_policy(config)
    order = memory._order()
    keep = np.isin(memory.episode[order], list(train_episodes))
    eligible = order[keep]
    if len(eligible) == 0:
        raise ValueError('no training samples for the baseline')
    weights = memory.motion_weights()[keep]  # the same emphasis as sleep gives
    weights /= weights.sum()
    optimizer = adamw(model.parameters(), lr, weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    aug = ConsolidationConfig(shift_px=4.0, rotate_deg=0.0)
    budget = TrainingBudget(steps, seconds)
    losses = []
    model.train()
    bar = tqdm(total=1000, desc=f'plain BC ({budget.describe()})', mininterval=2.0)
    budget.start()
    step = shown = 0
    while not budget.exhausted(step):
        for group in optimizer.param_groups:
            group['lr'] = budget.cosine_lr(lr, step)
        got = memory.get(rng.choice(eligible, size=frames_per_step, p=weights))
        color = torch.from_numpy(got['color']).float()[:, None] / 255.0
        depth = torch.from_numpy(got['depth'])[:, None]
        color, _ = warp_images(color, depth, aug, generator)
        chunk = model(color[:, 0], torch.from_numpy(got['joint_pos']),
                      torch.from_numpy(got['joint_vel']))
        loss = F.l1_loss(chunk, torch.from_numpy(got['action']))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        step += 1
        done = int(budget.fraction(step) * 1000)
        bar.update(done - shown)
        shown = done
    bar.close()
    stats = {'steps': step, 'frames': step * frames_per_step,
             'train_seconds': budget.elapsed()}
    return model.eval(), losses, stats


def publish_bc(registry, model, metadata=None):
    """Export the policy to ONNX and publish it (model.onnx + weights.pt) in a registry."""
    c = model.config
    s, j, k = int(c['image_size']), int(c['num_joints']), int(c['chunk_size'])
    inputs = [tensor_spec('color', ['batch', 3, s, s]), tensor_spec('joint_pos', ['batch', j]),
              tensor_spec('joint_vel', ['batch', j])]
    outputs = [tensor_spec('chunk', ['batch', k, j])]
    weights = io.BytesIO()
    torch.save(model.state_dict(), weights)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'model.onnx'
        example = (torch.zeros(1, 3, s, s), torch.zeros(1, j), torch.zeros(1, j))
        with torch.no_grad():
            torch.onnx.export(model.eval(), example, str(path),
                              input_names=['color', 'joint_pos', 'joint_vel'],
                              output_names=['chunk'], opset_version=17, dynamo=False,
                              dynamic_axes={n: {0: 'batch'} for n in
                                            ('color', 'joint_pos', 'joint_vel', 'chunk')})
        return registry.publish(MODEL_NAME, {'model.onnx': path,
                                             'weights.pt': weights.getvalue()},
                                inputs, outputs, metadata={**(metadata or {}), 'config': c},
                                activate=True)


def main(argv=None):
    from sage_perception.encoder import encoder_config
    from sage_sleep.learning.experience import ExtractorConfig
    from sage_sleep.learning.sample_cache import default_cache_dir
    from sage_sleep.learning.trainer import load_experience, split_episodes

    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].strip())
    root = Path(os.environ.get('SAGE_ROOT', '.'))
    parser.add_argument('--bags', type=Path, default=root / 'bags')
    parser.add_argument('--models', type=Path, required=True, help='registry to publish to')
    parser.add_argument('--steps', type=int, default=ConsolidationConfig.steps,
                        help='optimizer steps (0: only --seconds limits training)')
    parser.add_argument('--frames-per-step', type=int,
                        default=ConsolidationConfig.batch_size * ConsolidationConfig.seq_len,
                        help="default: a sleep step's batch x sequence length")
    parser.add_argument('--seconds', type=float,
                        help='wall-clock training budget (with --steps, the first reached ends)')
    parser.add_argument('--holdout', type=float, default=0.1,
                        help='episodes left out, as sage_train does (the same split)')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--teacher-topics', default='/teacher/commands,/arm_controller/commands')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    memory, _ = load_experience(args.bags, ExtractorConfig(), encoder_config(),
                                args.teacher_topics.split(','),
                                cache_dir=default_cache_dir(args.bags))
    if len(memory) == 0:
        print(f'error: no usable samples in {args.bags}', file=sys.stderr)
        return 2
    train_eps, _ = split_episodes(memory, args.holdout, args.seed)
    torch.set_num_threads(args.threads)
    model, losses, stats = train_bc(memory, train_eps, args.steps or None, args.frames_per_step,
                                    args.seed, seconds=args.seconds)
    version = publish_bc(ModelRegistry(args.models), model,
                         {**stats, 'final_loss': losses[-1]})
    print(f'plain BC: {version.name} {version.version}, {stats["steps"]} steps in '
          f'{stats["train_seconds"]:.0f} s, final L1 {losses[-1]:.4f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
