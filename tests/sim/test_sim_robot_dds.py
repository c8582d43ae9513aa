# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""sim_robot and teacher as separate processes over real DDS."""

import math
import signal
import time

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from sage_common.diagnostics import status_values
from sage_common.messages import stamp_to_ns as ns
from sage_common.processes import package_share
from sage_common.qos import reliable_qos, sensor_qos
from sage_interfaces.msg import EpisodeState
from sage_interfaces.srv import ResetEpisode
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, Header

pytestmark = pytest.mark.integration
READY = r'sim_robot: joints'
CONFIG = package_share('sage_sim') / 'config'


def start_sim(launch_node, **params):
    sim = launch_node('sage_sim', 'sim_robot', name='sim_robot',
                      params_file=CONFIG / 'sim_robot.yaml', params=params)
    sim.wait_for_output(READY)
    return sim


def latest_diagnostics(received):
    return status_values(received[-1].status[0]) if received else {}


def test_sim_publishes_every_topic_with_sane_sizes_and_stamps(launch_node, ros_node):
    start_sim(launch_node, sensor_qos='reliable')  # reliable: no frame lost, stamps comparable
    topics = {
        'color': (Image, '/camera/color/image_raw'),
        'depth': (Image, '/camera/depth/image_rect_raw'),
        'color_info': (CameraInfo, '/camera/color/camera_info'),
        'depth_info': (CameraInfo, '/camera/depth/camera_info'),
        'joints': (JointState, '/joint_states'),
    }
    got = {key: ros_node.collect(t, topic, reliable_qos(50)) for key, (t, topic) in topics.items()}
    episodes = ros_node.collect(EpisodeState, '/sim/episode', reliable_qos())
    diags = ros_node.collect(DiagnosticArray, '/diagnostics', reliable_qos())
    cameras = ('color', 'depth', 'color_info', 'depth_info')
    ros_node.wait_for(lambda: min(len(got[k]) for k in cameras) >= 10
                      and len(got['joints']) >= 100 and episodes and diags,
                      timeout=30, what='all sim topics')
    now = ros_node.node.get_clock().now().nanoseconds
    color, depth = got['color'][-1], got['depth'][-1]
    assert (color.width, color.height, color.encoding, color.step) == (320, 240, 'rgb8', 960)
    assert len(color.data) == 240 * 960
    assert color.header.frame_id == 'camera_color_optical_frame'
    assert (depth.width, depth.height, depth.encoding) == (320, 240, '32FC1')
    assert depth.header.frame_id == 'camera_depth_optical_frame'
    metres = np.frombuffer(depth.data, np.float32)
    assert metres.size == 320 * 240 and np.all((metres > 0.5) & (metres < 1.0))
    pixels = np.frombuffer(color.data, np.uint8)
    assert pixels.std() > 10  # a real image, not a blank buffer
    info = got['color_info'][-1]
    assert (info.width, info.height) == (320, 240)
    assert info.k[0] > 0 and info.k[0] == info.k[4] and info.k[2] == 159.5
    # Colour, depth and their infos of one frame share one stamp; stamps are recent.
    # Each subscription matches the publisher at its own moment, so only the stamps inside the
    # window the colour subscription saw are comparable.
    in_order = [ns(m.header.stamp) for m in got['color']]
    # A frame per simulated state: never two with one stamp (a starved physics thread).
    assert in_order == sorted(in_order) and len(set(in_order)) == len(in_order)
    color_stamps = set(in_order)
    first, last = min(color_stamps), max(color_stamps)
    for key in ('depth', 'depth_info', 'color_info'):
        seen = {ns(m.header.stamp) for m in got[key]}
        assert seen & color_stamps
        assert {s for s in seen if first <= s <= last} <= color_stamps, key
    joints = got['joints']
    assert joints[-1].name == ['joint0', 'joint1']
    assert all(len(m.position) == len(m.velocity) == len(m.effort) == 2 for m in joints)
    stamps = [ns(m.header.stamp) for m in joints]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert all(abs(now - s) < 10 * 10 ** 9 for s in stamps[-10:] + list(color_stamps)[-3:])
    # The joint stamps advance by the physics timestep (sim time mapped onto the node clock).
    assert np.median(np.diff(stamps)) == pytest.approx(1e7, rel=1e-3)
    assert episodes[-1].episode == 0 and not episodes[-1].running
    values = latest_diagnostics(diags)
    for key in ('joint_state_hz', 'camera_hz', 'physics_overruns', 'camera_repeats_skipped',
                'rejected_total'):
        assert key in values


def test_depth_in_millimetres(launch_node, ros_node):
    start_sim(launch_node, depth_encoding='16UC1', width=160, height=120)
    depth = ros_node.collect(Image, '/camera/depth/image_rect_raw', sensor_qos())
    ros_node.wait_for(lambda: len(depth) >= 3, timeout=30, what='depth images')
    msg = depth[-1]
    assert (msg.encoding, msg.width, msg.height, msg.step) == ('16UC1', 160, 120, 320)
    mm = np.frombuffer(msg.data, np.uint16)
    assert np.all((mm > 500) & (mm < 1000))


def test_malformed_commands_are_refused_and_counted(launch_node, ros_node):
    sim = start_sim(launch_node)
    joints = ros_node.collect(JointState, '/joint_states', sensor_qos())
    diags = ros_node.collect(DiagnosticArray, '/diagnostics', reliable_qos())
    pub = ros_node.node.create_publisher(Float64MultiArray, '/arm_controller/commands',
                                         reliable_qos())
    target = [0.6, -0.9]

    def at(q):
        return joints and np.allclose(joints[-1].position, q, atol=5e-3)

    ros_node.wait_for(lambda: pub.get_subscription_count() > 0, what='command subscriber')
    pub.publish(Float64MultiArray(data=target))
    ros_node.wait_for(lambda: at(target), timeout=20, what='robot at the commanded target')
    bad = [[math.nan, 0.0], [0.0, math.inf], [1.0, 2.0, 3.0], [], [1.0]]
    for data in bad * 2:
        pub.publish(Float64MultiArray(data=data))

    def counted():
        v = latest_diagnostics(diags)
        return (int(v.get('rejected_non_finite', 0)) == 4
                and int(v.get('rejected_wrong_length', 0)) == 6)

    ros_node.wait_for(counted, timeout=20, what='rejections in /diagnostics')
    assert int(latest_diagnostics(diags)['rejected_total']) == 10
    assert at(target), f'robot moved after bad commands: {joints[-1].position}'
    sim.wait_for_output(r'rejected \(non_finite')
    sim.wait_for_output(r'rejected \(wrong_length')
    assert sim.alive()


def test_reset_service_starts_seeded_episodes_that_end(launch_node, ros_node):
    start_sim(launch_node)
    episodes = ros_node.collect(EpisodeState, '/sim/episode', reliable_qos(50))
    starts = ros_node.collect(Header, '/sage/episode_start', reliable_qos())
    ros_node.wait_for(lambda: ros_node.node.count_publishers('/sage/episode_start') > 0,
                      what='/sage/episode_start publisher')
    first = ros_node.call(ResetEpisode, '/sim_robot/reset_episode',
                          ResetEpisode.Request(seed=3, duration=0.5))
    assert first.success and first.episode == 1 and len(first.goal) == 2
    assert np.linalg.norm(first.goal) < 0.2
    second = ros_node.call(ResetEpisode, '/sim_robot/reset_episode',
                           ResetEpisode.Request(seed=3, duration=0.5))
    assert second.success and second.episode == 2 and list(second.goal) == list(first.goal)
    # each reset announces the episode's start (its number, stamped on the sim's clock)
    ros_node.wait_for(lambda: len(starts) == 2, what='/sage/episode_start')
    assert [m.frame_id for m in starts] == ['1', '2']
    assert ns(starts[0].stamp) < ns(starts[1].stamp)
    assert abs(ros_node.node.get_clock().now().nanoseconds - ns(starts[1].stamp)) < 5 * 10 ** 9

    def ended(n):
        return any(m.episode == n and not m.running for m in episodes)

    ros_node.wait_for(lambda: ended(2), timeout=20, what='episode 2 to end')
    final = [m for m in episodes if m.episode == 2 and not m.running][0]
    assert final.step == 50 and final.seed == 3 and list(final.goal) == list(first.goal)
    assert final.distance == pytest.approx(np.linalg.norm(np.subtract(final.effector,
                                                                      final.goal)))
    assert final.success == (final.distance < 0.02)
    assert any(m.episode == 2 and m.running for m in episodes)
    refused = ros_node.call(ResetEpisode, '/sim_robot/reset_episode',
                            ResetEpisode.Request(seed=-1, duration=0.5))
    assert not refused.success and 'seed' in refused.message


def test_pause_stops_every_stream_and_resume_keeps_stamps_increasing(launch_node, ros_node):
    from std_srvs.srv import SetBool

    start_sim(launch_node, sensor_qos='reliable')
    joints = ros_node.collect(JointState, '/joint_states', reliable_qos(100))
    frames = ros_node.collect(Image, '/camera/color/image_raw', reliable_qos(20))
    ros_node.wait_for(lambda: len(joints) > 10 and frames, what='sensor streams')
    assert ros_node.call(SetBool, '/sim_robot/pause', SetBool.Request(data=True)).success
    time.sleep(0.3)  # what was in flight arrives
    counts = (len(joints), len(frames))
    last = ns(joints[-1].header.stamp)
    time.sleep(1.0)
    assert (len(joints), len(frames)) == counts  # a resting robot streams nothing
    assert ros_node.call(SetBool, '/sim_robot/pause', SetBool.Request(data=False)).success
    ros_node.wait_for(lambda: len(joints) > counts[0] + 10 and len(frames) > counts[1],
                      what='streams after resume')
    resumed = [ns(m.header.stamp) for m in list(joints)[counts[0]:]]
    assert resumed[0] > last and resumed == sorted(resumed)


def test_teacher_drives_the_sim_to_the_goal(launch_node, ros_node):
    start_sim(launch_node)
    teacher = launch_node('sage_sim', 'teacher', name='teacher',
                          params_file=CONFIG / 'teacher.yaml')
    teacher.wait_for_output(r'teacher: receiving /sim/episode')
    teacher.wait_for_output(r'teacher: receiving /joint_states')
    commands = ros_node.collect(Float64MultiArray, '/arm_controller/commands', reliable_qos())
    episodes = ros_node.collect(EpisodeState, '/sim/episode', reliable_qos(50))
    # A second of /sim/episode (20 Hz) without a running episode: the teacher stays silent.
    ros_node.wait_for(lambda: len(episodes) >= 20, what='/sim/episode')
    assert not commands, 'the teacher must be silent while no episode runs'
    for seed in (11, 12, 13):
        reply = ros_node.call(ResetEpisode, '/sim_robot/reset_episode',
                              ResetEpisode.Request(seed=seed, duration=0.0))
        ros_node.wait_for(lambda: any(m.episode == reply.episode and not m.running
                                      for m in episodes), timeout=30, what=f'seed {seed}')
        final = [m for m in episodes if m.episode == reply.episode and not m.running][0]
        assert final.success, f'seed {seed}: final distance {final.distance:.4f} m'
    teacher.wait_for_output(r'episode 3: reaching')
    assert len(commands) > 0
    assert all(len(c.data) == 2 and all(math.isfinite(v) for v in c.data) for c in commands)
    # Silent again once the episode is over.
    seen = len(episodes)
    ros_node.wait_for(lambda: len(episodes) >= seen + 10, what='/sim/episode after the end')
    sent = len(commands)
    ros_node.wait_for(lambda: len(episodes) >= seen + 30, what='/sim/episode after the end')
    assert len(commands) == sent, 'the teacher kept publishing after the episode ended'


# SIGINT/SIGTERM: tests/bringup/test_bringup_node_signals.py stops every node of the graph,
# these two included, 14 times over.


def test_killed_sim_leaves_nothing_behind_and_the_teacher_survives(launch_node):
    sim = start_sim(launch_node)
    teacher = launch_node('sage_sim', 'teacher', name='teacher')
    teacher.wait_for_output(r'teacher: arm')
    sim.signal(signal.SIGKILL)
    assert sim.proc.wait(10) == -signal.SIGKILL
    assert not sim.group_alive()
    assert teacher.alive()
    teacher.signal(signal.SIGINT)
    assert teacher.proc.wait(15) == 0
    assert not teacher.group_alive()


@pytest.mark.parametrize('params, message', [
    ({'joint_names': ['joint0', 'elbow']}, 'joint_names'),
    ({'model_path': '/nonexistent/robot.xml'}, 'does not exist'),
    ({'camera': 'no_such_camera'}, 'camera'),
    ({'depth_encoding': 'mono8'}, 'depth_encoding'),
])
def test_bad_configuration_is_a_clear_fatal_error(launch_node, params, message):
    sim = launch_node('sage_sim', 'sim_robot', name='sim_robot', params=params)
    assert sim.proc.wait(30) == 1
    assert 'sim_robot: fatal' in sim.output() and message in sim.output()


def test_sensor_fault_set_at_run_time_changes_the_images_and_bad_ones_are_refused(
        launch_node, ros_node):
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    start_sim(launch_node, sensor_qos='reliable', **{'fault.kind': 'black_image'})
    frames = ros_node.collect(Image, '/camera/color/image_raw', reliable_qos(20))
    diagnostics = ros_node.collect(DiagnosticArray, '/diagnostics', reliable_qos(10))
    ros_node.wait_for(lambda: len(frames) >= 3, what='colour frames')
    assert not any(np.frombuffer(m.data, np.uint8).any() for m in frames)

    def set_kind(kind):
        value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=kind)
        request = SetParameters.Request(parameters=[Parameter(name='fault.kind', value=value)])
        return ros_node.call(SetParameters, '/sim_robot/set_parameters', request).results[0]

    refused = set_kind('smoke')
    assert not refused.successful and 'is not one of' in refused.reason
    ros_node.wait_for(lambda: diagnostics, what='/diagnostics')
    assert latest_diagnostics(diagnostics)['sensor_fault'] == 'black_image'
    assert set_kind('none').successful
    seen = len(frames)
    ros_node.wait_for(lambda: any(np.frombuffer(m.data, np.uint8).any()
                                  for m in list(frames)[seen:]), what='a clean frame')


def test_a_two_target_scene_latches_each_episode_s_task_and_the_teacher_obeys_it(launch_node,
                                                                               ros_node):
    from sage_common.qos import latched_qos
    from std_msgs.msg import String

    start_sim(launch_node, target_colors=['red', 'blue'])
    teacher = launch_node('sage_sim', 'teacher', name='teacher',
                          params_file=CONFIG / 'teacher.yaml')
    teacher.wait_for_output(r'teacher: receiving /joint_states')
    episodes = ros_node.collect(EpisodeState, '/sim/episode', reliable_qos(50))
    ros_node.wait_for(lambda: ros_node.node.count_publishers('/sage/task') > 0,
                      what='/sage/task publisher')
    goals = {}
    for color in ('blue', 'red'):  # one scene, either sentence
        reply = ros_node.call(ResetEpisode, '/sim_robot/reset_episode',
                              ResetEpisode.Request(seed=21, task=f'Reach the {color} target'))
        assert reply.success and f"'reach the {color} target'" in reply.message
        goals[color] = list(reply.goal)
        ros_node.wait_for(lambda: any(m.episode == reply.episode and not m.running
                                      for m in episodes), timeout=30, what=color)
        final = [m for m in episodes if m.episode == reply.episode and not m.running][0]
        assert final.success and list(final.goal) == goals[color]
    assert np.linalg.norm(np.subtract(goals['red'], goals['blue'])) >= 0.1
    # A late subscriber still gets the latest sentence (latched).
    tasks = ros_node.collect(String, '/sage/task', latched_qos())
    ros_node.wait_for(lambda: tasks, what='/sage/task')
    assert [t.data for t in tasks] == ['reach the red target']
    for bad in ('reach the green target', 'red and blue'):
        refused = ros_node.call(ResetEpisode, '/sim_robot/reset_episode',
                                ResetEpisode.Request(seed=21, task=bad))
        assert not refused.success and 'names' in refused.message
