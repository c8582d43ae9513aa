# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""An rclpy node spun on a background thread (tools, tests, the demo, nodes' side services)."""

import threading


class BackgroundNode:
    """
    A node that plain Python code can use while its callbacks run on a thread.

    Without `context` it has its own rclpy context, so it coexists with any other rclpy user
    in the process, and `close()` shuts that context down too; with one (a node's side
    service) it shares it and leaves it alone. `node_kwargs` go to rclpy.create_node.
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
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self):
        from sage_common.node_main import spin_until_shutdown

        def spin():
            while not self._stop.is_set() and self.context.ok():
                self.executor.spin_once(timeout_sec=self._poll_s)

        spin_until_shutdown(self.executor, spin)

    def close(self):
        """Stop spinning and destroy the node (and shut down a context of its own)."""
        self._stop.set()
        self._thread.join(5)
        self.executor.shutdown()
        self.node.destroy_node()
        if self._own_context:
            self.context.try_shutdown()
