# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
`sage_dataset`: SAGE's bags to LeRobot / GR00T datasets and back.

    sage_dataset export --bags runs/<id>/bags --out demos --format lerobot|groot
    sage_dataset import --dataset demos --out imported_bags    # then: sage_train --bags ...

The output directory is written under a hidden temporary name next to it and renamed into
place when complete: a failed or killed run leaves no half dataset (or bag set) under the
target name. Bad input (a missing file or column, timestamps off info.json's fps, a video
shorter than its episode, modality.json slices past the state vector) is one line on
stderr naming the file and the field, exit status 2, nothing written.
"""

import argparse
import json
import os
from pathlib import Path
import shutil
import sys
import time

from .episodes import bag_episodes, DatasetError, estimate_fps, TEACHER_TOPICS


class AtomicDir:
    """A temporary directory beside target, renamed to target on success, removed otherwise."""

    def __init__(self, target):
        self.target = Path(target)
        if self.target.exists():
            raise DatasetError(f'{self.target}: already exists; choose a new output directory')
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.target.parent / f'.{self.target.name}.tmp-{os.getpid()}'

    def __enter__(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir()
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            os.replace(self.tmp, self.target)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return False


def dir_bytes(path):
    """Return the bytes of the files under path."""
    return sum(p.stat().st_size for p in Path(path).rglob('*') if p.is_file())


def export_dataset(bags, out, fmt='lerobot', joint_names=('joint0', 'joint1'), fps=None,
                   teacher_topics=TEACHER_TOPICS, log=print, codec=None):
    """Export the bags under `bags` as a dataset at `out` (atomically); return a summary."""
    from .lerobot import DatasetWriter
    start = time.monotonic()
    read_stats = {}
    with AtomicDir(out) as tmp:
        episodes = bag_episodes(bags, joint_names, teacher_topics, log=log, stats=read_stats)
        writer = None
        for episode in episodes:
            if writer is None:
                rate = int(fps) if fps else estimate_fps(episode.stamps_ns)
                writer = DatasetWriter(tmp, fmt, rate, joint_names, codec=codec)
            elif len(episode) > 1 and abs(estimate_fps(episode.stamps_ns) - writer.fps) > \
                    0.1 * writer.fps:
                log(f'warning: episode {episode.index} was recorded at '
                    f'{estimate_fps(episode.stamps_ns)} fps; written at {writer.fps} fps')
            writer.add(episode)
        if writer is None:
            raise DatasetError(f'{bags}: no usable samples (skipped: '
                               f'{read_stats.get("skipped") or "nothing"})')
        summary = writer.close()
        summary.update(format=fmt, fps=writer.fps, bags=str(bags), out=str(out),
                       bag_bytes=dir_bytes(bags), dataset_bytes=dir_bytes(tmp),
                       skipped=read_stats.get('skipped', {}))
    summary['seconds'] = time.monotonic() - start
    log(f'exported {summary["episodes"]} episodes ({summary["frames"]} frames at '
        f'{summary["fps"]} fps) from {bags} to {out} ({fmt}) in {summary["seconds"]:.1f} s')
    return summary


def import_dataset(dataset, out, camera=None, log=print):
    """Turn a LeRobot v3.0 / v2.x (GR00T) dataset into wake bags at `out`; return a summary."""
    from .bags import write_bags
    from .lerobot import Dataset
    start = time.monotonic()
    data = Dataset(dataset, camera=camera)
    stats = {}
    with AtomicDir(out) as tmp:
        write_bags(data.episodes(), tmp, data.joint_names, data.fps, stats=stats)
        summary = {'episodes': stats['episodes'], 'frames': stats['frames'],
                   'version': data.version, 'fps': data.fps, 'camera': data.camera,
                   'joints': data.joint_names, 'dataset': str(dataset), 'out': str(out),
                   'dataset_bytes': dir_bytes(dataset), 'bag_bytes': dir_bytes(tmp)}
    summary['seconds'] = time.monotonic() - start
    log(f'imported {summary["episodes"]} episodes ({summary["frames"]} frames, '
        f'{data.version}) from {dataset} into bags under {out} in {summary["seconds"]:.1f} s')
    return summary


def main(argv=None):
    """Command line entry point (`sage_dataset export|import`)."""
    parser = argparse.ArgumentParser(prog='sage_dataset',
                                     description=__doc__.split('\n\n')[0].strip())
    sub = parser.add_subparsers(dest='command', required=True)
    exp = sub.add_parser('export', help='bags -> LeRobot v3.0 or GR00T (v2.1) dataset')
    exp.add_argument('--bags', required=True, help='bag root (wake-*/ periods)')
    exp.add_argument('--out', required=True, help='dataset directory to create')
    exp.add_argument('--format', choices=('lerobot', 'groot'), default='lerobot')
    exp.add_argument('--joints', default='joint0,joint1', help='joint names, in order')
    exp.add_argument('--fps', type=int, default=0,
                     help='dataset frame rate (default: the camera rate in the bags)')
    exp.add_argument('--teacher-topics', default=','.join(TEACHER_TOPICS))
    imp = sub.add_parser('import', help='LeRobot / GR00T dataset -> bags sage_train reads')
    imp.add_argument('--dataset', required=True)
    imp.add_argument('--out', required=True, help='bag root to create')
    imp.add_argument('--camera', default=None,
                     help='video feature to record as the colour camera (default: '
                          'observation.images.color, else the first video feature)')
    parser.add_argument('--json', action='store_true', help='print the summary as JSON')
    args = parser.parse_args(argv)
    try:
        if args.command == 'export':
            summary = export_dataset(args.bags, args.out, args.format,
                                     tuple(n for n in args.joints.split(',') if n),
                                     args.fps or None, tuple(args.teacher_topics.split(',')))
        else:
            summary = import_dataset(args.dataset, args.out, args.camera)
    except DatasetError as exc:
        print(f'sage_dataset {args.command}: error: {exc}', file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == '__main__':
    sys.exit(main())
