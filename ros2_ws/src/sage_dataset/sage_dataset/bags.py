# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Episodes as wake bags the sleep trainer reads: the graph's topics, the recorder's layout.

Each dataset frame becomes, at time episode start + frame_index / fps (a simulated clock;
the sleep manager's own Recorder through `SimClockBag`): the episode state on `/sim/episode`
(running), the joint state on `/joint_states`, the frame's action as the teacher's command
on `/teacher/commands` and the camera frame (rgb8) on `/camera/color/image_raw`. After the
last frame the episode state says it is over, and a pause separates episodes. All episodes
go into one wake period. No depth is written (datasets carry none): the trainer marks depth
absent, as it does for a robot without a depth camera.
"""

import numpy as np

GAP_NS = 200_000_000  # between episodes, as the recorded wake periods have
TOPICS = {
    '/camera/color/image_raw': 'sensor_msgs/msg/Image',
    '/joint_states': 'sensor_msgs/msg/JointState',
    '/teacher/commands': 'std_msgs/msg/Float64MultiArray',
    '/sim/episode': 'sage_interfaces/msg/EpisodeState',
}


def write_bags(episodes, bag_root, joint_names, fps, stats=None):
    """Write EpisodeData (state [pos, vel, eff]) under bag_root; return the frames written."""
    from sage_common.messages import fill_image
    from sage_common.qos import reliable_qos, sensor_qos
    from sage_interfaces.msg import EpisodeState
    from sage_sleep.recording.sim_clock_bag import SimClockBag
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import Float64MultiArray

    qos = {'/camera/color/image_raw': sensor_qos(), '/joint_states': sensor_qos(),
           '/teacher/commands': reliable_qos(), '/sim/episode': reliable_qos()}
    topics = {t: (msgtype, qos[t]) for t, msgtype in TOPICS.items()}
    names = list(joint_names)
    j = len(names)
    period_ns = int(round(1e9 / fps))
    frames = episodes_written = 0
    bag = SimClockBag(bag_root, topics)
    try:
        for number, episode in enumerate(episodes):
            episode_id = number + 1
            start_ns = bag.now_ns
            camera = next(iter(episode.frames.values()), None)
            for i in range(len(episode)):
                bag.now_ns = start_ns + i * period_ns
                bag.write('/sim/episode', bag.stamp(EpisodeState(
                    episode=episode_id, seed=int(episode.index), running=True, step=i)))
                state = episode.state[i].astype(np.float64)
                bag.write('/joint_states', bag.stamp(JointState(
                    name=names, position=state[:j].tolist(), velocity=state[j:2 * j].tolist(),
                    effort=state[2 * j:3 * j].tolist())))
                bag.write('/teacher/commands', Float64MultiArray(
                    data=episode.action[i].astype(np.float64).tolist()))
                if camera is not None:
                    bag.write('/camera/color/image_raw',
                              bag.stamp(fill_image(Image(), camera[i], 'rgb8')))
                frames += 1
            bag.now_ns = start_ns + len(episode) * period_ns
            bag.write('/sim/episode', bag.stamp(EpisodeState(
                episode=episode_id, seed=int(episode.index), running=False,
                step=len(episode))))
            bag.advance(GAP_NS)
            episodes_written += 1
    finally:
        bag.close()
    if stats is not None:
        stats.update(episodes=episodes_written, frames=frames)
    return frames
