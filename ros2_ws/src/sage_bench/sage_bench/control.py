# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Control benchmark: sim robot + perception + H + L as separate processes, per precision.

For each precision (fp32, fp16, int8) the installed `sim_robot`, `context_node`, `h_module`
and `l_module` run in their own processes on a private registry holding the deterministic
initial models; the L-module drives the simulated arm. Each precision runs three times: the
L-module commanding only on its 100 Hz timer (`react_on_arrival:=false`, the baseline), then
commanding each new chunk at once (the default), then the same under SCHED_FIFO
(`realtime_priority:=10`, where the machine permits it). This process listens to the
commands, the camera images, the diagnostics and `/l_module/holding`:

* command rate (Hz), the p99 and largest interval between commands as received here, and
  the L timer's own jitter p99 (|interval - period| per tick, from the previous tick or
  re-phase);
* camera stamp -> first command for that frame p50/p99 (ms), from the L-module's diagnostics
  (camera stamp, carried through context and compressed context, to the first command that
  blends the resulting chunk in), beside the sum of its floors measured in the same run: the
  image hop (camera stamp -> image received here, p50), the context node's preprocessing and
  encoder, and the bare H and L compute (p50 each);
* time from SIGKILL of the H-module to the first holding command (ms), and how long after
  the watchdog deadline (last compressed context received + stale_timeout) it came;

plus, offline, the bare ONNX compute times and the accuracy loss of FP16/INT8 against FP32
on 64 random inputs. The first 3 s of each run are warm-up and are not measured; the 1-min
load average at the end of each run is recorded (other work on the machine shows there).

    python -m sage_bench.control [--quick] [--seconds S] [--out bench/results]
"""

import argparse
import json
import os
from pathlib import Path
import signal
import tempfile
import time

import numpy as np
from sage_bench import results_dir
from sage_common.ros_client import RosClient

WARMUP_S = 3.0
STALE_TIMEOUT_S = 0.1  # the l_module default the run uses
PRECISIONS = ('fp32', 'fp16', 'int8')
# name: (react_on_arrival, realtime_priority) of the L-module; the baseline first
MODES = {'timer_only': (False, 0), 'react_on_arrival': (True, 0), 'react_realtime': (True, 10)}
GOALS = {'command_rate_hz': 100.0, 'jitter_p99_ms_timer': 2.0, 'camera_to_command_p99_ms': 12.0,
         'hold_after_deadline_ms': 100.0}


def offline_figures(registry_root, samples=64, repeats=300):
    """Return bare ONNX compute times and FP16/INT8 output error vs FP32, per model."""
    from sage_common.stats import summarize_ms
    from sage_hl_control.runtime import h_probe_feeds, l_probe_feeds, load_runner

    result = {}
    for kind in ('h_module', 'l_module'):
        runners = {p: load_runner(kind, registry_root, precision=p) for p in PRECISIONS}
        cfg = runners['fp32'].config
        feeds = [h_probe_feeds(cfg['window'], seed=s) if kind == 'h_module'
                 else l_probe_feeds(cfg['num_joints'], seed=s) for s in range(samples)]
        outputs = {p: np.stack([r.run(f)[0] for f in feeds]).astype(np.float64)
                   for p, r in runners.items()}
        entry = {'version': runners['fp32'].version,
                 'param_count': runners['fp32'].mv.metadata.get('param_count')}
        for p, r in runners.items():
            times = []
            for i in range(repeats):
                start = time.perf_counter()
                r.run(feeds[i % samples])
                times.append(time.perf_counter() - start)
            entry[p] = {'compute': summarize_ms(times)}
            if p != 'fp32':
                diff = outputs[p] - outputs['fp32']
                ref = outputs['fp32']
                if kind == 'l_module':  # error relative to the predicted motion
                    ref = ref - np.stack([f['joint_pos'][0] for f in feeds])[:, None, :]
                rmse = float(np.sqrt(np.mean(diff ** 2)))
                entry[p]['error_vs_fp32'] = {
                    'max_abs': float(np.abs(diff).max()), 'rmse': rmse,
                    'rel_rmse': rmse / max(float(np.sqrt(np.mean(ref ** 2))), 1e-12)}
        result[kind] = entry
    return result


class Listener(RosClient):
    """Commands, holding flags and diagnostics received in this process."""

    def __init__(self):
        from diagnostic_msgs.msg import DiagnosticArray
        from sage_common.diagnostics import status_values
        from sage_common.qos import latched_qos, reliable_qos
        from sage_common.messages import stamp_to_sec
        from sage_common.qos import qos_from_name
        from sage_interfaces.msg import CompressedContext
        from sensor_msgs.msg import Image
        from std_msgs.msg import Bool, Float64MultiArray

        self._status_values = status_values
        super().__init__('control_bench')
        self.diags = {}      # status name -> latest values
        # monotonic receipt times; holding: (monotonic time, bool)
        self.commands = self.collect(Float64MultiArray, '/arm_controller/commands',
                                     reliable_qos(100), keep=lambda m: time.monotonic())
        self.holding = self.collect(Bool, '/l_module/holding', latched_qos(),
                                    keep=lambda m: (time.monotonic(), m.data))
        self.compressed = self.collect(CompressedContext, '/sage/context_compressed',
                                       reliable_qos(), keep=lambda m: time.monotonic())
        # (monotonic receipt, camera stamp -> receipt in s): the image hop, as the context
        # node's subscription (same QoS) gets it
        self.images = self.collect(Image, '/camera/color/image_raw', qos_from_name('sensor'),
                                   keep=lambda m: (time.monotonic(),
                                                   time.time() - stamp_to_sec(m.header.stamp)))
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 50)

    def _on_diag(self, msg):
        for status in msg.status:
            self.diags[status.name] = self._status_values(status)


def cpu_seconds(pid):
    """Return the user + system CPU seconds a process has used so far."""
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def _float(values, key):
    try:
        return round(float(values[key]), 3)
    except (KeyError, TypeError, ValueError):
        return None


def _ms(values, q):
    return round(float(np.percentile(values, q)) * 1e3, 3) if len(values) else None


def run_pipeline(registry_root, precision, duration, domain_id, log_dir,
                 mode='react_on_arrival'):
    """Run sim + perception + H + L once with one precision and mode; return its figures."""
    from sage_common.processes import (executable_path, node_environment, NodeProcess,
                                       package_share, ros_args)

    env = node_environment(domain_id=domain_id)
    os.environ.update(env)
    common = {'model_dir': str(registry_root)}
    react, priority = MODES[mode]
    specs = [('sage_sim', 'sim_robot', {}),
             ('sage_perception', 'context_node', common),
             ('sage_hl_control', 'h_module', dict(common, precision=precision)),
             ('sage_hl_control', 'l_module', dict(common, precision=precision,
                                                  react_on_arrival=react,
                                                  realtime_priority=priority))]
    listener = Listener()
    procs = {}
    try:
        for package, exe, params in specs:
            # The L-module's limits: the sim's MJCF and the overrides of its config file.
            files = ([package_share(package) / 'config' / 'l_module.yaml']
                     if exe == 'l_module' else [])
            argv = [str(executable_path(package, exe))] + ros_args(exe, params,
                                                                   params_files=files)
            procs[exe] = NodeProcess(argv, env, Path(log_dir) / f'{precision}_{mode}_{exe}.log',
                                     f'{package}/{exe}')
        listener.wait_for(lambda: len(listener.commands) > 50 and listener.holding and
                          not listener.holding[-1][1], 60, 'the L-module driving from the model')
        time.sleep(WARMUP_S)
        start = time.monotonic()
        cpu0 = {exe: cpu_seconds(proc.pid) for exe, proc in procs.items()}
        first = len(listener.commands)
        time.sleep(duration)
        end = time.monotonic()
        cpu = {exe: round(100.0 * (cpu_seconds(proc.pid) - cpu0[exe]) / (end - start), 1)
               for exe, proc in procs.items()}
        load = round(os.getloadavg()[0], 2)
        times = np.array([t for t in listener.commands[first:] if t <= end])
        hops = [hop for t, hop in list(listener.images) if start <= t <= end]
        l_diag = dict(listener.diags.get('sage: l_module', {}))
        h_diag = dict(listener.diags.get('sage: h_module', {}))
        p_diag = next((dict(v) for k, v in list(listener.diags.items())
                       if k.endswith('reality context')), {})
        intervals = np.diff(times)
        floors = {'image_hop_p50_ms': _ms(hops, 50),
                  'preprocess_p50_ms': _float(p_diag, 'preprocess_ms_p50'),
                  'encoder_p50_ms': _float(p_diag, 'encoder_ms_p50'),
                  'h_compute_p50_ms': _float(h_diag, 'compute_p50_ms'),
                  'l_compute_p50_ms': _float(l_diag, 'compute_p50_ms')}
        figures = {
            'react_on_arrival': react,
            'realtime_priority': l_diag.get('realtime_priority'),
            'duration_s': round(end - start, 2),
            'commands': int(times.size),
            'command_rate_hz': round(float(times.size / (end - start)), 2),
            'interval_p99_ms_received': _ms(intervals, 99),
            'interval_max_ms_received': _ms(intervals, 100),
            'jitter_p99_ms_timer': _float(l_diag, 'jitter_p99_ms'),
            'camera_to_command_p50_ms': _float(l_diag, 'stamp_to_command_p50_ms'),
            'camera_to_command_p99_ms': _float(l_diag, 'stamp_to_command_p99_ms'),
            'floors': floors,
            'floor_sum_ms': (round(sum(floors.values()), 3)
                             if None not in floors.values() else None),
            'image_hop_p99_ms': _ms(hops, 99),
            'h_compute_p99_ms': _float(h_diag, 'compute_p99_ms'),
            'l_compute_p99_ms': _float(l_diag, 'compute_p99_ms'),
            'h_rate_hz': _float(h_diag, 'rate_hz'),
            'rephased': l_diag.get('rephased'),
            'skipped_ticks': l_diag.get('skipped_ticks'),
            'interventions': l_diag.get('interventions'),
            'rejected_context_out_of_order': l_diag.get('rejected_context_out_of_order', '0'),
            'cpu_percent': cpu,
            'load_average_1min': load,
        }
        # Kill the H-module while driving: the L-module must hold once its inputs are stale.
        listener.wait_for(lambda: not listener.holding[-1][1], 30, 'driving before the kill')
        holds_before = len(listener.holding)
        kill_time = time.monotonic()
        procs['h_module'].signal(signal.SIGKILL)
        listener.wait_for(lambda: any(h for _, h in listener.holding[holds_before:]), 5,
                          'a hold')
        hold_time = next(t for t, h in listener.holding[holds_before:] if h)
        last_context = max(t for t in listener.compressed if t <= kill_time)
        figures['kill_to_hold_ms'] = round((hold_time - kill_time) * 1e3, 1)
        figures['last_context_to_hold_ms'] = round((hold_time - last_context) * 1e3, 1)
        figures['hold_after_deadline_ms'] = round(
            (hold_time - last_context - STALE_TIMEOUT_S) * 1e3, 1)
        return figures
    finally:
        for proc in reversed(list(procs.values())):
            proc.stop()
        listener.close()


def summary_line(precision, runs):
    """Return one printed line: each mode's latency, floors, rate and jitter."""
    parts = []
    for mode, f in runs.items():
        parts.append(f"{mode}: camera->first command p50/p99 {f['camera_to_command_p50_ms']}/"
                     f"{f['camera_to_command_p99_ms']} ms (floors {f['floor_sum_ms']} ms), "
                     f"{f['command_rate_hz']} Hz, timer jitter p99 {f['jitter_p99_ms_timer']} "
                     f"ms, load {f['load_average_1min']}")
    return f'[control bench] {precision}: ' + '; '.join(parts)


def run(out_dir, quick=False, domain_id=None, seconds=None):
    """Run the control benchmark; write <out_dir>/control.json and return the results."""
    from sage_common.processes import pick_domain_id
    from sage_common.registry import ModelRegistry
    from sage_hl_control.models import publish_initial_h_module, publish_initial_l_module
    from sage_perception.encoder import publish_initial_encoder

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    duration = float(seconds or (8.0 if quick else 60.0))
    domain_id = domain_id or pick_domain_id('SAGE_BENCH_DOMAIN_ID')
    with tempfile.TemporaryDirectory(prefix='control-bench-') as tmp:
        registry = ModelRegistry(Path(tmp) / 'models')
        publish_initial_encoder(registry, seed=0)
        publish_initial_h_module(registry, seed=0)
        publish_initial_l_module(registry, seed=0, num_joints=2)
        results = {'quick': quick, 'duration_s_per_precision': duration,
                   'goals': GOALS, 'offline': offline_figures(registry.root),
                   'pipeline': {}}
        for precision in PRECISIONS:
            runs = results['pipeline'][precision] = {}
            for mode in MODES:
                runs[mode] = run_pipeline(registry.root, precision, duration, domain_id, tmp,
                                          mode)
                print(f'[control bench] {precision} {mode}: {json.dumps(runs[mode])}',
                      flush=True)
            print(summary_line(precision, runs), flush=True)
    for kind, entry in results['offline'].items():
        for precision in PRECISIONS:
            print(f'[control bench] offline {kind} {precision}: {json.dumps(entry[precision])}')
    path = out_dir / 'control.json'
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + '\n')
    print(f'[control bench] wrote {path}')
    return results


def main(argv=None):
    """Command line entry point."""
    parser = argparse.ArgumentParser(description='SAGE control benchmark')
    parser.add_argument('--quick', action='store_true', help='8 s per run instead of 60')
    parser.add_argument('--seconds', type=float, default=None,
                        help='measured seconds per run (precision and mode)')
    parser.add_argument('--out', default=str(results_dir()))
    args = parser.parse_args(argv)
    run(args.out, quick=args.quick, seconds=args.seconds)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
