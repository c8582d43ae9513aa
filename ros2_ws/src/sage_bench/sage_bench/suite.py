# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
`make bench`: run the suite's benchmarks one after another and collect their figures.

Each benchmark is a module with `run(out_dir, quick=False) -> dict` that writes its own
`bench/results/<name>.json`; this command runs them in order (they load the machine, so never
in parallel) and writes `bench/results/summary.json`.

    python -m sage_bench.suite [--quick] [--only perception,control]
"""

import argparse
import importlib
import json
from pathlib import Path
import sys
import time
import traceback

from sage_bench import results_dir

BENCHMARKS = (
    ('sim_teacher', 'sage_bench.sim_teacher'),
    ('perception', 'sage_bench.perception'),
    ('control', 'sage_bench.control'),
    ('recording', 'sage_bench.recording'),
    ('sleep', 'sage_bench.sleep'),
    ('learning', 'sage_bench.learning'),
    ('interop', 'sage_bench.interop'),
    ('trust', 'sage_bench.trust'),
)


def main(argv=None):
    """Command line entry point (`make bench`, `sage_bench`)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].strip())
    parser.add_argument('--quick', action='store_true', help='short runs (smoke check)')
    parser.add_argument('--only', default='', help='comma-separated benchmark names')
    parser.add_argument('--out', default=str(results_dir()))
    args = parser.parse_args(argv)
    wanted = [n for n in args.only.split(',') if n] or [n for n, _ in BENCHMARKS]
    unknown = set(wanted) - {n for n, _ in BENCHMARKS}
    if unknown:
        parser.error(f'unknown benchmark(s) {sorted(unknown)}; known: '
                     f'{[n for n, _ in BENCHMARKS]}')
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary, failed = {}, []
    for name, module in BENCHMARKS:
        if name not in wanted:
            continue
        print(f'== bench {name} ({module})', flush=True)
        start = time.monotonic()
        try:
            summary[name] = importlib.import_module(module).run(out_dir, quick=args.quick)
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            summary[name] = {'error': traceback.format_exc(limit=3)}
            failed.append(name)
        print(f'== bench {name} done in {time.monotonic() - start:.0f} s', flush=True)
    (out_dir / 'summary.json').write_text(json.dumps(summary, indent=2, default=str) + '\n')
    print(f'results in {out_dir}/')
    if failed:
        print(f'FAILED benchmarks: {failed}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
