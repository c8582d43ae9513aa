# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
`sage_test_node`: a tiny process that misbehaves on demand. ONLY used by the tests.

It stands in for a SAGE node when testing the supervisor and the demo's fault handling (a
node that dies, crashes at start, ignores SIGINT, leaves a child behind). It does not use
ROS unless --print-params; it accepts a trailing `--ros-args ...` so the supervisor can start
it like any node.

    sage_test_node [--mode talk|exit|ignore-sigint|ignore-signals] [--after S] [--code N]
                   [--spawn-child] [--print-params]

talk           print a line every 0.2 s until SIGINT/SIGTERM, then exit 0
exit           print a line every 0.2 s, exit with --code after --after seconds
ignore-sigint  like talk, but SIGINT is ignored (only SIGTERM/SIGKILL stop it)
ignore-signals like talk, but SIGINT and SIGTERM are ignored (only SIGKILL stops it)
--spawn-child  also start a sleeping child process in the same process group, as a node
               running a helper (e.g. a trainer) would
--print-params first print `param <name> <TYPE> <value>` for every parameter the
               `--ros-args` give an rclpy node (what a real node would receive)
"""

import argparse
import signal
import subprocess
import sys
import time


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    ros_argv = []
    if '--ros-args' in argv:
        argv, ros_argv = argv[:argv.index('--ros-args')], argv[argv.index('--ros-args'):]
    parser = argparse.ArgumentParser(prog='sage_test_node', description=__doc__.split('\n')[1])
    parser.add_argument('--mode', choices=('talk', 'exit', 'ignore-sigint', 'ignore-signals'),
                        default='talk')
    parser.add_argument('--after', type=float, default=1.0, help='seconds before exiting')
    parser.add_argument('--code', type=int, default=1, help='exit code in mode exit')
    parser.add_argument('--spawn-child', action='store_true')
    parser.add_argument('--print-params', action='store_true')
    args = parser.parse_args(argv)
    if args.print_params:
        print_params(ros_argv)

    stopping = []
    ignored = {'ignore-sigint': (signal.SIGINT,),
               'ignore-signals': (signal.SIGINT, signal.SIGTERM)}.get(args.mode, ())
    for sig in (signal.SIGINT, signal.SIGTERM):
        if sig in ignored:
            signal.signal(sig, signal.SIG_IGN)
        else:
            signal.signal(sig, lambda signum, frame: stopping.append(signum))
    child = None
    if args.spawn_child:
        child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])
        print(f'child pid {child.pid}', flush=True)
    print(f'test node up, mode {args.mode}', flush=True)
    start = time.monotonic()
    tick = 0
    while not stopping:
        if args.mode == 'exit' and time.monotonic() - start >= args.after:
            print(f'exiting with code {args.code}', flush=True)
            return args.code
        print(f'tick {tick}', flush=True)
        tick += 1
        time.sleep(0.2)
    print(f'stopping on signal {signal.Signals(stopping[0]).name}', flush=True)
    if child is not None:
        child.terminate()
        child.wait()
    return 0


def print_params(ros_argv):
    """Print the parameters an rclpy node gets from ros_argv, with their types."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(args=['sage_test_node', *ros_argv], context=context)
    try:
        node = rclpy.create_node('sage_test_node', context=context,
                                 automatically_declare_parameters_from_overrides=True)
        for name, param in sorted(node.get_parameters_by_prefix('').items()):
            print(f'param {name} {param.type_.name} {param.value!r}', flush=True)
        node.destroy_node()
    finally:
        context.try_shutdown()


if __name__ == '__main__':
    sys.exit(main())
