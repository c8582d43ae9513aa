# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Interop benchmark: dataset export and import speed, and the GR00T client and teacher.

"dataset": a bag set of teacher-driven Reacher episodes is recorded at a simulated clock (the
demo's 64x64 camera, its topics, the sleep manager's recorder), unless --bags names recorded
wake bags. In the same run: the raw read rate (every message of every segment through
rosbags' reader, not decoded), the export to LeRobot v3.0 and to GR00T (v2.1 +
modality.json), and the import of the v3.0 export back into bags; each in episodes/s and
MB/s of its input.

"groot" (sage_bench.groot): the GR00T client's encode and decode per request against the
loopback round trip to sage_policy_server, both protocols; and groot_teacher's command rate
and gaps in front of a server with 250 ms of emulated latency, at 25 Hz and at 50 Hz.

Each part's figures go to `bench/results/interop.json` under its key; --parts runs some (the
keys of the others stay as they were in that file).

    python -m sage_bench.interop [--quick] [--parts dataset,groot] [--bags DIR]
                                 [--out bench/results]
"""

import argparse
import json
from pathlib import Path
import shutil
import tempfile
import time

from sage_bench import results_dir
from sage_bench.sleep import raw_read

EPISODES_FULL = 40
EPISODES_QUICK = 6
EPISODE_SECONDS = 3.0
CAMERA = (64, 64)  # the demo's camera (sage_bringup/config/demo.yaml)
PARTS = ('dataset', 'groot')


def _rates(episodes, nbytes, seconds):
    return {'seconds': round(seconds, 3), 'episodes_per_s': round(episodes / seconds, 2),
            'mb_per_s': round(nbytes / 1e6 / seconds, 2)}


def dataset_figures(quick=False, bags=None):
    """Return the "dataset" figures: raw read, export and import rates."""
    from sage_dataset.cli import dir_bytes, export_dataset, import_dataset
    from sage_sleep.recording.sim_clock_bag import record_teacher_episodes

    work = Path(tempfile.mkdtemp(prefix='sage-interop-'))
    try:
        if bags is None:
            n = EPISODES_QUICK if quick else EPISODES_FULL
            start = time.monotonic()
            bags = record_teacher_episodes(work / 'bags', episodes=n, duration=EPISODE_SECONDS,
                                           width=CAMERA[0], height=CAMERA[1])
            print(f'recorded {n} episodes of {EPISODE_SECONDS:.0f} s in '
                  f'{time.monotonic() - start:.1f} s', flush=True)
        bag_bytes = dir_bytes(bags)
        messages, payload, seconds = raw_read(bags)
        figures = {'bags': {'path': str(bags), 'bytes': bag_bytes, 'messages': messages},
                   'raw_read': {'seconds': round(seconds, 3),
                                'mb_per_s': round(bag_bytes / 1e6 / seconds, 2),
                                'messages_per_s': round(messages / seconds, 1)}}
        log = (lambda m: None)
        for fmt in ('lerobot', 'groot'):
            summary = export_dataset(bags, work / fmt, fmt, log=log)
            figures[f'export_{fmt}'] = dict(
                _rates(summary['episodes'], bag_bytes, summary['seconds']),
                episodes=summary['episodes'], frames=summary['frames'], fps=summary['fps'],
                dataset_bytes=summary['dataset_bytes'], codec=summary['codec'])
        episodes = figures['export_lerobot']['episodes']
        figures['raw_read']['episodes_per_s'] = round(episodes / seconds, 2)
        summary = import_dataset(work / 'lerobot', work / 'imported', log=log)
        figures['import_lerobot'] = dict(
            _rates(summary['episodes'], summary['dataset_bytes'], summary['seconds']),
            bag_mb_per_s=round(summary['bag_bytes'] / 1e6 / summary['seconds'], 2),
            bag_bytes=summary['bag_bytes'])
        figures['note'] = ('MB/s of the input of each step: the bags for raw read and export, the '
                           'dataset for import (bag_mb_per_s: the bags it wrote). Raw read does '
                           'not deserialize; export deserializes and aligns the topics it uses '
                           '(no depth) and encodes video.')
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures


def run(out_dir, quick=False, bags=None, parts=PARTS):
    """Run the parts; write their keys in out_dir/interop.json (others kept); return them."""
    figures = {}
    if 'dataset' in parts:
        figures['dataset'] = dataset_figures(quick, bags)
    if 'groot' in parts:
        from sage_bench.groot import measure
        figures['groot'] = measure(quick)
    out = Path(out_dir) / 'interop.json'
    existing = {}
    if out.exists():
        try:
            existing = json.loads(out.read_text())
        except ValueError:
            existing = {}
    existing.update(figures)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(existing, indent=2) + '\n')
    return figures


def main(argv=None):
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].strip())
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--parts', default=','.join(PARTS),
                        help=f'comma-separated parts to run, of {",".join(PARTS)}')
    parser.add_argument('--bags', default=None, help='recorded wake bags to use instead')
    parser.add_argument('--out', default=str(results_dir()))
    args = parser.parse_args(argv)
    parts = [p for p in args.parts.split(',') if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f'unknown part(s) {sorted(unknown)}; known: {list(PARTS)}')
    figures = run(args.out, quick=args.quick, bags=args.bags, parts=parts)
    print(json.dumps(figures, indent=2))


if __name__ == '__main__':
    main()
