# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The demo's link to the ROS graph: one in-process node (`RosLink`, a RosClient) and its failure.

It resets seeded episodes on the simulated robot and waits for their end, pauses the robot,
switches the sleep manager's recording, and keeps what the graph reports: the sleep status,
the model versions stamped on messages, the L-module's diagnostics and, on demand, the
commands on the command topic. The soak builds its own link on this one.
"""

import threading
import time

import numpy as np
from sage_common.ros_client import RosClient

RESET_SERVICE = '/sim_robot/reset_episode'
PAUSE_SERVICE = '/sim_robot/pause'
SLEEP_SERVICE = '/sleep_manager/start_sleep'
RECORDING_SERVICE = '/sleep_manager/set_recording'
COMMAND_TOPIC = '/arm_controller/commands'


class DemoFailure(RuntimeError):
    """Something the demo needs failed; the message says what."""


class RosLink(RosClient):
    """The demo's own rclpy node: services, episode state, versions, commands, status."""

    timeout_error = DemoFailure

    def __init__(self, watch_versions=True):
        """watch_versions: also take the 4096-D contexts, for the versions that stamp them."""
        from sage_common.qos import latched_qos, reliable_qos
        from sage_interfaces.msg import CompressedContext, Context, EpisodeState, SleepStatus
        from sage_interfaces.srv import ResetEpisode
        from diagnostic_msgs.msg import DiagnosticArray
        from std_msgs.msg import Float64MultiArray
        from std_srvs.srv import SetBool, Trigger

        super().__init__('sage_demo')
        self._lock = threading.Lock()
        self._states = []
        self.status = None
        self.versions = {}          # message source -> newest model_version seen
        self.l_diagnostics = {}
        self.commands = []          # (receive time, targets) while recording commands
        self.recording_commands = False
        qos = reliable_qos(100)
        n = self.node
        n.create_subscription(EpisodeState, '/sim/episode', self._on_state, qos)
        n.create_subscription(SleepStatus, '/sage/sleep_status', self._on_status, latched_qos())
        if watch_versions:
            n.create_subscription(Context, '/sage/context',
                                  lambda m: self._version('encoder', m.model_version), 10)
            n.create_subscription(CompressedContext, '/sage/context_compressed',
                                  lambda m: self._version('h_module', m.model_version), 10)
        n.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 50)
        n.create_subscription(Float64MultiArray, COMMAND_TOPIC, self._on_command, qos)
        for srv_type, name in ((ResetEpisode, RESET_SERVICE), (Trigger, SLEEP_SERVICE),
                               (SetBool, RECORDING_SERVICE), (SetBool, PAUSE_SERVICE)):
            self.client(srv_type, name)
        self.ResetEpisode, self.SetBool, self.Trigger = ResetEpisode, SetBool, Trigger

    def _on_state(self, msg):
        with self._lock:
            self._states.append(msg)

    def _on_status(self, msg):
        self.status = msg

    def _version(self, source, version):
        self.versions[source] = version

    def _on_diagnostics(self, msg):
        for status in msg.status:
            if status.hardware_id == 'l_module':
                self.l_diagnostics = {kv.key: kv.value for kv in status.values}
                self.versions['l_module'] = self.l_diagnostics.get('model_version', '')

    def _on_command(self, msg):
        if self.recording_commands:
            self.commands.append((time.monotonic(), np.asarray(msg.data, float)))

    def run_episode(self, seed, duration, timeout, alive):
        """Reset to seed and wait for the episode's end; return its final EpisodeState."""
        request = self.ResetEpisode.Request(seed=int(seed), duration=float(duration))
        with self._lock:
            self._states.clear()
        response = self.call(self.ResetEpisode, RESET_SERVICE, request, timeout, alive)
        if not response.success:
            raise DemoFailure(f'{RESET_SERVICE} refused seed {seed}: {response.message}')
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive()
            with self._lock:
                for msg in self._states:
                    if msg.episode == response.episode and not msg.running:
                        return msg
            time.sleep(0.02)
        raise DemoFailure(f'episode {response.episode} (seed {seed}) did not end within '
                          f'{timeout:.0f} s')

    def set_sim_paused(self, paused, alive):
        """Pause or resume the simulated robot (it rests while it sleeps)."""
        reply = self.call(self.SetBool, PAUSE_SERVICE, self.SetBool.Request(data=bool(paused)),
                          60.0, alive)
        if not reply.success:
            raise DemoFailure(f'{PAUSE_SERVICE} refused: {reply.message}')

    def set_recording(self, on, alive):
        reply = self.call(self.SetBool, RECORDING_SERVICE, self.SetBool.Request(data=bool(on)),
                          60.0, alive)
        if not reply.success:
            raise DemoFailure(f'{RECORDING_SERVICE} refused: {reply.message}')
        return reply.message
