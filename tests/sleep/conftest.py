# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Fixtures of the sleep tests: real wake bags recorded without waiting for real time.

`record_wake_bags` steps the MuJoCo robot in simulated time with the scripted teacher driving,
and writes the same messages the nodes publish with sage_sleep.recording.sim_clock_bag (the sleep
manager's own Recorder, stamped with simulated time). The bags are real rosbag2/MCAP bags in
the recorder's layout; only the clock is simulated, so a dozen episodes take seconds.
"""

import numpy as np
import pytest


def record_wake_bags(bag_root, periods=2, episodes=4, duration=1.0, width=64, height=48,
                     first_seed=0):
    """Record `periods` wake periods of `episodes` teacher-driven episodes under bag_root."""
    from sage_common.messages import fill_image
    from sage_common.qos import reliable_qos, sensor_qos
    from sage_interfaces.msg import EpisodeState
    from sage_sim.robot import MujocoRobot
    from sage_sim.teacher import ReachTeacher, TwoLinkArm
    from sage_sleep.recording.sim_clock_bag import SimClockBag
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import Float64MultiArray

    topics = {'/camera/color/image_raw': ('sensor_msgs/msg/Image', sensor_qos()),
              '/camera/depth/image_rect_raw': ('sensor_msgs/msg/Image', sensor_qos()),
              '/joint_states': ('sensor_msgs/msg/JointState', sensor_qos()),
              '/arm_controller/commands': ('std_msgs/msg/Float64MultiArray', reliable_qos()),
              '/sim/episode': ('sage_interfaces/msg/EpisodeState', reliable_qos())}
    bag = SimClockBag(bag_root, topics)
    robot = MujocoRobot(width=width, height=height)
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


@pytest.fixture(scope='session')
def wake_bags(tmp_path_factory):
    """Two recorded wake periods of four 1-s teacher episodes each (64x48 camera)."""
    return record_wake_bags(tmp_path_factory.mktemp('bags'))
