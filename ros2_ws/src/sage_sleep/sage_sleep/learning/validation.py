# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Validation of a sleep result on held-out episodes, and the deployment decision.

Figures (all on episodes the training never saw):

- action error: L1 between the L-module's chunk and the teacher's, over held-out sequences,
  and `early_action_l1` on the first frames of each episode — most frames show the arm parked
  on the goal, so the overall error alone flatters a policy;
- compression quality against PCA-256 fit on the training contexts: reconstruction R² of
  the 4K context and R² of a linear probe from the code to the teacher's chunk;
- dream AUROC per modification: does the coherence score rank real above dreamed?
- collapse monitors of the 256-D code and the 4K context: per-dimension std, effective rank;
- where a simulator is available, closed-loop success on development seeds, new and running
  versions on the same seeds (`closed_loop`): held-out action error once picked the worse of
  two models, closed-loop success is what predicts the robot.
"""

import math

import numpy as np
from sage_perception.layout import COMPRESSED_DIM
from sage_sleep.learning.consolidation import dream_batch, make_batch
from sage_sleep.learning.dreams import MODIFICATIONS
from sage_sleep.learning.metrics import (auroc, collapse_monitors, is_collapsed, pca_baseline,
                                         probe_r2, r2_score)
import torch

MIN_DREAM_AUROC = 0.6      # below: the model is flagged as unable to tell dreams from real
DREAM_REGRESSION = 0.05    # a new version may not lose more mean AUROC than this


def _starts(memory, length, episodes, limit, seed, episode_start=False):
    starts = memory.sequence_starts(length)
    order = memory._order()
    eps = memory.episode[order]
    keep = np.isin(eps[starts], list(episodes))
    if episode_start:
        first = np.concatenate([[True], eps[1:] != eps[:-1]])
        keep &= first[starts]
    starts = starts[keep]
    if len(starts) > limit:
        starts = np.sort(np.random.default_rng(seed).choice(starts, limit, replace=False))
    return order[starts[:, None] + np.arange(length)[None, :]] if len(starts) else None


@torch.no_grad()
def _last_frame(models, batch):
    out = models(batch)
    return out['contexts'][:, -1], out['z'][:, -1], out['chunk'][:, -1]


def _batched(models, memory, indices, size=64):
    out = {'context': [], 'z': [], 'chunk': [], 'target': []}
    for i in range(0, len(indices), size):
        batch = make_batch(memory, indices[i:i + size], models.encoder.config)
        context, z, chunk = _last_frame(models, batch)
        out['context'].append(context.numpy())
        out['z'].append(z.numpy())
        out['chunk'].append(chunk.numpy())
        out['target'].append(batch['action'][:, -1].numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


@torch.no_grad()
def validate(models, memory, train_episodes, heldout_episodes, seq_len, seed, limit=256):
    """Return the validation figures (a flat-ish dict of floats) of a SleepModels."""
    models.eval()
    val_idx = _starts(memory, seq_len, heldout_episodes, limit, seed)
    train_idx = _starts(memory, seq_len, train_episodes, 2 * limit, seed)
    if val_idx is None or train_idx is None:
        raise ValueError('not enough held-out or training sequences to validate')
    val = _batched(models, memory, val_idx)
    train = _batched(models, memory, train_idx)
    early_idx = _starts(memory, seq_len, heldout_episodes, limit, seed, episode_start=True)
    early = _batched(models, memory, early_idx) if early_idx is not None else None

    n = len(val['target'])
    flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
    pca = pca_baseline(train['context'], flat(train['target']), val['context'],
                       flat(val['target']), dims=COMPRESSED_DIM)
    recon = models.h_module.decode(torch.from_numpy(val['z'])).numpy()
    report = {
        'heldout_sequences': int(n),
        'action_l1': float(np.abs(val['chunk'] - val['target']).mean()),
        'early_action_l1': (float(np.abs(early['chunk'] - early['target']).mean())
                            if early else None),
        'pca_components': pca['components'],
        'pca_recon_r2': pca['reconstruction_r2'],
        'pca_action_probe_r2': pca['action_probe_r2'],
        'h_recon_r2': r2_score(val['context'], recon),
        'h_action_probe_r2': probe_r2(train['z'], flat(train['target']), val['z'],
                                      flat(val['target'])),
        'z_collapse': collapse_monitors(val['z']),
        'context_collapse': collapse_monitors(val['context']),
    }
    report['z_effective_rank'] = report['z_collapse']['effective_rank']
    report['z_dead_dims'] = report['z_collapse']['dead_dims']

    # Dreams: score real held-out sequences against each modification of them.
    aurocs = {}
    generator = torch.Generator().manual_seed(seed)
    for modification in MODIFICATIONS:
        real, fake = [], []
        for i in range(0, len(val_idx), 64):
            batch = make_batch(memory, val_idx[i:i + 64], models.encoder.config)
            if batch['color'].shape[0] < 2:
                continue
            dreamed = dream_batch(batch, modification, generator, models.encoder.config)
            real.append(models.coherence(batch).numpy())
            fake.append(models.coherence(dreamed).numpy())
        aurocs[modification] = auroc(np.concatenate(real), np.concatenate(fake)) if real \
            else float('nan')
    report['dream_auroc'] = aurocs
    report['dream_auroc_mean'] = float(np.nanmean(list(aurocs.values())))
    return report


def closed_loop(model_dir, versions, seeds, width, height, duration=2.0, target_colors=()):
    """
    Return the closed-loop summary of SAGE `versions` of a registry on seeded episodes.

    target_colors: a scene of a target per colour, each seed once per named target.
    """
    from sage_sleep.learning.evaluate import Evaluator, make_policy

    evaluator = Evaluator(duration=duration, width=width, height=height,
                          target_colors=target_colors)
    return evaluator.evaluate(make_policy('sage', evaluator, model_dir, versions), seeds)


def paired_worse_p(new_results, running_results):
    """
    One-sided exact sign test on the episodes where exactly one version succeeded.

    An episode is a seed and, in a scene of several targets, the target named.

    Returns the probability of seeing at least as many running-only successes as observed if
    both versions were equally good: small means the new version is really worse, not just
    unlucky on a few seeds.
    """
    def key(r):
        return r['seed'], r.get('target', '')

    new = {key(r): r['success'] for r in new_results}
    running_only = sum(1 for r in running_results if r['success'] and not new[key(r)])
    new_only = sum(1 for r in running_results if new[key(r)] and not r['success'])
    n = running_only + new_only
    return sum(math.comb(n, k) for k in range(running_only, n + 1)) / 2 ** n if n else 1.0


def compare_closed_loop(new, running, floor, alpha=0.05):
    """
    Return None when the closed-loop results allow deployment, else the reason to hold.

    Hold below the absolute `floor` success rate, or when the new version is worse than the
    running one on the same seeds beyond chance (paired sign test at `alpha`).
    """
    if new['success_rate'] < floor:
        return (f'closed-loop success {new["success_rate"]:.0%} on {new["episodes"]} '
                f'development seeds is below the floor {floor:.0%}')
    p = paired_worse_p(new['results'], running['results'])
    if p < alpha:
        return (f'closed-loop success {new["success_rate"]:.0%} is worse than the running '
                f'{running["success_rate"]:.0%} on the same seeds (sign test p = {p:.3f})')
    return None


def compare_to_running(new, running, history, require_dreams, tolerance=0.05, floor=0.5):
    """
    Return (decision, reason): 'deploy', 'hold' (published, not activated) or 'rejected'.

    Rejected: training diverged or the code collapsed. Hold: when both reports hold a
    `closed_loop` summary, by compare_closed_loop (below `floor`, or worse than the running
    version beyond chance), and then held-out action error does not gate; without one, worse
    than the running version on held-out action error (beyond `tolerance`, relative). And,
    when dreams were trained, worse than the running version at telling real from dreamed
    sequences (mean AUROC down by more than DREAM_REGRESSION). A version below
    MIN_DREAM_AUROC is flagged in the reason (and the report) either way.
    """
    if not history:
        return 'rejected', 'trained on nothing'
    if not all(np.isfinite(h['total']) for h in history):
        return 'rejected', 'diverged (non-finite loss)'
    if not np.isfinite(new['action_l1']):
        return 'rejected', 'non-finite validation error'
    if is_collapsed(new['z_collapse']):
        return 'rejected', (f'collapsed code (effective rank {new["z_effective_rank"]:.1f}, '
                            f'{new["z_dead_dims"]} dead dims)')
    loop_new, loop_running = new.get('closed_loop'), running.get('closed_loop')
    if loop_new and loop_running:
        why = compare_closed_loop(loop_new, loop_running, floor)
        if why:
            return 'hold', why
        evidence = (f'closed-loop success {loop_new["success_rate"]:.0%} vs running '
                    f'{loop_running["success_rate"]:.0%} on {loop_new["episodes"]} development '
                    f'seeds')
    else:
        limit = running['action_l1'] * (1.0 + tolerance)
        if new['action_l1'] > limit:
            return 'hold', (f'held-out action error {new["action_l1"]:.4f} is worse than the '
                            f'running {running["action_l1"]:.4f}')
        evidence = (f'held-out action error {new["action_l1"]:.4f} vs running '
                    f'{running["action_l1"]:.4f}')
    flag = ''
    if require_dreams and not new['dream_auroc_mean'] >= MIN_DREAM_AUROC:
        flag = (f'; FLAGGED: cannot (yet) tell real from dreamed sequences (mean AUROC '
                f'{new["dream_auroc_mean"]:.2f} < {MIN_DREAM_AUROC})')
    if require_dreams and not (new['dream_auroc_mean'] >=
                               running['dream_auroc_mean'] - DREAM_REGRESSION):
        return 'hold', (f'dream AUROC fell from {running["dream_auroc_mean"]:.2f} to '
                        f'{new["dream_auroc_mean"]:.2f}{flag}')
    return 'deploy', f'{evidence}; dream AUROC {new["dream_auroc_mean"]:.2f}{flag}'
