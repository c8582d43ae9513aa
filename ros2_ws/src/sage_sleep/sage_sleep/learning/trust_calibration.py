# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Sleep fits and checks the trust model of the encoder it trained (sage_perception.trust).

The new encoder's contexts of the recorded (good) episodes: the training episodes fit the
checks' linear maps, the first half of the held-out episodes calibrates their z-scores, and
the second half is run through a TrustMonitor as the robot would run it: every time a source
becomes distrusted there is a false alarm (the data is good by assumption: recorded while the
robot worked). The figures go into the trust model's report and the sleep report.
"""

import numpy as np
from sage_perception import layout
from sage_perception.trust import fit_trust_model, SOURCES, TrustMonitor
from sage_sleep.learning.consolidation import make_batch
import torch

PRESENT_ALL = layout.PRESENT_COLOR | layout.PRESENT_DEPTH | layout.PRESENT_JOINTS


@torch.no_grad()
def episode_contexts(encoder, memory, episodes):
    """
    Return [(contexts (T, 4096), times (T,) s)]: the runs of >= 2 frames with every source.

    An episode's contexts are encoded whole (its history as on the robot); a frame without
    depth (the first one, before depth paired) splits it, so no check sees a masked source.
    """
    by_id = memory.episodes()
    out = []
    for episode in episodes:
        indices = by_id.get(int(episode))
        if indices is None or len(indices) < 2:
            continue
        batch = make_batch(memory, indices[None], encoder.config)
        contexts = encoder.forward_sequence(batch['color'], batch['depth'], batch['joints'],
                                            batch['presence'], batch.get('task'))[0].numpy()
        present = memory.depth_present[indices]
        edges = np.flatnonzero(np.diff(np.concatenate([[0], present.astype(int), [0]])))
        for start, stop in zip(edges[::2], edges[1::2]):
            if stop - start >= 2:
                out.append((contexts[start:stop], memory.stamp_ns[indices[start:stop]] * 1e-9))
    return out


def count_false_alarms(model, episodes, params=None):
    """Run a TrustMonitor over good episodes; return the false-alarm figures."""
    monitor = TrustMonitor(model, params)
    alarms, frames, distrusted_frames, seconds, lowest = 0, 0, 0, 0.0, 1.0
    for contexts, times in episodes:
        monitor.reset()
        monitor.distrusted[:] = False
        for context in contexts:
            before = monitor.distrusted.copy()
            trust = monitor.update(context, PRESENT_ALL)
            alarms += int(np.sum(monitor.distrusted & ~before))
            distrusted_frames += int(monitor.distrusted.any())
            lowest = min(lowest, float(trust.min()))
            frames += 1
        seconds += float(times[-1] - times[0]) + float(np.median(np.diff(times)))
    hours = seconds / 3600.0
    return {'false_alarms': alarms, 'checked_seconds': seconds,
            'false_alarms_per_hour': alarms / hours if hours > 0 else float('nan'),
            'distrusted_frame_fraction': distrusted_frames / frames if frames else 0.0,
            'lowest_trust': lowest, 'sources': ','.join(SOURCES)}


def calibrate_trust(encoder, memory, train_episodes, heldout_episodes, log=print):
    """
    Fit the new encoder's trust model; return (TrustModel, report) or (None, reason dict).

    Needs at least 2 held-out episodes with every source present (one to calibrate, one to
    check).
    """
    train = episode_contexts(encoder, memory, train_episodes)
    heldout = episode_contexts(encoder, memory, heldout_episodes)
    if not train or len(heldout) < 2:
        reason = (f'not enough runs of frames with colour, depth and joints: {len(train)} '
                  f'training, {len(heldout)} held out (need 1 and 2)')
        log(f'trust: no model ({reason})')
        return None, {'skipped': reason}
    half = len(heldout) // 2
    model = fit_trust_model([c for c, _ in train], [c for c, _ in heldout[:half]])
    report = count_false_alarms(model, heldout[half:])
    report.update({'train_episodes': len(train), 'calibration_episodes': half,
                   'check_episodes': len(heldout) - half})
    model.report.update({k: v for k, v in report.items() if not isinstance(v, str)})
    log(f'trust: fitted on {len(train)} episodes, calibrated on {half}; on '
        f'{len(heldout) - half} other good episodes ({report["checked_seconds"]:.0f} s): '
        f'{report["false_alarms"]} false alarms, lowest trust {report["lowest_trust"]:.2f}')
    return model, report
