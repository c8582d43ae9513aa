# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""sleep_manager over real DDS: SIGKILL and salvage, sleep service and trainer, bad topics."""

import re
import signal
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray
from mcap.reader import make_reader
import pytest
from rosbags.rosbag2 import Reader
from sage_common.diagnostics import status_values
from sage_common.qos import latched_qos, reliable_qos
from sage_interfaces.msg import SleepStatus
from sage_sleep.recording.bag_reader import iter_messages, list_wake_periods
from sensor_msgs.msg import Image
from std_msgs.msg import String
from std_srvs.srv import Trigger
import yaml

pytestmark = pytest.mark.integration


def params_file(tmp_path, **params):
    path = tmp_path / 'sleep_manager.yaml'
    path.write_text(yaml.safe_dump({'sleep_manager': {'ros__parameters': params}}))
    return path


def wait_subscribed(ros_node, publisher, what):
    ros_node.wait_for(lambda: publisher.get_subscription_count() > 0, 20, what)


def test_sleep_sigkill_mid_segment_then_salvage(tmp_path, launch_node, ros_node):
    bags = tmp_path / 'bags'
    config = params_file(tmp_path, bag_root=str(bags), min_free_mb=0.0, segment_max_mb=0.05,
                         flush_period_s=0.2, qos_depth=3000,  # no DDS losses under load
                         topics=['/chatter std_msgs/msg/String reliable'])
    node = launch_node('sage_sleep', 'sleep_manager', name='sleep_manager', params_file=config)
    node.wait_for_output(r'wake period \S+ begins')
    pub = ros_node.node.create_publisher(String, '/chatter', reliable_qos(3000))
    wait_subscribed(ros_node, pub, 'the recorder to subscribe /chatter')
    sent = 0
    while sent < 2000 and not re.search(r'closed \S+/segment-002', node.output()):
        pub.publish(String(data=f'{sent:06d}' + 'p' * 200))
        sent += 1
        time.sleep(0.002)
    assert sent < 2000, 'the recorder never closed three segments'
    for _ in range(100):  # keep the open segment busy, then kill it mid-segment
        pub.publish(String(data=f'{sent:06d}' + 'p' * 200))
        sent += 1
        time.sleep(0.003)
    # kill it once a flushed chunk of the open segment is on disk (load can delay the flush)
    ros_node.wait_for(lambda: any(p.stat().st_size > 8192 for p in bags.glob(
        'wake-*/segment-003/segment-003.mcap')), 20, 'a flushed chunk in the open segment')
    node.signal(signal.SIGKILL)
    node.proc.wait(10)
    (period_dir,) = [p for p in bags.iterdir() if p.name.startswith('wake-')]
    segments = sorted(p for p in period_dir.iterdir() if p.name.startswith('segment-')
                      and p.is_dir())
    closed = [s for s in segments if (s / 'metadata.yaml').exists()]
    open_ = [s for s in segments if not (s / 'metadata.yaml').exists()]
    assert len(closed) >= 3 and len(open_) == 1
    closed_count = 0
    for segment in closed:  # readable as they are, by two independent readers
        with Reader(segment) as reader:
            closed_count += reader.message_count
        with open(segment / f'{segment.name}.mcap', 'rb') as stream:
            assert make_reader(stream).get_summary().statistics.message_count > 0
    with pytest.raises(Exception):
        Reader(open_[0]).open()

    again = launch_node('sage_sleep', 'sleep_manager', name='sleep_manager',
                        params_file=config)
    match = again.wait_for_output(r'recovered (\d+) messages, lost >= (\d+) \(journal counted '
                                  r'(\d+)\)')
    recovered, lost, journaled = map(int, match.groups())
    print(f'SIGKILL salvage: recovered {recovered}, lost >= {lost}, journal {journaled}, '
          f'closed segments {len(closed)} with {closed_count} messages, sent {sent}')
    again.wait_for_output(r'wake period \S+ begins')
    assert again.stop() == 0
    assert recovered > 0 and recovered + lost >= journaled
    assert (period_dir / f'{open_[0].name}.salvage.json').exists()
    (period,) = list_wake_periods(bags)
    assert [s.name for s in period.segments] == [s.name for s in segments]
    assert period.segments[-1].state == 'salvaged'
    numbers = [int(m.data[:6]) for _, _, m in iter_messages(period)]
    # in order, nothing missing before the crash (the first few may precede DDS matching)
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    assert len(numbers) == closed_count + recovered <= sent


def test_sleep_service_runs_trainer_and_reports(tmp_path, launch_node, ros_node):
    trainer = ('import time\n'
               'print("SAGE_PROGRESS sleep 0.3", flush=True); time.sleep(1.0)\n'
               'print("SAGE_PROGRESS dream 0.7", flush=True); time.sleep(1.0)\n'
               'print("trained: no data worth it", flush=True)\n')
    config = params_file(
        tmp_path, bag_root=str(tmp_path / 'bags'), model_dir=str(tmp_path / 'models'),
        min_free_mb=0.0, status_period_s=0.2, queue_max_mb=4.0, qos_depth=200,
        trainer_command=[sys.executable, '-c', trainer],
        topics=['/chatter std_msgs/msg/String reliable',
                '/camera/color/image_raw sensor_msgs/msg/Image reliable',
                '/mystery foo_msgs/msg/Bar reliable'])
    node = launch_node('sage_sleep', 'sleep_manager', name='sleep_manager', params_file=config)
    node.wait_for_output(r'not recording /mystery: unknown type foo_msgs/msg/Bar')
    statuses = ros_node.collect(SleepStatus, '/sage/sleep_status', latched_qos())
    diagnostics = ros_node.collect(DiagnosticArray, '/diagnostics', reliable_qos())
    pub = ros_node.node.create_publisher(String, '/chatter', reliable_qos(200))
    images = ros_node.node.create_publisher(Image, '/camera/color/image_raw', reliable_qos(200))
    wait_subscribed(ros_node, pub, 'the recorder to subscribe /chatter')
    wait_subscribed(ros_node, images, 'the recorder to subscribe the images')
    frame = Image(height=480, width=640, encoding='rgb8', step=1920)
    frame.data = bytes(640 * 480 * 3)
    for i in range(150):  # a flood: 270 MB/s offered into a 4 MiB queue
        images.publish(frame)
        pub.publish(String(data=f'awake {i}'))
    ros_node.wait_for(lambda: statuses and statuses[-1].recording, 20, 'recording status')

    def counts(topic):
        for array in reversed(diagnostics):
            for status in array.status:
                if status.name == f'sleep_manager: {topic}':
                    return {k: int(v) for k, v in status_values(status).items()}
        return None

    def settled(topic):
        c = counts(topic)
        return c and c['written'] + c['dropped_queue'] + c['skipped_paused'] == c['received']

    def flood_over():  # all of it arrived (reliable) and was written or dropped
        return all(counts(t) and counts(t)['received'] == 150 and settled(t)
                   for t in ('/chatter', '/camera/color/image_raw'))

    ros_node.wait_for(flood_over, 30, 'the flood to be received and written')
    reply = ros_node.call(Trigger, '/sleep_manager/start_sleep', Trigger.Request())
    assert reply.success, reply.message
    busy = ros_node.call(Trigger, '/sleep_manager/start_sleep', Trigger.Request())
    assert not busy.success and 'already asleep' in busy.message  # responsive while asleep
    ros_node.wait_for(lambda: any(s.phase == 'dream' and not s.recording for s in statuses),
                      30, 'the dream phase relayed from the trainer')
    ros_node.wait_for(lambda: statuses[-1].phase == 'wake' and statuses[-1].last_result, 30,
                      'waking up')
    last = statuses[-1]
    assert last.last_result.startswith('trainer exit 0') and 'no data worth it' in \
        last.last_result
    assert last.recording and last.wake_periods == 1 and last.bag_segments >= 1
    assert list(last.model_names) == ['encoder', 'h_module', 'l_module']
    ros_node.wait_for(lambda: any(
        s.name == 'sleep_manager: /mystery' and 'not recorded' in s.message
        for d in diagnostics for s in d.status), 20, 'the unknown topic in /diagnostics')

    before = counts('/chatter')['written']
    pub.publish(String(data='awake again'))
    ros_node.wait_for(lambda: counts('/chatter')['written'] == before + 1, 20, 'awake again')
    image_counts = counts('/camera/color/image_raw')
    print(f'flood: {image_counts}')
    assert node.stop() == 0
    periods = list_wake_periods(tmp_path / 'bags')
    assert len(periods) == 2
    assert [m.data for _, _, m in iter_messages(periods[1])] == ['awake again']
    assert periods[0].message_counts['/chatter'] + 1 == counts('/chatter')['written']
    assert periods[0].message_counts['/camera/color/image_raw'] == image_counts['written']
    # The flood overflowed the queue, and every message is accounted for: written or dropped.
    assert image_counts['dropped_queue'] > 0
    chatter = counts('/chatter')
    assert chatter['received'] == 151 and chatter['written'] + chatter['dropped_queue'] == 151
