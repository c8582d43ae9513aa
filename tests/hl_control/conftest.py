# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Fixtures for the H/L-module DDS tests: a model registry and input publishers."""

import array
import threading
import time

import numpy as np
import pytest
from sage_perception import layout

JOINTS = ['joint0', 'joint1']
MEASURED = [0.3, -0.4]              # what the fake robot reports
LOWER, UPPER = [-6.2832, -3.0], [6.2832, 3.0]
MAX_VELOCITY = [8.0, 8.0]
MAX_ACCELERATION = [80.0, 80.0]
ENCODER_VERSION = 'enc_test'
ALL_PRESENT = sum(layout.PRESENCE_GROUPS)  # every Context.PRESENT_* bit (63)


@pytest.fixture(scope='session')
def hl_registry(tmp_path_factory):
    """Return a registry holding the initial H- and L-module versions (v0001)."""
    from sage_hl_control.models import publish_initial_h_module, publish_initial_l_module

    root = tmp_path_factory.mktemp('models')
    # A window of 4 contexts (the default is 1), so the node's windowing is what is tested.
    publish_initial_h_module(root, seed=0, window=4)
    publish_initial_l_module(root, seed=0, num_joints=2)
    return root


def h_params(registry, **extra):
    params = {'model_dir': str(registry), 'accepted_context_versions': ENCODER_VERSION}
    params.update(extra)
    return params


def l_params(registry, **extra):
    # Fast slow-start so tests see full speed soon; stale timeout as the default. The fed
    # joint states are constant (no robot follows the commands): no stuck encoder check.
    params = {'model_dir': str(registry), 'slow_start_scales': [0.5, 1.0],
              'slow_start_step': 0.5, 'joint_names': JOINTS, 'position_lower': LOWER,
              'position_upper': UPPER, 'max_velocity': MAX_VELOCITY,
              'max_acceleration': MAX_ACCELERATION, 'stuck_encoder_after': 0.0}
    params.update(extra)
    return params


class Feeder:
    """Publishes messages from a background thread at a fixed rate until stopped."""

    def __init__(self, ros, msg_type, topic, make, rate_hz, qos=10):
        self.pub = ros.node.create_publisher(msg_type, topic, qos)
        self.make = make
        self.period = 1.0 / rate_hz
        self.sent = 0
        self.enabled = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(self.period):
            if self.enabled:
                msg = self.make(self.sent)
                if msg is not None:
                    self.pub.publish(msg)
                    self.sent += 1

    def stop(self):
        self._stop.set()
        self._thread.join(2)


@pytest.fixture
def feeders():
    """Start Feeders; all are stopped at the end of the test."""
    started = []

    def start(*args, **kwargs):
        feeder = Feeder(*args, **kwargs)
        started.append(feeder)
        return feeder

    yield start
    for feeder in started:
        feeder.stop()


def make_context(ros, version=ENCODER_VERSION, data=None, presence=ALL_PRESENT):
    from sage_interfaces.msg import Context

    msg = Context()
    msg.header.stamp = ros.node.get_clock().now().to_msg()
    msg.header.frame_id = 'camera'
    if data is None:
        data = np.random.default_rng(int(time.monotonic() * 1e3)).standard_normal(layout.DIM)
    msg.data = array.array('f', np.asarray(data, np.float32).tobytes())
    msg.presence = presence
    msg.model_version = version
    return msg


def make_compressed(ros, version='v0001', data=None):
    from sage_interfaces.msg import CompressedContext

    msg = CompressedContext()
    msg.header.stamp = ros.node.get_clock().now().to_msg()
    if data is None:
        data = np.random.default_rng(int(time.monotonic() * 1e3)).standard_normal(layout.COMPRESSED_DIM)
    msg.data = array.array('f', np.asarray(data, np.float32).tobytes())
    msg.presence = ALL_PRESENT
    msg.model_version = version
    msg.context_model_version = ENCODER_VERSION
    return msg


def make_joints(ros, names=JOINTS, positions=MEASURED):
    from sensor_msgs.msg import JointState

    msg = JointState()
    msg.header.stamp = ros.node.get_clock().now().to_msg()
    msg.name = list(names)
    msg.position = [float(p) for p in positions]
    msg.velocity = [0.0] * len(names)
    return msg


def command_values(msg):
    """Return the positions of a Float64MultiArray or JointTrajectory command."""
    if hasattr(msg, 'points'):
        return np.array(msg.points[0].positions)
    return np.array(msg.data)


def assert_commands_safe(msgs, measured=MEASURED, dt=0.01):
    """
    Assert every command is finite, in the position limits, and in the velocity limit.

    A command equal to the (clamped) hold position is exempt from the velocity check.
    """
    hold = np.clip(measured, LOWER, UPPER)
    prev = None
    for msg in msgs:
        cmd = command_values(msg)
        assert cmd.shape == (2,) and np.all(np.isfinite(cmd)), cmd
        assert np.all(cmd >= np.array(LOWER) - 1e-9) and np.all(cmd <= np.array(UPPER) + 1e-9)
        if prev is not None and not np.allclose(cmd, hold, atol=1e-12):
            assert np.all(np.abs(cmd - prev) <= np.array(MAX_VELOCITY) * dt + 1e-9), (prev, cmd)
        prev = cmd


def is_hold(msg, measured=MEASURED):
    return np.allclose(command_values(msg), np.clip(measured, LOWER, UPPER), atol=1e-12)


def latest_diag(diags, name):
    """Return the values of the newest DiagnosticStatus called name (or None)."""
    from sage_common.diagnostics import status_values

    for array_msg in reversed(list(diags)):
        for status in array_msg.status:
            if status.name == name:
                return status_values(status)
    return None


@pytest.fixture
def hl():
    """Return the helpers and constants above, for the test modules."""
    import types

    return types.SimpleNamespace(
        JOINTS=JOINTS, MEASURED=MEASURED, LOWER=LOWER, UPPER=UPPER, ENCODER=ENCODER_VERSION,
        h_params=h_params, l_params=l_params, make_context=make_context,
        make_compressed=make_compressed, make_joints=make_joints,
        command_values=command_values, assert_commands_safe=assert_commands_safe,
        is_hold=is_hold, latest_diag=latest_diag)
