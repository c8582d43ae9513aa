# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Interop benchmark: `sage_dataset` export and import speed against the raw rosbags read rate.

A bag set of teacher-driven Reacher episodes is recorded at a simulated clock (the demo's
64x64 camera, its topics, the sleep manager's recorder), unless --bags names recorded wake
bags. In the same run: the raw read rate (every message of every segment through rosbags'
reader, not decoded), the export to LeRobot v3.0 and to GR00T (v2.1 + modality.json), and
the import of the v3.0 export back into bags; each in episodes/s and MB/s of its input.
Figures go to `bench/results/interop.json` under "dataset" (other interop figures, such as
the GR00T client's, keep their own keys in that file).

    python -m sage_bench.interop [--quick] [--bags DIR] [--out bench/results]
"""

import argparse
import json
from pathlib import Path
import shutil
import tempfile
import time

import numpy as np
from sage_bench import results_dir

EPISODES_FULL = 40
EPISODES_QUICK = 6
EPISODE_SECONDS = 3.0
CAMERA = (64, 64)  # the demo's camera (sage_bringup/config/demo.yaml)


def record_bags(root, episodes, seconds=EPISODE_SECONDS, size=CAMERA):
    """Record teacher-driven episodes as wake bags at a simulated clock; return root."""
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
    bag = SimClockBag(root, topics)
    robot = MujocoRobot(width=size[0], height=size[1])
    teacher = ReachTeacher(TwoLinkArm.from_model(robot.model))
    names = list(robot.joint_names)
    try:
        for seed in range(episodes):
            goal = robot.reset(seed)
            teacher.start(robot.joint_positions())
            steps = int(round(seconds / robot.timestep))
            for step in range(steps + 1):
                running = step < steps
                if step % 5 == 0 or not running:
                    bag.write('/sim/episode', bag.stamp(EpisodeState(
                        episode=seed + 1, seed=seed, running=running, step=step,
                        goal=list(goal), effector=list(robot.effector()),
                        distance=robot.distance(), success=robot.success())))
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
                    bag.write('/camera/color/image_raw',
                              bag.stamp(fill_image(Image(), rgb, 'rgb8')))
                    bag.write('/camera/depth/image_rect_raw', bag.stamp(fill_image(
                        Image(), np.ascontiguousarray(depth, np.float32), '32FC1')))
                robot.step()
                bag.advance(robot.timestep * 1e9)
            bag.advance(200_000_000)
    finally:
        bag.close()
        robot.close()
    return root


def raw_read(bag_root):
    """Return (messages, payload bytes, seconds) reading every message, undecoded."""
    from rosbags.rosbag2 import Reader
    from sage_sleep.recording.bag_reader import list_wake_periods
    start = time.monotonic()
    messages = payload = 0
    for period in list_wake_periods(bag_root):
        for segment in period.segments:
            with Reader(segment.path) as reader:
                for _, _, raw in reader.messages():
                    messages += 1
                    payload += len(raw)
    return messages, payload, time.monotonic() - start


def _rates(episodes, nbytes, seconds):
    return {'seconds': round(seconds, 3), 'episodes_per_s': round(episodes / seconds, 2),
            'mb_per_s': round(nbytes / 1e6 / seconds, 2)}


def run(out_dir, quick=False, bags=None):
    """Run the benchmark; write interop.json (key "dataset") in out_dir; return the figures."""
    from sage_dataset.cli import dir_bytes, export_dataset, import_dataset
    work = Path(tempfile.mkdtemp(prefix='sage-interop-'))
    try:
        if bags is None:
            n = EPISODES_QUICK if quick else EPISODES_FULL
            start = time.monotonic()
            bags = record_bags(work / 'bags', n)
            print(f'recorded {n} episodes of {EPISODE_SECONDS:.0f} s in '
                  f'{time.monotonic() - start:.1f} s', flush=True)
        bag_bytes = dir_bytes(bags)
        messages, payload, seconds = raw_read(bags)
        figures = {'bags': {'path': str(bags), 'bytes': bag_bytes, 'messages': messages},
                   'raw_read': {'seconds': round(seconds, 3),
                                'mb_per_s': round(bag_bytes / 1e6 / seconds, 2),
                                'messages_per_s': round(messages / seconds, 1)}}
        log = (lambda m: None)
        for fmt in ('lerobot', 'groot'):
            summary = export_dataset(bags, work / fmt, fmt, log=log)
            figures[f'export_{fmt}'] = dict(
                _rates(summary['episodes'], bag_bytes, summary['seconds']),
                episodes=summary['episodes'], frames=summary['frames'], fps=summary['fps'],
                dataset_bytes=summary['dataset_bytes'], codec=summary['codec'])
        episodes = figures['export_lerobot']['episodes']
        figures['raw_read']['episodes_per_s'] = round(episodes / seconds, 2)
        summary = import_dataset(work / 'lerobot', work / 'imported', log=log)
        figures['import_lerobot'] = dict(
            _rates(summary['episodes'], summary['dataset_bytes'], summary['seconds']),
            bag_mb_per_s=round(summary['bag_bytes'] / 1e6 / summary['seconds'], 2),
            bag_bytes=summary['bag_bytes'])
        figures['note'] = ('MB/s of the input of each step: the bags for raw read and export, the '
                           'dataset for import (bag_mb_per_s: the bags it wrote). Raw read does '
                           'not deserialize; export deserializes and aligns the topics it uses '
                           '(no depth) and encodes video.')
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = Path(out_dir) / 'interop.json'
    existing = {}
    if out.exists():
        try:
            existing = json.loads(out.read_text())
        except ValueError:
            existing = {}
    existing['dataset'] = figures
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(existing, indent=2) + '\n')
    return figures


def main(argv=None):
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].strip())
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--bags', default=None, help='recorded wake bags to use instead')
    parser.add_argument('--out', default=str(results_dir()))
    args = parser.parse_args(argv)
    figures = run(args.out, quick=args.quick, bags=args.bags)
    print(json.dumps(figures, indent=2))


if __name__ == '__main__':
    main()
