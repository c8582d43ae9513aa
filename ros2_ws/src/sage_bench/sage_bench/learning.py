# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
r"""
The learning bench: closed-loop success against training wall time, SAGE and plain BC.

Every learning decision is taken with this instrument, not with a training loss. On the same
recorded wake bags, each variant starts from the same initial weights, trains for a wall-clock
budget (each budget a separate run with its own full learning-rate schedule), and is then
evaluated closed loop (`sage_evaluate`'s Evaluator, the nodes' models and controller) on
development seeds: 200000+ by default, never the held-out evaluation seeds (100000+) of
`make demo`. Variants:

    bc                  plain behaviour cloning (sage_sleep.learning.baseline), the bar to beat
    bc_wide             the same with the first plain BC's wider CNN (32, 32, 64)
    sage                the sleep's default recipe (sage_sleep.learning.consolidation)
    sage_action         the same models trained on the action loss alone
    sage_action+<term>  action loss plus one self-supervised term shaping the code: vicreg,
                        predict, recon (reconstruction + action probe), dreams
    sage_effort         the default recipe with joint effort as an encoder input (copycat check)
    sage_no_film        the default recipe without the task modulating the colour keypoint
                        maps (FiLM): the task only in the fusion and the intentions group
    sage_no_history     the default recipe without history: a register of the current frame
                        only, independent frames (sequences of 1)
    sage_window<N>      the default recipe with an H-module window of N contexts, a register
                        of N frames and sequences of 2N - 1 (sage_window4 is the first design)
    <variant>@key=value,...   with ConsolidationConfig fields changed (bc: lr only),
                        e.g. sage_action@lr=0.003

    python -m sage_bench.learning --bags runs/<id>/bags \\
        [--variants bc,sage] [--budgets 60,120,240] [--seeds 200000:200030]
    python -m sage_bench.learning --bags /tmp/two --record 200 --targets red,blue ...

`--targets red,blue` evaluates on the two-colour scene, each seed once per colour with the
task sentence naming it: success on the named target, and how often the arm ended on the
other one. `--record N` first records N teacher episodes into an empty `--bags` directory
(in simulated time, `record_teacher_episodes`; with `--targets`, the two-colour scene and its
task sentences), seeds 0..N-1.

Writes bench/results/learning.json and learning.png (success vs wall time per variant).
As part of `make bench` (`run(out_dir, quick)`), the bags are the newest demo run's, else a
wake period recorded first.
"""

import argparse
import dataclasses
import json
import os
from pathlib import Path
import sys
import tempfile
import time

import numpy as np
from sage_bench import results_dir

DEV_SEEDS = '200000:200030'
ALL_VARIANTS = ('bc', 'bc_wide', 'sage', 'sage_action', 'sage_action+vicreg',
                'sage_action+predict', 'sage_action+recon', 'sage_action+dreams', 'sage_effort',
                'sage_no_history', 'sage_window4')
ACTION_ONLY = {'w_vicreg': 0.0, 'w_predict': 0.0, 'w_recon': 0.0, 'w_probe': 0.0,
               'w_kl': 0.0, 'dreams': False}
TERMS = {  # each at the weight the first recipe gave it, shaping the code
    'vicreg': {'w_vicreg': 0.02},
    'predict': {'w_predict': 0.1},
    'recon': {'w_recon': 0.1, 'w_probe': 0.1, 'selfsup_shapes_code': True},
    'dreams': {'dreams': True, 'selfsup_shapes_code': True},
}


def variant_setup(name):
    """Return (kind, consolidation overrides, encoder overrides, h overrides) of a variant."""
    from sage_sleep.learning.consolidation import ConsolidationConfig

    defaults = {f.name: f.default for f in dataclasses.fields(ConsolidationConfig)}
    if '@' in name:
        base, _, text = name.partition('@')
        kind, overrides, enc, h = variant_setup(base)
        for item in text.split(','):
            key, _, value = item.partition('=')
            if key not in defaults or (kind == 'bc' and key != 'lr'):
                raise ValueError(f'variant {name!r}: cannot set {key!r}')
            kind_of = type(defaults[key] if defaults[key] is not None else 0.0)
            overrides[key] = value in ('1', 'true', 'True') if kind_of is bool \
                else kind_of(value)
        return kind, overrides, enc, h
    if name == 'bc':
        return 'bc', {}, {}, {}
    if name == 'bc_wide':
        return 'bc', {}, {'color_widths': [32, 32, 64]}, {}
    if name == 'sage':
        return 'sage', {}, {}, {}
    if name == 'sage_no_film':
        return 'sage', {}, {'task_film': False}, {}
    if name == 'sage_effort':
        return 'sage', {}, {'effort_scale': 0.01}, {}
    if name == 'sage_no_history':
        return 'sage', {'seq_len': 1, 'batch_size': 96}, {'history_frames': 1}, {}
    if name.startswith('sage_window'):
        window = int(name[len('sage_window'):])
        length = 2 * window - 1
        return 'sage', {'seq_len': length, 'batch_size': max(2, 96 // length)}, \
            {'history_frames': window}, {'window': window}
    if name == 'sage_action':
        return 'sage', dict(ACTION_ONLY), {}, {}
    if name.startswith('sage_action+'):
        term = name.split('+', 1)[1]
        if term not in TERMS:
            raise ValueError(f'unknown term {term!r}; known: {sorted(TERMS)}')
        return 'sage', {**ACTION_ONLY, **TERMS[term]}, {}, {}
    raise ValueError(f'unknown variant {name!r}; known: {ALL_VARIANTS}')


def train_sage(memory, episodes, seconds, seed, work, overrides, encoder_overrides,
               h_overrides, threads):
    """Train SAGE from its initial versions for `seconds`; return (registry dir, stats)."""
    from sage_common.registry import ModelRegistry
    from sage_hl_control.models import publish_initial_h_module, publish_initial_l_module
    from sage_perception.encoder import publish_initial_encoder
    from sage_sleep.learning.consolidation import ConsolidationConfig
    from sage_sleep.learning.trainer import load_models, publish_all, train

    registry = ModelRegistry(work / 'models')
    publish_initial_encoder(registry, seed=seed, **encoder_overrides)
    publish_initial_h_module(registry, seed=seed, **h_overrides)
    publish_initial_l_module(registry, seed=seed)
    models, running = load_models(registry)
    cfg = ConsolidationConfig(steps=None, seconds=seconds, **overrides)
    history = train(models, memory, episodes, cfg, work / 'run', seed,
                    log=lambda m: None, threads=threads)
    new = publish_all(registry, models, running, {'learning_bench': True})
    for name, version in new.items():
        registry.set_active(name, version)
    return registry.root, {'steps': len(history),
                           'frames': int(sum(h['frames'] for h in history)),
                           'train_seconds': history[-1]['seconds'] if history else 0.0,
                           'final_action_l1': history[-1]['action'] if history else None}


def train_plain_bc(memory, episodes, seconds, seed, work, threads, config, training):
    """Train plain BC (config: DEFAULT_BC_CONFIG changes, training: lr) for `seconds`."""
    from sage_common.registry import ModelRegistry
    from sage_sleep.learning.baseline import publish_bc, train_bc

    import torch
    torch.set_num_threads(threads)
    model, losses, stats = train_bc(memory, episodes, seconds=seconds, seed=seed,
                                    overrides=config, **training)
    registry = ModelRegistry(work / 'models')
    publish_bc(registry, model, {'learning_bench': True})
    return registry.root, {**stats, 'final_action_l1': losses[-1] if losses else None}


def run_variant(name, memory, episodes, seconds, seed, seeds, threads, width, height,
                log=print, target_colors=()):
    """Train one variant for one budget and evaluate it; return its result row."""
    from sage_bringup.demo_offline import evaluate_policies

    kind, overrides, enc, h = variant_setup(name)
    with tempfile.TemporaryDirectory(prefix=f'learn-{name}-') as tmp:
        work = Path(tmp)
        start = time.monotonic()
        if kind == 'bc':
            model_dir, stats = train_plain_bc(memory, episodes, seconds, seed, work, threads,
                                              enc, overrides)
        else:
            model_dir, stats = train_sage(memory, episodes, seconds, seed, work, overrides,
                                          enc, h, threads)
        trained = time.monotonic() - start
        summary = evaluate_policies({name: (kind, model_dir, None)}, seeds, duration=2.0,
                                    width=width, height=height,
                                    target_colors=target_colors)[name]['none']
    row = {'variant': name, 'budget_s': seconds, 'seed': seed, **stats,
           'wall_seconds_with_export': trained,
           'frames_per_second': stats['frames'] / max(stats['train_seconds'], 1e-9),
           'success_rate': summary['success_rate'], 'successes': summary['successes'],
           'episodes': summary['episodes'], 'ci95': summary['ci95'],
           'median_final_distance': summary['median_final_distance'],
           'wrong_target_rate': summary['wrong_target_rate']}
    lo, hi = row['ci95']
    log(f'{name:22s} {seconds:5.0f} s  {stats["steps"]:5d} steps  '
        f'{row["frames_per_second"]:6.0f} frames/s  success {row["success_rate"]:4.0%} '
        f'[{lo:.0%}, {hi:.0%}]  median {100 * row["median_final_distance"]:.1f} cm' +
        (f'  wrong target {row["wrong_target_rate"]:.0%}' if target_colors else ''))
    return row


def plot(rows, path):
    """Write success vs training wall time, one line per variant."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in dict.fromkeys(r['variant'] for r in rows):
        mine = sorted((r for r in rows if r['variant'] == name), key=lambda r: r['budget_s'])
        x = [r['train_seconds'] for r in mine]
        y = [100 * r['success_rate'] for r in mine]
        err = np.clip([[100 * (r['success_rate'] - r['ci95'][0]),
                        100 * (r['ci95'][1] - r['success_rate'])] for r in mine], 0, None).T
        ax.errorbar(x, y, yerr=err, marker='o', capsize=3, label=name)
    ax.axhline(90, color='k', lw=0.5, ls='--')
    ax.set_xlabel('training wall time (s, 2 cores)')
    ax.set_ylabel('closed-loop success on development seeds (%)')
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def bench(bags, out_dir, variants, budgets, seeds, seed=0, threads=2, width=64, height=64,
          log=print, target_colors=()):
    """Run every variant at every budget on the same bags; write learning.json + .png."""
    from sage_sleep.learning.evaluate import parse_seeds
    from sage_perception.encoder import encoder_config
    from sage_sleep.learning.experience import ExtractorConfig
    from sage_sleep.learning.sample_cache import default_cache_dir
    from sage_sleep.learning.trainer import load_experience

    start = time.monotonic()
    memory, report = load_experience(bags, ExtractorConfig(), encoder_config(),
                                     ['/teacher/commands', '/arm_controller/commands'],
                                     log=lambda m: None, cache_dir=default_cache_dir(bags))
    if len(memory) == 0:
        raise RuntimeError(f'no usable samples in {bags}')
    episodes = sorted(memory.episodes())
    load_s = time.monotonic() - start
    log(f'{len(memory)} samples, {len(episodes)} episodes from {bags} ({load_s:.0f} s); '
        f'development seeds {seeds}')
    rows = []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {'bags': str(bags), 'samples': len(memory), 'episodes': len(episodes),
              'dev_seeds': seeds, 'threads': threads, 'camera': [width, height],
              'targets': list(target_colors),
              'load_seconds': load_s, 'rows': rows}
    for name in variants:
        for seconds in budgets:
            rows.append(run_variant(name, memory, episodes, seconds, seed,
                                    parse_seeds(seeds), threads, width, height, log,
                                    target_colors))
            (out_dir / 'learning.json').write_text(json.dumps(result, indent=2) + '\n')
    plot(rows, out_dir / 'learning.png')
    return result


def run(out_dir, quick=False):
    """`make bench` entry: the newest demo run's bags (else record some), default variants."""
    from sage_bench.sleep import newest_demo_bags, record_wake
    from sage_common.processes import pick_domain_id

    root = Path(os.environ.get('SAGE_ROOT', '.'))
    bags = newest_demo_bags(root)
    with tempfile.TemporaryDirectory(prefix='learning-bench-') as tmp:
        if bags is None:
            bags = record_wake(Path(tmp), 10 if quick else 100,
                               pick_domain_id('SAGE_BENCH_DOMAIN_ID'))
        if quick:
            return bench(bags, out_dir, ['bc', 'sage'], [20.0], '200000:200005')
        return bench(bags, out_dir, ALL_VARIANTS, [240.0], DEV_SEEDS) | {
            'curves': bench(bags, Path(out_dir) / 'curves', ['bc', 'sage'], [60.0, 120.0],
                            DEV_SEEDS)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].strip())
    parser.add_argument('--bags', type=Path, required=True)
    parser.add_argument('--out', type=Path,
                        default=results_dir())
    parser.add_argument('--variants', default='bc,sage',
                        help=f'comma-separated, from {",".join(ALL_VARIANTS)}')
    parser.add_argument('--budgets', default='60,120,240', help='training seconds, each a run')
    parser.add_argument('--seeds', default=DEV_SEEDS, help='development seeds a:b')
    parser.add_argument('--seed', type=int, default=0, help='initial weights and sampling')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--targets', default='',
                        help='a target per colour, e.g. red,blue (default: one goal)')
    parser.add_argument('--record', type=int, default=0,
                        help='first record this many teacher episodes into --bags (empty)')
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(',') if v]
    for v in variants:
        variant_setup(v)  # unknown names fail before any training
    targets = tuple(c for c in args.targets.split(',') if c)
    if args.record:
        from sage_sleep.recording.sim_clock_bag import record_teacher_episodes

        if args.bags.exists() and any(args.bags.iterdir()):
            parser.error(f'--record needs an empty --bags directory: {args.bags} is not')
        record_teacher_episodes(args.bags, episodes=args.record, duration=2.0, width=64,
                                height=64, target_colors=targets)
    bench(args.bags, args.out, variants, [float(b) for b in args.budgets.split(',')],
          args.seeds, args.seed, args.threads, target_colors=targets)
    return 0


if __name__ == '__main__':
    sys.exit(main())
