# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The L-module: (256-D compressed context, joint positions and velocities) -> action chunk.

The single torch definition used by the node's ONNX export and by the trainer. The output is
a chunk of K future joint POSITION targets (K, J), spaced `chunk_dt` seconds apart, the first
for "now". The network predicts bounded residuals relative to the current position
(`max_residual * tanh`), so it sees joint angles only through sin/cos (continuous joints that
wrap are no problem) and returns absolute targets.
"""

import copy

from sage_hl_control.h_module import merge_config
from sage_perception.layout import COMPRESSED_DIM
import torch
from torch import nn

DEFAULT_L_CONFIG = {
    'num_joints': 2,
    'chunk_size': 10,         # K targets per chunk
    'chunk_dt': 1.0 / 30.0,   # seconds between consecutive targets of a chunk
    'hidden': 256,
    'num_layers': 2,
    'max_residual': 3.14159,  # rad: largest target offset from the current position
    'velocity_scale': 0.1,    # joint velocities (rad/s) are scaled by this on input
    'out_init_scale': 0.1,    # smaller last layer: an untrained model stays near its pose
}


def validate_l_config(config):
    """Raise ValueError for an inconsistent L config."""
    for key in ('num_joints', 'chunk_size', 'hidden', 'num_layers'):
        if int(config[key]) < 1:
            raise ValueError(f'{key} must be >= 1')
    if not config['chunk_dt'] > 0 or not config['max_residual'] > 0:
        raise ValueError('chunk_dt and max_residual must be > 0')


class LModule(nn.Module):
    """MLP from (z, joint features) to K x J absolute joint position targets."""

    def __init__(self, config):
        super().__init__()
        validate_l_config(config)
        self.config = copy.deepcopy(config)
        c = self.config
        self.num_joints = int(c['num_joints'])
        self.chunk_size = int(c['chunk_size'])
        self.z_norm = nn.LayerNorm(COMPRESSED_DIM)
        layers = []
        width = COMPRESSED_DIM + 3 * self.num_joints
        for _ in range(int(c['num_layers'])):
            layers += [nn.Linear(width, c['hidden']), nn.GELU()]
            width = c['hidden']
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, self.chunk_size * self.num_joints)
        with torch.no_grad():
            self.head.weight.mul_(c['out_init_scale'])
            self.head.bias.zero_()

    def forward(self, z, joint_pos, joint_vel):
        """Return the chunk (B, K, J) of absolute joint position targets."""
        features = torch.cat([self.z_norm(z), torch.sin(joint_pos), torch.cos(joint_pos),
                              joint_vel * self.config['velocity_scale']], dim=-1)
        residual = torch.tanh(self.head(self.body(features))) * self.config['max_residual']
        residual = residual.reshape(-1, self.chunk_size, self.num_joints)
        return joint_pos[:, None, :] + residual


def build_l_module(config=None):
    """Return an LModule for config (overrides of DEFAULT_L_CONFIG)."""
    return LModule(merge_config(DEFAULT_L_CONFIG, config))
