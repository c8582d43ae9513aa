# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
GR00T figures of the interop benchmark: the client's cost per request, the teacher's gaps.

* Client overhead against the loopback round trip, per protocol (n1.5, n1.6): the client's
  encode of an observation (one 224x224x3 uint8 frame, the arm's joint state and the task
  text: observation, request, msgpack) and its decode of the (16, 2) action reply (msgpack,
  error and shape checks), timed in this process without a socket, against the full
  get_action round trip (the same encode, the exchange, the same decode) to
  `sage_policy_server` (the scripted expert, reading its goal from the task text) in its own
  process, over ZeroMQ on 127.0.0.1; p50/p99 of each.
* The teacher in front of a slow server: `sage_policy_server --latency 0.25` (emulated model
  latency), `groot_teacher` and `sim_robot`, each a process, over DDS (loopback, a domain of
  its own), for one episode; the commands on the teacher's output topic are timed as they
  arrive here from the episode's first command on: their rate and the gaps between them
  (p99, max, and the gaps longer than one control period: over 1.5 periods, a tick without
  a command — a late tick alone stays under), beside the teacher's own count of ticks without
  a step (`stalled_ticks` on /diagnostics). At 25 Hz (chunk steps of 0.04 s on both sides,
  the configuration we recommend) a 16-step chunk lasts 0.64 s, more than two round trips;
  at 50 Hz (0.32 s) it is not, and the arm waits for the next chunk.

`sage_bench.interop` writes these under "groot" in bench/results/interop.json.
"""

from contextlib import closing
import os
from pathlib import Path
import tempfile
import time

import numpy as np
from sage_common.processes import (executable_path, node_environment, NodeProcess,
                                   package_share, pick_domain_id, ros_args)
from sage_common.stats import summarize_ms
from sage_groot import protocol as wire

REQUESTS_FULL = 500
REQUESTS_QUICK = 100
WARMUP_REQUESTS = 10
FRAME_SHAPE = (224, 224, 3)
TASK = 'Reach the target at (0.1, 0.05).'   # the expert reads its goal from "(x, y)"
ACTION_DIMS = {'arm': 2}                      # the Reacher's joints: the expert's action part
SERVER_LATENCY_S = 0.25
RATES_HZ = (25.0, 50.0)                       # recommended, then the one that stalls
TEACHER_SECONDS_FULL = 20.0
TEACHER_SECONDS_QUICK = 4.0
GAP_PERIODS = 1.5                             # an interval this long lost a tick
OUTPUT_TOPIC = '/arm_controller/commands'     # groot_teacher's default: it drives the arm
SERVER_READY = r'sage_policy_server: serving \S+ \(\S+\) on tcp://[0-9.]+:(\d+)'


def start_server(log_dir, env, label, *args):
    """Start sage_policy_server on a free loopback port; return (process, port)."""
    argv = [str(executable_path('sage_groot', 'sage_policy_server')), '--port', '0', *args]
    server = NodeProcess(argv, env, Path(log_dir) / f'{label}.log', label)
    try:
        port = int(server.wait_for_output(SERVER_READY, timeout=60).group(1))
    except AssertionError:
        server.stop()
        raise
    return server, port


def encode(protocol, videos, states, task):
    """Return the get_action request bytes, as the client builds them."""
    observation = wire.build_observation(protocol, videos, states, task)
    return wire.pack(wire.get_action_request(protocol, observation))


def decode(protocol, data):
    """Return the {part: (16, D)} actions of reply bytes, as the client checks them."""
    return wire.parse_action_reply(protocol, wire.raise_if_error(wire.unpack(data)),
                                   ACTION_DIMS)


def client_overhead(protocol, requests, log_dir):
    """Time the client's encode and decode alone and the round trip to our server."""
    from sage_groot.client import GrootClient

    rng = np.random.default_rng(0)
    videos = {'top_down': rng.integers(0, 256, FRAME_SHAPE, dtype=np.uint8)}
    states = {'arm': rng.uniform(-1.0, 1.0, 2)}
    server, port = start_server(log_dir, node_environment(), f'server_{protocol}',
                                '--protocol', protocol, '--goal-from', 'text')
    try:
        with closing(GrootClient(port=port, protocol=protocol, timeout_s=5.0)) as client:
            def round_trip():
                observation = wire.build_observation(protocol, videos, states, TASK)
                return wire.parse_action_reply(protocol, client.get_action(observation),
                                               ACTION_DIMS)

            for _ in range(WARMUP_REQUESTS):   # connect, and the server's first answers
                actions = round_trip()
            trips = []
            for _ in range(requests):
                start = time.perf_counter()
                round_trip()
                trips.append(time.perf_counter() - start)
    finally:
        server.stop()
    request = encode(protocol, videos, states, TASK)
    reply = wire.pack(wire.action_reply(protocol, actions))   # the server's reply bytes
    encodes, decodes = [], []
    for _ in range(requests):
        start = time.perf_counter()
        encode(protocol, videos, states, TASK)
        middle = time.perf_counter()
        decode(protocol, reply)
        encodes.append(middle - start)
        decodes.append(time.perf_counter() - middle)
    overhead = summarize_ms(np.add(encodes, decodes))
    trip = summarize_ms(trips)
    return {'requests': requests, 'request_bytes': len(request), 'reply_bytes': len(reply),
            'encode': summarize_ms(encodes), 'decode': summarize_ms(decodes),
            'client_overhead': overhead, 'round_trip': trip,
            'overhead_share_p50': round(overhead['p50_ms'] / trip['p50_ms'], 4)}


def teacher_gaps(rate, seconds, domain, log_dir):
    """Run sim_robot, groot_teacher and the slow server for one episode; return the figures."""
    from diagnostic_msgs.msg import DiagnosticArray
    from sage_common.diagnostics import status_values
    from sage_common.qos import reliable_qos
    from sage_common.ros_client import RosClient
    from sage_interfaces.srv import ResetEpisode
    from std_msgs.msg import Float64MultiArray

    env = node_environment(domain_id=domain)
    os.environ.update(env)
    step_dt = 1.0 / rate
    tag = f'{rate:.0f}hz'
    probe = RosClient(f'groot_bench_{tag}')
    procs = []
    try:
        commands = probe.collect(Float64MultiArray, OUTPUT_TOPIC, reliable_qos(100),
                                 keep=lambda m: time.monotonic())
        diags = probe.collect(DiagnosticArray, '/diagnostics', reliable_qos(50),
                              keep=lambda m: (time.monotonic(), m))
        sim_argv = [str(executable_path('sage_sim', 'sim_robot'))] + ros_args(
            'sim_robot', {'width': 64, 'height': 64},
            params_files=[package_share('sage_sim') / 'config' / 'sim_robot.yaml'])
        procs.append(NodeProcess(sim_argv, env, Path(log_dir) / f'sim_robot_{tag}.log',
                                 'sage_sim/sim_robot'))
        server, port = start_server(log_dir, env, f'server_{tag}', '--latency',
                                    str(SERVER_LATENCY_S), '--step-dt', str(step_dt))
        procs.append(server)
        teacher_argv = [str(executable_path('sage_groot', 'groot_teacher'))] + ros_args(
            'groot_teacher', {'port': port, 'rate': rate, 'output_topic': OUTPUT_TOPIC},
            params_files=[package_share('sage_groot') / 'config' / 'groot_teacher.yaml'])
        teacher = NodeProcess(teacher_argv, env, Path(log_dir) / f'groot_teacher_{tag}.log',
                              'sage_groot/groot_teacher')
        procs.append(teacher)
        procs[0].wait_for_output(r'sim_robot: joints', timeout=60)
        teacher.wait_for_output(r'groot_teacher: receiving /sim/episode', timeout=60)
        teacher.wait_for_output(r'groot_teacher: receiving /joint_states', timeout=60)
        reply = probe.call(ResetEpisode, '/sim_robot/reset_episode',
                           ResetEpisode.Request(seed=0, duration=seconds + 10.0))
        if not reply.success:
            raise RuntimeError(f'reset refused: {reply.message}')
        probe.wait_for(lambda: commands, timeout=30, what="the teacher's first command")
        end = commands[0] + seconds
        time.sleep(max(0.0, end - time.monotonic()))
        load = round(os.getloadavg()[0], 2)
        seen = len(diags)

        def teacher_status():
            for _, array in diags[seen:]:
                for status in array.status:
                    if status.name == 'groot_teacher':
                        return status_values(status)
            return None

        probe.wait_for(lambda: teacher_status() is not None, timeout=10,
                       what='groot_teacher diagnostics')
        values = teacher_status()
        for proc in procs:
            proc.raise_if_died()
    finally:
        probe.close()
        for proc in reversed(procs):
            proc.stop()
    times = np.array([t for t in commands if t <= end])
    intervals = np.diff(times)
    span = float(times[-1] - times[0])
    gaps = summarize_ms(intervals)
    return {'rate_hz': rate, 'chunk_step_s': step_dt,
            'chunk_s': round(wire.DEFAULT_HORIZON * step_dt, 3),
            'server_latency_s': SERVER_LATENCY_S, 'seconds': round(span, 2),
            'commands': int(times.size),
            'command_rate_hz': round(intervals.size / span, 2) if span > 0 else 0.0,
            'gap_p50_ms': gaps['p50_ms'], 'gap_p99_ms': gaps['p99_ms'],
            'gap_max_ms': gaps['max_ms'],
            'gap_threshold_ms': round(GAP_PERIODS * step_dt * 1e3, 1),
            'gaps_over_period': int(np.sum(intervals > GAP_PERIODS * step_dt)),
            'stalled_ticks': int(values['stalled_ticks']),
            'chunks': int(values['chunks']), 'skipped_steps': int(values['skipped_steps']),
            'obs_to_chunk_p50_ms': round(float(values['obs_to_chunk_p50_ms']), 1),
            'obs_to_chunk_p99_ms': round(float(values['obs_to_chunk_p99_ms']), 1),
            'faults_total': int(values['faults_total']), 'load_average_1min': load}


def measure(quick=False, log=print):
    """Return the "groot" figures: client overhead per protocol, teacher gaps per rate."""
    requests = REQUESTS_QUICK if quick else REQUESTS_FULL
    seconds = TEACHER_SECONDS_QUICK if quick else TEACHER_SECONDS_FULL
    domain = pick_domain_id('SAGE_BENCH_DOMAIN_ID')
    with tempfile.TemporaryDirectory(prefix='sage-groot-bench-') as log_dir:
        client = {}
        for protocol in wire.PROTOCOLS:
            client[protocol] = client_overhead(protocol, requests, log_dir)
            c = client[protocol]
            log(f'[groot bench] {protocol}: client encode+decode p50/p99 '
                f'{c["client_overhead"]["p50_ms"]}/{c["client_overhead"]["p99_ms"]} ms, '
                f'loopback round trip {c["round_trip"]["p50_ms"]}/{c["round_trip"]["p99_ms"]} '
                f'ms')
        teacher = {}
        for rate in RATES_HZ:
            t = teacher[f'{rate:.0f}hz'] = teacher_gaps(rate, seconds, domain, log_dir)
            log(f'[groot bench] teacher at {rate:.0f} Hz, server latency {SERVER_LATENCY_S} s: '
                f'{t["command_rate_hz"]} Hz, gaps p99/max {t["gap_p99_ms"]}/{t["gap_max_ms"]} '
                f'ms, {t["gaps_over_period"]} over {t["gap_threshold_ms"]} ms, '
                f'{t["stalled_ticks"]} stalled ticks')
    recommended = teacher[f'{RATES_HZ[0]:.0f}hz']
    return {'quick': quick, 'client': client,
            'teacher_slow_server': dict(
                teacher, goal='no gap in commands longer than one control period at '
                f'{RATES_HZ[0]:.0f} Hz with {SERVER_LATENCY_S * 1e3:.0f} ms of server latency',
                goal_met=recommended['gaps_over_period'] == 0),
            'note': ('round_trip: encode, ZeroMQ exchange with sage_policy_server (the '
                     'expert) on 127.0.0.1, decode, so it contains client_overhead. Teacher '
                     'gaps: intervals between commands as received here over DDS (reliable), '
                     "from the episode's first command; gaps_over_period counts those over "
                     "gap_threshold_ms (1.5 periods); stalled_ticks is the teacher's own "
                     'count of ticks without a step after the first chunk.')}
