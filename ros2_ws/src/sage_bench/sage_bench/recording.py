# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Recording benchmark: the sleep_manager recording a robot's day published from other processes.

Two publisher processes send 640x480 rgb8 colour and 32FC1 depth at 30 Hz, joint states at
100 Hz, 4K contexts and 256-D compressed contexts at 30 Hz and commands at 100 Hz (reliable
QoS, so what DDS delivers is what the recorder must keep). The sleep_manager node records
them; the figures are bytes/s written, drops per topic, the recorder's CPU share of one
core (total and per thread: executor, take loop, writer, DDS), and, as the ceiling, the raw
rosbags MCAP writer's bytes/s rewriting the same recorded messages in this process, beside
the recorder's own storage (`sage_sleep.recording.mcap_storage.BagWriter`) doing the same.

`--baseline-ref REF` first runs the same load against the sleep_manager of git REF (its
sage_sleep package from `git archive`, the rest of the workspace as installed), so the old
and the new recorder are measured in one run; `--seconds` overrides the duration.

    python -m sage_bench.recording [--quick] [--seconds S] [--baseline-ref REF] [--out DIR]
"""

import argparse
import json
import os
from pathlib import Path
import re
import shutil
import signal
import statistics
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
    # the publisher matched the reader; give the reader time to match the publisher too
    # (until then reliable samples are not delivered, and would count as drops)
    time.sleep(2.0)
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


def _thread_cpu(pid):
    """Return {tid: (name, cpu seconds)} of the threads of pid."""
    out = {}
    for task in Path(f'/proc/{pid}/task').iterdir():
        try:
            fields = (task / 'stat').read_text().rsplit(')', 1)[1].split()
            name = (task / 'comm').read_text().strip()
        except OSError:
            continue
        out[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) /
                               os.sysconf('SC_CLK_TCK'))
    return out


def _thread_shares(before, after, pid, elapsed):
    """Return {thread: share of one core}: the main thread, named threads, the others by id."""
    shares = {}
    process_name = after.get(pid, ('', 0.0))[0]
    for tid, (name, cpu) in sorted(after.items()):
        used = cpu - before.get(tid, (name, 0.0))[1]
        label = 'main (executor)' if tid == pid else (
            name if name != process_name else f'thread {tid}')
        shares[label] = shares.get(label, 0.0) + used / elapsed
    return {k: round(v, 3) for k, v in sorted(shares.items(), key=lambda kv: -kv[1])
            if v >= 0.001}


def _writer_ceilings(bag_root, scratch):
    """
    Rewrite every recorded message with bare MCAP writers; return ({name: bytes/s}, bytes).

    rosbags' own Writer, and the recorder's storage (BagWriter, the same bytes on disk).
    """
    from rosbags.rosbag2 import Reader, StoragePlugin, Writer

    from sage_sleep.recording.bag_reader import list_wake_periods
    from sage_sleep.recording.mcap_storage import BagWriter

    messages = []
    connections = {}
    for period in list_wake_periods(bag_root):
        for segment in period.segments:
            with Reader(segment.path) as reader:
                for connection in reader.connections:
                    connections[connection.topic] = connection
                for connection, stamp, raw in reader.messages():
                    messages.append((connection.topic, stamp, raw))
    total = sum(len(raw) for _, _, raw in messages)
    rates = {}
    for name, writer_class in (('rosbags', Writer), ('sage_bag_writer', BagWriter)):
        target = Path(scratch) / f'raw_writer_{name}'
        start = time.perf_counter()
        writer = writer_class(target, version=8, storage_plugin=StoragePlugin.MCAP)
        writer.open()
        out = {t: writer.add_connection(t, c.msgtype, msgdef=c.msgdef.data, rihs01=c.digest)
               for t, c in connections.items()}
        for topic, stamp, raw in messages:
            writer.write(out[topic], stamp, raw)
        writer.close()
        took = time.perf_counter() - start
        shutil.rmtree(target)
        rates[name] = total / took if took > 0 else 0.0
    return rates, total


def _baseline_tree(ref, scratch):
    """Return a directory holding git ref's sage_sleep package (for PYTHONPATH)."""
    root = Path(__file__).resolve().parents[4]
    target = Path(scratch) / 'baseline'
    target.mkdir()
    archive = subprocess.run(['git', '-C', str(root), 'archive', ref,
                              'ros2_ws/src/sage_sleep/sage_sleep'],
                             check=True, capture_output=True).stdout
    subprocess.run(['tar', '-x', '-C', str(target), '--strip-components', '3'],
                   input=archive, check=True)
    return target


def measure(seconds, scratch, env, pythonpath=None, window_s=5.0):
    """Record seconds of the load with one sleep_manager; return its figures and bag root."""
    from sage_common.processes import executable_path, ros_args

    from sage_sleep.recording.bag_reader import list_wake_periods

    bag_root = scratch / 'bags'
    topics = [f'{t} {m} reliable' for group in STREAMS.values() for t, m, _ in group]
    params = scratch / 'params.yaml'
    params.write_text(json.dumps({'sleep_manager': {'ros__parameters': {
        'bag_root': str(bag_root), 'topics': topics, 'min_free_mb': 1024.0,
        'segment_max_mb': 256.0, 'segment_max_seconds': 120.0, 'qos_depth': 50,
        # a 10 min run offers ~37 GB: keep the newest 4 GiB (pruning is part of the load)
        'quota_mb': 4096.0, 'quota_action': 'prune'}}}))
    if pythonpath:
        env = dict(env, PYTHONPATH=os.pathsep.join(
            [str(pythonpath)] + [p for p in [env.get('PYTHONPATH')] if p]))
    recorder = subprocess.Popen(
        [str(executable_path('sage_sleep', 'sleep_manager')),
         *ros_args(params_files=[params])], env=env, stdout=open(scratch / 'recorder.log', 'wb'),
        stderr=subprocess.STDOUT, start_new_session=True)
    pubs = {}
    windows = []
    loads = []  # the machine's 1-min load average at each window (other work slows DDS)
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
        threads0 = _thread_cpu(recorder.pid)
        cpu0, wall0 = _cpu_seconds(recorder.pid), time.monotonic()
        last = (cpu0, wall0)
        while all(proc.poll() is None for proc in pubs.values()):
            time.sleep(0.2)
            now = time.monotonic()
            if now - last[1] >= window_s:
                cpu = _cpu_seconds(recorder.pid)
                windows.append((cpu - last[0]) / (now - last[1]))
                loads.append(os.getloadavg()[0])
                last = (cpu, now)
        cpu1, wall1 = _cpu_seconds(recorder.pid), time.monotonic()
        threads1 = _thread_cpu(recorder.pid)
        published = {}
        for proc in pubs.values():
            for line in proc.stdout:
                if line.startswith('BENCH_COUNTS '):
                    published.update(json.loads(line.split(' ', 1)[1]))
            proc.wait(60)
    finally:
        for proc in pubs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        recorder.send_signal(signal.SIGTERM)  # SIGINT: ignored when run in the background
        recorder.wait(60)
    log = (scratch / 'recorder.log').read_text(errors='replace')
    written = re.findall(r'topic (\S+): received \d+, written (\d+)', log)
    recorded = {t: int(n) for t, n in written}
    queue_drops = re.findall(r'topic (\S+): .*?dropped \(queue\) (\d+)', log)
    queue_drops = {t: int(n) for t, n in queue_drops}
    closed = re.findall(r'closed \S+ \(.*?\): \d+ messages, (\d+) bytes', log)
    bag_bytes = sum(int(n) for n in closed)
    elapsed = wall1 - wall0
    return {
        'seconds': round(elapsed, 1),
        'bytes_per_s_written': round(bag_bytes / elapsed),
        'bag_bytes': bag_bytes,
        'published': published,
        'recorded': recorded,
        'lost_per_topic': {t: published[t] - recorded.get(t, 0) for t in published},
        # of those, dropped by the recorder's own queue; the rest never reached it (DDS)
        'recorder_queue_drops': queue_drops,
        'load_average_1min_mean': round(statistics.mean(loads), 2) if loads else None,
        'recorder_cpu_share_of_one_core': round((cpu1 - cpu0) / elapsed, 3),
        'recorder_cpu_share_median_of_windows': round(statistics.median(windows), 3)
        if windows else None,
        'window_s': window_s,
        'recorder_cpu_share_by_thread': _thread_shares(threads0, threads1, recorder.pid,
                                                       elapsed),
        'segments_kept': sum(len(p.segments) for p in list_wake_periods(bag_root)),
        'pruned_segments': log.count('pruned the oldest segment'),
        'recorder_log_errors': [ln for ln in log.splitlines() if 'ERROR' in ln][:5],
    }, bag_root


def _summary(name, r):
    median = r['recorder_cpu_share_median_of_windows'] or 0.0
    return (f'{name}: {r["bytes_per_s_written"] / 1e6:.1f} MB/s written over {r["seconds"]} s, '
            f'lost per topic {r["lost_per_topic"]}, recorder CPU '
            f'{100 * r["recorder_cpu_share_of_one_core"]:.1f}% of a core (median of '
            f'{r["window_s"]:.0f}-s windows {100 * median:.1f}%; '
            f'by thread {r["recorder_cpu_share_by_thread"]}); queue drops '
            f'{r["recorder_queue_drops"]}; load average {r["load_average_1min_mean"]}')


def run(out_dir, quick=False, seconds=None, baseline_ref=None):
    """Run the benchmark, write <out_dir>/recording.json and return the figures."""
    from sage_common.processes import node_environment, pick_domain_id

    seconds = seconds or (SECONDS_QUICK if quick else SECONDS_FULL)
    domain = pick_domain_id('SAGE_BENCH_DOMAIN_ID')
    env = node_environment(domain_id=domain)
    scratch = Path(tempfile.mkdtemp(prefix='sage_bench_recording_'))
    try:
        baseline = None
        if baseline_ref:
            (scratch / 'base').mkdir()
            tree = _baseline_tree(baseline_ref, scratch)
            baseline, base_bags = measure(seconds, scratch / 'base', env, pythonpath=tree)
            baseline['ref'] = baseline_ref
            shutil.rmtree(base_bags, ignore_errors=True)
            print(_summary(f'recording (baseline {baseline_ref})', baseline), flush=True)
        (scratch / 'this').mkdir()
        result, bag_root = measure(seconds, scratch / 'this', env)
        rates, raw_total = _writer_ceilings(bag_root, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result.update({
        'quick': quick,
        'raw_rosbags_mcap_writer_bytes_per_s': round(rates['rosbags']),
        'raw_sage_bag_writer_bytes_per_s': round(rates['sage_bag_writer']),
        'raw_writer_bytes': raw_total,
        'goal': 'zero drops, recorder < 25% of one core',
    })
    if baseline is not None:
        result['baseline'] = baseline
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'recording.json').write_text(json.dumps(result, indent=1))
    print(_summary('recording', result) + '; raw writer ceiling: rosbags '
          f'{rates["rosbags"] / 1e6:.0f} MB/s, the recorder\'s BagWriter '
          f'{rates["sage_bag_writer"] / 1e6:.0f} MB/s')
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
    parser.add_argument('--seconds', type=float, default=None,
                        help='load duration (s), overrides --quick')
    parser.add_argument('--baseline-ref', default=None,
                        help="first measure the sleep_manager of this git ref (e.g. 'main')")
    parser.add_argument('--out', default=str(results_dir()))
    args = parser.parse_args(argv)
    run(args.out, quick=args.quick, seconds=args.seconds, baseline_ref=args.baseline_ref)
    return 0


if __name__ == '__main__':
    sys.exit(main())
