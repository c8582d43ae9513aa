# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The life of a node process: spin until SIGINT/SIGTERM, a clear message on fatal errors."""

import sys


def run_node(make_node, name, args=None, fatal=(ValueError,), on_exit=None):
    """
    Create a node with make_node() and spin it; return the process exit code.

    0 after SIGINT/SIGTERM; 1 when creating or running the node raised one of `fatal` (the
    message is printed as `<name>: fatal: ...`), or when on_exit(node) — called before the
    node is destroyed, e.g. to stop its threads — returns a failure message.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = make_node()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        spin_until_shutdown(executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except fatal as exc:
        print(f'{name}: fatal: {exc}', file=sys.stderr)
        code = 1
    finally:
        if node is not None:
            failure = on_exit(node) if on_exit else None
            if failure:
                print(f'{name}: fatal: {failure}', file=sys.stderr)
                code = 1
            node.destroy_node()
        rclpy.try_shutdown()
    return code


def spin_until_shutdown(executor, spin=None):
    """
    Run spin (default executor.spin) until SIGINT/SIGTERM shuts the executor's context down.

    A signal can invalidate the context between two waits, and rclpy then raises RCLError
    ("the given context is not valid") instead of ExternalShutdownException: both mean
    shutdown. Errors while the context is still valid propagate.
    """
    from rclpy._rclpy_pybind11 import RCLError
    from rclpy.executors import ExternalShutdownException

    try:
        (spin or executor.spin)()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RCLError:
        if executor.context.ok():
            raise
