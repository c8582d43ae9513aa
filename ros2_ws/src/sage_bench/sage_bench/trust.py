# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
r"""
The trust bench: does SAGE notice a failing sensor, and does trust keep the arm safer.

On a SAGE registry whose encoder carries a trust model (a sleep fitted it; without one, this
bench trains SAGE on the bags for `--budget` seconds and fits one as the sleep does), closed
loop in `sage_evaluate`'s Evaluator (the nodes' models, TrustGate and controller, 64 x 64
camera), on held-out seeds:

* detection: each sim sensor fault (sage_sim.sensor_faults) from each of `--onsets` s of
  the episode (0.3: mid-reach; 0.6: near the goal) to its end; time from onset to the first
  distrusted source or the L-module's stuck encoder hold (`joints`), median and p95, the
  share of episodes where it was detected, and what was blamed. Judged with trust ignored,
  so the policy's inputs are those of a robot without trust;
* false alarms: fault-free episodes; distrust events and stuck encoder holds per hour of
  episode time;
* safety: frozen camera and black image with trust used vs ignored on the same seeds: the
  fingertip's largest distance (m) from where it was at the onset, and the commands faster
  than the slow-start speed (10% of the velocity limit); the paired difference (ignored -
  used) with a bootstrap 95% interval.

    python -m sage_bench.trust [--models DIR | --bags DIR] [--seeds 100000:100050]

Writes bench/results/trust.json.
"""

import argparse
import json
import os
from pathlib import Path
import sys
import tempfile
import time

import numpy as np
from sage_bench import results_dir

HELDOUT_SEEDS = '100000:100040'
DEV_SEEDS = '200000:200030'
FAULTS = {  # kind: severity (the sim's fault parameters)
    'frozen_camera': 0.0, 'color_noise': 0.5, 'black_image': 0.0, 'camera_shift': 0.2,
    'depth_dropout': 0.5, 'stuck_joint': 0.0,
}
SAFETY_FAULTS = ('frozen_camera', 'black_image')


def ensure_trust(model_dir, bags, log=print):
    """Publish the active encoder again with a trust model fitted on the bags, if it has none."""
    from sage_common.registry import ModelRegistry
    from sage_perception.encoder import load_encoder_torch, publish_encoder
    from sage_perception.trust import FILENAME
    from sage_sleep.learning.experience import ExtractorConfig
    from sage_sleep.learning.trainer import load_experience, split_episodes
    from sage_sleep.learning.trust_calibration import calibrate_trust

    registry = ModelRegistry(model_dir)
    mv = registry.load('encoder')
    if FILENAME in mv.manifest['files']:
        return mv.metadata.get('trust', {})
    encoder, config = load_encoder_torch(mv)
    memory, _ = load_experience(bags, ExtractorConfig(), config,
                                ['/teacher/commands', '/arm_controller/commands'],
                                log=lambda m: None)
    train, heldout = split_episodes(memory, 0.2, 0)
    trust, report = calibrate_trust(encoder, memory, train, heldout, log)
    if trust is None:
        raise RuntimeError(f'no trust model: {report["skipped"]}')
    new = publish_encoder(registry, encoder, config, parent=mv.version, activate=True,
                          metadata={**mv.metadata, 'trust_fitted_by': 'sage_bench.trust'},
                          trust=trust)
    log(f'encoder {new.version}: {mv.version} with a trust model')
    return report


def train_registry(bags, work, seconds, log=print):
    """Train SAGE on the bags as the learning bench does; return the registry directory."""
    from sage_bench.learning import train_sage
    from sage_perception.encoder import encoder_config
    from sage_sleep.learning.experience import ExtractorConfig
    from sage_sleep.learning.trainer import load_experience

    memory, _ = load_experience(bags, ExtractorConfig(), encoder_config(),
                                ['/teacher/commands', '/arm_controller/commands'],
                                log=lambda m: None)
    model_dir, stats = train_sage(memory, sorted(memory.episodes()), seconds, 0, work, {}, {},
                                  {}, 2)
    log(f'trained SAGE for {seconds:.0f} s: {stats["steps"]} steps')
    return model_dir


class Excursion:
    """on_step hook: the fingertip's largest distance from its position at the onset."""

    def __init__(self, robot, onset, speed_limit, dt):
        self.robot, self.onset, self.speed_limit, self.dt = robot, onset, speed_limit, dt
        self.start = None
        self.largest = 0.0
        self.fast_commands = 0
        self._prev = None

    def __call__(self, t, positions, target):
        if t < self.onset:
            self._prev = None if target is None else np.asarray(target, float)
            return
        tip = self.robot.effector()
        if self.start is None:
            self.start = tip
        self.largest = max(self.largest, float(np.linalg.norm(tip - self.start)))
        if target is not None:
            target = np.asarray(target, float)
            if self._prev is not None and \
                    np.any(np.abs(target - self._prev) / self.dt > self.speed_limit + 1e-9):
                self.fast_commands += 1
            self._prev = target


def _episode(evaluator, policy, seed, fault=None, onset=0.0, hook=None):
    from sage_sim.sensor_faults import SensorFault, SensorFaults

    faults = None if fault is None else SensorFaults(
        SensorFault(fault, onset, severity=FAULTS[fault]), seed=seed)
    result = evaluator.episode(policy, seed, faults=faults, on_step=hook)
    return result, list(policy.trust_log)


def _stuck_holds(policy):
    """Return the times of the episode's holds for a stuck encoder."""
    return [t for t, reasons in policy.holds if 'encoder_stuck' in reasons]


def detection(evaluator, policy, seeds, onset):
    """Per fault: onset -> first distrusted source or stuck encoder hold, over the seeds."""
    out = {}
    for fault in FAULTS:
        delays, blamed = [], {}
        for seed in seeds:
            _, log = _episode(evaluator, policy, seed, fault, onset)
            start = log[0][0]  # the policy's clock at the episode's first frame
            hits = [(t, '+'.join(s for s, f in zip(('color', 'depth'), flags) if f))
                    for t, _, flags, _ in log if t - start >= onset and flags.any()][:1]
            hits += [(t, 'joints') for t in _stuck_holds(policy) if t - start >= onset][:1]
            if hits:
                t, key = min(hits)
                delays.append(t - start - onset)
                blamed[key] = blamed.get(key, 0) + 1
        out[fault] = {
            'episodes': len(seeds), 'detected': len(delays),
            'delay_median_s': float(np.median(delays)) if delays else None,
            'delay_p95_s': float(np.percentile(delays, 95)) if delays else None,
            'blamed': blamed}
    return out


def false_alarms(evaluator, policy, seeds):
    """Distrust events and stuck encoder holds in fault-free episodes, per hour."""
    events, stuck, frames, seconds = 0, 0, 0, 0.0
    for seed in seeds:
        _, log = _episode(evaluator, policy, seed)
        flags = np.array([f for _, _, f, _ in log])
        events += int(np.sum(flags[1:] & ~flags[:-1]) + np.sum(flags[0]))
        stuck += int(bool(_stuck_holds(policy)))
        frames += len(log)
        seconds += evaluator.runner.duration
    hours = seconds / 3600.0
    return {'episodes': len(seeds), 'frames': frames, 'seconds': seconds, 'events': events,
            'per_hour': events / hours, 'stuck_encoder_episodes': stuck,
            'stuck_encoder_per_hour': stuck / hours}


def _interval(differences, rng, draws=2000):
    d = np.asarray(differences, float)
    means = rng.choice(d, (draws, len(d))).mean(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def safety(evaluator, policies, seeds, onset):
    """Excursion and fast commands under each SAFETY_FAULTS, trust used vs ignored."""
    from sage_hl_control.controller import default_settings

    settings = default_settings()
    speed = float(np.min(settings['max_velocity'])) * float(settings['slow_start_scales'][0])
    rng = np.random.default_rng(0)
    out = {}
    for fault in SAFETY_FAULTS:
        rows = {}
        for name, policy in policies.items():
            rows[name] = []
            for seed in seeds:
                hook = Excursion(evaluator.robot, onset, speed, evaluator.robot.timestep)
                _episode(evaluator, policy, seed, fault, onset, hook)
                rows[name].append((hook.largest, hook.fast_commands))
        used, ignored = np.array(rows['used']), np.array(rows['ignored'])
        out[fault] = {
            'excursion_m_median': {'used': float(np.median(used[:, 0])),
                                   'ignored': float(np.median(ignored[:, 0]))},
            'fast_commands_mean': {'used': float(used[:, 1].mean()),
                                   'ignored': float(ignored[:, 1].mean())},
            'excursion_difference_m': float(np.mean(ignored[:, 0] - used[:, 0])),
            'excursion_difference_ci95': _interval(ignored[:, 0] - used[:, 0], rng),
            'fast_commands_difference_ci95': _interval(ignored[:, 1] - used[:, 1], rng),
        }
    return out


def bench(model_dir, bags, out_dir, seeds, fa_seeds, onsets=(0.3, 0.6), log=print):
    from sage_sleep.learning.evaluate import Evaluator, parse_seeds, SagePolicy

    start = time.monotonic()
    calibration = ensure_trust(model_dir, bags, log)
    evaluator = Evaluator(duration=2.0, width=64, height=64)
    settings = evaluator.controller_settings()
    policies = {'used': SagePolicy(model_dir, settings, use_trust=True),
                'ignored': SagePolicy(model_dir, settings, use_trust=False)}
    seeds, fa_seeds = parse_seeds(seeds), parse_seeds(fa_seeds)
    result = {'models': str(model_dir), 'versions': policies['used'].versions,
              'calibration': calibration, 'seeds': [seeds[0], seeds[-1]],
              'detection': {}, 'safety': {}}
    result['false_alarms'] = false_alarms(evaluator, policies['ignored'], fa_seeds)
    log(f'false alarms: {result["false_alarms"]}')
    for onset in onsets:
        found = result['detection'][f'onset {onset} s'] = detection(
            evaluator, policies['ignored'], seeds, onset)
        for fault, row in found.items():
            log(f'onset {onset} s: {fault:14s} detected {row["detected"]}/{row["episodes"]}  '
                f'median {row["delay_median_s"]}  p95 {row["delay_p95_s"]}  '
                f'blamed {row["blamed"]}')
        safe = result['safety'][f'onset {onset} s'] = safety(evaluator, policies, seeds, onset)
        for fault, row in safe.items():
            log(f'onset {onset} s: {fault}: {row}')
    result['wall_seconds'] = time.monotonic() - start
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / 'trust.json').write_text(json.dumps(result, indent=2, default=float) + '\n')
    return result


def run(out_dir, quick=False):
    """`make bench` entry: the newest demo run's registry and bags, else record and train."""
    from sage_bench.sleep import newest_demo_bags, record_wake
    from sage_common.processes import pick_domain_id

    root = Path(os.environ.get('SAGE_ROOT', '.'))
    bags = newest_demo_bags(root)
    with tempfile.TemporaryDirectory(prefix='trust-bench-') as tmp:
        work = Path(tmp)
        if bags is None:
            bags = record_wake(work, 10 if quick else 100,
                               pick_domain_id('SAGE_BENCH_DOMAIN_ID'))
        model_dir = train_registry(bags, work, 20.0 if quick else 240.0)
        if quick:
            return bench(model_dir, bags, out_dir, '100000:100003', '100000:100003')
        return bench(model_dir, bags, out_dir, HELDOUT_SEEDS, '100000:100300')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].strip())
    parser.add_argument('--models', type=Path, help='registry (default: train one on --bags)')
    parser.add_argument('--bags', type=Path, help='recorded wake bags (training and, for an '
                        'encoder without a trust model, its calibration)')
    parser.add_argument('--budget', type=float, default=240.0, help='training seconds')
    parser.add_argument('--seeds', default=HELDOUT_SEEDS)
    parser.add_argument('--false-alarm-seeds', default='100000:100300')
    parser.add_argument('--onsets', default='0.3,0.6', help='fault onsets (s), comma-separated')
    parser.add_argument('--out', type=Path, default=results_dir())
    args = parser.parse_args(argv)
    if args.models is None and args.bags is None:
        parser.error('give --models (with a trust model) or --bags')
    with tempfile.TemporaryDirectory(prefix='trust-bench-') as tmp:
        model_dir = args.models or train_registry(args.bags, Path(tmp), args.budget)
        bench(model_dir, args.bags, args.out, args.seeds, args.false_alarm_seeds,
              [float(x) for x in args.onsets.split(',')])
    return 0


if __name__ == '__main__':
    sys.exit(main())
