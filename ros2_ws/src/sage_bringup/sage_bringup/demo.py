# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The main job (`make demo`): wake -> sleep -> dream -> redeploy, twice, on the simulated robot.

    python -m sage_bringup.demo [--config FILE] [--domain-id N] [--verbose]

Over real ROS 2, every node a separate process started by the supervisor (own DDS domain,
loopback only), with a fresh model registry and bag store under runs/<run-id>/:

    prepare    create the first model versions deterministically from the configured seed
    bringup    sim_robot, context_node, h_module, sleep_manager; then the driver nodes
    cycle N:
      wake     cycle 1: the teacher drives, SAGE runs in shadow mode; later cycles (DAgger):
               SAGE drives and the teacher only labels, on /teacher/commands. The sleep
               manager records everything.
      sleep    /sleep_manager/start_sleep: the trainer consolidates and dreams on the bags,
               validates, deploys; the sleep manager has the nodes hot-reload the new versions.
               The demo checks the versions the nodes stamp on their messages.
      evaluate SAGE drives alone (teacher stopped, recording off) on held-out seeds.
    offline    plain behaviour cloning trained on the same bags for the wall-clock time of all
               sleeps together, and every policy evaluated in simulated time on the held-out
               seeds, nominal and perturbed (sage_evaluate; the learning bench measures the
               ablations of sleep, dreams included)
    report     reports/<run-id>/report.md, report.json, PNG plots; reports/latest -> it

Exit codes: 0 the cycle ran and produced its report (whatever the success rates — the report
says whether the goals were met), 1 a node or phase failed, 2 bad configuration or graph,
130 interrupted. The nodes are always stopped.
"""

import argparse
import signal
import sys
import time

from sage_bringup import graph as graph_mod
from sage_bringup import supervisor as sup
from sage_bringup.demo_config import ConfigError, default_config_file, load_config
from sage_bringup.demo_offline import BaselineFailed
from sage_bringup.demo_phases import DemoPhases
from sage_bringup.demo_ros import DemoFailure
from sage_common.processes import pick_domain_id


class Interrupted(Exception):
    """SIGINT/SIGTERM while the demo runs."""


def _phase(phases, name, body):
    phases.say(f'== {name}  (t+{time.monotonic() - phases.started:.0f} s)')
    start = time.monotonic()
    body()
    phases.results['phase_seconds'][name] = round(time.monotonic() - start, 1)


def run(phases):
    """Run every phase in order; return the exit code. The nodes are stopped in every case."""
    try:
        _phase(phases, 'prepare', phases.phase_prepare)
        _phase(phases, 'bringup', phases.phase_bringup)
        for index, cycle in enumerate(phases.config.cycles, 1):
            _phase(phases, f'wake {index}', lambda: phases.phase_wake(index, cycle))
            _phase(phases, f'sleep {index}', lambda: phases.phase_sleep(index))
            _phase(phases, f'evaluate {index}', lambda: phases.phase_evaluate(index))
        phases.stop_graph()
        _phase(phases, 'offline', phases.phase_offline)
        _phase(phases, 'report', phases.phase_report)
        return 0
    except (graph_mod.GraphError, ConfigError) as exc:
        phases.say(f'demo: error: {exc}')
        return 2
    except (DemoFailure, BaselineFailed, sup.NodeDied, sup.StartupError) as exc:
        phases.say(f'demo: FAILED: {exc}')
        if phases.node_log is not None:
            phases.say(f'demo: node output in {phases.node_log.name}')
        return 1
    except Interrupted as exc:
        phases.say(f'demo: interrupted by {exc}')
        return 130
    finally:
        phases.teardown()


def _raise_interrupted(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='sage_bringup.demo',
                                     description=__doc__.split('\n')[1])
    parser.add_argument('--config', help='demo configuration (default: sage_bringup '
                        'config/demo.yaml)')
    parser.add_argument('--domain-id', type=int, help='ROS domain of the demo (overrides the '
                        'config)')
    parser.add_argument('--verbose', action='store_true', help="show the nodes' output live")
    args = parser.parse_args(argv)
    config_path = args.config or default_config_file()
    overrides = {} if args.domain_id is None else {'domain_id': args.domain_id}
    try:
        config = load_config(config_path, overrides)
    except ConfigError as exc:
        print(f'demo: error: {exc}', file=sys.stderr)
        return 2
    domain_id = config.domain_id
    if domain_id is None:
        domain_id = pick_domain_id('SAGE_DEMO_DOMAIN_ID')
    try:
        sup.node_environment(domain_id=domain_id)
    except ValueError as exc:
        print(f'demo: error: {exc}', file=sys.stderr)
        return 2
    print(f'SAGE demo: config {config_path}', flush=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise_interrupted)
    return run(DemoPhases(config, domain_id, verbose=args.verbose))


if __name__ == '__main__':
    sys.exit(main())
