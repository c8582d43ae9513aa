# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
`sage_evaluate`: closed-loop evaluation of a policy on seeded episodes, in one process.

    sage_evaluate --policy sage --models models/ --seeds 1000:1050 [--perturb vision]
                  [--width 64 --height 64]
    sage_evaluate --policy sage --versions encoder=v0002,h_module=v0002,l_module=v0002 ...
    sage_evaluate --policy bc --models runs/x/baselines/bc  |  --policy teacher | random

The simulated robot (sage_sim.MujocoRobot, the same model, camera and PD loop as the
sim_robot node) is stepped in simulated time — faster than real time, deterministic per seed
— with a camera frame every 1/camera_rate s and a command every physics step. A SAGE policy
runs exactly what the nodes run: the encoder's ONNX session with its history state
(sage_perception.context_core), the H-module's window, the L-module, and temporal ensembling
of the chunks (sage_hl_control). Inference latency is not simulated here (the chunk acts
from its frame's time); the ROS graph run of `make demo` measures it.

Success is the task's: Reacher's fingertip within 2 cm of the goal when the episode ends.
Perturbations: `physics` (mass, damping and friction x1.2, actuator gain x0.8) and `vision`
(lighting x0.85, colours shifted up to 0.02, camera moved up to 5 mm / 1 degree), or any
`Perturbation` field as name=value.
"""

import argparse
import dataclasses
import json
import math
from pathlib import Path
import sys

import numpy as np
from sage_common.registry import default_model_dir, ModelRegistry
from sage_common.stats import jerk_rms
from sage_hl_control.context_window import ContextWindow, presence_group_mask
from sage_hl_control.ensemble import TemporalEnsembler
from sage_hl_control.runtime import HRunner, LRunner
from sage_perception import layout
from sage_perception.context_core import load_runtime
from sage_perception.encoder import initial_hidden, preprocess
from sage_sim.episode import EpisodeRunner
from sage_sim.robot import MujocoRobot, Perturbation
from sage_sim.teacher import ReachTeacher, TwoLinkArm

PRESETS = {
    'none': Perturbation(),
    'physics': Perturbation(mass_scale=1.2, damping_scale=1.2, friction_scale=1.2,
                            gain_scale=0.8),
    'vision': Perturbation(light_scale=0.85, color_shift=0.02, camera_jitter_m=0.005,
                           camera_jitter_deg=1.0),
}
PRESENT_ALL = layout.PRESENT_COLOR | layout.PRESENT_DEPTH | layout.PRESENT_JOINTS


def parse_perturbation(text):
    """Return a Perturbation from a preset name or `field=value,...`."""
    if text in PRESETS:
        return PRESETS[text]
    values = {}
    for item in filter(None, text.split(',')):
        key, _, value = item.partition('=')
        values[key.strip()] = float(value)
    return Perturbation(**values)


def parse_seeds(text):
    """Return seeds from `a:b` (range) or `1,2,3`."""
    if ':' in text:
        start, stop = text.split(':')
        return list(range(int(start), int(stop)))
    return [int(s) for s in text.split(',') if s]


class SagePolicy:
    """Encoder -> H-module -> L-module -> temporal ensembling, as the nodes run them."""

    name = 'sage'

    def __init__(self, model_dir, versions=None, precision='fp32', ensemble_decay=10.0,
                 num_joints=2):
        versions = versions or {}
        registry = ModelRegistry(model_dir)
        self.encoder = load_runtime(registry, versions.get('encoder') or '', num_joints)
        self.h_runner = HRunner(
            registry.load('h_module', versions.get('h_module') or None), precision)
        self.l_runner = LRunner(
            registry.load('l_module', versions.get('l_module') or None), precision,
            num_joints=num_joints)
        self.versions = {'encoder': self.encoder.version, 'h_module': self.h_runner.version,
                         'l_module': self.l_runner.version}
        self.decay = ensemble_decay
        self.reset()

    def reset(self):
        self.hidden = initial_hidden(self.encoder.config)
        self.window = ContextWindow(self.h_runner.window, max_age_s=1.0)
        self.ensembler = TemporalEnsembler(self.decay)

    def on_frame(self, t, rgb, depth, pos, vel, eff):
        feeds = preprocess(rgb, depth, pos, vel, eff, self.encoder.config)
        feeds['hidden'] = self.hidden
        context, self.hidden = self.encoder.run(feeds)
        self.window.push(context, presence_group_mask(PRESENT_ALL), t)
        z, _ = self.h_runner.compress(self.window.feeds())
        chunk, _ = self.l_runner.chunk(z, pos, vel)
        self.ensembler.add(chunk, t, self.l_runner.chunk_dt)

    def command(self, t, pos, vel):
        return self.ensembler.evaluate(t)


class BCPolicy:
    """The plain behaviour-cloning baseline (sage_sleep.baseline), with the same ensembling."""

    name = 'bc'

    def __init__(self, model_dir, version=None, ensemble_decay=10.0):
        from sage_common.onnx_runtime import create_session
        from sage_sleep.baseline import MODEL_NAME

        mv = ModelRegistry(model_dir).load(MODEL_NAME, version)
        self.config = mv.metadata['config']
        self.session, _ = create_session(mv.path('model.onnx'))
        self.versions = {MODEL_NAME: mv.version}
        self.decay = ensemble_decay
        self.reset()

    def reset(self):
        self.ensembler = TemporalEnsembler(self.decay)

    def on_frame(self, t, rgb, depth, pos, vel, eff):
        color = preprocess(rgb, None, None, None, None,
                           {'image_size': self.config['image_size'], 'num_joints': 1,
                            'max_depth_m': 1.0})['color']
        chunk = self.session.run(None, {'color': color,
                                        'joint_pos': np.asarray(pos, np.float32)[None],
                                        'joint_vel': np.asarray(vel, np.float32)[None]})[0]
        self.ensembler.add(chunk[0], t, float(self.config['chunk_dt']))

    def command(self, t, pos, vel):
        return self.ensembler.evaluate(t)


class TeacherPolicy:
    """The scripted expert with the privileged goal: the upper bound."""

    name = 'teacher'
    versions = {}

    def __init__(self, robot):
        self.robot = robot
        self.teacher = ReachTeacher(TwoLinkArm.from_model(robot.model))

    def reset(self):
        self.teacher.command = None

    def on_frame(self, t, rgb, depth, pos, vel, eff):
        pass

    def command(self, t, pos, vel):
        return self.teacher.tick(self.robot.goal(), pos, self.robot.timestep)


class RandomPolicy:
    """Uniformly random joint targets, a new one every 0.5 s: the lower bound."""

    name = 'random'
    versions = {}

    def __init__(self, robot, seed=0):
        self.rng = np.random.default_rng(seed)
        self.low, self.high = robot.joint_range.T.clip(-math.pi, math.pi)
        self.reset()

    def reset(self):
        self.target, self.next_change = None, 0.0

    def on_frame(self, t, rgb, depth, pos, vel, eff):
        pass

    def command(self, t, pos, vel):
        if self.target is None or t >= self.next_change:
            self.target = self.rng.uniform(self.low, self.high)
            self.next_change = t + 0.5
        return self.target


@dataclasses.dataclass
class EpisodeResult:
    """One evaluated episode."""

    seed: int
    success: bool
    final_distance: float
    jerk_rms: float          # rad/s^3 of the commanded targets
    commands: int


class Evaluator:
    """Steps the simulated robot in simulated time under a policy."""

    def __init__(self, duration=2.0, camera_rate=30.0, width=320, height=240):
        self.robot = MujocoRobot(width=width, height=height)
        self.runner = EpisodeRunner(self.robot, duration)
        self.camera_period = 1.0 / camera_rate

    def episode(self, policy, seed, perturbation=None):
        """Run one episode; return an EpisodeResult."""
        robot, runner = self.robot, self.runner
        runner.reset(seed, perturbation=perturbation)
        policy.reset()
        start, next_frame, targets = robot.time, robot.time, []
        while runner.running:
            t = robot.time - start
            pos, vel = robot.joint_positions(), robot.joint_velocities()
            if robot.time >= next_frame - 1e-9:
                rgb, depth = robot.render()
                policy.on_frame(t, rgb, depth, pos, vel, robot.joint_efforts())
                next_frame += self.camera_period
            target = policy.command(t, pos, vel)
            if target is not None and np.all(np.isfinite(target)):
                robot.set_target(np.asarray(target, float))
                targets.append(np.asarray(target, float))
            runner.step()
        return EpisodeResult(int(seed), robot.success(), robot.distance(),
                             jerk_rms(targets, robot.timestep), len(targets))

    def evaluate(self, policy, seeds, perturbation=None, progress=None):
        """Run every seed; return a summary dict with the per-episode results."""
        results = []
        for i, seed in enumerate(seeds):
            results.append(self.episode(policy, seed, perturbation))
            if progress:
                progress(i + 1, len(seeds), results)
        return summarize(policy, results, perturbation)


def wilson_interval(successes, n, z=1.96):
    """Return the 95% Wilson score interval of a success rate."""
    if n == 0:
        return (float('nan'), float('nan'))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarize(policy, results, perturbation):
    """Return the summary dict of a list of EpisodeResults."""
    n = len(results)
    wins = sum(r.success for r in results)
    return {
        'policy': policy.name, 'versions': dict(policy.versions),
        'perturbation': dataclasses.asdict(perturbation or Perturbation()),
        'episodes': n, 'successes': wins, 'success_rate': wins / n if n else float('nan'),
        'ci95': wilson_interval(wins, n),
        'median_final_distance': float(np.median([r.final_distance for r in results])),
        'jerk_rms_median': float(np.median([r.jerk_rms for r in results])),
        'results': [dataclasses.asdict(r) for r in results],
    }


def make_policy(kind, evaluator, model_dir=None, versions=None, seed=0, precision='fp32'):
    """Return a policy by name: sage, bc, teacher or random."""
    if kind == 'sage':
        return SagePolicy(model_dir, versions, precision)
    if kind == 'bc':
        return BCPolicy(model_dir, (versions or {}).get('bc_policy'))
    if kind == 'teacher':
        return TeacherPolicy(evaluator.robot)
    if kind == 'random':
        return RandomPolicy(evaluator.robot, seed)
    raise ValueError(f'unknown policy {kind!r}: sage, bc, teacher or random')


def main(argv=None):
    parser = argparse.ArgumentParser(prog='sage_evaluate',
                                     description=__doc__.split('\n\n')[0].strip())
    parser.add_argument('--policy', default='sage', choices=['sage', 'bc', 'teacher', 'random'])
    parser.add_argument('--models', type=Path, default=default_model_dir())
    parser.add_argument('--versions', default='',
                        help='name=version,... (default: the active versions)')
    parser.add_argument('--seeds', default='1000:1050')
    parser.add_argument('--perturb', default='none',
                        help='none, physics, vision, or field=value,... of sage_sim Perturbation')
    parser.add_argument('--duration', type=float, default=2.0, help='episode seconds')
    parser.add_argument('--width', type=int, default=320,
                        help='camera width: match the sim_robot the models learned from (the '
                             'demo uses 64 x 64)')
    parser.add_argument('--height', type=int, default=240)
    parser.add_argument('--precision', default='fp32', choices=['fp32', 'fp16', 'int8'])
    parser.add_argument('--out', type=Path, help='write the summary JSON here')
    args = parser.parse_args(argv)
    versions = dict(v.split('=', 1) for v in args.versions.split(',') if v)
    evaluator = Evaluator(duration=args.duration, width=args.width, height=args.height)
    policy = make_policy(args.policy, evaluator, args.models, versions,
                         precision=args.precision)

    def show(done, total, results):
        if done % 10 == 0 or done == total:
            wins = sum(r.success for r in results)
            print(f'{policy.name}: {done}/{total} episodes, {wins} successes', flush=True)

    summary = evaluator.evaluate(policy, parse_seeds(args.seeds),
                                 parse_perturbation(args.perturb), show)
    lo, hi = summary['ci95']
    print(f'{policy.name} {summary["versions"]}: success {summary["success_rate"]:.0%} '
          f'[{lo:.0%}, {hi:.0%}] over {summary["episodes"]} seeds ({args.perturb}), '
          f'median final distance {summary["median_final_distance"] * 100:.1f} cm')
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
