# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""An rclpy node spun on a background thread (tools, tests, the demo, nodes' side services)."""

import sys
import threading


class BackgroundNode:
    """
    A node that plain Python code can use while its callbacks run on a thread.

    Without `context` it has its own rclpy context, so it coexists with any other rclpy user
    in the process, and `close()` shuts that context down too; with one (a node's side
    service) it shares it and leaves it alone. `node_kwargs` go to rclpy.create_node.

    Call close() before the process exits: the spinning thread is a daemon only so that a
    forgotten close() cannot hang the exit, and a daemon thread still inside rclpy when the
    interpreter finalizes aborts the process ("terminate called without an active
    exception", SIGABRT) as it wakes up.
    """

    def __init__(self, name, context=None, poll_s=0.05, **node_kwargs):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self._own_context = context is None
        if self._own_context:
            context = rclpy.context.Context()
            rclpy.init(context=context)
        self.context = context
        self.node = rclpy.create_node(name, context=context, **node_kwargs)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._spin, name=f'spin-{name}', daemon=True)
        self._thread.start()

    def _spin(self):
        from sage_common.node_main import block_stop_signals, spin_until_shutdown

        block_stop_signals()

        def spin():
            while not self._stop.is_set() and self.context.ok():
                self.executor.spin_once(timeout_sec=self._poll_s)

        spin_until_shutdown(self.executor, spin)

    def close(self, timeout=30.0):
        """
        Stop spinning, join the thread, destroy the node; return True once the thread ended.

        The thread leaves within one poll period unless a callback is running (e.g. a model
        load): that callback is waited for, up to `timeout` seconds. Closing twice is a no-op.
        """
        self._stop.set()
        if self._closed:
            return True
        self._thread.join(timeout)
        if self._thread.is_alive():
            # Destroying the node under a running callback would only add a second failure.
            print(f'{self.node.get_name()}: spin thread still busy after {timeout} s; the '
                  f'process may abort when it exits', file=sys.stderr)
            return False
        self._closed = True
        self.executor.shutdown()
        self.node.destroy_node()
        if self._own_context:
            self.context.try_shutdown()
        return True


class SideService(BackgroundNode):
    """
    A service served from its own helper node and executor thread.

    Slow requests (loading and probing a model) then never delay the owner's data path,
    which keeps a single-threaded executor (far cheaper in rclpy than a multi-threaded one).
    The owner must close() it on exit, before destroying itself (see BackgroundNode).
    """

    def __init__(self, owner, srv_type, srv_name, callback):
        # No global arguments: a `__node:=` remap of the owner must not rename this node too.
        super().__init__(f'_{owner.get_name()}_side', context=owner.context, poll_s=0.1,
                         start_parameter_services=False, use_global_arguments=False)
        self.node.create_service(srv_type, srv_name, callback)
