# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Measure the sim robot's rates and the teacher's success over seeded episodes.

Starts sim_robot and teacher as separate processes over DDS (loopback, own domain), resets
episodes with seeds 0..N-1 and waits for each to end, while counting the joint states and
colour frames a subscriber receives. Prints and returns the figures; `run(out_dir)` also writes
`<out_dir>/sim_teacher.json` (benchmark form).

    python -m sage_bench.sim_teacher --episodes 50 [--duration 2.0] [--domain-id 21]
        [--sim-param width:=640 --sim-param height:=480 --sim-param perturb.mass_scale:=1.2]
"""

import argparse
import json
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from sage_common.diagnostics import status_values
from sage_common.messages import stamp_to_ns
from sage_common.processes import (executable_path, node_environment, NodeProcess,
                                   pick_domain_id, ros_args)
from sage_common.qos import qos_from_name, reliable_qos
from sage_common.ros_client import RosClient
from sage_interfaces.msg import EpisodeState
from sage_interfaces.srv import ResetEpisode
from sage_sim.sim_robot_node import PARAMETERS
from sensor_msgs.msg import Image, JointState
import yaml

DEFAULT_DURATION = PARAMETERS['episode_duration'][0]


def settle_time(messages):
    """
    Return seconds from an episode's start to the moment it stayed successful (None: never).

    `messages` are one episode's EpisodeState messages in order; the first is the reset's.
    """
    start = stamp_to_ns(messages[0].header.stamp)
    settled = None
    for m in messages:
        if m.success and settled is None:
            settled = stamp_to_ns(m.header.stamp)
        elif not m.success:
            settled = None
    return None if settled is None else (settled - start) / 1e9


def cpu_seconds(pid):
    """Return the user + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def _start(package, executable, name, domain, log_dir, params=None):
    argv = [str(executable_path(package, executable))] + ros_args(name, params)
    return NodeProcess(argv, node_environment(domain_id=domain), Path(log_dir) / f'{name}.log',
                       name)


def evaluate(episodes=50, duration=DEFAULT_DURATION, domain=None, sim_params=None, log=print):
    """Run the episodes (sim_robot with `sim_params` overrides); return the figures as a dict."""
    domain = pick_domain_id() if domain is None else domain
    os.environ.update(node_environment(domain_id=domain))
    log_dir = tempfile.mkdtemp(prefix='sage_eval_teacher_')
    procs = [_start('sage_sim', 'sim_robot', 'sim_robot', domain, log_dir, sim_params),
             _start('sage_sim', 'teacher', 'teacher', domain, log_dir)]
    probe = RosClient('evaluate_teacher')
    try:
        procs[0].wait_for_output(r'sim_robot: joints', timeout=60)
        # The teacher hears both streams before the first reset (discovery takes a moment).
        procs[1].wait_for_output(r'teacher: receiving /sim/episode', timeout=60)
        procs[1].wait_for_output(r'teacher: receiving /joint_states', timeout=60)
        # Subscribe as the sim publishes (sensor_qos parameter): best effort by default.
        qos = qos_from_name((sim_params or {}).get('sensor_qos', 'sensor'), 10)
        joints = probe.collect(JointState, '/joint_states', qos)
        frames = probe.collect(Image, '/camera/color/image_raw', qos)
        status = probe.collect(EpisodeState, '/sim/episode', reliable_qos(100))
        diags = probe.collect(DiagnosticArray, '/diagnostics', reliable_qos())
        probe.wait_for(lambda: joints and frames and status, timeout=30, what='sim topics')
        results = []
        n_joints0, n_frames0, n_diag0, t0 = len(joints), len(frames), len(diags), time.monotonic()
        cpu0 = [cpu_seconds(p.pid) for p in procs]
        for seed in range(episodes):
            reply = probe.call(ResetEpisode, '/sim_robot/reset_episode',
                               ResetEpisode.Request(seed=seed, duration=float(duration)))
            if not reply.success:
                raise RuntimeError(f'reset refused: {reply.message}')

            def done(n=reply.episode):
                return any(m.episode == n and not m.running for m in status[-5:])

            probe.wait_for(done, timeout=duration * 5 + 10, what=f'episode of seed {seed}')
            mine = [m for m in status if m.episode == reply.episode]
            final = [m for m in mine if not m.running][0]
            results.append({'seed': seed, 'success': bool(final.success),
                            'distance': float(final.distance),
                            'settle_s': settle_time([m for m in mine if m.running or m is final])})
            log(f'seed {seed:3d}: {"success" if final.success else "FAIL   "} final distance '
                f'{final.distance * 1000:6.2f} mm, settled after {results[-1]["settle_s"]} s')
        elapsed = time.monotonic() - t0
        cpu = [(cpu_seconds(p.pid) - c) / elapsed * 100 for p, c in zip(procs, cpu0)]
        values = [status_values(d.status[0]) for d in diags[n_diag0:]]
        for p in procs:
            p.raise_if_died()
    finally:
        probe.close()
        for p in reversed(procs):
            p.stop()
    settles = [r['settle_s'] for r in results if r['settle_s'] is not None]
    distances = [r['distance'] for r in results]

    def median_of(key):
        return round(statistics.median(float(v[key]) for v in values), 2) if values else None

    figures = {
        'episodes': episodes, 'episode_duration_s': duration, 'cpu_count': os.cpu_count(),
        'sim_params': dict(sim_params or {}),
        'successes': sum(r['success'] for r in results),
        'success_rate': sum(r['success'] for r in results) / max(1, episodes),
        'final_distance_mm_p50': round(float(np.median(distances)) * 1000, 3),
        'final_distance_mm_max': round(float(np.max(distances)) * 1000, 3),
        'settle_s_p50': round(float(np.median(settles)), 3) if settles else None,
        'settle_s_max': round(float(np.max(settles)), 3) if settles else None,
        'joint_hz_published_p50': median_of('joint_state_hz'),
        'camera_hz_published_p50': median_of('camera_hz'),
        'render_ms_p50': median_of('render_ms'),
        'joint_hz_received': round((len(joints) - n_joints0) / elapsed, 2),
        'camera_hz_received': round((len(frames) - n_frames0) / elapsed, 2),
        'physics_overruns': int(values[-1]['physics_overruns']) if values else None,
        'camera_overruns': int(values[-1]['camera_overruns']) if values else None,
        'sim_robot_cpu_percent': round(cpu[0], 1), 'teacher_cpu_percent': round(cpu[1], 1),
        'load_average_1min': round(os.getloadavg()[0], 2),
        'wall_s': round(elapsed, 1),
        'per_episode': results,
    }
    log(json.dumps({k: v for k, v in figures.items() if k != 'per_episode'}, indent=1))
    return figures


def _parse_param(text):
    """Parse NAME:=VALUE into (name, value) with YAML typing (640 -> int, 1.2 -> float)."""
    name, sep, value = text.partition(':=')
    if not sep or not name:
        raise ValueError(f'expected NAME:=VALUE, got {text!r}')
    return name, yaml.safe_load(value)


def run(out_dir, quick=False):
    """Benchmark entry point: evaluate (5 episodes when quick), write sim_teacher.json."""
    figures = evaluate(episodes=5 if quick else 50)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'sim_teacher.json').write_text(json.dumps(figures, indent=1))
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--episodes', type=int, default=50)
    parser.add_argument('--duration', type=float, default=DEFAULT_DURATION,
                        help='episode length, s (default: the sim_robot default)')
    parser.add_argument('--domain-id', type=int, default=None,
                        help='ROS_DOMAIN_ID (default: SAGE_TEST_DOMAIN_ID or from the pid)')
    parser.add_argument('--sim-param', action='append', default=[], metavar='NAME:=VALUE',
                        help='sim_robot parameter override, e.g. width:=640 (repeatable)')
    parser.add_argument('--out', default=None, help='also write the figures to this JSON file')
    args = parser.parse_args(argv)
    try:
        sim_params = dict(_parse_param(p) for p in args.sim_param)
    except ValueError as exc:
        parser.error(str(exc))
    figures = evaluate(args.episodes, args.duration, args.domain_id, sim_params)
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=1))
    return 0 if figures['successes'] == args.episodes else 1


if __name__ == '__main__':
    sys.exit(main())
