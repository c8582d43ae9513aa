# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Perception benchmark: camera stamp -> context received, across three processes.

A publisher process sends 640x480 rgb8 + 32FC1 depth at 30 Hz and joint states at 100 Hz
(reliable QoS, `array.array` fast path), the context node (installed executable, reliable
inputs) encodes them, and a receiver process records each context's latency from its camera
stamp. The node's own diagnostics give the bare encoder compute time measured in the same run
(the floor). All three processes load `config/fastdds_shm.xml` (see sage_perception.transport):
with discovery limited to localhost, rmw_fastrtps ignores FASTDDS_BUILTIN_TRANSPORTS and its
512 KB shared-memory segment cannot hold a 640x480 image, which then crosses as fragmented UDP
(~13 ms rgb8, ~25 ms 32FC1 p50 here); the profile's 32 MB segment brings that to ~3 ms. The
first 2 s are warm-up (discovery) and are not measured.

    python -m sage_bench.perception [--quick] [--out bench/results]
"""

import argparse
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
from sage_bench import results_dir

WARMUP_S = 2.0
CAMERA_HZ = 30.0
JOINT_HZ = 100.0
GOALS = {'p99_ms': 8.0, 'lost': 0, 'p50_above_floor_ms': 2.0}


def _publisher(duration, out_path):
    import rclpy
    from sage_common.messages import fill_image, sec_to_stamp
    from sage_common.qos import reliable_qos
    from sensor_msgs.msg import Image, JointState

    rclpy.init()
    node = rclpy.create_node('perception_bench_publisher')
    qos = reliable_qos()
    pubs = {'color': node.create_publisher(Image, '/camera/color/image_raw', qos),
            'depth': node.create_publisher(Image, '/camera/depth/image_rect_raw', qos),
            'joints': node.create_publisher(JointState, '/joint_states', qos)}
    rng = np.random.default_rng(0)
    colours = [fill_image(Image(), rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), 'rgb8')
               for _ in range(4)]
    depths = [fill_image(Image(), (rng.random((480, 640)) * 3 + 0.3).astype(np.float32),
                         '32FC1') for _ in range(4)]
    deadline = time.monotonic() + 30
    while any(p.get_subscription_count() == 0 for p in pubs.values()):
        if time.monotonic() > deadline:
            raise SystemExit('bench publisher: the context node never subscribed')
        time.sleep(0.05)

    def now():
        return node.get_clock().now().nanoseconds * 1e-9

    start = time.monotonic()
    measure_from = end = None
    next_cam = next_joint = start
    frames = measured = 0
    while True:
        t_mono = time.monotonic()
        if t_mono - start > WARMUP_S and measure_from is None:
            measure_from = now()
        if t_mono - start > WARMUP_S + duration:
            end = now()
            break
        if t_mono >= next_joint:
            msg = JointState(name=['joint0', 'joint1'], velocity=[0.1, -0.2], effort=[0., 0.])
            q = 0.5 * np.sin(t_mono)
            msg.position = [float(q), float(-q)]
            sec_to_stamp(now(), msg.header.stamp)
            pubs['joints'].publish(msg)
            next_joint += 1.0 / JOINT_HZ
        if t_mono >= next_cam:
            stamp = now()
            color, depth = colours[frames % 4], depths[frames % 4]
            sec_to_stamp(stamp, color.header.stamp)
            depth.header.stamp = color.header.stamp
            pubs['depth'].publish(depth)
            pubs['color'].publish(color)
            frames += 1
            measured += measure_from is not None
            next_cam += 1.0 / CAMERA_HZ
        time.sleep(max(0.0, min(next_cam, next_joint) - time.monotonic()))
    Path(out_path).write_text(json.dumps({'measure_from': measure_from, 'end': end,
                                          'frames_published': measured,
                                          'frames_total': frames}))
    node.destroy_node()
    rclpy.try_shutdown()


def _receiver(out_path):
    from diagnostic_msgs.msg import DiagnosticArray
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sage_common.diagnostics import status_values
    from sage_common.messages import stamp_to_sec
    from sage_common.node import spin_until_shutdown
    from sage_common.qos import reliable_qos
    from sage_interfaces.msg import Context

    rclpy.init()
    node = rclpy.create_node('perception_bench_receiver')
    clock = node.get_clock()
    samples, diag = [], {}

    def on_context(msg):
        received = clock.now().nanoseconds * 1e-9
        stamp = stamp_to_sec(msg.header.stamp)
        samples.append((stamp, received - stamp, msg.presence))

    def on_diag(msg):
        for status in msg.status:
            if 'reality context' in status.name:
                diag.update(status_values(status))

    node.create_subscription(Context, '/sage/context', on_context, reliable_qos(100))
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diag, 10)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spin_until_shutdown(executor)
    Path(out_path).write_text(json.dumps({'samples': samples, 'diagnostics': diag}))
    node.destroy_node()
    rclpy.try_shutdown()


def _cpu_seconds(pid):
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def run(out_dir, quick=False, domain_id=None):
    """Run the benchmark (60 s, quick: 10 s); write out_dir/perception.json; return figures."""
    from sage_common.registry import ModelRegistry
    from sage_common.stats import summarize_ms
    from sage_common.processes import (default_stop_signals, executable_path,
                                       node_environment, pick_domain_id, ros_args)

    from sage_perception.encoder import publish_initial_encoder
    from sage_perception.transport import PROFILE_ENV, with_large_sample_transport

    duration = 10.0 if quick else 60.0
    domain = domain_id or pick_domain_id('SAGE_BENCH_DOMAIN_ID')
    env = with_large_sample_transport(node_environment(domain_id=domain))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    with tempfile.TemporaryDirectory(prefix='sage-bench-perception-') as tmp:
        tmp = Path(tmp)
        registry = ModelRegistry(tmp / 'models')
        version = publish_initial_encoder(registry, seed=0)
        log = open(tmp / 'node.log', 'wb')
        try:
            node_argv = [str(executable_path('sage_perception', 'context_node'))] + ros_args(
                'context_node', {'model_dir': str(registry.root), 'qos': 'reliable',
                                 'qos_depth': 10})
            # Both are stopped with SIGINT, which a background shell would have them ignore.
            procs.append(subprocess.Popen(node_argv, env=env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          preexec_fn=default_stop_signals))
            me = [sys.executable, '-m', 'sage_bench.perception']
            receiver = subprocess.Popen(me + ['--role', 'receiver', '--out',
                                              str(tmp / 'rx.json')], env=env,
                                        preexec_fn=default_stop_signals)
            procs.append(receiver)
            time.sleep(1.0)
            publisher = subprocess.Popen(me + ['--role', 'publisher', '--duration',
                                               str(duration), '--out', str(tmp / 'tx.json')],
                                         env=env)
            procs.append(publisher)
            cpu_start = (_cpu_seconds(procs[0].pid), time.monotonic())
            if publisher.wait(duration + 60) != 0:
                raise RuntimeError(f'bench publisher failed (exit {publisher.returncode})')
            node_cpu = ((_cpu_seconds(procs[0].pid) - cpu_start[0])
                        / (time.monotonic() - cpu_start[1]) * 100.0)
            load = os.getloadavg()[0]
            time.sleep(1.5)  # last contexts and a diagnostics period
            receiver.send_signal(signal.SIGINT)
            receiver.wait(20)
        finally:
            for proc in reversed(procs):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(5)
            log.close()
        tx = json.loads((tmp / 'tx.json').read_text())
        rx = json.loads((tmp / 'rx.json').read_text())
        node_log = (tmp / 'node.log').read_text(errors='replace')
    window = [(s, lat, p) for s, lat, p in rx['samples']
              if tx['measure_from'] <= s <= tx['end']]
    stats = summarize_ms([lat for _, lat, _ in window])
    diag = rx['diagnostics']
    floor = float(diag.get('encoder_ms_p50', 'nan'))
    result = {
        'duration_s': duration,
        'image': '640x480 rgb8 + 640x480 32FC1 at 30 Hz, joints at 100 Hz',
        'transport': f'reliable QoS, localhost discovery, {PROFILE_ENV}={env[PROFILE_ENV]}',
        'model_version': version.version,
        'encoder_input': version.metadata['config']['image_size'],
        'encoder_parameters': version.metadata['parameters'],
        'execution_provider': diag.get('execution_provider'),
        'frames_published': tx['frames_published'],
        'contexts_received': len(window),
        'lost': tx['frames_published'] - len(window),
        'all_present': sum(1 for _, _, p in window if p == 7),
        'latency_ms': stats,
        'encoder_ms_p50': floor,
        'preprocess_ms_p50': float(diag.get('preprocess_ms_p50', 'nan')),
        'node_latency_ms_p50': float(diag.get('latency_ms_p50', 'nan')),
        'node_rejected_total': int(diag.get('rejected_total', 0) or 0),
        'node_cpu_percent': round(node_cpu, 1),
        'machine_load_1min': round(load, 2),
        'cores': os.cpu_count(),
    }
    if stats['n']:
        result['p50_above_floor_ms'] = round(stats['p50_ms'] - floor, 3)
        result['goals_met'] = {
            'p99_ms': stats['p99_ms'] <= GOALS['p99_ms'],
            'lost': result['lost'] <= GOALS['lost'],
            'p50_above_floor_ms': result['p50_above_floor_ms'] <= GOALS['p50_above_floor_ms'],
        }
    else:
        result['node_log_tail'] = node_log[-2000:]
    (out_dir / 'perception.json').write_text(json.dumps(result, indent=2) + '\n')
    print(json.dumps(result, indent=2))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description='perception latency benchmark')
    parser.add_argument('--role', choices=('run', 'publisher', 'receiver'), default='run')
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--duration', type=float, default=60.0)
    parser.add_argument('--out', default=None)
    args = parser.parse_args(argv)
    if args.role == 'publisher':
        _publisher(args.duration, args.out)
    elif args.role == 'receiver':
        _receiver(args.out)
    else:
        run(args.out or results_dir(), quick=args.quick)
    return 0


if __name__ == '__main__':
    sys.exit(main())
