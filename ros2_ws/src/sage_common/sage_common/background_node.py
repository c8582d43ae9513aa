# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""An rclpy node with its own context, spun on a background thread (tools, tests, the demo)."""

import threading


class BackgroundNode:
    """
    A node that tools can use from plain Python code while its callbacks run on a thread.

    It has its own rclpy context, so it coexists with any other rclpy user in the process;
    `close()` stops the thread and shuts the context down.
    """

    def __init__(self, name):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.context.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self):
        while not self._stop.is_set() and self.context.ok():
            self.executor.spin_once(timeout_sec=0.05)

    def close(self):
        """Stop spinning, destroy the node and shut the context down."""
        self._stop.set()
        self._thread.join(5)
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()
