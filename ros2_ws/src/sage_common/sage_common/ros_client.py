# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
RosClient: the one in-process ROS client of plain Python code.

The demo, the soak, the benchmarks and the tests talk to the graph through it: an rclpy
node spun on a background thread (`BackgroundNode`) with what such code does with it:
collect a topic into a list, wait for a condition, call a service (waiting for it to
appear), and list what is not yet visible on the graph. The demo's `RosLink`, the soak's
`SoakLink`, the benchmarks' listeners and the tests' `RosTestNode` are this class or
subclasses of it. A timeout raises `timeout_error` (TimeoutError; the tests make it an
AssertionError, the demo its DemoFailure).

    ros = RosClient('my_tool')
    joints = ros.collect(JointState, '/joint_states', sensor_qos())
    ros.wait_for(lambda: joints, timeout=10, what='joint states')
    reply = ros.call(Trigger, '/sleep_manager/start_sleep', Trigger.Request())
    ros.close()
"""

import time

from sage_common.node import BackgroundNode


class RosClient(BackgroundNode):
    """An rclpy node in this process, spun by a background executor (see BackgroundNode)."""

    timeout_error = TimeoutError  # what wait_for and call raise when time runs out
    poll_s = 0.02                 # how often waits look at their condition

    def __init__(self, name, **kwargs):
        self._clients = {}
        super().__init__(name, **kwargs)

    def collect(self, msg_type, topic, qos=10, keep=None):
        """
        Subscribe and return the list every received message is appended to.

        keep: a function of the message whose result is appended instead (e.g. the receipt
        time), so a long run does not hold every message.
        """
        received = []
        if keep is None:
            callback = received.append
        else:
            def callback(msg):
                received.append(keep(msg))
        self.node.create_subscription(msg_type, topic, callback, qos)
        return received

    def wait_for(self, predicate, timeout=20.0, what='condition', alive=None):
        """
        Poll predicate until it is true; raise timeout_error after timeout seconds.

        alive: called at every poll; it raises to end the wait early (e.g. a node died).
        """
        deadline = time.monotonic() + timeout
        while True:
            if alive is not None:
                alive()
            if predicate():
                return
            if time.monotonic() >= deadline:
                raise self.timeout_error(f'timed out after {timeout} s waiting for {what}')
            time.sleep(self.poll_s)

    def client(self, srv_type, name):
        """Return this node's client of service name (created on first use)."""
        client = self._clients.get(name)
        if client is None:
            client = self._clients[name] = self.node.create_client(srv_type, name)
        return client

    def call(self, srv_type, name, request, timeout=20.0, alive=None):
        """
        Call a service and return the response.

        Waits up to timeout s for the service to appear, then up to timeout s for the answer;
        alive is called while waiting (see wait_for).
        """
        client = self.client(srv_type, name)
        deadline = time.monotonic() + timeout
        while not client.service_is_ready():
            if alive is not None:
                alive()
            if time.monotonic() >= deadline:
                raise self.timeout_error(f'service {name} did not appear within {timeout} s')
            time.sleep(self.poll_s)
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done():
            if alive is not None:
                alive()
            if time.monotonic() >= deadline:
                raise self.timeout_error(f'service {name} did not answer within {timeout} s')
            time.sleep(self.poll_s)
        return future.result()

    def missing(self, node_names=(), services=()):
        """
        Return the node names and services not yet visible on the ROS graph.

        services: names of services this client has (see client()); a missing one is listed
        as 'service <name>'.
        """
        visible = set(self.node.get_node_names())
        waiting = [name for name in node_names if name not in visible]
        waiting += [f'service {s}' for s in services if not self._clients[s].service_is_ready()]
        return waiting
