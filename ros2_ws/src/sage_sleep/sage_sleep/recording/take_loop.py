# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The recording subscriptions serviced by one thread with one wait set, not by the executor.

rclpy's executors spend far more Python per message than a recorder needs: per wait they
rebuild the wait set from every entity of the node, and per message they make a handler and
a task around the callback. At the recording benchmark's 320 messages/s that was about half
of the recorder's CPU. `RawTakeLoop` keeps the recording subscriptions in a callback group
that no executor executes (`NotExecuted`), waits on them alone in its own thread, takes
every ready message as raw CDR bytes and hands each batch to `deliver([(topic, data)...])`
at once (the recorder queues a batch under one lock). The node's timers and services stay
on the node's executor.

It uses rclpy's WaitSet and `take_message` as rclpy's own executor does (`_rclpy.WaitSet`,
`handle.take_message(type, raw)`), the same from Humble to Kilted.
"""

import contextlib
import threading

from rclpy.callback_groups import CallbackGroup
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from sage_common.node import block_stop_signals

from .recorder import name_native_thread


class NotExecuted(CallbackGroup):
    """A callback group no executor runs (nor waits on): RawTakeLoop services its entities."""

    def can_execute(self, entity):
        del entity
        return False

    def beginning_execution(self, entity):
        del entity
        return False

    def ending_execution(self, entity):
        del entity


class RawTakeLoop:
    """Waits on raw subscriptions in one thread; passes what they receive to deliver()."""

    def __init__(self, context, deliver, on_error=None, wait_s=0.1):
        self.context = context
        self.deliver = deliver
        self.on_error = on_error
        self.wait_ns = int(wait_s * 1e9)
        self.callback_group = NotExecuted()
        self._subs = []          # (subscription, topic, hook or None)
        self._changed = threading.Event()
        self._stopping = False
        self._thread = None
        self.waits = 0
        self.taken = 0

    def add(self, subscription, topic, hook=None):
        """Service subscription (created raw in self.callback_group); hook() runs per message."""
        self._subs = self._subs + [(subscription, topic, hook)]
        self._changed.set()

    def start(self):
        self._thread = threading.Thread(target=self._run, name='sage-recorder-take', daemon=True)
        self._thread.start()

    def stop(self, timeout=5.0):
        """Stop the thread (it notices within wait_s); return True once it ended."""
        self._stopping = True
        if self._thread is None:
            return True
        self._thread.join(timeout)
        ended = not self._thread.is_alive()
        if ended:
            self._thread = None
        return ended

    def _run(self):
        block_stop_signals()  # SIGINT/SIGTERM go to the main thread, which stops the node
        name_native_thread('sage-rec-take')
        while not self._stopping:
            try:
                self._serve(self._subs)
            except Exception as exc:  # noqa: B902 report, then keep serving
                if self._stopping or not self.context.ok():
                    return
                if self.on_error is not None:
                    self.on_error(exc)
                self._changed.wait(0.1)

    def _serve(self, subs):
        """Wait and take on subs until they change or the loop stops."""
        self._changed.clear()
        if not subs:
            self._changed.wait(self.wait_ns / 1e9)
            return
        with contextlib.ExitStack() as stack:
            handles = []
            for sub, topic, hook in subs:
                stack.enter_context(sub.handle)
                handles.append((sub.handle, sub.msg_type, topic, hook))
            stack.enter_context(self.context.handle)
            wait_set = _rclpy.WaitSet(len(handles), 0, 0, 0, 0, 0, self.context.handle)
            by_pointer = {entry[0].pointer: entry for entry in handles}
            deliver = self.deliver
            while not self._stopping and not self._changed.is_set():
                wait_set.clear_entities()
                for entry in handles:
                    wait_set.add_subscription(entry[0])
                wait_set.wait(self.wait_ns)
                self.waits += 1
                ready = wait_set.get_ready_entities('subscription')
                if not ready:
                    continue
                batch = []
                for pointer in ready:
                    handle, msg_type, topic, hook = by_pointer[pointer]
                    while True:
                        taken = handle.take_message(msg_type, True)
                        if taken is None:
                            break
                        batch.append((topic, taken[0]))
                        if hook is not None:
                            hook()
                if batch:
                    self.taken += len(batch)
                    deliver(batch)
