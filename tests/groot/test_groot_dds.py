# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
"GR00T" as the teacher, end to end, every node a separate process.

sim_robot and groot_teacher over DDS; the scripted expert behind sage_policy_server over
ZeroMQ (loopback).
"""

import signal
import time

from diagnostic_msgs.msg import DiagnosticArray
import pytest
from sage_common.diagnostics import status_values
from sage_common.qos import reliable_qos
from sage_common.processes import package_share
from sage_interfaces.msg import EpisodeState
from sage_interfaces.srv import ResetEpisode
from std_msgs.msg import Float64MultiArray
import zmq

pytestmark = pytest.mark.integration
SIM_CONFIG = package_share('sage_sim') / 'config'
GROOT_CONFIG = package_share('sage_groot') / 'config'


def free_port():
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP)
    sock.bind('tcp://127.0.0.1:*')
    port = int(sock.getsockopt_string(zmq.LAST_ENDPOINT).rsplit(':', 1)[1])
    sock.close(0)
    ctx.term()
    return port


def start_server(launch_node, port, protocol):
    server = launch_node('sage_groot', 'sage_policy_server', name='groot_server',
                         extra_args=['--protocol', protocol, '--port', str(port)])
    server.wait_for_output(r'sage_policy_server: serving expert', timeout=60)
    return server


def start_graph(launch_node, protocol, **teacher_params):
    port = free_port()
    sim = launch_node('sage_sim', 'sim_robot', name='sim_robot',
                      params_file=SIM_CONFIG / 'sim_robot.yaml',
                      params={'width': 64, 'height': 64})
    server = start_server(launch_node, port, protocol)
    params = {'protocol': protocol, 'port': port, 'timeout': 0.5, 'backoff_max': 1.0}
    params.update(teacher_params)
    teacher = launch_node('sage_groot', 'groot_teacher', name='groot_teacher',
                          params_file=GROOT_CONFIG / 'groot_teacher.yaml', params=params)
    sim.wait_for_output(r'sim_robot: joints', timeout=60)
    teacher.wait_for_output(r'groot_teacher: receiving /sim/episode', timeout=60)
    teacher.wait_for_output(r'groot_teacher: receiving /joint_states', timeout=60)
    return sim, server, teacher, port


def groot_diagnostics(diags):
    for array in reversed(list(diags)):
        for status in array.status:
            if status.name == 'groot_teacher':
                return status_values(status)
    return {}


def run_episode(ros_node, episodes, seed, timeout=30):
    reply = ros_node.call(ResetEpisode, '/sim_robot/reset_episode',
                          ResetEpisode.Request(seed=seed, duration=0.0))
    assert reply.success
    ros_node.wait_for(lambda: any(m.episode == reply.episode and not m.running
                                  for m in episodes), timeout=timeout, what=f'seed {seed}')
    return [m for m in episodes if m.episode == reply.episode and not m.running][0]


@pytest.mark.slow
def test_groot_teacher_reaches_goals_through_our_server(launch_node, ros_node):
    sim, server, teacher, _ = start_graph(launch_node, 'n1.5')
    commands = ros_node.collect(Float64MultiArray, '/arm_controller/commands', reliable_qos())
    episodes = ros_node.collect(EpisodeState, '/sim/episode', reliable_qos(50))
    diags = ros_node.collect(DiagnosticArray, '/diagnostics', reliable_qos(50))
    ros_node.wait_for(lambda: len(episodes) >= 20, what='/sim/episode')
    assert not commands, 'the GR00T teacher must be silent while no episode runs'
    seeds = range(21, 29)
    finals = [run_episode(ros_node, episodes, seed) for seed in seeds]
    wins = sum(f.success for f in finals)
    print(f'GR00T path (n1.5, scripted expert behind sage_policy_server): {wins}/{len(finals)}'
          f' successes; final distances (mm) {[round(1e3 * f.distance, 1) for f in finals]}')
    ros_node.wait_for(lambda: int(groot_diagnostics(diags).get('chunks', 0)) > 0,
                      what='groot_teacher diagnostics')
    values = groot_diagnostics(diags)
    print(f'groot_teacher diagnostics: {values}')
    assert wins >= len(finals) - 1, [round(f.distance, 4) for f in finals]
    assert int(values['faults_total']) == 0 and values['connected'] == 'True'
    assert float(values['round_trip_p99_ms']) < 100
    assert all(len(c.data) == 2 for c in commands)
    # silent again after the last episode
    ros_node.wait_for(lambda: groot_diagnostics(diags).get('holding') == 'True',
                      what='holding after the episodes')
    sent = len(commands)
    time.sleep(1.0)
    assert len(commands) == sent
    assert sim.alive() and server.alive() and teacher.alive()


def test_killed_server_holds_counts_and_recovers(launch_node, ros_node):
    sim, server, teacher, port = start_graph(launch_node, 'n1.6')
    commands = ros_node.collect(Float64MultiArray, '/arm_controller/commands', reliable_qos())
    episodes = ros_node.collect(EpisodeState, '/sim/episode', reliable_qos(50))
    diags = ros_node.collect(DiagnosticArray, '/diagnostics', reliable_qos(50))
    ros_node.wait_for(lambda: len(episodes) >= 5, what='/sim/episode')
    assert run_episode(ros_node, episodes, 31).success
    server.signal(signal.SIGKILL)
    assert server.proc.wait(10) == -signal.SIGKILL
    reply = ros_node.call(ResetEpisode, '/sim_robot/reset_episode',
                          ResetEpisode.Request(seed=32, duration=4.0))
    before = len(commands)

    def faults():
        values = groot_diagnostics(diags)
        return int(values.get('fault_server_down', 0)) + int(values.get('fault_timeout', 0))

    ros_node.wait_for(lambda: faults() >= 2, timeout=20, what='counted server faults')
    values = groot_diagnostics(diags)
    assert values['holding'] == 'True' and values['connected'] == 'False'
    # no chunk reached the robot: not one command in the episode without a server
    assert len(commands) == before, f'{len(commands) - before} commands without a server'
    ros_node.wait_for(lambda: any(m.episode == reply.episode and not m.running
                                  for m in episodes), timeout=20, what='episode end')
    final = [m for m in episodes if m.episode == reply.episode and not m.running][0]
    assert not final.success   # the arm held: it never reached the new goal
    teacher.wait_for_output(r'GR00T server fault', timeout=5)
    # the server comes back on the same port: the node reconnects with backoff and teaches
    start_server(launch_node, port, 'n1.6')
    assert run_episode(ros_node, episodes, 33).success
    values = groot_diagnostics(diags)
    print(f'groot_teacher diagnostics after the restart: {values}')
    assert int(values['connects']) >= 2 and int(values['sockets_created']) >= 2
    assert sim.alive() and teacher.alive()
