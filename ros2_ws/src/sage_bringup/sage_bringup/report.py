# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The demo's report: report.json, report.md and PNG plots from the demo's results dict.

Differences between two policies are judged on the same seeds with a paired bootstrap over
seeds (95% percentile interval of the success-rate difference); single rates carry a Wilson
95% interval (both from sage_common.stats).
"""

import json
from pathlib import Path

import numpy as np
from sage_common.stats import paired_bootstrap

GOAL_SUCCESS = 0.9
GOAL_PERTURBED = 0.8
GOAL_SEEDS = 100
GOAL_CYCLE_MINUTES = 15.0      # prepare, bring-up and every wake -> sleep -> evaluate cycle
GOAL_MINUTES = 25.0            # everything, baselines and the offline comparison included
MODIFICATIONS = ('physics_violation', 'object_substitution', 'temporal_reversal',
                 'scale_distortion', 'causal_inversion')


def paired_difference(a, b, resamples=10000, seed=0):
    """Return (mean difference, low, high) of success(a) - success(b) over shared seeds."""
    wins_a = {r['seed']: r['success'] for r in a['results']}
    wins_b = {r['seed']: r['success'] for r in b['results']}
    seeds = sorted(set(wins_a) & set(wins_b))
    if not seeds:
        return None
    return paired_bootstrap([float(wins_a[s]) for s in seeds], [float(wins_b[s]) for s in seeds],
                            resamples=resamples, seed=seed)


def _pct(x):
    return '-' if x is None else f'{100 * x:.0f}%'


def _rate(summary):
    lo, hi = summary['ci95']
    return (f'{summary["successes"]}/{summary["episodes"]} = {_pct(summary["success_rate"])} '
            f'[{_pct(lo)}, {_pct(hi)}]')


def _fmt(x, digits=3):
    if x is None:
        return '-'
    if isinstance(x, float):
        return f'{x:.{digits}f}'
    return str(x)


def goals(results):
    """Return [(goal, met (bool or None), evidence)] for the issue's goals."""
    offline = results.get('offline', {})
    cycles = [k for k in offline if k.startswith('sage_cycle')]
    out = []
    best = max((offline[k]['none'] for k in cycles), key=lambda s: s['success_rate'],
               default=None)
    if best is not None:
        met = best['success_rate'] >= GOAL_SUCCESS and best['episodes'] >= GOAL_SEEDS
        out.append((f'SAGE alone >= {GOAL_SUCCESS:.0%} on >= {GOAL_SEEDS} held-out seeds '
                    f'after <= 2 cycles', met,
                    ', '.join(f'{k}: {_rate(offline[k]["none"])}' for k in cycles)))
    last = cycles[-1] if cycles else None
    for condition in [c for c in (offline.get(last) or {}) if c != 'none']:
        summary = offline[last][condition]
        out.append((f'SAGE alone >= {GOAL_PERTURBED:.0%} under {condition} perturbation',
                    summary['success_rate'] >= GOAL_PERTURBED, f'{last}: {_rate(summary)}'))
    ros = (results.get('cycles') or [{}])[-1].get('evaluate_ros') or {}
    if last and ros.get('episodes'):
        lo, hi = offline[last]['none']['ci95']
        out.append(('SAGE over ROS within the 95% interval of the offline figure',
                    lo <= ros['success_rate'] <= hi,
                    f'over ROS {ros["successes"]}/{ros["episodes"]}, offline '
                    f'{_rate(offline[last]["none"])}'))
    phases = results.get('phase_seconds', {})
    cycle_minutes = sum(v for k, v in phases.items() if k not in ('offline', 'report')) / 60
    out.append((f'wake -> sleep -> evaluate cycles within {GOAL_CYCLE_MINUTES:.0f} min',
                cycle_minutes <= GOAL_CYCLE_MINUTES, f'{cycle_minutes:.1f} min'))
    minutes = results.get('wall_time_s', 0) / 60
    out.append((f'whole demo within {GOAL_MINUTES:.0f} min', minutes <= GOAL_MINUTES,
                f'{minutes:.1f} min'))
    for condition in [c for c in (offline.get(last) or {}) if c != 'none']:
        if 'plain_bc' in offline and condition in offline['plain_bc']:
            d = paired_difference(offline[last][condition], offline['plain_bc'][condition])
            out.append((f'SAGE with sleep beats plain BC under {condition} perturbation '
                        f'(95% interval of the difference excludes 0)', d[1] > 0,
                        f'difference {_pct(d[0])} [{_pct(d[1])}, {_pct(d[2])}]'))
    if len(cycles) >= 2:
        d = paired_difference(offline[cycles[-1]]['none'], offline[cycles[0]]['none'])
        out.append(('the second cycle is no worse than the first', d[2] >= 0 and d[0] >= -0.02,
                    f'difference {_pct(d[0])} [{_pct(d[1])}, {_pct(d[2])}]'))
    return out


def plot(report_dir, results):
    """Write success.png and sleep.png; return their names."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    names = []
    offline = results.get('offline', {})
    if offline:
        conditions = sorted({c for v in offline.values() for c in v},
                            key=lambda c: (c != 'none', c))
        fig, ax = plt.subplots(figsize=(10, 4))
        width = 0.8 / len(conditions)
        labels = list(offline)
        for j, condition in enumerate(conditions):
            xs, ys, err = [], [], []
            for i, label in enumerate(labels):
                s = offline[label].get(condition)
                if s is None:
                    continue
                lo, hi = s['ci95']
                xs.append(i + j * width)
                ys.append(s['success_rate'])
                # Wilson bounds can sit a rounding error inside the rate (at 0% or 100%)
                err.append([max(0.0, s['success_rate'] - lo), max(0.0, hi - s['success_rate'])])
            ax.bar(xs, ys, width, yerr=np.array(err).T if err else None, capsize=3,
                   label=condition)
        ax.set_xticks(np.arange(len(labels)) + width * (len(conditions) - 1) / 2, labels,
                      rotation=15)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel('success rate (95% CI)')
        ax.axhline(GOAL_SUCCESS, color='k', lw=0.6, ls='--')
        ax.legend()
        fig.tight_layout()
        fig.savefig(report_dir / 'success.png', dpi=90)
        plt.close(fig)
        names.append('success.png')
    sleeps = [c for c in results.get('cycles', []) if 'sleep' in c]
    if sleeps:
        fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
        for k, c in enumerate(sleeps):
            v = c['sleep']['validation']
            auc = [v['dream_auroc'].get(m, np.nan) for m in MODIFICATIONS]
            axes[0].bar(np.arange(5) + k * 0.4, auc, 0.4, label=f'sleep {c["cycle"]}')
            axes[1].bar(np.arange(2) + k * 0.4, [v['h_recon_r2'], v['h_action_probe_r2']],
                        0.4, label=f'H, sleep {c["cycle"]}')
            axes[1].scatter(np.arange(2) + k * 0.4, [v['pca_recon_r2'],
                                                     v['pca_action_probe_r2']],
                            color='k', marker='_', s=300, zorder=3)
            axes[2].bar([k], [v['z_effective_rank']], label=f'sleep {c["cycle"]}')
        axes[0].set_xticks(np.arange(5), [m.replace('_', '\n') for m in MODIFICATIONS],
                           fontsize=7)
        axes[0].axhline(0.5, color='k', lw=0.6)
        axes[0].set_ylim(0, 1)
        axes[0].set_title('dream AUROC (held out)')
        axes[1].set_xticks(np.arange(2), ['reconstruction R²', 'action probe R²'])
        axes[1].set_title('256-D code vs PCA-256 (black ticks)')
        axes[1].set_ylim(min(0.0, *[c['sleep']['validation']['h_recon_r2'] for c in sleeps]),
                         1.0)
        axes[2].set_title('effective rank of the 256-D code')
        for ax in axes:
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(report_dir / 'sleep.png', dpi=90)
        plt.close(fig)
        names.append('sleep.png')
    return names


def write_report(report_dir, results):
    """Write report.json, report.md and the plots into report_dir; return report.md's path."""
    report_dir = Path(report_dir)
    plots = plot(report_dir, results)
    cfg = results['config']
    offline = results.get('offline', {})
    lines = [f'# SAGE demo {results["run_id"]}', '',
             f'Wall time {results.get("wall_time_s", 0) / 60:.1f} min. Reproduce: '
             f'`make demo` (config in report.json; seeds below).', '', '## Headline', '',
             f'Success (fingertip within 2 cm of the goal at the end of a '
             f'{cfg["episode_duration"]:.1f} s episode) on {cfg["evaluate"]["episodes"]} '
             f'held-out seeds from {cfg["evaluate"]["first_seed"]}, evaluated in simulated time '
             f'(`sage_evaluate`: the models and ensembling the nodes run), Wilson 95% intervals:',
             '']
    conditions = sorted({c for v in offline.values() for c in v}, key=lambda c: (c != 'none', c))
    if offline:
        lines += ['| policy | ' + ' | '.join(conditions) + ' |',
                  '|---|' + '---|' * len(conditions)]
        for label, by_condition in offline.items():
            lines.append(f'| {label} | ' + ' | '.join(
                _rate(by_condition[c]) if c in by_condition else '-' for c in conditions) + ' |')
    lines += ['', 'SAGE driving the robot alone over ROS 2 (separate processes, real time), '
              'after each sleep:', '',
              '| cycle | wake (driver, successes) | sleep decision | success over ROS | '
              'camera->command p50 / p99 | command rate | timer jitter p99 | jerk RMS |',
              '|---|---|---|---|---|---|---|---|']
    for c in results.get('cycles', []):
        w, s, e = c.get('wake', {}), c.get('sleep', {}), c.get('evaluate_ros', {})
        rec = e.get('received', {})
        lines.append(
            f'| {c["cycle"]} | {w.get("driver")}, {w.get("successes")}/{w.get("episodes")} | '
            f'{s.get("decision")} | {e.get("successes")}/{e.get("episodes")} | '
            f'{_fmt(e.get("stamp_to_command_p50_ms"), 1)} / '
            f'{_fmt(e.get("stamp_to_command_p99_ms"), 1)} ms | '
            f'{_fmt(rec.get("rate_hz"), 1)} Hz | '
            f'{_fmt(e.get("timer_jitter_p99_ms_l_module"), 2)} ms | '
            f'{_fmt(rec.get("jerk_rms"), 0)} rad/s³ |')
    lines += ['', '## Goals', '']
    for goal, met, evidence in goals(results):
        verdict = 'met' if met else ('NOT met' if met is not None else 'not measured')
        lines.append(f'- **{verdict}**: {goal} — {evidence}')
    lines += ['', '## Sleeps', '', '| cycle | decision | held-out action L1 (running -> new) | '
              'H recon R² / PCA-256 | action probe R² H / PCA-256 | eff. rank | dead dims | '
              'dream AUROC mean |', '|---|---|---|---|---|---|---|---|']
    for c in results.get('cycles', []):
        s = c.get('sleep')
        if not s:
            continue
        v, r = s['validation'], s.get('running_validation') or {}
        lines.append(
            f'| {c["cycle"]} | {s["decision"]} | {_fmt(r.get("action_l1"))} -> '
            f'{_fmt(v["action_l1"])} | {_fmt(v["h_recon_r2"])} / {_fmt(v["pca_recon_r2"])} | '
            f'{_fmt(v["h_action_probe_r2"])} / {_fmt(v["pca_action_probe_r2"])} | '
            f'{_fmt(v["z_effective_rank"], 1)} | {v["z_dead_dims"]} | '
            f'{_fmt(v["dream_auroc_mean"])} |')
    lines += ['', '| dream AUROC | ' + ' | '.join(
        f'sleep {c["cycle"]}' for c in results.get('cycles', []) if c.get('sleep')) + ' |',
        '|---|' + '---|' * sum(1 for c in results.get('cycles', []) if c.get('sleep'))]
    for m in MODIFICATIONS:
        lines.append(f'| {m} | ' + ' | '.join(
            _fmt(c['sleep']['validation']['dream_auroc'].get(m))
            for c in results.get('cycles', []) if c.get('sleep')) + ' |')
    lines += ['', '## Runs, seeds, budgets, versions', '']
    for c in results.get('cycles', []):
        lines.append(f'- cycle {c["cycle"]}: wake seeds {c["wake"]["seeds"][0]}..'
                     f'{c["wake"]["seeds"][1]}; sleep {c.get("sleep", {}).get("run_dir")}; '
                     f'versions after sleep {c.get("versions", {}).get("seen_in_messages")}')
    lines += [f'- held-out seeds {cfg["evaluate"]["first_seed"]}..'
              f'{cfg["evaluate"]["first_seed"] + cfg["evaluate"]["episodes"] - 1} (never '
              f'recorded); sleep budget {cfg["sleep"]["seconds"]:.0f} s of training (batch '
              f'{cfg["sleep"]["batch_size"]}) per cycle, gated on development seeds from '
              f'{cfg["sleep"]["gate"]["first_seed"]}; baselines '
              f'{results.get("baselines", {})}',
              f'- phase wall times (s): {results.get("phase_seconds")}', '']
    lines += [f'![{p}]({p})' for p in plots]
    lines += [f'![training curves {p.name}]({p.name})'
              for p in sorted(report_dir.glob('sleep-*.png'))]
    (report_dir / 'report.md').write_text('\n'.join(lines) + '\n')
    (report_dir / 'report.json').write_text(json.dumps(results, indent=2, default=str) + '\n')
    return report_dir / 'report.md'
