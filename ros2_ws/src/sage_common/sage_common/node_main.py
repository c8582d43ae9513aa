# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The life of a node process: spin until SIGINT/SIGTERM, a clear message on fatal errors."""

import faulthandler
import signal
import sys
import threading

_stop_signals = []  # the SIGINT/SIGTERMs init_rclpy()'s handler saw
POLL_S = 0.1  # how often spin_until_shutdown looks for a stop signal between callbacks


def init_rclpy(args=None):
    """
    rclpy.init(args) for a node process whose SIGINT and SIGTERM stop it in one thread.

    rclpy's own signal handling shuts the context down from a thread of its own while the main
    thread leaves spin() and tears the node down; the two race. Seen here: the process hanging
    for good inside destroy_node (the teacher, the simulator: once in a test-suite run each),
    SIGSEGV in rcl_trigger_guard_condition, and (its chained KeyboardInterrupt landing inside
    rclpy's C++ message conversion) exit code 1. So rclpy installs no signal handler here: the
    handler below only records the signal, spin_until_shutdown sees it within POLL_S, and the
    main thread then stops everything in order (the node's threads, the node, the context).
    A handler someone else installed for SIGINT/SIGTERM (or SIG_IGN) is left alone.

    SIGUSR1 prints every thread's Python stack to stderr (faulthandler, async-signal-safe):
    `kill -USR1 <pid>` tells where a node that does not respond is stuck.
    """
    import rclpy

    if hasattr(signal, 'SIGUSR1'):
        faulthandler.register(signal.SIGUSR1, all_threads=True)

    def on_stop(signum, frame):
        _stop_signals.append(signum)

    if threading.current_thread() is threading.main_thread():
        for sig, default in ((signal.SIGINT, signal.default_int_handler),
                             (signal.SIGTERM, signal.SIG_DFL)):
            if signal.getsignal(sig) is default:
                signal.signal(sig, on_stop)
    try:
        from rclpy.signals import SignalHandlerOptions
    except ImportError:  # an rclpy without the option: its handlers chain to on_stop
        rclpy.init(args=args)
    else:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)


def block_stop_signals():
    """
    Keep SIGINT and SIGTERM away from the calling (worker) thread and the threads it starts.

    The kernel hands a process signal to any thread that does not block it. A worker thread
    inside native code (MuJoCo's renderer and the GL driver's own threads, which inherit the
    mask of the thread that starts them; DDS calls) would then take the stop signal as an
    interrupted system call it may not retry; blocked there, the signal goes to the main
    thread, which stops the node.
    """
    if hasattr(signal, 'pthread_sigmask'):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


def stop_requested(context=None):
    """
    Return True once the process is asked to stop.

    That is: init_rclpy()'s handler saw SIGINT or SIGTERM, or the context (default: rclpy's)
    is shut down. An error raised then (creating a node on the invalid context, a callback
    publishing on it) is part of the stop, not a failure.
    """
    import rclpy

    return bool(_stop_signals) or not rclpy.ok(context=context)


def run_node(make_node, name, args=None, fatal=(ValueError,), on_exit=None):
    """
    Create a node with make_node() and spin it; return the process exit code.

    0 after SIGINT/SIGTERM, even one that came while the node was being created; 1 when
    creating or running the node raised one of `fatal` (the message is printed as
    `<name>: fatal: ...`), or when on_exit(node) — called before the node is destroyed, e.g.
    to stop its threads — returns a failure message.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    init_rclpy(args)
    node = None
    code = 0
    try:
        node = make_node()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        spin_until_shutdown(executor)
    except fatal as exc:
        print(f'{name}: fatal: {exc}', file=sys.stderr)
        code = 1
    except Exception:
        if not stop_requested():
            raise
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
    Run spin until a stop is requested (see stop_requested); by default, the executor's callbacks.

    When the context is shut down under a spinning executor, rclpy raises RCLError ("the
    given context is not valid") or ExternalShutdownException, and a callback can fail on
    the invalid context: all mean shutdown. Errors raised before any stop propagate.
    """
    from rclpy.executors import ExternalShutdownException

    def spin_callbacks():
        while not stop_requested(executor.context):
            executor.spin_once(timeout_sec=POLL_S)

    try:
        (spin or spin_callbacks)()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if not stop_requested(executor.context):
            raise
