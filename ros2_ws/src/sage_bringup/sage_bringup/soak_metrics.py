# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The soak run's plain parts (no ROS): the fault plan, resource drift, windows, the final checks.

`plan_faults` draws, from one seed, when each fault happens and what it hits; every kind comes
once per round (a shuffled round), so a short run still sees each. `sample_process` reads a
node's RSS, open file descriptors and CPU time from /proc; `drift` fits a line to each node's
samples after warm-up and reports the growth per hour relative to the fitted start.
`check_bags` reads every recorded segment end to end; `check_models` verifies every published
model version and that every active one was deployed by a sleep whose validation passed.
"""

import bisect
import dataclasses
import json
import os
from pathlib import Path

import numpy as np

FAULT_KINDS = ('kill', 'stall', 'malformed', 'disk_fill', 'corrupt_model', 'estop')
NODE_TARGETS = ('context_node', 'h_module', 'l_module', 'sim_robot', 'teacher',
                'sleep_manager')
MODEL_TARGETS = ('encoder', 'h_module', 'l_module')


@dataclasses.dataclass
class Fault:
    """One planned fault: when (s after the soak began), what, on which target, how long."""

    time: float
    kind: str
    target: str = ''
    seconds: float = 0.0
    variant: str = ''


def plan_faults(rng, start_s, end_s, mean_interval_s, kinds=FAULT_KINDS,
                targets=NODE_TARGETS):
    """
    Return the faults between start_s and end_s, in time order.

    Gaps are uniform in [0.5, 1.5] x mean_interval_s; kinds come in shuffled rounds. Kills
    and stalls pick a node of `targets`; stalls last 0.5-3 s, disk fills 5-20 s, e-stops
    1-3 s; a corrupt model is 'tampered' (bytes changed, hash mismatch) or 'truncated'
    (half a file under a matching hash: the ONNX parse or probe must refuse it).
    """
    unknown = sorted(set(kinds) - set(FAULT_KINDS))
    if unknown or not kinds:
        raise ValueError(f'fault kinds must be among {FAULT_KINDS}, got {list(kinds)}')
    if not mean_interval_s > 0:
        raise ValueError(f'the mean fault interval must be > 0 s, got {mean_interval_s}')
    faults, round_ = [], []
    t = start_s + rng.uniform(0.5, 1.5) * mean_interval_s
    while t < end_s:
        if not round_:
            round_ = list(rng.permutation(list(kinds)))
        kind = str(round_.pop())
        fault = Fault(time=round(float(t), 3), kind=kind)
        if kind in ('kill', 'stall'):
            fault.target = str(rng.choice(list(targets)))
        if kind == 'stall':
            fault.seconds = round(float(rng.uniform(0.5, 3.0)), 2)
        elif kind == 'disk_fill':
            fault.seconds = round(float(rng.uniform(5.0, 20.0)), 2)
        elif kind == 'estop':
            fault.seconds = round(float(rng.uniform(1.0, 3.0)), 2)
        elif kind == 'corrupt_model':
            fault.target = str(rng.choice(list(MODEL_TARGETS)))
            fault.variant = str(rng.choice(['tampered', 'truncated']))
        faults.append(fault)
        t += rng.uniform(0.5, 1.5) * mean_interval_s
    return faults


def sample_process(pid, proc_root='/proc'):
    """Return {'rss_mb', 'fds', 'cpu_s'} of a process, or None if it is gone."""
    try:
        with open(f'{proc_root}/{pid}/status', encoding='ascii') as f:
            rss_kb = next((int(line.split()[1]) for line in f if line.startswith('VmRSS:')),
                          0)
        fds = len(os.listdir(f'{proc_root}/{pid}/fd'))
        with open(f'{proc_root}/{pid}/stat', encoding='ascii') as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except (OSError, StopIteration, IndexError, ValueError):
        return None
    ticks = os.sysconf('SC_CLK_TCK')
    return {'rss_mb': rss_kb / 1024.0, 'fds': fds,
            'cpu_s': (int(fields[11]) + int(fields[12])) / ticks}


def slope_per_hour(times, values):
    """Return the least-squares growth of values, in % of the fitted start value per hour."""
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if t.size < 3 or np.ptp(t) <= 0:
        return None
    slope, intercept = np.polyfit(t - t[0], v, 1)
    if intercept <= 0:
        return None
    return float(100.0 * slope * 3600.0 / intercept)


def drift(samples, warmup_s):
    """
    Return per node: RSS and fd growth (%/h) and mean CPU (% of a core) after warm-up.

    samples: dicts with time, node, pid, rss_mb, fds, cpu_s. A node that was restarted has
    one incarnation per pid, each with its own warm-up (its first warmup_s s); the longest
    one after warm-up is fitted (a respawn resets the process, so growth across
    incarnations would be meaningless).
    """
    by_node = {}
    for s in samples:
        by_node.setdefault(s['node'], {}).setdefault(s['pid'], []).append(s)
    result = {}
    for node, incarnations in sorted(by_node.items()):
        after = {pid: [s for s in rows if s['time'] >= rows[0]['time'] + warmup_s]
                 for pid, rows in incarnations.items()}
        pid, rows = max(after.items(),
                        key=lambda item: (len(item[1]), item[1][-1]['time'] if item[1] else 0))
        entry = {'incarnations': len(incarnations), 'samples': len(rows), 'pid': pid}
        if len(rows) >= 2:
            times = [s['time'] for s in rows]
            span = times[-1] - times[0]
            entry.update({
                'rss_mb_first': round(rows[0]['rss_mb'], 1),
                'rss_mb_last': round(rows[-1]['rss_mb'], 1),
                'fds_first': rows[0]['fds'], 'fds_last': rows[-1]['fds'],
                'rss_growth_pct_per_h': _round(slope_per_hour(times,
                                                              [s['rss_mb'] for s in rows])),
                'fd_growth_pct_per_h': _round(slope_per_hour(times, [s['fds'] for s in rows])),
                'cpu_pct': round(100.0 * (rows[-1]['cpu_s'] - rows[0]['cpu_s']) / span, 1)
                if span > 0 else None,
            })
        result[node] = entry
    return result


def command_gap(times, start, end):
    """
    Return (commands sent, longest stop) of a command stream between start and end.

    The commands are the times in sorted `times` within (start, end]; the longest stop is
    the longest interval between start, those times and end.
    """
    inside = times[bisect.bisect_right(times, start):bisect.bisect_right(times, end)]
    return len(inside), float(np.max(np.diff([start, *inside, end])))


def windows(start_s, end_s, window_s, command_times, latency_samples, hold_times=(),
            excluded=()):
    """
    Return per window: commands/s, holds begun and the L-module's camera -> command p99.

    command_times: receive times of commands; latency_samples: (time, p99 ms) the L-module
    reported (a rolling p99 over its last contexts); hold_times: when holds began; excluded:
    (start, end) intervals (sleeps, when the paused robot produces no frames) whose latency
    samples and holds are left out.
    """
    def awake(t):
        return not any(a <= t < b for a, b in excluded)

    commands = np.asarray(command_times, dtype=np.float64)
    result = []
    t = start_s
    while t < end_s - 1e-9:
        end = min(t + window_s, end_s)
        count = int(np.count_nonzero((commands >= t) & (commands < end)))
        p99s = [v for ts, v in latency_samples if t <= ts < end and awake(ts) and
                np.isfinite(v)]
        holds = sum(1 for ts in hold_times if t <= ts < end and awake(ts))
        result.append({'start_s': round(t, 1), 'end_s': round(end, 1),
                       'command_rate_hz': round(count / (end - t), 1) if end > t else None,
                       'holds': holds,
                       'camera_to_command_p99_ms_median': _round(
                           float(np.median(p99s)) if p99s else None),
                       'camera_to_command_p99_ms_max': _round(
                           float(np.max(p99s)) if p99s else None)})
        t = end
    return result


def _round(value, digits=2):
    return None if value is None else round(value, digits)


def check_bags(bag_root, recorder_kills=()):
    """
    Read every recorded segment end to end; return counts, unreadable ones and known losses.

    recorder_kills: the recorder's diagnostics values (period, segment, segment_messages) last
    seen before each kill of the sleep manager: the segment it had open, and how many
    messages it had written into it; what the salvaged segment lacks of those is counted
    lost (a lower bound: messages after that report are not known).
    """
    from sage_sleep.recording.bag_reader import iter_messages, list_wake_periods

    segments, unreadable, salvaged, problems, counts = 0, [], [], [], {}
    for period in list_wake_periods(bag_root, log=problems.append):
        for segment in period.segments:
            segments += 1
            key = f'{period.id}/{segment.path.name}'
            counts[key] = segment.message_count
            try:
                read = sum(1 for _ in iter_messages(segment))
            except Exception as exc:  # noqa: B902 - any failure to read is the finding
                unreadable.append(f'{key}: {exc}')
                continue
            if read != segment.message_count:
                unreadable.append(f'{key}: {read} of {segment.message_count} messages')
            if segment.state == 'salvaged':
                salvaged.append(key)
    # A period whose every segment is unreadable is not listed at all: count from the disk.
    on_disk = {f'{s.parent.name}/{s.name}' for s in Path(bag_root).glob('wake-*/segment-*')
               if (s / 'metadata.yaml').is_file()}
    unreadable += [f'{key}: not readable' for key in sorted(on_disk - set(counts))]
    losses = []
    for rec in recorder_kills:
        if not rec.get('segment'):               # killed while no segment was open
            losses.append({'segment': None, 'written_before_kill': 0, 'salvaged': None,
                           'lost_known': 0})
            continue
        key = f'{rec.get("period")}/{rec.get("segment")}'
        known, kept = int(rec.get('segment_messages', 0)), counts.get(key)
        losses.append({'segment': key, 'written_before_kill': known, 'salvaged': kept,
                       'lost_known': None if kept is None else max(0, known - kept)})
    return {'segments': segments, 'messages': sum(counts.values()), 'salvaged': salvaged,
            'unreadable': unreadable, 'problems': problems, 'recorder_kills': losses}


def check_models(models_dir, sleeps_dir):
    """
    Verify every published version; find active versions no passing sleep deployed.

    An active version (a model with an ACTIVE marker: the coherence scorer, used only in
    sleep, has none) must be its first version or one that a sleep report lists as deployed
    with the decision 'deploy'; a report that deployed on another decision
    is a bad deploy too. Staging directories (a writer killed mid-publish) are listed.
    """
    from sage_common.registry import ACTIVE, ModelError, ModelRegistry

    registry = ModelRegistry(models_dir)
    broken, versions = [], {}
    for name in registry.names():
        versions[name] = registry.versions(name)
        for version in versions[name]:
            try:
                registry.load(name, version, verify=True)
            except ModelError as exc:
                broken.append(f'{name}/{version}: {exc}')
    deployed, bad_deploys = set(), []
    reports = sorted(Path(sleeps_dir).glob('sleep-*/report.json'))
    for path in reports:
        report = json.loads(path.read_text())
        if report.get('deployed'):
            if report.get('decision') != 'deploy':
                bad_deploys.append(f'{path.parent.name}: deployed with decision '
                                   f'{report.get("decision")}')
            deployed.update(f'{n}/{v}' for n, v in report['new_versions'].items())
    active = {name: registry.active(name) for name in registry.names()}
    for name, version in active.items():
        deployable = (Path(models_dir) / name / ACTIVE).is_file()  # else: the newest, unused
        if deployable and version and version != versions[name][0] and \
                f'{name}/{version}' not in deployed:
            bad_deploys.append(f'{name}/{version} active without a deploying sleep')
    staging = sorted(str(p.relative_to(models_dir)) for p in Path(models_dir).glob(
        '*/.staging-*'))
    return {'versions': versions, 'active': active, 'broken': broken,
            'bad_deploys': bad_deploys, 'staging_left': staging, 'sleep_reports': len(reports)}
