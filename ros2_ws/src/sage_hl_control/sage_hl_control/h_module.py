# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The H-module: refine the 4096-D context with a short window, compress it to 256-D.

The single torch definition used by the node's ONNX export and by the trainer. A context is
16 groups x 256 dims (docs/architecture.md, "The 4K context"). Each group of each window
slot becomes a token; a small transformer refines the current context's 16 tokens attending
to the whole window (padding slots and masked groups are excluded by an additive mask), and
the refined tokens add a residual correction to the current 4096-D context. Compression to
256-D then uses one of four strategies:

    bottleneck    variational: mu/logvar from an MLP; reparameterised in training, mu otherwise
    attention     learned latent queries cross-attending to the 16 refined group tokens
    hierarchical  a different compression rate (output width) per group, concatenated
    hybrid        all three fused by a linear layer (the default)

Heads for training: `decode` (256 -> 4096 reconstruction of the current context) and `probe`
(256 -> actions: what the L-module needs).
"""

import copy
import math

from sage_perception.layout import COMPRESSED_DIM, DIM as CONTEXT_DIM, GROUP_DIM, NUM_GROUPS
import torch
from torch import nn

STRATEGIES = ('bottleneck', 'attention', 'hierarchical', 'hybrid')

# Output widths per group for the hierarchical strategy (sum 256): sensory and task groups
# keep more, masked-by-default groups (audio, tactile) and slow physical groups keep less.
DEFAULT_HIER_DIMS = [24, 24, 20, 8, 8, 32, 16, 16, 12, 24, 16, 8, 12, 16, 8, 12]

DEFAULT_H_CONFIG = {
    # Contexts in the window, the current one last. The recent past already reaches the H-module
    # through the encoder's history register (the historical group); a window of 4 contexts
    # cost the closed loop most of its success at the same training time (learning bench, 240 s
    # on 198 demos: window 4 37%, window 2 17%, window 1 80% on 30 development seeds).
    'window': 1,
    'd_model': 64,            # token width of the refinement transformer
    'num_layers': 2,
    'num_heads': 4,
    'ff_dim': 128,
    'strategy': 'hybrid',
    'bottleneck_hidden': 256,
    'num_latents': 8,         # attention strategy: latents x latent_dim -> 256
    'latent_dim': 32,
    'hier_dims': DEFAULT_HIER_DIMS,
    'decoder_hidden': 512,
    'probe_dim': 2,           # action probe output (e.g. the next joint targets)
    'probe_hidden': 128,
}

MASK_NEG = -1e4  # additive attention mask; finite so a fully masked row cannot make NaN


def merge_config(defaults, overrides):
    """Return defaults updated with overrides, refusing unknown keys."""
    config = copy.deepcopy(defaults)
    for key, value in (overrides or {}).items():
        if key not in config:
            raise ValueError(f'unknown config key {key!r}; known: {sorted(config)}')
        config[key] = value
    return config


def validate_h_config(config):
    """Raise ValueError for an inconsistent H config."""
    if config['strategy'] not in STRATEGIES:
        raise ValueError(f'strategy {config["strategy"]!r} not in {STRATEGIES}')
    if config['window'] < 1:
        raise ValueError('window must be >= 1')
    if config['d_model'] % config['num_heads']:
        raise ValueError('d_model must be divisible by num_heads')
    if config['num_latents'] * config['latent_dim'] != COMPRESSED_DIM:
        raise ValueError(f'num_latents * latent_dim must be {COMPRESSED_DIM}')
    dims = list(config['hier_dims'])
    if len(dims) != NUM_GROUPS or sum(dims) != COMPRESSED_DIM or min(dims) < 1:
        raise ValueError(f'hier_dims must be {NUM_GROUPS} positive ints summing to '
                         f'{COMPRESSED_DIM}, got {dims}')


class Attention(nn.Module):
    """Multi-head attention from plain matmuls (exports to any ONNX opset)."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = 1.0 / math.sqrt(dim // heads)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, queries, keys, bias):
        """Attend queries (B, Q, D) to keys (B, S, D); bias (B, 1, 1, S) is added to logits."""
        b, nq, d = queries.shape
        ns = keys.shape[1]
        hd = d // self.heads
        q = self.q(queries).reshape(b, nq, self.heads, hd).transpose(1, 2)
        kv = self.kv(keys).reshape(b, ns, 2, self.heads, hd).permute(2, 0, 3, 1, 4)
        logits = torch.matmul(q, kv[0].transpose(-1, -2)) * self.scale + bias
        mixed = torch.matmul(torch.softmax(logits, dim=-1), kv[1])
        return self.out(mixed.transpose(1, 2).reshape(b, nq, d))


class RefineLayer(nn.Module):
    """Pre-norm transformer layer: current tokens attend to the window's tokens."""

    def __init__(self, dim, heads, ff_dim):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff_dim), nn.GELU(), nn.Linear(ff_dim, dim))

    def forward(self, current, window, bias):
        current = current + self.attn(self.norm_q(current), self.norm_kv(window), bias)
        return current + self.ff(self.norm_ff(current))


class GroupLinear(nn.Module):
    """A separate linear map per group: (B, ..., G, in) -> (B, ..., G, out)."""

    def __init__(self, groups, in_dim, out_dim, init_scale=1.0):
        super().__init__()
        bound = init_scale / math.sqrt(in_dim)
        self.weight = nn.Parameter(torch.empty(groups, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(groups, out_dim))

    def forward(self, x):
        return torch.einsum('...gi,gio->...go', x, self.weight) + self.bias


class HModule(nn.Module):
    """Window of 4096-D contexts -> refined current context -> 256-D compressed context."""

    def __init__(self, config):
        super().__init__()
        validate_h_config(config)
        self.config = copy.deepcopy(config)
        c = self.config
        d = c['d_model']
        self.strategy = c['strategy']
        self.tokenize = GroupLinear(NUM_GROUPS, GROUP_DIM, d)
        self.group_embed = nn.Parameter(torch.randn(NUM_GROUPS, d) * 0.02)
        self.slot_embed = nn.Parameter(torch.randn(c['window'], d) * 0.02)
        self.layers = nn.ModuleList(
            RefineLayer(d, c['num_heads'], c['ff_dim']) for _ in range(c['num_layers']))
        self.token_norm = nn.LayerNorm(d)
        # Residual correction of the current context, small at initialisation.
        self.detokenize = GroupLinear(NUM_GROUPS, d, GROUP_DIM, init_scale=0.1)
        if self.strategy in ('bottleneck', 'hybrid'):
            hidden = c['bottleneck_hidden']
            self.bn_body = nn.Sequential(nn.LayerNorm(CONTEXT_DIM),
                                         nn.Linear(CONTEXT_DIM, hidden), nn.GELU())
            self.bn_mu = nn.Linear(hidden, COMPRESSED_DIM)
            self.bn_logvar = nn.Linear(hidden, COMPRESSED_DIM)
        if self.strategy in ('attention', 'hybrid'):
            self.latents = nn.Parameter(torch.randn(c['num_latents'], d) * 0.02)
            self.latent_attn = Attention(d, c['num_heads'])
            self.latent_out = nn.Linear(d, c['latent_dim'])
            self.attn_norm = nn.LayerNorm(COMPRESSED_DIM)
        if self.strategy in ('hierarchical', 'hybrid'):
            self.group_norm = nn.LayerNorm(GROUP_DIM)
            self.hier = nn.ModuleList(nn.Linear(GROUP_DIM, n) for n in c['hier_dims'])
            self.hier_norm = nn.LayerNorm(COMPRESSED_DIM)
        if self.strategy == 'hybrid':
            self.fuse = nn.Linear(3 * COMPRESSED_DIM, COMPRESSED_DIM)
            self.fuse_norm = nn.LayerNorm(COMPRESSED_DIM)
        self.decoder = nn.Sequential(
            nn.Linear(COMPRESSED_DIM, c['decoder_hidden']), nn.GELU(),
            nn.Linear(c['decoder_hidden'], CONTEXT_DIM))
        self.probe_head = nn.Sequential(
            nn.Linear(COMPRESSED_DIM, c['probe_hidden']), nn.GELU(),
            nn.Linear(c['probe_hidden'], c['probe_dim']))

    # -- refinement ------------------------------------------------------------------------
    def refine(self, window, valid, group_mask):
        """
        Return (refined context (B, 4096), refined current tokens (B, 16, D)).

        window (B, W, 4096): oldest first, the current context last; valid (B, W) in {0, 1};
        group_mask (B, W, 16) in {0, 1}: groups whose input modality was present.
        """
        b, w, _ = window.shape
        groups = window.reshape(b, w, NUM_GROUPS, GROUP_DIM)
        tokens = self.tokenize(groups) + self.group_embed + self.slot_embed[:, None, :]
        keep = (valid[:, :, None] * group_mask).reshape(b, 1, 1, w * NUM_GROUPS)
        bias = (1.0 - keep) * MASK_NEG
        flat = tokens.reshape(b, w * NUM_GROUPS, -1)
        current = tokens[:, -1]
        for layer in self.layers:
            current = layer(current, flat, bias)
        current = self.token_norm(current)
        present = group_mask[:, -1, :, None]
        refined = groups[:, -1] + self.detokenize(current) * present
        return refined.reshape(b, CONTEXT_DIM), current

    # -- compression -----------------------------------------------------------------------
    def _bottleneck(self, refined):
        h = self.bn_body(refined)
        return self.bn_mu(h), self.bn_logvar(h).clamp(-10.0, 10.0)

    def _attention(self, tokens, present):
        b = tokens.shape[0]
        bias = ((1.0 - present) * MASK_NEG).reshape(b, 1, 1, NUM_GROUPS)
        queries = self.latents.expand(b, -1, -1)
        mixed = self.latent_attn(queries, tokens, bias)
        return self.attn_norm(self.latent_out(mixed).reshape(b, COMPRESSED_DIM))

    def _hierarchical(self, refined):
        groups = self.group_norm(refined.reshape(-1, NUM_GROUPS, GROUP_DIM))
        parts = [head(groups[:, g]) for g, head in enumerate(self.hier)]
        return self.hier_norm(torch.cat(parts, dim=-1))

    def encode(self, window, valid, group_mask, sample=None):
        """
        Return a dict: z (B, 256), mu/logvar (None without a bottleneck), refined (B, 4096).

        sample: draw z with the reparameterisation trick (default: in training mode).
        """
        sample = self.training if sample is None else sample
        refined, tokens = self.refine(window, valid, group_mask)
        mu = logvar = None
        if self.strategy in ('bottleneck', 'hybrid'):
            mu, logvar = self._bottleneck(refined)
            bn = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        if self.strategy == 'bottleneck':
            z = bn
        elif self.strategy == 'attention':
            z = self._attention(tokens, group_mask[:, -1])
        elif self.strategy == 'hierarchical':
            z = self._hierarchical(refined)
        else:
            att = self._attention(tokens, group_mask[:, -1])
            hier = self._hierarchical(refined)
            z = self.fuse_norm(self.fuse(torch.cat([bn, att, hier], dim=-1)))
        return {'z': z, 'mu': mu, 'logvar': logvar, 'refined': refined}

    def forward(self, window, valid, group_mask):
        """Inference: the 256-D compressed context (what the ONNX graph computes)."""
        return self.encode(window, valid, group_mask, sample=False)['z']

    # -- training heads --------------------------------------------------------------------
    def decode(self, z):
        """Reconstruct the current 4096-D context from z (training only)."""
        return self.decoder(z)

    def probe(self, z):
        """Predict the action probe target from z (training only)."""
        return self.probe_head(z)

    @staticmethod
    def kl(mu, logvar):
        """Return the mean KL divergence of N(mu, exp(logvar)) from N(0, 1)."""
        return -0.5 * torch.mean(torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1))


def build_h_module(config=None):
    """Return an HModule for config (overrides of DEFAULT_H_CONFIG)."""
    return HModule(merge_config(DEFAULT_H_CONFIG, config))
