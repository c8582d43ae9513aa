# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Wake bags written at a simulated clock, with the sleep manager's own Recorder.

The tests (and any tool that makes wake data without waiting for real time) write messages
through `SimClockBag`: rclpy's CDR serializer, the recorder's segments, journal and layout,
every message stamped with a clock the caller advances. The bags are real rosbag2/MCAP bags
in the recorder's layout; only the clock is simulated. `record_teacher_episodes` fills one
with the simulated robot driven by the scripted teacher (the tests' and benchmarks' wake data).

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


def record_teacher_episodes(bag_root, periods=1, episodes=4, duration=1.0, width=64, height=48,
                            first_seed=0, target_colors=()):
    """
    Record `periods` wake periods of `episodes` teacher-driven episodes under bag_root.

    The MuJoCo robot steps in simulated time with the scripted teacher driving; the same
    messages the nodes publish are written (camera every 3rd step, commands every 2nd, the
    episode state every 5th), so a dozen episodes take seconds. With target_colors (names of
    sage_sim.robot.COLORS), the scene has a target per colour and each episode's task
    sentence is written to /sage/task before its first message, as sim_robot does.
    Returns bag_root.
    """
    import numpy as np
    from sage_common.messages import fill_image
    from sage_common.qos import latched_qos, reliable_qos, sensor_qos
    from sage_interfaces.msg import EpisodeState
    from sage_sim.robot import colored, MujocoRobot, ReachTask
    from sage_sim.teacher import ReachTeacher, TwoLinkArm
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import Float64MultiArray, String

    topics = {'/camera/color/image_raw': ('sensor_msgs/msg/Image', sensor_qos()),
              '/camera/depth/image_rect_raw': ('sensor_msgs/msg/Image', sensor_qos()),
              '/joint_states': ('sensor_msgs/msg/JointState', sensor_qos()),
              '/arm_controller/commands': ('std_msgs/msg/Float64MultiArray', reliable_qos()),
              '/sim/episode': ('sage_interfaces/msg/EpisodeState', reliable_qos())}
    if target_colors:
        topics['/sage/task'] = ('std_msgs/msg/String', latched_qos())
    bag = SimClockBag(bag_root, topics)
    robot = MujocoRobot(width=width, height=height, task=ReachTask(
        target_colors=colored(target_colors)))
    teacher = ReachTeacher(TwoLinkArm.from_model(robot.model))
    names = list(robot.joint_names)
    seed = first_seed
    try:
        for period in range(periods):
            if period:
                bag.new_period()
            for _ in range(episodes):
                episode_number = seed + 1
                goal = robot.reset(seed)
                if target_colors:
                    bag.write('/sage/task', String(data=robot.task_text()))
                teacher.start(robot.joint_positions())
                steps = int(round(duration / robot.timestep))
                for step in range(steps + 1):
                    running = step < steps
                    state = EpisodeState(episode=episode_number, seed=seed, running=running,
                                         step=step, goal=list(goal),
                                         effector=list(robot.effector()),
                                         distance=robot.distance(), success=robot.success())
                    if step % 5 == 0 or not running:
                        bag.write('/sim/episode', bag.stamp(state))
                    if not running:
                        break
                    bag.write('/joint_states', bag.stamp(JointState(
                        name=names, position=list(robot.joint_positions()),
                        velocity=list(robot.joint_velocities()),
                        effort=list(robot.joint_efforts()))))
                    if step % 2 == 0:
                        target = teacher.tick(goal, robot.joint_positions(), 0.02)
                        robot.set_target(target)
                        bag.write('/arm_controller/commands', Float64MultiArray(data=list(target)))
                    if step % 3 == 0:
                        rgb, depth = robot.render()
                        for topic, pixels, enc in (
                                ('/camera/color/image_raw', rgb, 'rgb8'),
                                ('/camera/depth/image_rect_raw',
                                 np.ascontiguousarray(depth, np.float32), '32FC1')):
                            bag.write(topic, bag.stamp(fill_image(Image(), pixels, enc)))
                    robot.step()
                    bag.advance(robot.timestep * 1e9)
                bag.advance(200_000_000)  # a pause between episodes
                seed += 1
    finally:
        bag.close()
        robot.close()
    return bag_root
