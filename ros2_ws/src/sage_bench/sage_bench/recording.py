# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Recording benchmark: the sleep_manager recording a robot's day published from other processes.

Two publisher processes send 640x480 rgb8 colour and 32FC1 depth at 30 Hz, joint states at
100 Hz, 4K contexts and 256-D compressed contexts at 30 Hz and commands at 100 Hz (reliable
QoS, so what DDS delivers is what the recorder must keep). The sleep_manager node records
them; the figures are bytes/s written, drops per topic, the recorder's CPU share of one
core, and, as the ceiling, the raw rosbags MCAP writer's bytes/s rewriting the same recorded
messages in this process.

    python -m sage_bench.recording [--quick] [--out bench/results]
"""

import argparse
import json
import os
from pathlib import Path
import re
import shutil
import subprocess
import sys
import tempfile
import time

from sage_bench import results_dir

SECONDS_FULL = 600.0
SECONDS_QUICK = 30.0
STREAMS = {
    # group: [(topic, type, rate Hz)]
    'camera': [('/camera/color/image_raw', 'sensor_msgs/msg/Image', 30.0),
               ('/camera/depth/image_rect_raw', 'sensor_msgs/msg/Image', 30.0)],
    'state': [('/joint_states', 'sensor_msgs/msg/JointState', 100.0),
              ('/sage/context', 'sage_interfaces/msg/Context', 30.0),
              ('/sage/context_compressed', 'sage_interfaces/msg/CompressedContext', 30.0),
              ('/arm_controller/commands', 'std_msgs/msg/Float64MultiArray', 100.0)],
}


def _message(topic, msgtype):
    """Return a filled message of the benchmark's size for topic."""
    import array
    if topic == '/camera/color/image_raw':
        from sensor_msgs.msg import Image
        msg = Image(height=480, width=640, encoding='rgb8', step=640 * 3)
        msg.data = bytes(os.urandom(640 * 480 * 3))
    elif topic == '/camera/depth/image_rect_raw':
        from sensor_msgs.msg import Image
        msg = Image(height=480, width=640, encoding='32FC1', step=640 * 4)
        msg.data = bytes(os.urandom(640 * 480 * 4))
    elif msgtype == 'sensor_msgs/msg/JointState':
        from sensor_msgs.msg import JointState
        msg = JointState(name=['joint0', 'joint1'], position=[0.1, 0.2], velocity=[0.0, 0.0],
                         effort=[0.0, 0.0])
    elif topic == '/sage/context':
        from sage_interfaces.msg import Context
        msg = Context(data=array.array('f', os.urandom(4096 * 4)), presence=7,
                      model_version='v0001')
    elif topic == '/sage/context_compressed':
        from sage_interfaces.msg import CompressedContext
        msg = CompressedContext(data=array.array('f', os.urandom(256 * 4)), presence=7,
                                model_version='v0001', context_model_version='v0001')
    else:
        from std_msgs.msg import Float64MultiArray
        msg = Float64MultiArray(data=[0.1, 0.2])
    return msg


def publish(group, seconds):
    """Publish the streams of group for seconds (run in its own process); print counts."""
    import rclpy
    from sage_common.qos import reliable_qos

    rclpy.init()
    node = rclpy.create_node(f'bench_publisher_{group}')
    counts = {}
    publishers = []
    for topic, msgtype, rate in STREAMS[group]:
        msg = _message(topic, msgtype)
        pub = node.create_publisher(type(msg), topic, reliable_qos(50))
        counts[topic] = 0
        publishers.append((topic, pub, msg, 1.0 / rate))
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline and any(p.get_subscription_count() == 0
                                              for _, p, _, _ in publishers):
        time.sleep(0.05)
    print('BENCH_READY', flush=True)
    start = time.monotonic()
    due = {topic: start for topic, _, _, _ in publishers}
    while time.monotonic() - start < seconds:
        now = time.monotonic()
        for topic, pub, msg, period in publishers:
            if now >= due[topic]:
                if hasattr(msg, 'header'):
                    msg.header.stamp = node.get_clock().now().to_msg()
                pub.publish(msg)
                counts[topic] += 1
                due[topic] += period
        time.sleep(max(0.0, min(due.values()) - time.monotonic()))
    time.sleep(1.0)  # let reliable delivery finish
    print('BENCH_COUNTS ' + json.dumps(counts), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


def _cpu_seconds(pid):
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def _raw_writer_ceiling(bag_root, scratch):
    """Rewrite every recorded message with a bare rosbags MCAP writer; return bytes/s."""
    from rosbags.rosbag2 import Reader, StoragePlugin, Writer

    from sage_sleep.recording.bag_reader import list_wake_periods

    messages = []
    connections = {}
    for period in list_wake_periods(bag_root):
        for segment in period.segments:
            with Reader(segment.path) as reader:
                for connection in reader.connections:
                    connections[connection.topic] = connection
                for connection, stamp, raw in reader.messages():
                    messages.append((connection.topic, stamp, raw))
    target = Path(scratch) / 'raw_writer'
    total = sum(len(raw) for _, _, raw in messages)
    start = time.perf_counter()
    writer = Writer(target, version=8, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    out = {t: writer.add_connection(t, c.msgtype, msgdef=c.msgdef.data, rihs01=c.digest)
           for t, c in connections.items()}
    for topic, stamp, raw in messages:
        writer.write(out[topic], stamp, raw)
    writer.close()
    took = time.perf_counter() - start
    shutil.rmtree(target)
    return total / took if took > 0 else 0.0, total


def run(out_dir, quick=False):
    """Run the benchmark, write <out_dir>/recording.json and return the figures."""
    from sage_common.processes import (executable_path, node_environment, pick_domain_id,
                                       ros_args)

    from sage_sleep.recording.bag_reader import list_wake_periods

    seconds = SECONDS_QUICK if quick else SECONDS_FULL
    domain = pick_domain_id('SAGE_BENCH_DOMAIN_ID')
    env = node_environment(domain_id=domain)
    scratch = Path(tempfile.mkdtemp(prefix='sage_bench_recording_'))
    bag_root = scratch / 'bags'
    topics = [f'{t} {m} reliable' for group in STREAMS.values() for t, m, _ in group]
    params = scratch / 'params.yaml'
    params.write_text(json.dumps({'sleep_manager': {'ros__parameters': {
        'bag_root': str(bag_root), 'topics': topics, 'min_free_mb': 1024.0,
        'segment_max_mb': 256.0, 'segment_max_seconds': 120.0, 'qos_depth': 50,
        # a 10 min run offers ~37 GB: keep the newest 4 GiB (pruning is part of the load)
        'quota_mb': 4096.0, 'quota_action': 'prune'}}}))
    recorder = subprocess.Popen(
        [str(executable_path('sage_sleep', 'sleep_manager')),
         *ros_args(params_files=[params])], env=env, stdout=open(scratch / 'recorder.log', 'wb'),
        stderr=subprocess.STDOUT, start_new_session=True)
    pubs = {}
    try:
        for group in STREAMS:
            pubs[group] = subprocess.Popen(
                [sys.executable, '-m', 'sage_bench.recording', 'publish', group,
                 str(seconds)], env=env, stdout=subprocess.PIPE, text=True,
                start_new_session=True)
        for proc in pubs.values():
            line = proc.stdout.readline()
            if 'BENCH_READY' not in line:
                raise RuntimeError(f'publisher did not get ready: {line!r}')
        cpu0, wall0 = _cpu_seconds(recorder.pid), time.monotonic()
        published = {}
        for proc in pubs.values():
            for line in proc.stdout:
                if line.startswith('BENCH_COUNTS '):
                    published.update(json.loads(line.split(' ', 1)[1]))
            proc.wait(60)
        cpu1, wall1 = _cpu_seconds(recorder.pid), time.monotonic()
    finally:
        for proc in pubs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        recorder.send_signal(2)
        recorder.wait(60)
    periods = list_wake_periods(bag_root)
    log = (scratch / 'recorder.log').read_text(errors='replace')
    written = re.findall(r'topic (\S+): received \d+, written (\d+)', log)
    recorded = {t: int(n) for t, n in written}
    closed = re.findall(r'closed \S+ \(.*?\): \d+ messages, (\d+) bytes', log)
    bag_bytes = sum(int(n) for n in closed)
    raw_bps, raw_total = _raw_writer_ceiling(bag_root, scratch)
    elapsed = wall1 - wall0
    result = {
        'seconds': round(elapsed, 1),
        'quick': quick,
        'bytes_per_s_written': round(bag_bytes / elapsed),
        'bag_bytes': bag_bytes,
        'published': published,
        'recorded': recorded,
        'lost_per_topic': {t: published[t] - recorded.get(t, 0) for t in published},
        'recorder_cpu_share_of_one_core': round((cpu1 - cpu0) / elapsed, 3),
        'raw_rosbags_mcap_writer_bytes_per_s': round(raw_bps),
        'raw_writer_bytes': raw_total,
        'segments_kept': sum(len(p.segments) for p in periods),
        'pruned_segments': log.count('pruned the oldest segment'),
        'recorder_log_errors': [ln for ln in log.splitlines() if 'ERROR' in ln][:5],
        'goal': 'zero drops, recorder < 25% of one core',
    }
    shutil.rmtree(scratch, ignore_errors=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'recording.json').write_text(json.dumps(result, indent=1))
    print(f'recording: {bag_bytes / elapsed / 1e6:.1f} MB/s written over {elapsed:.1f} s, '
          f'lost per topic {result["lost_per_topic"]}, recorder CPU '
          f'{100 * (cpu1 - cpu0) / elapsed:.1f}% of a core; raw rosbags writer ceiling '
          f'{raw_bps / 1e6:.0f} MB/s')
    return result


def main(argv=None):
    """Run the benchmark; `publish <group> <seconds>` is one of its publisher processes."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ['publish'] and len(argv) == 3:
        publish(argv[1], float(argv[2]))
        return 0
    parser = argparse.ArgumentParser(prog='sage_bench.recording',
                                     description=__doc__.strip().splitlines()[0])
    parser.add_argument('--quick', action='store_true',
                        help=f'{SECONDS_QUICK:.0f} s instead of {SECONDS_FULL:.0f}')
    parser.add_argument('--out', default=str(results_dir()))
    args = parser.parse_args(argv)
    run(args.out, quick=args.quick)
    return 0


if __name__ == '__main__':
    sys.exit(main())
