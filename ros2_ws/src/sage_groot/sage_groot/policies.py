# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Policies the GR00T-protocol server can serve.

A served policy has `layout` (protocol.Layout: the keys it reads and answers), and
`get_action(videos, states, task)` -> {part: (horizon, D)} absolute joint position targets,
step i for the observation's time + i * step_dt; `reset()` starts an episode (N1.6's reset
endpoint; N1.5 has none).

ExpertPolicy is the scripted Reacher expert (sage_sim.teacher) behind the protocol. It needs
the goal, which a camera image of Reacher shows but the expert cannot read, so the goal
travels in the observation, chosen by `goal_from`:
  - 'state' (default): a state part `goal` (x, y in metres, the MuJoCo world frame) — the GR00T
    teacher node fills it from the privileged /sim/episode, as the scripted teacher node reads
    it there;
  - 'text': the last "(x, y)" in the task description (annotation.human.action.task_description),
    e.g. "reach the target at (0.105, -0.032)" — for a task manager that says where to reach.
Each chunk is the expert's rate-limited path toward the IK solution. With reference
'command' (default) it continues the expert's own previous path, as the scripted teacher
node integrates its own command: a request for the same goal within the span of the previous
chunk, whose path at the request's time is within `continue_within` rad of the observed
joints, starts from that path; any other request (a new goal, a new episode, a gap after a
fault, N1.6's reset, another client) starts from the observed joints. Starting every chunk
from the observed joints (reference 'measured') is stateless but slow: the PD-tracked arm
lags its target by ~kd/kp x speed (0.6 rad at 3 rad/s on Reacher), and each chunk would
restart from the lagging joints (measured: 29/30 instead of 30/30 reached in 2 s).

RegistryPolicy serves a SAGE policy (encoder -> H-module -> L-module) or the plain BC
baseline from a model registry, with sage_sleep.learning.evaluate's classes: the chunk the L-module
computes for the frame, resampled to the protocol's horizon at step_dt. GR00T observations
carry no depth, so SAGE runs with depth masked (its presence bit clear).
"""

import time

import numpy as np

from .protocol import goal_from_text, Layout, TASK_KEY


class ExpertPolicy:
    """The scripted expert (IK + rate limit) as a GR00T-protocol policy."""

    def __init__(self, arm, step_dt=0.02, horizon=16, max_speed=3.0, goal_from='state',
                 camera='top_down', reference='command', continue_within=1.0,
                 clock=time.monotonic):
        from sage_sim.teacher import ReachTeacher

        if reference not in ('command', 'measured'):
            raise ValueError(f"reference must be 'command' or 'measured', got {reference!r}")
        if goal_from not in ('state', 'text'):
            raise ValueError(f"goal_from must be 'state' or 'text', got {goal_from!r}")
        if step_dt <= 0 or horizon < 1:
            raise ValueError(f'need step_dt > 0 and horizon >= 1, got {step_dt}, {horizon}')
        self.arm = arm
        self.step_dt, self.horizon = float(step_dt), int(horizon)
        self.goal_from = goal_from
        self.reference = reference
        self.continue_within = float(continue_within)
        self._clock = clock
        self._last = None        # (receive time, goal, origin, chunk) of the previous request
        self.continued = 0
        self._teacher = ReachTeacher(arm, max_speed, 'command')
        self.layout = Layout(video=[camera] if camera else [],
                             state=['arm', 'goal'] if goal_from == 'state' else ['arm'],
                             action=['arm'], language=[TASK_KEY], action_horizon=self.horizon)

    @classmethod
    def for_reacher(cls, model_path=None, effector='fingertip', **kwargs):
        """Return the expert for the simulated arm (gymnasium's Reacher-v5 by default)."""
        from sage_sim.robot import load_model
        from sage_sim.teacher import TwoLinkArm

        arm = TwoLinkArm.from_model(load_model(model_path, camera=''), ('joint0', 'joint1'),
                                    effector)
        return cls(arm, **kwargs)

    def goal(self, states, task):
        """Return the goal from the observation (x, y); ValueError if it has none."""
        if self.goal_from == 'state':
            goal = np.asarray(states.get('goal', ()), float).reshape(-1)
            if goal.shape != (2,) or not np.all(np.isfinite(goal)):
                raise ValueError(f'state.goal must be 2 finite numbers, got {goal.tolist()}')
            return goal
        goal = goal_from_text(task)
        if goal is None:
            raise ValueError(f'no "(x, y)" goal in the task description {task!r}')
        return goal

    def get_action(self, videos, states, task):
        q = np.asarray(states['arm'], float).reshape(-1)
        if q.shape != (2,) or not np.all(np.isfinite(q)):
            raise ValueError(f'state.arm must be 2 finite joint positions, got {q.tolist()}')
        goal = self.goal(states, task)
        now = self._clock()
        origin = self._continue_from(now, goal, q)
        self._teacher.start(q if origin is None else origin)
        chunk = np.array([self._teacher.tick(goal, q, self.step_dt)
                          for _ in range(self.horizon)])
        self._last = (now, goal, q if origin is None else origin, chunk)
        return {'arm': chunk.astype(np.float32)}

    def _continue_from(self, now, goal, q):
        """Return where the previous path is at now, or None (start from the joints q)."""
        if self.reference != 'command' or self._last is None:
            return None
        then, last_goal, last_origin, chunk = self._last
        k = int(np.floor((now - then) / self.step_dt + 1e-6))
        if not (0 <= k < len(chunk)) or not np.allclose(goal, last_goal, atol=1e-6):
            return None
        origin = chunk[k - 1] if k >= 1 else last_origin   # the command issued at now
        if np.max(np.abs(origin - q)) > self.continue_within:
            return None
        self.continued += 1
        return origin.copy()

    def reset(self):
        """Start the next request from the observed joints (N1.6's reset)."""
        self._last = None


class RegistryPolicy:
    """A SAGE policy ('sage') or the plain BC baseline ('bc') from a model registry."""

    def __init__(self, kind, model_dir, versions=None, step_dt=0.02, horizon=16,
                 camera='top_down'):
        from sage_sleep.learning import evaluate

        if kind not in ('sage', 'bc'):
            raise ValueError(f"kind must be 'sage' or 'bc', got {kind!r}")
        if not model_dir:
            raise ValueError('serving a SAGE or BC policy needs --models')
        self.kind = kind
        self.step_dt, self.horizon = float(step_dt), int(horizon)
        if kind == 'sage':
            self.policy = evaluate.SagePolicy(model_dir, {}, versions or {})
            state = ['arm', 'arm_velocity', 'arm_effort']
        else:
            self.policy = evaluate.BCPolicy(model_dir, {}, (versions or {}).get('bc_policy'))
            state = ['arm', 'arm_velocity']
        self.versions = dict(self.policy.versions)
        self.layout = Layout(video=[camera], state=state, action=['arm'],
                             language=[TASK_KEY], action_horizon=self.horizon)
        self._camera = camera
        self._t0 = time.monotonic()
        self.reset()

    def reset(self):
        self.policy.reset(time.monotonic() - self._t0)

    def get_action(self, videos, states, task):
        pos = np.asarray(states['arm'], float)
        vel = np.asarray(states.get('arm_velocity', np.zeros_like(pos)), float)
        eff = np.asarray(states.get('arm_effort', np.zeros_like(pos)), float)
        chunk, chunk_dt, _ = self.policy.chunk(time.monotonic() - self._t0,
                                               videos[self._camera], None, pos, vel, eff)
        return {'arm': resample_chunk(chunk, chunk_dt, self.step_dt, self.horizon)}


def resample_chunk(chunk, chunk_dt, step_dt, horizon):
    """Return (horizon, J) float32 of a (K, J) chunk at chunk_dt, linearly at step_dt."""
    chunk = np.asarray(chunk, float)
    source = np.arange(chunk.shape[0]) * float(chunk_dt)
    times = np.arange(horizon) * float(step_dt)
    return np.stack([np.interp(times, source, chunk[:, j]) for j in range(chunk.shape[1])],
                    axis=1).astype(np.float32)
