# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The life of a node process: spin until SIGINT/SIGTERM, a clear message on fatal errors."""

import faulthandler
import signal
import sys
import threading

_stop_signals = []  # the SIGINTs init_rclpy()'s handler saw


def init_rclpy(args=None):
    """
    rclpy.init(args) for a node process, with a SIGINT that stops it like SIGTERM does.

    rclpy's signal handler wakes the executors and shuts the context down from its own
    thread, and the executor then leaves spin() between two waits (ExternalShutdownException);
    that is all a node needs (SIGTERM works so). But it also chains to Python's SIGINT
    handler, whose KeyboardInterrupt lands wherever the main thread is: inside rclpy's C++
    conversion of an incoming message it comes out as a RuntimeError ("Unable to convert call
    argument '0' to Python object", exit code 1); inside rclpy's Python code it leaves a
    half-built Task behind; and the main thread, out of spin() at once, destroys executors
    while rclpy's signal thread still triggers their guard conditions (SIGSEGV in
    rcl_trigger_guard_condition). The handler installed here (before rclpy.init, so that
    rclpy chains to it) only records the signal, for stop_requested. A SIGINT handler someone
    else installed (or SIG_IGN) is left alone.

    SIGUSR1 prints every thread's Python stack to stderr (faulthandler, async-signal-safe):
    `kill -USR1 <pid>` tells where a node that does not respond is stuck.
    """
    import rclpy

    if hasattr(signal, 'SIGUSR1'):
        faulthandler.register(signal.SIGUSR1, all_threads=True)

    def on_sigint(signum, frame):
        _stop_signals.append(signum)

    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
        signal.signal(signal.SIGINT, on_sigint)
    rclpy.init(args=args)


def block_stop_signals():
    """
    Keep SIGINT and SIGTERM away from the calling (worker) thread and the threads it starts.

    The kernel hands a process signal to any thread that does not block it. A worker thread
    inside native code (MuJoCo's renderer and the GL driver's own threads, which inherit the
    mask of the thread that starts them; DDS calls) would then take the stop signal as an
    interrupted system call it may not retry; blocked there, the signal goes to the main
    thread, where rclpy's handler stops the node.
    """
    if hasattr(signal, 'pthread_sigmask'):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


def stop_requested(context=None):
    """
    Return True once the process is asked to stop.

    That is: init_rclpy()'s handler saw SIGINT, or the context (default: rclpy's) is shut
    down, as rclpy does on SIGINT and SIGTERM. An error raised then (creating a node on the
    invalid context, a callback publishing on it) is part of the stop, not a failure.
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
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    init_rclpy(args)
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
    Run spin (default executor.spin) until SIGINT/SIGTERM shuts the executor's context down.

    A signal can invalidate the context between two waits, and rclpy then raises RCLError
    ("the given context is not valid") instead of ExternalShutdownException, and a callback
    can fail on the context shut down under it: all mean shutdown. Errors raised before any
    stop (see stop_requested) propagate.
    """
    from rclpy.executors import ExternalShutdownException

    try:
        (spin or executor.spin)()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if not stop_requested(executor.context):
            raise
