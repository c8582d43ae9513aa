# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
`sage_train`: one sleep — consolidate and dream on recorded wake periods, validate, deploy.

    sage_train --bags bags/ --models models/ [--runs-root runs/ | --run-dir DIR]
        [--steps 300] [--no-dreams] [--no-deploy] [--seed 0]
    torchrun --nproc-per-node 2 -m sage_sleep.learning.trainer ...      (PyTorch DDP; gloo on CPU)

It continues training from the newest versions of encoder, H-module and L-module (deployed or
held), holds out whole episodes for validation, and publishes new versions (ONNX + weights +
manifests) with a validation report. The new versions become active only when they are no
worse than the running ones on the held-out episodes, did not diverge or collapse, and tell
real from dreamed sequences; otherwise they stay in the registry, unused, and the report says
why. Each sleep works in its own run directory (`<runs-root>/sleep-NNN`); a sleep that was
killed before its report was written is resumed from its last checkpoint by the next run.
Progress goes to the terminal (tqdm), to TensorBoard (<run-dir>/tensorboard) and, for the
sleep manager, as `SAGE_PROGRESS <phase> <fraction>` lines.
"""

import argparse
import concurrent.futures
import dataclasses
import io
import json
import multiprocessing
import os
from pathlib import Path
import sys
import time

import numpy as np
from sage_common import cdr
from sage_common.registry import default_model_dir, ModelRegistry, tensor_spec
from sage_common.task_text import check_task_text, task_tokens
from sage_hl_control.models import (load_h_module_torch, load_l_module_torch, publish_h_module,
                                    publish_l_module)
from sage_perception.decode import (decode_color, decode_depth, image_from_cdr,
                                    joint_state_from_cdr)
from sage_perception.encoder import (color_frames, depth_frames, load_encoder_torch,
                                     publish_encoder)
from sage_sleep.learning.budget import adamw, TrainingBudget
from sage_sleep.learning.consolidation import (consolidation_losses, ConsolidationConfig,
                                               make_batch, SleepModels)
from sage_sleep.learning.experience import ExperienceMemory, ExtractorConfig
from sage_sleep.learning.sample_cache import decode_period, default_cache_dir, SampleCache
from sage_sleep.learning.trust_calibration import calibrate_trust
from sage_sleep.learning.validation import closed_loop, compare_to_running, validate
from sage_sleep.models_cli import MODEL_NAMES
from sage_sleep.recording.bag_reader import list_wake_periods
import torch

EPISODE_STRIDE = 1_000_000  # episode ids are made unique across wake periods
COHERENCE = 'coherence'


class SleepError(Exception):
    """Sleep cannot produce a model (no data, diverged): the message says why."""


def progress(phase, fraction):
    """Print a progress line the sleep manager relays into its status."""
    print(f'SAGE_PROGRESS {phase} {fraction:.3f}', flush=True)


# -- data -----------------------------------------------------------------------------------
CDR_DECODERS = {  # message types read at their CDR offsets instead of by rosbags
    'sensor_msgs/msg/Image': image_from_cdr,
    'sensor_msgs/msg/JointState': joint_state_from_cdr,
    'std_msgs/msg/Float64MultiArray': cdr.float64_multi_array,
}


def image_decoders(encoder_config):
    """Return (decode_color, decode_depth) producing stored encoder inputs from messages."""
    def color(msg):
        return color_frames(decode_color(msg)[None], encoder_config)[0]

    def depth(msg):
        return depth_frames(decode_depth(msg)[None], encoder_config)[0]

    return color, depth


def task_encoder(encoder_config):
    """
    Return encode_task(text or None) -> the encoder's task input (SampleExtractor's).

    A recorded text that cannot be a task raises TaskTextError (a ValueError), as the context
    node refuses it; an encoder without a task input gets empty inputs.
    """
    buckets = int(encoder_config['task_buckets'])

    def encode(text):
        return task_tokens(None if text is None else check_task_text(text), buckets)

    return encode


def batched_decoding(encoder_config):
    """
    Return (decode_color, decode_depth, finish, decoders) of the fast path of bags -> samples.

    Images, joint states and commands are read straight from their CDR bytes (CDR_DECODERS:
    header offsets, numpy views; a malformed Image, one whose data is not its declared
    height*step, is skipped and named, never decoded into garbage); the decode functions
    return full-size frames (views of the bag's buffer where the layout allows) and
    finish(samples) resizes the frames of a batch of samples into the stored encoder inputs,
    one vectorised call per frame size: the same inputs as image_decoders gives frame by frame.
    """
    size = int(encoder_config['image_size'])

    def finish(samples):
        for field, frames in (('color', color_frames), ('depth', depth_frames)):
            groups = {}
            for i, sample in enumerate(samples):
                if field == 'color' or sample.depth_present:
                    groups.setdefault(getattr(sample, field).shape, []).append(i)
            for indices in groups.values():
                done = frames([getattr(samples[i], field) for i in indices], encoder_config)
                for i, value in zip(indices, done):
                    setattr(samples[i], field, value)
        for sample in samples:
            if not sample.depth_present:
                sample.depth = np.zeros((1, size, size), np.float32)

    return decode_color, decode_depth, finish, CDR_DECODERS


# Below this many bytes of bags, worker processes cost more than they save: forking the
# trainer and sending the decoded arrays back took ~0.4 s of CPU for 78 MB of 64x64 bags on
# the 2-core machine, as much as decoding them (the output is as large as the input when the
# camera already has the encoder's size).
PARALLEL_MIN_BYTES = 256 << 20


def decode_workers(periods, workers=None, min_bytes=PARALLEL_MIN_BYTES):
    """
    Return how many processes decode `periods` (one period per process at a time).

    Unless told: min(periods, cores) when the periods' bags hold at least min_bytes, else 1.
    """
    if workers is None:
        size = sum(f.stat().st_size for period in periods for segment in period.segments
                   for f in segment.path.iterdir() if f.is_file())
        workers = min(len(periods), os.cpu_count() or 1) if size >= min_bytes else 1
    return max(1, min(int(workers), len(periods)))


COLUMN_CHUNK = 1024  # samples stacked at a time (a decoded period is never held twice)


def _columns(samples):
    """Return the samples stacked as ExperienceMemory.extend_columns takes them."""
    columns = {f: np.stack([getattr(s, f) for s in samples]) for f in ExperienceMemory.FIELDS}
    columns['stamp_ns'] = np.array([s.stamp_ns for s in samples], np.int64)
    columns['episode'] = np.array([s.episode for s in samples], np.int64)
    columns['depth_present'] = np.array([s.depth_present for s in samples], bool)
    return columns


def _load_period(period, config, encoder_config, cache_dir):
    """
    Decode (or read from the cache) one wake period; return it as column chunks, with the log.

    Runs in a worker process when there are several periods: what it returns is a few
    stacked arrays (cheap to send back), not one object per sample.
    """
    lines = []
    decoding = batched_decoding(encoder_config)
    encode_task = task_encoder(encoder_config)
    if cache_dir is None:
        extracted = decode_period(period, config, *decoding, encode_task=encode_task)
    else:
        cache = SampleCache(cache_dir, encoder_config, log=lines.append)
        extracted = cache.get(period, config, *decoding, encode_task=encode_task)
    chunks, pending = [], []
    for sample in extracted.samples:
        pending.append(sample)
        if len(pending) == COLUMN_CHUNK:
            chunks.append(_columns(pending))
            pending = []
    if pending:
        chunks.append(_columns(pending))
    return chunks, dict(extracted.skipped), list(extracted.problems), lines


def load_experience(bag_root, extractor_config, encoder_config, teacher_topics,
                    capacity=100_000, log=print, cache_dir=None, workers=None):
    """
    Stream every wake period under bag_root into an ExperienceMemory.

    The action to imitate in a period is the first of teacher_topics recorded there: the
    teacher's labels (`/teacher/commands`) when SAGE drove, else the commands the teacher
    drove with. Returns (memory, report): report lists the periods, samples and skips per
    period, and the problems of bags that were skipped. With a cache_dir, closed periods are
    decoded once and read back from a SampleCache there (the same memory and report).
    Several periods are decoded by `workers` processes (default: decode_workers, min(periods,
    cores) for bags of PARALLEL_MIN_BYTES or more); the memory holds them in the same order
    either way.
    """
    memory = ExperienceMemory(capacity)
    report = {'periods': [], 'problems': []}
    periods = list_wake_periods(bag_root, log=lambda m: report['problems'].append(m))
    if cache_dir is not None:
        SampleCache(cache_dir, encoder_config, log=log).prune(bag_root)
    jobs = []
    for period in periods:
        counts = period.message_counts
        action_topic = next((t for t in teacher_topics if counts.get(t)), teacher_topics[-1])
        jobs.append((period, dataclasses.replace(extractor_config, action_topic=action_topic)))
    workers = decode_workers(periods, workers)
    if workers > 1:
        # fork: the workers start at once and need nothing pickled but the periods; they
        # use no torch (decoding is numpy and OpenCV).
        with concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context('fork')) as pool:
            results = list(pool.map(_load_period, *zip(*jobs), [encoder_config] * len(jobs),
                                    [cache_dir] * len(jobs)))
    else:
        results = (_load_period(p, c, encoder_config, cache_dir) for p, c in jobs)
    for index, ((period, config), result) in enumerate(zip(jobs, results)):
        chunks, skipped, problems, lines = result
        for line in lines:
            log(line)
        added = 0
        for columns in chunks:
            columns['episode'] += (index + 1) * EPISODE_STRIDE
            added += memory.extend_columns(columns)
        report['problems'] += period.problems + problems
        report['periods'].append({'id': period.id, 'segments': len(period.segments),
                                  'action_topic': config.action_topic, 'samples': added,
                                  'skipped': skipped})
        log(f'wake period {period.id}: {len(period.segments)} segments, {added} samples '
            f'imitating {config.action_topic}' + (f', skipped {skipped}' if skipped else ''))
    for problem in report['problems']:
        log(f'skipped: {problem}')
    return memory, report


def split_episodes(memory, holdout_fraction, seed):
    """Return (train episode ids, held-out episode ids), whole episodes, deterministic."""
    episodes = sorted(memory.episodes())
    rng = np.random.default_rng(seed)
    shuffled = list(rng.permutation(episodes))
    n_val = max(1, int(round(len(episodes) * holdout_fraction))) if len(episodes) > 1 else 0
    return sorted(shuffled[n_val:]), sorted(shuffled[:n_val])


def starts_in(memory, length, episodes):
    """Return sequence starts of `length` that lie inside the given episodes."""
    starts = memory.sequence_starts(length)
    order = memory._order()
    keep = np.isin(memory.episode[order[starts]], list(episodes))
    return starts[keep]


# -- models ---------------------------------------------------------------------------------
def newest_versions(registry):
    """
    Return {name: version} of the newest published set of models, or {} for the active ones.

    A sleep continues from the newest versions, deployed or held: a version held because it
    was not yet good enough keeps its training instead of the next sleep starting over from
    the running one (which is still what it is compared with). A set is the versions one sleep
    published together; if the newest versions are not one set, the active ones are used.
    """
    names = [n for n in MODEL_NAMES + (COHERENCE,) if registry.versions(n)]
    newest = {n: registry.versions(n)[-1] for n in names}
    runs = {registry.load(n, v, verify=False).metadata.get('sleep_run')
            for n, v in newest.items()}
    return newest if len(runs) == 1 else {}


def load_models(registry, versions=None):
    """Return (SleepModels, {name: version}) of the given versions (default: the active)."""
    versions = versions or {}
    enc_mv = registry.load('encoder', versions.get('encoder'))
    encoder, _ = load_encoder_torch(enc_mv)
    h_mv = registry.load('h_module', versions.get('h_module'))
    l_mv = registry.load('l_module', versions.get('l_module'))
    loaded = {'encoder': enc_mv.version, 'h_module': h_mv.version, 'l_module': l_mv.version}
    models = SleepModels(encoder, load_h_module_torch(h_mv), load_l_module_torch(l_mv))
    if registry.versions(COHERENCE):
        mv = registry.load(COHERENCE, versions.get(COHERENCE))
        state = torch.load(mv.path('weights.pt'), map_location='cpu', weights_only=True)
        try:
            models.scorer.load_state_dict(state)
            loaded[COHERENCE] = mv.version
        except RuntimeError as exc:  # a scorer of another architecture: learn a new one
            print(f'coherence scorer {mv.version} does not fit this code ({exc}); '
                  f'starting a new one', file=sys.stderr)
    return models, loaded


def publish_all(registry, models, parents, metadata, trust=None):
    """
    Publish new (inactive) versions of the three models; return {name: version}.

    trust: the new encoder's TrustModel (published with it), or None.
    """
    models.eval()
    enc = publish_encoder(registry, models.encoder, models.encoder.config,
                          parent=parents['encoder'], metadata=metadata, trust=trust)
    h = publish_h_module(registry, models.h_module, models.h_module.config,
                         parent=parents['h_module'], metadata=metadata)
    lv = publish_l_module(registry, models.l_module, models.l_module.config,
                          parent=parents['l_module'], metadata=metadata)
    scorer = publish_scorer(registry, models.scorer, parents.get(COHERENCE), metadata)
    return {'encoder': enc.version, 'h_module': h.version, 'l_module': lv.version,
            COHERENCE: scorer.version}


def publish_scorer(registry, scorer, parent, metadata):
    """Publish the coherence scorer (torch weights only: it runs in sleep, not in a node)."""
    buffer = io.BytesIO()
    torch.save(scorer.state_dict(), buffer)
    step_dim = scorer.inp[0].in_features
    specs = ([tensor_spec('step_features', ['batch', 'time', step_dim])],
             [tensor_spec('coherence_logit', ['batch'])])
    return registry.publish(COHERENCE, {'weights.pt': buffer.getvalue()}, *specs,
                            parent=parent, metadata=metadata)


# -- checkpoints ----------------------------------------------------------------------------
def save_checkpoint(path, models, optimizer, step, history, spent_s):
    """Write a checkpoint atomically (a kill never leaves half a file)."""
    tmp = path.with_suffix('.tmp')
    torch.save({'models': models.state_dict(), 'optimizer': optimizer.state_dict(),
                'step': step, 'history': history, 'spent_s': spent_s,
                'torch_rng': torch.get_rng_state()}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, models, optimizer):
    """Restore a checkpoint; return (step, history, training seconds spent)."""
    state = torch.load(path, map_location='cpu', weights_only=True)
    models.load_state_dict(state['models'])
    optimizer.load_state_dict(state['optimizer'])
    torch.set_rng_state(state['torch_rng'])
    return int(state['step']), state['history'], float(state.get('spent_s', 0.0))


# -- distributed ----------------------------------------------------------------------------
def init_distributed():
    """Return (rank, world_size); initialise torch.distributed under torchrun."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist
    dist.init_process_group('nccl' if torch.cuda.is_available() else 'gloo')
    return dist.get_rank(), world


# -- training -------------------------------------------------------------------------------
def _stop_everywhere(stop, world):
    """Under DDP every rank must stop at the same step: stop when any rank's budget ran out."""
    if world <= 1:
        return stop
    import torch.distributed as dist
    flag = torch.tensor([1.0 if stop else 0.0])
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item() > 0)


def train(models, memory, train_episodes, cfg, run_dir, seed, rank=0, world=1, log=print,
          threads=1):
    """
    Run consolidation steps until cfg's budget (steps and/or seconds) is spent.

    Resumes from run_dir/checkpoint-rank<r>.pt (step, history and the seconds already spent);
    returns the loss history.
    """
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    torch.manual_seed(seed + rank)
    torch.set_num_threads(threads)
    starts = starts_in(memory, cfg.seq_len, train_episodes)
    if len(starts) == 0:
        raise SleepError(f'no training episode holds {cfg.seq_len} consecutive samples')
    trained = models
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel
        trained = DistributedDataParallel(models, find_unused_parameters=True)
    optimizer = adamw(models.parameters(), cfg.lr, cfg.weight_decay)
    checkpoint = run_dir / f'checkpoint-rank{rank}.pt'
    step, history, spent = 0, [], 0.0
    if checkpoint.exists():
        step, history, spent = load_checkpoint(checkpoint, models, optimizer)
        log(f'resuming from {checkpoint} at step {step}')
    budget = TrainingBudget(cfg.steps, cfg.seconds)
    writer = SummaryWriter(str(run_dir / 'tensorboard')) if rank == 0 else None
    weights = memory.motion_weights()
    rng = np.random.default_rng(seed * 1000 + rank * 7919 + step)
    generator = torch.Generator().manual_seed(seed * 1000 + rank * 7919 + step)
    models.train()
    ticks = 1000  # the bar counts thousandths of the budget (steps or seconds)
    bar = tqdm(total=ticks, desc=f'consolidate ({budget.describe()})', disable=rank != 0,
               mininterval=2.0, bar_format='{l_bar}{bar}| {elapsed}<{remaining}{postfix}')
    shown = reported = 0
    budget.start(spent)
    while not _stop_everywhere(budget.exhausted(step), world):
        for group in optimizer.param_groups:
            group['lr'] = budget.cosine_lr(cfg.lr, step)
        indices = memory.sample_sequences(cfg.batch_size, cfg.seq_len, rng, starts=starts,
                                          weights=weights)
        batch = make_batch(memory, indices, models.encoder.config)
        loss, parts = consolidation_losses(trained, batch, cfg, generator, step, module=models)
        if not torch.isfinite(loss):
            raise SleepError(f'training diverged at step {step}: loss {float(loss)} '
                             f'({parts})')
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(models.parameters(), cfg.grad_clip)
        optimizer.step()
        step += 1
        history.append({'step': step, 'seconds': budget.elapsed(), **parts})
        done = int(budget.fraction(step) * ticks)
        bar.update(done - shown)
        shown = done
        if writer is not None:
            for key, value in parts.items():
                writer.add_scalar(f'loss/{key}', value, step)
        if rank == 0 and done >= reported + 20:
            reported = done
            bar.set_postfix(step=step, action=f'{parts["action"]:.4f}')
            progress('sleep', done / ticks)
        if step % 100 == 0:
            save_checkpoint(checkpoint, models, optimizer, step, history, budget.elapsed())
    save_checkpoint(checkpoint, models, optimizer, step, history, budget.elapsed())
    bar.close()
    if writer is not None:
        writer.close()
    return history


def plot_report(run_dir, history, report):
    """Write PNG plots of the loss curves and validation figures next to the report."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    keys = ['total', 'action', 'recon', 'probe', 'vicreg', 'predictive', 'coherence']
    fig, axes = plt.subplots(2, 4, figsize=(14, 6))
    for ax, key in zip(axes.flat, keys):
        points = [(h['step'], h[key]) for h in history if key in h]  # some terms skip steps
        if points:
            steps, values = zip(*points)
            ax.plot(steps, values, lw=0.8)
            ax.set_yscale('log' if min(values) > 0 else 'linear')
        ax.set_title(key)
    ax = axes.flat[-1]
    aurocs = report['new']['dream_auroc']
    ax.bar(range(len(aurocs)), list(aurocs.values()))
    ax.set_xticks(range(len(aurocs)), [k.replace('_', '\n') for k in aurocs], fontsize=6)
    ax.axhline(0.5, color='k', lw=0.5)
    ax.set_ylim(0, 1)
    ax.set_title('dream AUROC (held out)')
    fig.tight_layout()
    fig.savefig(run_dir / 'training.png', dpi=90)
    plt.close(fig)


def write_report(run_dir, report):
    """Write report.md and then, atomically, report.json (its presence marks a finished sleep)."""
    new, running = report['new'], report.get('running') or {}
    lines = [f'# Sleep {run_dir.name}', '',
             f'- decision: **{report["decision"]}** — {report["reason"]}',
             f'- data: {report["data"]["samples"]} samples, {report["data"]["train_episodes"]} '
             f'train / {report["data"]["heldout_episodes"]} held-out episodes',
             f'- budget: {report["config"]["steps"]} steps / {report["config"]["seconds"]} s, '
             f'dreams: {report["config"]["dreams"]}, wall time {report["wall_time_s"]:.0f} s',
             f'- trained: {report["training"]["steps"]} steps in '
             f'{report["training"]["seconds"]:.0f} s',
             '',
             '| held-out figure | running | new |', '|---|---|---|']
    for key in ('action_l1', 'early_action_l1', 'pca_recon_r2', 'h_recon_r2',
                'pca_action_probe_r2', 'h_action_probe_r2', 'z_effective_rank',
                'z_dead_dims', 'dream_auroc_mean'):
        lines.append(f'| {key} | {running.get(key, "-")} | {new.get(key, "-")} |')
    loops = [r.get('closed_loop') for r in (running, new)]
    if all(loops):
        lines.append('| closed-loop success (development seeds) | '
                     + ' | '.join(f'{c["successes"]}/{c["episodes"]}' for c in loops) + ' |')
    lines += ['', '| dream modification | AUROC (new) |', '|---|---|']
    lines += [f'| {k} | {v:.3f} |' for k, v in new['dream_auroc'].items()]
    trust = new.get('trust')
    if trust and 'skipped' not in trust:
        lines += ['', f'- trust model: {trust["false_alarms"]} false alarms on '
                  f'{trust["checked_seconds"]:.0f} s of held-out good episodes '
                  f'({trust["check_episodes"]}), lowest trust {trust["lowest_trust"]:.2f}']
    elif trust:
        lines += ['', f'- trust model: none ({trust["skipped"]})']
    (run_dir / 'report.md').write_text('\n'.join(lines) + '\n')
    tmp = run_dir / 'report.json.tmp'
    tmp.write_text(json.dumps(report, indent=2, default=float) + '\n')
    os.replace(tmp, run_dir / 'report.json')


def choose_run_dir(runs_root):
    """Return the unfinished newest sleep-NNN under runs_root (to resume), else the next one."""
    root = Path(runs_root)
    root.mkdir(parents=True, exist_ok=True)
    runs = sorted(p for p in root.glob('sleep-[0-9][0-9][0-9]') if p.is_dir())
    if runs and not (runs[-1] / 'report.json').exists():
        return runs[-1]
    number = int(runs[-1].name.split('-')[1]) + 1 if runs else 1
    return root / f'sleep-{number:03d}'


def run_sleep(args, log=print):
    """Do one sleep; return the report dict (also written to the run directory)."""
    start = time.monotonic()
    rank, world = init_distributed()
    run_dir = Path(args.run_dir) if args.run_dir else choose_run_dir(args.runs_root)
    run_dir.mkdir(parents=True, exist_ok=True)
    log(f'sleep run directory {run_dir}')
    registry = ModelRegistry(args.models)
    registry.clean_staging()
    running_models, running = load_models(registry)
    models, started_from = load_models(registry, newest_versions(registry))
    extractor_cfg = ExtractorConfig(chunk_len=int(models.l_module.config['chunk_size']),
                                    chunk_dt=float(models.l_module.config['chunk_dt']))
    progress('sleep', 0.0)
    memory, data_report = load_experience(args.bags, extractor_cfg, models.encoder.config,
                                          args.teacher_topics.split(','),
                                          log=log if rank == 0 else (lambda m: None),
                                          cache_dir=args.cache_dir or default_cache_dir(args.bags))
    if len(memory) == 0:
        raise SleepError(f'no usable samples in {args.bags} (problems: '
                         f'{data_report["problems"] or "none"}); nothing to learn from')
    train_eps, val_eps = split_episodes(memory, args.holdout, args.seed)
    if not val_eps or not train_eps:
        raise SleepError(f'need at least 2 episodes to hold some out, got {len(train_eps)}')
    cfg = ConsolidationConfig(steps=args.steps or None, seconds=args.seconds,
                              batch_size=args.batch_size, dreams=not args.no_dreams, lr=args.lr)
    log(f'consolidating on {len(train_eps)} episodes ({len(memory)} samples), '
        f'holding out {len(val_eps)}; {TrainingBudget(cfg.steps, cfg.seconds).describe()}, '
        f'dreams {cfg.dreams}, {world} process(es)')
    history = train(models, memory, train_eps, cfg, run_dir, args.seed, rank, world, log,
                    args.threads)
    if rank != 0:
        return None
    progress('dream', 0.0)
    models.eval()
    new_report = validate(models, memory, train_eps, val_eps, cfg.seq_len, args.seed)
    running_report = validate(running_models, memory, train_eps, val_eps, cfg.seq_len,
                              args.seed)

    def decide():
        return compare_to_running(new_report, running_report, history,
                                  require_dreams=cfg.dreams, tolerance=args.tolerance,
                                  floor=args.closed_loop_floor)

    decision, reason = decide()
    new_versions = None
    if decision != 'rejected':
        trust, new_report['trust'] = calibrate_trust(models.encoder, memory, train_eps,
                                                     val_eps, log)
        meta = {'sleep_run': run_dir.name, 'validation': {
            k: v for k, v in new_report.items() if not isinstance(v, dict)}}
        new_versions = publish_all(registry, models, started_from, meta, trust)
        if args.closed_loop_episodes:
            progress('dream', 0.5)
            seeds = list(range(args.closed_loop_first_seed,
                               args.closed_loop_first_seed + args.closed_loop_episodes))
            for report_, versions in ((new_report, new_versions), (running_report, running)):
                report_['closed_loop'] = closed_loop(
                    registry.root, versions, seeds, args.camera_width, args.camera_height,
                    target_colors=[c for c in args.targets.split(',') if c])
            log(f'closed loop on {len(seeds)} development seeds: new '
                f'{new_report["closed_loop"]["success_rate"]:.0%}, running '
                f'{running_report["closed_loop"]["success_rate"]:.0%}')
            decision, reason = decide()
    progress('deploy', 0.0)
    report = {
        'run': run_dir.name, 'decision': decision, 'reason': reason,
        'running_versions': running, 'started_from': started_from,
        'config': dataclasses.asdict(cfg), 'world_size': world, 'seed': args.seed,
        'data': {'samples': len(memory), 'train_episodes': len(train_eps),
                 'heldout_episodes': len(val_eps), **data_report},
        'new': new_report, 'running': running_report,
        'final_losses': history[-1] if history else {},
        'training': {'steps': history[-1]['step'] if history else 0,
                     'seconds': history[-1]['seconds'] if history else 0.0},
    }
    report['new_versions'] = new_versions
    report['deployed'] = decision == 'deploy' and not args.no_deploy
    if report['deployed']:
        for name, version in new_versions.items():
            registry.set_active(name, version)
    report['wall_time_s'] = time.monotonic() - start
    plot_report(run_dir, history, report)
    write_report(run_dir, report)
    progress('deploy', 1.0)
    log(f'sleep {run_dir.name}: {decision} ({reason}); report in {run_dir}/report.md')
    return report


def build_parser():
    parser = argparse.ArgumentParser(prog='sage_train', description=__doc__.split('\n\n')[0])
    root = Path(os.environ.get('SAGE_ROOT', '.'))
    env = os.environ  # the sleep manager says where its bags and registry are
    parser.add_argument('--bags', type=Path, default=Path(env.get('SAGE_BAG_ROOT',
                                                                  root / 'bags')))
    parser.add_argument('--cache-dir', type=Path,
                        help='decoded samples of closed wake periods (default: '
                             '<bags>/.sample_cache)')
    parser.add_argument('--models', type=Path, default=default_model_dir())
    parser.add_argument('--runs-root', type=Path, default=root / 'runs' / 'sleeps',
                        help='each sleep gets <runs-root>/sleep-NNN (an unfinished one resumes)')
    parser.add_argument('--run-dir', type=Path, help='use exactly this run directory')
    parser.add_argument('--steps', type=int, default=ConsolidationConfig.steps,
                        help='optimizer steps (0: only --seconds limits training)')
    parser.add_argument('--seconds', type=float,
                        help='wall-clock training budget; with --steps, the first reached ends')
    parser.add_argument('--batch-size', type=int, default=ConsolidationConfig.batch_size)
    parser.add_argument('--lr', type=float, default=ConsolidationConfig.lr)
    parser.add_argument('--holdout', type=float, default=0.1,
                        help='fraction of episodes held out for validation')
    parser.add_argument('--closed-loop-episodes', type=int, default=0,
                        help='development episodes in the simulator to gate deployment on '
                             'closed-loop success (new and running versions, same seeds); '
                             '0 = no simulator, gate on held-out action error')
    parser.add_argument('--closed-loop-first-seed', type=int, default=200000,
                        help='first development seed (never an evaluation seed)')
    parser.add_argument('--closed-loop-floor', type=float, default=0.5,
                        help='closed-loop success a version needs to deploy')
    parser.add_argument('--camera-width', type=int, default=64,
                        help="the simulator camera of the closed-loop gate (the robot's)")
    parser.add_argument('--camera-height', type=int, default=64)
    parser.add_argument('--targets', default='',
                        help="the gate's scene: a target per colour (e.g. red,blue, each seed "
                             'once per named target), as the robot was recording; default one')
    parser.add_argument('--tolerance', type=float, default=0.05,
                        help='how much worse (relative) than the running action error a new '
                             'version may be and still deploy')
    parser.add_argument('--teacher-topics', default='/teacher/commands,/arm_controller/commands',
                        help="where the teacher's commands are, in order of preference")
    parser.add_argument('--no-dreams', action='store_true')
    parser.add_argument('--no-deploy', action='store_true',
                        help='publish new versions but leave the running ones active')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=max(1, (os.cpu_count() or 2) // 2),
                        help='torch threads per process (default: half the cores; the '
                             'nodes of the robot keep running during sleep)')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        report = run_sleep(args)
    except SleepError as exc:
        print(f'sleep failed: {exc}', file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print('sleep interrupted; rerun with the same --run-dir to resume', file=sys.stderr)
        return 130
    return 0 if report is None or report['decision'] != 'rejected' else 3


if __name__ == '__main__':
    sys.exit(main())
