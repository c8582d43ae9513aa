# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Wake bags written at a simulated clock, with the sleep manager's own Recorder.

The tests (and any tool that makes wake data without waiting for real time) write messages
through `SimClockBag`: rclpy's CDR serializer, the recorder's segments, journal and layout,
every message stamped with a clock the caller advances. The bags are real rosbag2/MCAP bags
in the recorder's layout; only the clock is simulated.

    with SimClockBag(root, {'/joint_states': ('sensor_msgs/msg/JointState', sensor_qos())}) as bag:
        for i in range(100):
            bag.advance(10_000_000)                      # 10 ms of bag time
            bag.write('/joint_states', bag.stamp(JointState(position=[0.01 * i])))
"""

import time

START_NS = 1_700_000_000 * 10 ** 9  # the simulated clock's default start (2023-11-14)


class SimClockBag:
    """A Recorder under root recording topics {topic: (msgtype, rclpy QoS)} at a sim clock."""

    def __init__(self, root, topics, start_ns=START_NS, **recorder_kwargs):
        from sage_sleep.recording.msgdefs import MessageDefinitions
        from sage_sleep.recording.recorder import Recorder, TopicInfo
        from sage_sleep.recording.topics import bag_qos

        self.now_ns = int(start_ns)
        self.recorder = Recorder(root, clock_ns=lambda: self.now_ns, **recorder_kwargs)
        definitions = MessageDefinitions()
        for topic, (msgtype, qos) in topics.items():
            msgdef, rihs01 = definitions.definition(msgtype)
            self.recorder.add_topic(TopicInfo(topic, msgtype, msgdef, rihs01, (bag_qos(qos),)))
        self.recorder.start()

    def advance(self, ns):
        """Move the simulated clock forward by ns nanoseconds."""
        self.now_ns += int(ns)

    def stamp(self, msg):
        """Set msg's header stamp to the simulated clock; return msg."""
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(self.now_ns, 10 ** 9)
        return msg

    def write(self, topic, msg, timeout=30.0):
        """
        Serialize msg and record it on topic at the simulated clock; return the CDR bytes.

        When the recorder's bounded queue is full, wait for its writer to catch up (up to
        timeout s); a recorder that is not recording is an error.
        """
        from rclpy.serialization import serialize_message

        data = serialize_message(msg)
        deadline = time.monotonic() + timeout
        while not self.recorder.offer(topic, data):
            if not self.recorder.recording:
                raise RuntimeError(f'the recorder is not recording: {topic} refused')
            if time.monotonic() > deadline:
                raise RuntimeError(f'the recorder queue stayed full for {timeout} s')
            time.sleep(0.01)
        return data

    def new_period(self):
        """End the current wake period and start the next (the recorder pauses, resumes)."""
        self.recorder.pause()
        self.recorder.resume()

    def close(self):
        """Close the recorder: the last segment and the wake period are finished."""
        self.recorder.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
