# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Consolidation objectives in torch.

VICReg (Bardes et al., 2022): invariance between two augmented views of the same moment, plus
an explicit anti-collapse term — each dimension's std kept above a margin (variance) and the
dimensions decorrelated (covariance) — so the invariance cannot be met by a constant code.
"""

import torch
import torch.nn.functional as F


def variance_loss(z, margin=1.0, eps=1e-4):
    """Hinge on the per-dimension std of a batch of codes (B, D)."""
    std = torch.sqrt(z.var(dim=0) + eps)
    return F.relu(margin - std).mean()


def covariance_loss(z):
    """Sum of squared off-diagonal covariances of a batch of codes, divided by D."""
    n, d = z.shape
    z = z - z.mean(dim=0)
    cov = (z.T @ z) / max(1, n - 1)
    off_diagonal = cov - torch.diag(torch.diagonal(cov))
    return off_diagonal.pow(2).sum() / d


def vicreg_loss(z_a, z_b, sim_weight=25.0, var_weight=25.0, cov_weight=1.0):
    """Return (total, parts) of the VICReg loss between two views (B, D) each."""
    invariance = F.mse_loss(z_a, z_b)
    variance = variance_loss(z_a) + variance_loss(z_b)
    covariance = covariance_loss(z_a) + covariance_loss(z_b)
    total = sim_weight * invariance + var_weight * variance + cov_weight * covariance
    return total, {'invariance': invariance.detach(), 'variance': variance.detach(),
                   'covariance': covariance.detach()}


def kl_standard_normal(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, 1)), averaged over the batch, summed over dims."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=-1)).mean()
