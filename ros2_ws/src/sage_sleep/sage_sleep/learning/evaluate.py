# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
`sage_evaluate`: closed-loop evaluation of a policy on seeded episodes, in one process.

    sage_evaluate --policy sage --models models/ --seeds 1000:1050 [--perturb vision]
                  [--width 64 --height 64]
    sage_evaluate --policy sage --versions encoder=v0002,h_module=v0002,l_module=v0002 ...
    sage_evaluate --policy bc --models runs/x/baselines/bc  |  --policy teacher | random
    sage_evaluate --policy sage --slow-start-step 1.0   # the L node's slow start, as the demo

The simulated robot (sage_sim.MujocoRobot, the same model, camera and PD loop as the
sim_robot node) is stepped in simulated time — faster than real time, deterministic per seed
— with a camera frame every 1/camera_rate s and a command every physics step. A SAGE policy
runs exactly what the nodes run: the encoder's ONNX session with its history state
(sage_perception.context_core), the H-module's window, the L-module, and the L-module node's
ActuatorController (sage_hl_control.controller: temporal ensembling of the chunks, then the
safety filter's limits, watchdog and hold) at the physics step rate, with the node's default
parameters; the plain-BC baseline drives through the same controller. Slow start is off unless
`--slow-start-step` sets it (a robot that already ramped up; the demo's graph sets the node's
`slow_start_step`, which does not restart per episode). The summary records the controller
settings. Inference latency is not simulated here (the chunk acts from its frame's time); the
ROS graph run of `make demo` measures it. The teacher and random references drive directly.

Success is the task's: Reacher's fingertip within 2 cm of the goal when the episode ends.
With `--targets red,blue` the scene has a target per colour and each seed runs once per
colour, the policy told which by the task sentence ("reach the blue target"; SAGE through its
encoder's task input, the teacher through the privileged goal); success is on the named
target, and an episode that ends within 2 cm of another one counts as a wrong target.
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
from sage_common.onnx_runtime import OnnxModel
from sage_common.registry import default_model_dir, ModelRegistry
from sage_common.stats import jerk_rms, wilson_interval
from sage_hl_control.context_window import ContextWindow, presence_group_mask
from sage_hl_control.controller import ActuatorController
from sage_hl_control.runtime import HRunner, LRunner
from sage_perception.context_core import load_runtime, TrustGate
from sage_perception.encoder import initial_hidden, preprocess, presence_bits
from sage_sim.episode import EpisodeRunner
from sage_sim.robot import colored, MujocoRobot, Perturbation, ReachTask
from sage_sim.teacher import ReachTeacher, TwoLinkArm

PRESETS = {
    'none': Perturbation(),
    'physics': Perturbation(mass_scale=1.2, damping_scale=1.2, friction_scale=1.2,
                            gain_scale=0.8),
    'vision': Perturbation(light_scale=0.85, color_shift=0.02, camera_jitter_m=0.005,
                           camera_jitter_deg=1.0),
}


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


class ControlledPolicy:
    """
    A learned policy whose chunks drive the robot through the L node's ActuatorController.

    Subclasses compute a chunk per camera frame (`chunk`); time is the evaluator's simulated
    clock, which never goes back across episodes (the controller's watchdog and slow start
    see one continuous run, as the node does).
    """

    def __init__(self, controller_settings):
        self.controller = ActuatorController(controller_settings)
        self.holds = []  # (t, reasons) of the episode's holding commands

    def reset(self, t, task=None):
        """Start a new episode at time t; task: its sentence (None: no task)."""
        self.controller.start_episode(t)
        self.holds = []

    def on_frame(self, t, rgb, depth, pos, vel, eff):
        self.controller.update_joints(pos, vel, t)
        chunk, chunk_dt, presence = self.chunk(t, rgb, depth, pos, vel, eff)
        self.controller.add_chunk(chunk, t, chunk_dt, t, presence=presence)

    def command(self, t, pos, vel):
        self.controller.update_joints(pos, vel, t)
        command = self.controller.tick(t)
        if command is not None and command.holding:
            self.holds.append((t, command.reasons))
        return None if command is None else command.positions


class SagePolicy(ControlledPolicy):
    """Encoder -> H-module -> L-module -> the L node's controller, as the nodes run them."""

    name = 'sage'

    def __init__(self, model_dir, controller_settings, versions=None, precision='fp32',
                 num_joints=2, use_trust=True):
        """use_trust: mask the sources the encoder's trust model distrusts (as the node)."""
        super().__init__(controller_settings)
        self.trust = TrustGate(use_trust)
        self.trust_log = []   # (t, trust, distrusted, presence) of the episode's judged frames
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

    def reset(self, t, task=None):
        super().reset(t)
        self.task = task
        self.hidden = initial_hidden(self.encoder.config)
        self.window = ContextWindow(self.h_runner.window, max_age_s=1.0)
        self.trust.reset()
        self.trust_log.clear()

    def chunk(self, t, rgb, depth, pos, vel, eff):
        feeds = preprocess(rgb, depth, pos, vel, eff, self.encoder.config, self.task)
        feeds['hidden'] = self.hidden
        context, self.hidden, presence, trust = self.trust.encode(self.encoder, feeds,
                                                                  presence_bits(feeds))
        if trust is not None:
            self.trust_log.append((t, trust, self.trust.monitor.distrusted.copy(), presence))
        self.window.push(context, presence_group_mask(presence), t)
        z, _ = self.h_runner.compress(self.window.feeds())
        return self.l_runner.chunk(z, pos, vel)[0], self.l_runner.chunk_dt, presence


class BCPolicy(ControlledPolicy):
    """The plain behaviour-cloning baseline (sage_sleep.learning.baseline), same controller."""

    name = 'bc'

    def __init__(self, model_dir, controller_settings, version=None):
        from sage_sleep.learning.baseline import MODEL_NAME

        super().__init__(controller_settings)
        self.model = OnnxModel(ModelRegistry(model_dir).load(MODEL_NAME, version))
        self.config = c = self.model.config
        s, j = int(c['image_size']), int(c['num_joints'])
        rng = np.random.default_rng(0)
        probe = self._feeds(rng.integers(0, 256, (s, s, 3), dtype=np.uint8),
                            rng.uniform(-3, 3, j), rng.uniform(-2, 2, j))
        self.model.probe(probe, [(1, int(c['chunk_size']), j)])
        self.versions = {MODEL_NAME: self.model.version}

    def _feeds(self, rgb, pos, vel):
        color = preprocess(rgb, None, None, None, None,
                           {'image_size': self.config['image_size'], 'num_joints': 1,
                            'max_depth_m': 1.0})['color']
        return {'color': color, 'joint_pos': np.asarray(pos, np.float32)[None],
                'joint_vel': np.asarray(vel, np.float32)[None]}

    def chunk(self, t, rgb, depth, pos, vel, eff):
        chunk = self.model.run(self._feeds(rgb, pos, vel))[0]
        return chunk[0], float(self.config['chunk_dt']), None


class TeacherPolicy:
    """The scripted expert with the privileged goal: the upper bound."""

    name = 'teacher'
    versions = {}

    def __init__(self, robot):
        self.robot = robot
        self.teacher = ReachTeacher(TwoLinkArm.from_model(robot.model))

    def reset(self, t, task=None):
        self.teacher.command = None  # the robot's goal is the named target already

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
        self.reset(0.0)

    def reset(self, t, task=None):
        self.target, self.next_change = None, t

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
    target: str = ''         # the named target's colour ('' for the single-goal scene)
    wrong_target: bool = False  # ended within the success distance of another target


class Evaluator:
    """
    Steps the simulated robot in simulated time under a policy.

    Policies see one clock that goes on across episodes (`clock`: simulated seconds since
    the evaluator started), as the nodes see their clock go on across the sim's resets.
    """

    def __init__(self, duration=2.0, camera_rate=30.0, width=320, height=240,
                 target_colors=()):
        """target_colors: names of sage_sim.robot.COLORS, a target each (two or more)."""
        self.robot = MujocoRobot(width=width, height=height, task=ReachTask(
            target_colors=colored(target_colors)))
        self.runner = EpisodeRunner(self.robot, duration)
        self.camera_period = 1.0 / camera_rate
        self.clock = 0.0

    def controller_settings(self, **overrides):
        """
        Return what differs here from the L node controller's defaults, then overrides.

        Commands at this robot's physics step rate; slow start off (a robot that already
        ramped up) unless overridden with the node's `slow_start_step`.
        """
        return {'command_rate': 1.0 / self.robot.timestep, 'slow_start_step': 0.0,
                **overrides}

    def episode(self, policy, seed, perturbation=None, faults=None, on_step=None, target=None):
        """
        Run one episode; return an EpisodeResult.

        faults: a sage_sim SensorFaults applied to what the policy senses (episode time);
        on_step(t, true joint positions, commanded target or None) is called every step;
        target: the colour to reach in a scene of several (None: drawn from the seed).
        """
        robot, runner = self.robot, self.runner
        runner.reset(seed, perturbation=perturbation, target=target)
        start, next_frame, targets = robot.time - self.clock, robot.time, []
        policy.reset(self.clock, robot.task_text() or None)
        episode_start = robot.time
        while runner.running:
            t = robot.time - start
            pos, vel = robot.joint_positions(), robot.joint_velocities()
            true_pos = pos
            if faults is not None:
                pos, vel = faults.joints(robot.time - episode_start, pos, vel)
            if robot.time >= next_frame - 1e-9:
                rgb, depth = robot.render()
                if faults is not None:
                    rgb, depth = faults.camera(robot.time - episode_start, rgb, depth)
                policy.on_frame(t, rgb, depth, pos, vel, robot.joint_efforts())
                next_frame += self.camera_period
            target = policy.command(t, pos, vel)
            if target is not None and np.all(np.isfinite(target)):
                robot.set_target(np.asarray(target, float))
                targets.append(np.asarray(target, float))
            if on_step is not None:
                on_step(robot.time - episode_start, true_pos, target)
            runner.step()
        self.clock = robot.time - start
        threshold = robot.task.success_threshold
        wrong = any(np.linalg.norm(robot.effector() - xy) < threshold
                    for color, xy in robot.targets().items() if color != robot.target_color)
        return EpisodeResult(int(seed), robot.success(), robot.distance(),
                             jerk_rms(targets, robot.timestep), len(targets),
                             robot.target_color or '', bool(wrong))

    def evaluate(self, policy, seeds, perturbation=None, progress=None):
        """
        Run every seed; return a summary dict with the per-episode results.

        In a scene of several targets each seed runs once per target, named by its sentence.
        """
        colors = self.robot.task.colors() or (None,)
        runs = [(seed, color) for seed in seeds for color in colors]
        results = []
        for i, (seed, color) in enumerate(runs):
            results.append(self.episode(policy, seed, perturbation, target=color))
            if progress:
                progress(i + 1, len(runs), results)
        return summarize(policy, results, perturbation)


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
        'wrong_target': sum(r.wrong_target for r in results),
        'wrong_target_rate': (sum(r.wrong_target for r in results) / n if n
                              else float('nan')),
        'results': [dataclasses.asdict(r) for r in results],
        'controller': (dict(policy.controller.settings)
                       if isinstance(policy, ControlledPolicy) else None),
    }


def make_policy(kind, evaluator, model_dir=None, versions=None, seed=0, precision='fp32',
                controller=None):
    """
    Return a policy by name: sage, bc, teacher or random.

    sage and bc drive through the L node's controller: evaluator.controller_settings()
    updated with `controller` ({parameter: value}, e.g. slow_start_step).
    """
    if kind in ('sage', 'bc'):
        settings = evaluator.controller_settings(**(controller or {}))
        if kind == 'sage':
            return SagePolicy(model_dir, settings, versions, precision)
        return BCPolicy(model_dir, settings, (versions or {}).get('bc_policy'))
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
    parser.add_argument('--targets', default='',
                        help='a target per colour (e.g. red,blue: each seed once per colour, '
                             'named by the task sentence); default one goal')
    parser.add_argument('--precision', default='fp32', choices=['fp32', 'fp16', 'int8'])
    parser.add_argument('--slow-start-step', type=float,
                        help='sage and bc: seconds per step of the L node slow start (its '
                             'slow_start_step; default off: a robot already at full speed)')
    parser.add_argument('--out', type=Path, help='write the summary JSON here')
    args = parser.parse_args(argv)
    versions = dict(v.split('=', 1) for v in args.versions.split(',') if v)
    evaluator = Evaluator(duration=args.duration, width=args.width, height=args.height,
                          target_colors=[c for c in args.targets.split(',') if c])
    controller = ({} if args.slow_start_step is None
                  else {'slow_start_step': args.slow_start_step})
    policy = make_policy(args.policy, evaluator, args.models, versions,
                         precision=args.precision, controller=controller)

    def show(done, total, results):
        if done % 10 == 0 or done == total:
            wins = sum(r.success for r in results)
            print(f'{policy.name}: {done}/{total} episodes, {wins} successes', flush=True)

    summary = evaluator.evaluate(policy, parse_seeds(args.seeds),
                                 parse_perturbation(args.perturb), show)
    lo, hi = summary['ci95']
    print(f'{policy.name} {summary["versions"]}: success {summary["success_rate"]:.0%} '
          f'[{lo:.0%}, {hi:.0%}] over {summary["episodes"]} episodes ({args.perturb}), '
          f'median final distance {summary["median_final_distance"] * 100:.1f} cm' +
          (f', wrong target {summary["wrong_target_rate"]:.0%}' if args.targets else ''))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
