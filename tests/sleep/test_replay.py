# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""`sage_replay`: a bag played back over DDS delivers every message, in order, as recorded."""

import pytest
from sage_common.messages import stamp_to_sec
from sage_sleep.recording.replay import find_segments, main, read_topics, ReplayError

JOINTS, COMMANDS = 60, 30


def write_bag(root):
    """Record one wake period: joint states (best effort) and commands (reliable)."""
    from sage_common.qos import reliable_qos, sensor_qos
    from sage_sleep.recording.sim_clock_bag import SimClockBag
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    topics = {'/joint_states': ('sensor_msgs/msg/JointState', sensor_qos()),
              '/arm_controller/commands': ('std_msgs/msg/Float64MultiArray', reliable_qos())}
    sent = {topic: [] for topic in topics}
    with SimClockBag(root, topics) as bag:
        for i in range(JOINTS):
            bag.advance(10_000_000)                      # 100 Hz of bag time
            js = JointState(name=['joint0', 'joint1'], position=[0.01 * i, -0.01 * i])
            sent['/joint_states'].append(bag.write('/joint_states', bag.stamp(js)))
            if i % 2 == 0:
                sent['/arm_controller/commands'].append(bag.write(
                    '/arm_controller/commands', Float64MultiArray(data=[float(i), 0.5])))
    return sent


@pytest.mark.integration
def test_replay_delivers_every_message_in_order_with_its_payload(tmp_path, launch_node,
                                                                 ros_node):
    from sage_common.qos import reliable_qos
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    sent = write_bag(tmp_path / 'bags')
    received = {'/joint_states': [], '/arm_controller/commands': []}
    # --reliable: the joint states were recorded best effort, and best effort may lose some.
    # --delay 5: a volatile reader drops what a writer sent before the reader itself matched
    # it, and only the writer's side of the match can be waited for.
    for topic, cls in (('/joint_states', JointState),
                       ('/arm_controller/commands', Float64MultiArray)):
        ros_node.node.create_subscription(cls, topic, received[topic].append, reliable_qos(200),
                                          raw=True)
    replay = launch_node('sage_sleep', 'sage_replay', name='replay_all',
                         extra_args=[str(tmp_path / 'bags'), '--rate', '4', '--reliable',
                                     '--delay', '5', '--wait-for-subscribers', '20'])
    replay.wait_for_output(r'published 90 messages', timeout=60)
    assert replay.proc.wait(10) == 0
    ros_node.wait_for(lambda: len(received['/joint_states']) == JOINTS and
                      len(received['/arm_controller/commands']) == COMMANDS, timeout=10,
                      what='every replayed message')
    for topic in received:
        assert [bytes(m) for m in received[topic]] == sent[topic], topic
    # 60 joint states 10 ms apart at x4: about 0.15 s of playing, not instantly.
    seconds = float(replay.wait_for_output(r'in (\d+\.\d) s').group(1))
    assert 0.1 <= seconds < 5.0


@pytest.mark.integration
def test_replay_restamps_headers_to_now(tmp_path, launch_node, ros_node):
    import time

    from sage_common.qos import reliable_qos
    from sensor_msgs.msg import JointState

    write_bag(tmp_path / 'bags')
    got = ros_node.collect(JointState, '/joint_states', reliable_qos(200))
    replay = launch_node('sage_sleep', 'sage_replay', name='replay_restamped',
                         extra_args=[str(tmp_path / 'bags'), '--topics', '/joint_states',
                                     '--restamp', '--reliable', '--wait-for-subscribers', '20',
                                     '--delay', '5'])
    assert replay.proc.wait(60) == 0, replay.output()
    ros_node.wait_for(lambda: len(got) >= JOINTS, what=f'the joint states ({len(got)} so far; '
                      f'replay: {replay.output()[-500:]})')
    assert len(got) == JOINTS
    stamps = [stamp_to_sec(m.header.stamp) for m in got]
    assert abs(stamps[0] - time.time()) < 30.0                      # today, not 2023
    assert all(0.009 < b - a < 0.011 for a, b in zip(stamps, stamps[1:]))  # spacing kept


def test_bad_paths_and_topics_are_named(tmp_path, capsys):
    with pytest.raises(ReplayError, match='no such file'):
        find_segments([tmp_path / 'nowhere'])
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ReplayError, match='no readable bag'):
        find_segments([tmp_path / 'empty'])
    write_bag(tmp_path / 'bags')
    segments = find_segments([tmp_path / 'bags'])
    assert len(segments) == 1
    assert find_segments([segments[0].parent]) == segments == find_segments(segments)
    with pytest.raises(ReplayError, match='not in the bags: /nope'):
        read_topics(segments, ['/nope'])
    assert set(read_topics(segments, excluded={'/joint_states'})) == {
        '/arm_controller/commands'}
    assert main([str(tmp_path / 'nowhere')]) == 2
    assert 'sage_replay: error:' in capsys.readouterr().err


def test_a_type_not_installed_here_is_refused_before_anything_starts(tmp_path, capsys):
    from sage_sleep.recording.segments import SegmentWriter

    bag = SegmentWriter(tmp_path / 'gripper')
    bag.add_topic('/gripper', 'acme_msgs/msg/Gripper', 'float64 width\n', 'RIHS01_' + '0' * 64)
    bag.write('/gripper', 1, bytes([0, 1, 0, 0]) + bytes(8))
    bag.close()
    assert main([str(tmp_path / 'gripper')]) == 2
    err = capsys.readouterr().err
    assert 'acme_msgs/msg/Gripper is not installed here' in err
