# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Benchmark of sleep: data pipeline throughput, consolidation speed, one full sleep.

Writes bench/results/sleep.json with, on the same wake bags in the same run:

- raw rosbags read rate (MB/s of recorded message bytes, no decoding): the ceiling;
- bag -> training tensors (decode, align, preprocess into the experience memory), MB/s of
  the same bytes; goal: at least 50% of the raw rate;
- consolidation samples/s (frames through encoder + H + L per second of training, 2 cores);
- wall time of one full sleep (`sage_train` with the demo's budget) on that wake data.

The wake data is the newest `make demo` run's bags (runs/*/bags) when there is one, else a
wake period recorded here first (sim + teacher + sleep manager over ROS, 40 episodes; 10 with
quick), or the bags given with --bags. --pipeline-only measures the two read rates alone.

    python -m sage_bench.sleep [--quick] [--out bench/results] [--domain-id N] [--bags DIR]
                               [--pipeline-only]
"""

import argparse
import json
import os
from pathlib import Path
import shutil
import sys
import tempfile
import time

import numpy as np
from sage_bench import results_dir


def newest_demo_bags(root):
    """Return the bags directory of the newest demo run that has any, else None."""
    runs = sorted(Path(root).glob('runs/*/bags/wake-*'), key=lambda p: p.stat().st_mtime)
    return runs[-1].parent if runs else None


def record_wake(work, episodes, domain_id):
    """Record `episodes` teacher-driven episodes with the demo's phases; return bags dir."""
    from sage_bringup.demo_config import CycleConfig, DemoConfig
    from sage_bringup.demo_phases import record_wake as record

    config = DemoConfig(run_root=str(work / 'runs'), report_root=str(work / 'reports'),
                        cycles=(CycleConfig(episodes, 0),))
    return record(config, domain_id)


def raw_read(bags):
    """
    Return (messages, payload bytes, seconds) reading every message of the wake periods.

    The payloads are not deserialised: the raw rosbags read rate is the ceiling the
    benchmarks of bag -> tensors and of dataset export compare against.
    """
    from rosbags.rosbag2 import Reader
    from sage_sleep.recording.bag_reader import list_wake_periods

    messages = payload = 0
    start = time.perf_counter()
    for period in list_wake_periods(bags):
        for segment in period.segments:
            with Reader(segment.path) as reader:
                for _, _, raw in reader.messages():
                    messages += 1
                    payload += len(raw)
    return messages, payload, time.perf_counter() - start


def pipeline_rates(bags):
    """Return the raw read and bag -> tensors figures of bags, measured back to back."""
    from sage_perception.encoder import encoder_config
    from sage_sleep.learning import trainer
    from sage_sleep.learning.experience import ExtractorConfig

    _, raw_bytes, raw_s = raw_read(bags)
    start = time.perf_counter()
    memory, data = trainer.load_experience(
        bags, ExtractorConfig(), encoder_config(),
        ['/teacher/commands', '/arm_controller/commands'], log=lambda m: None)
    pipeline_s = time.perf_counter() - start
    raw_rate = raw_bytes / raw_s / 1e6
    pipeline_rate = raw_bytes / pipeline_s / 1e6
    figures = {'samples': len(memory), 'recorded_mb': round(raw_bytes / 1e6, 1),
               'raw_rosbags_read_mb_s': round(raw_rate, 1),
               'bag_to_tensors_mb_s': round(pipeline_rate, 1),
               'pipeline_fraction_of_raw': round(pipeline_rate / raw_rate, 3),
               'goal_fraction': 0.5, 'load_average_1min': round(os.getloadavg()[0], 2),
               'cpu_count': os.cpu_count()}
    return memory, data, figures


def run(out_dir, quick=False, domain_id=None, bags=None, pipeline_only=False):
    from sage_common.processes import pick_domain_id
    from sage_common.registry import ModelRegistry
    from sage_sleep.learning import trainer
    from sage_sleep.learning.consolidation import (ConsolidationConfig, consolidation_losses,
                                                   make_batch)
    from sage_sleep.models_cli import init_models
    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    root = Path(os.environ.get('SAGE_ROOT', '.'))
    work = Path(tempfile.mkdtemp(prefix='sage-bench-sleep-'))
    try:
        source = f'given bags {bags}'
        if bags is None:
            bags = newest_demo_bags(root)
            source = f'demo bags {bags}'
        if bags is None:
            episodes = 10 if quick else 40
            bags = record_wake(work, episodes,
                               domain_id or pick_domain_id('SAGE_BENCH_DOMAIN_ID'))
            source = f'recorded here: {episodes} teacher episodes'
        print(f'wake data: {source}', flush=True)
        memory, data, figures = pipeline_rates(bags)
        result = {'wake_data': source, **figures, 'quick': quick, 'periods': data['periods']}
        fraction = 100 * result['pipeline_fraction_of_raw']
        print(f'raw rosbags read {result["raw_rosbags_read_mb_s"]} MB/s, bag -> tensors '
              f'{result["bag_to_tensors_mb_s"]} MB/s ({fraction:.0f}% of raw; goal 50%) over '
              f'{result["recorded_mb"]} MB, {result["samples"]} samples;'
              f' load average {result["load_average_1min"]} on {result["cpu_count"]} cores',
              flush=True)
        if pipeline_only:
            (out_dir / 'sleep.json').write_text(json.dumps(result, indent=2) + '\n')
            return result

        registry = ModelRegistry(work / 'models')
        init_models(registry, seed=0, log=lambda m: None)
        models, _ = trainer.load_models(registry)
        torch.set_num_threads(1)
        cfg = ConsolidationConfig()
        train_eps, _ = trainer.split_episodes(memory, 0.2, 0)
        starts = trainer.starts_in(memory, cfg.seq_len, train_eps)
        rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
        step_times = []
        for step in range(5 if quick else 20):
            t0 = time.perf_counter()
            batch = make_batch(memory, memory.sample_sequences(cfg.batch_size, cfg.seq_len,
                                                               rng, starts=starts),
                               models.encoder.config)
            loss, _ = consolidation_losses(models, batch, cfg, gen, step)
            loss.backward()
            step_times.append(time.perf_counter() - t0)
        step_s = float(np.median(step_times[1:]))

        steps = 30 if quick else cfg.steps
        start = time.perf_counter()
        args = trainer.build_parser().parse_args(
            ['--bags', str(bags), '--models', str(registry.root), '--run-dir',
             str(work / 'sleep'), '--steps', str(steps), '--threads', '1'])
        report = trainer.run_sleep(args, log=lambda m: None)
        sleep_s = time.perf_counter() - start
        result.update({
            'consolidation_step_s_median': round(step_s, 3),
            'consolidation_samples_per_s': round(cfg.batch_size * cfg.seq_len / step_s, 1),
            'sleep_steps': steps, 'sleep_wall_s': round(sleep_s, 1),
            'sleep_decision': report['decision'],
        })
    finally:
        shutil.rmtree(work, ignore_errors=True)
    (out_dir / 'sleep.json').write_text(json.dumps(result, indent=2) + '\n')
    print(f'consolidation {result["consolidation_samples_per_s"]} samples/s; one sleep of '
          f'{steps} steps: {result["sleep_wall_s"]} s')
    return result


def main(argv=None):
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog='sage_bench.sleep',
                                     description=__doc__.strip().splitlines()[0])
    parser.add_argument('--quick', action='store_true',
                        help='fewer episodes and steps (smoke check)')
    parser.add_argument('--out', default=str(results_dir()))
    parser.add_argument('--domain-id', type=int, default=None,
                        help='ROS_DOMAIN_ID when wake data must be recorded first')
    parser.add_argument('--bags', default=None,
                        help='bag root of wake periods to measure (default: the newest demo '
                             "run's, else recorded here)")
    parser.add_argument('--pipeline-only', action='store_true',
                        help='only the raw read and bag -> tensors rates (no training)')
    args = parser.parse_args(argv)
    run(args.out, quick=args.quick, domain_id=args.domain_id, bags=args.bags,
        pipeline_only=args.pipeline_only)
    return 0


if __name__ == '__main__':
    sys.exit(main())
