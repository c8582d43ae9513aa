# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""RawTakeLoop over real DDS: raw messages in order, batched, never run by the executor."""

from rclpy.serialization import deserialize_message
from sage_common.qos import reliable_qos
from sage_sleep.recording.take_loop import RawTakeLoop
from std_msgs.msg import String


def test_sleep_take_loop_takes_raw_and_the_executor_never_runs_it(ros_node):
    node = ros_node.node  # spun by a background executor all along
    batches, called, hooked = [], [], []
    loop = RawTakeLoop(node.context, batches.append, wait_s=0.05)
    topics = ('/take_loop_a', '/take_loop_b')
    qos = reliable_qos(200)
    sub = node.create_subscription(String, topics[0], called.append, qos, raw=True,
                                   callback_group=loop.callback_group)
    loop.add(sub, topics[0], lambda: hooked.append(1))
    loop.start()
    # a subscription added while the loop runs is served too
    sub = node.create_subscription(String, topics[1], called.append, qos, raw=True,
                                   callback_group=loop.callback_group)
    loop.add(sub, topics[1])
    pubs = [node.create_publisher(String, t, qos) for t in topics]
    ros_node.wait_for(lambda: all(p.get_subscription_count() for p in pubs), 20,
                      'the take loop subscriptions to match')
    for i in range(150):
        for topic, pub in zip(topics, pubs):
            pub.publish(String(data=f'{topic} {i}'))
    ros_node.wait_for(lambda: sum(map(len, batches)) == 300, 20, 'all 300 messages taken')
    assert loop.stop()
    assert not called, 'the executor ran a take-loop subscription callback'
    assert len(hooked) == 150
    for topic in topics:
        got = [deserialize_message(data, String).data
               for batch in batches for t, data in batch if t == topic]
        assert got == [f'{topic} {i}' for i in range(150)]
    assert all(isinstance(data, bytes) for batch in batches for _, data in batch)
    assert loop.taken == 300 and len(batches) < 300  # more than one message per batch
