# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Scripted expert for a planar two-link arm (Reacher): analytic IK and smooth targets.

The arm's geometry is read from the MuJoCo model (joint anchors and the effector body at the
zero configuration), so the IK matches the simulated robot exactly.
"""

import math

import mujoco
import numpy as np


class TwoLinkArm:
    """
    Planar two-link arm: base point, link lengths, and the links' angles at q = 0.

    forward(q) = base + l1 u(q0 + a0) + l2 u(q0 + q1 + a0 + a1), with u(t) = (cos t, sin t).
    """

    def __init__(self, base, l1, l2, a0=0.0, a1=0.0, q1_range=(-math.pi, math.pi)):
        self.base = np.asarray(base, float)
        self.l1, self.l2 = float(l1), float(l2)
        self.a0, self.a1 = float(a0), float(a1)
        self.q1_range = (float(q1_range[0]), float(q1_range[1]))

    @classmethod
    def from_model(cls, model, joints=('joint0', 'joint1'), effector='fingertip'):
        """Measure the arm in a MuJoCo model at its zero joint configuration."""
        ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in joints]
        body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, effector)
        if min(ids) < 0 or body < 0:
            raise ValueError(f'the model has no joints {joints} and effector body {effector!r}')
        data = mujoco.MjData(model)
        data.qpos[:] = model.qpos0
        data.qpos[model.jnt_qposadr[ids]] = 0.0
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)  # fills xanchor
        p0, p1 = data.xanchor[ids[0], :2], data.xanchor[ids[1], :2]
        tip = data.xpos[body, :2]
        link1, link2 = p1 - p0, tip - p1
        a0 = math.atan2(link1[1], link1[0])
        a1 = math.atan2(link2[1], link2[0]) - a0
        q1_range = (-math.pi, math.pi)
        if model.jnt_limited[ids[1]]:
            q1_range = tuple(model.jnt_range[ids[1]])
        return cls(p0, np.linalg.norm(link1), np.linalg.norm(link2), a0, a1, q1_range)

    def forward(self, q):
        """Return the effector position (x, y) at joint angles q = (q0, q1)."""
        t0 = q[0] + self.a0
        t1 = t0 + q[1] + self.a1
        return self.base + np.array([self.l1 * math.cos(t0) + self.l2 * math.cos(t1),
                                     self.l1 * math.sin(t0) + self.l2 * math.sin(t1)])

    def inverse(self, point, near=(0.0, 0.0)):
        """
        Return joint angles placing the effector at point, the solution nearest `near`.

        Both elbow solutions are tried; q0 is unwrapped to the turn nearest near[0] (the base
        joint is unlimited) and q1 kept in its joint range. Out-of-reach points give the
        nearest reachable point on the same bearing.
        """
        d = np.asarray(point, float) - self.base
        r = float(np.hypot(d[0], d[1]))
        cos_q1 = (r * r - self.l1 ** 2 - self.l2 ** 2) / (2 * self.l1 * self.l2)
        elbow = math.acos(min(1.0, max(-1.0, cos_q1)))
        bearing = math.atan2(d[1], d[0])
        best, best_cost = None, math.inf
        for e in (elbow, -elbow):
            # e is the angle between the links; the joint angle is e minus its zero offset.
            q1 = min(max(e - self.a1, self.q1_range[0]), self.q1_range[1])
            e = q1 + self.a1
            q0 = bearing - math.atan2(self.l2 * math.sin(e), self.l1 + self.l2 * math.cos(e))
            q0 -= self.a0
            q0 = near[0] + (q0 - near[0] + math.pi) % (2 * math.pi) - math.pi
            cost = abs(q0 - near[0]) + abs(q1 - near[1])
            if cost < best_cost:
                best, best_cost = np.array([q0, q1]), cost
        return best


class ReachTeacher:
    """
    Joint position targets moving toward the IK solution of the goal at a limited speed.

    Each tick moves the commanded targets at most `max_speed` rad/s toward the IK solution
    (computed near the current command), from `reference`: 'command' integrates the teacher's
    own previous command (the teacher drives), 'measured' starts every tick from the measured
    joint positions (the teacher labels while something else drives).
    """

    def __init__(self, arm, max_speed=3.0, reference='command'):
        if max_speed <= 0:
            raise ValueError(f'max_speed must be > 0, got {max_speed}')
        if reference not in ('command', 'measured'):
            raise ValueError(f"reference must be 'command' or 'measured', got {reference!r}")
        self.arm = arm
        self.max_speed = float(max_speed)
        self.reference = reference
        self.command = None

    def start(self, measured):
        """Begin a new episode from the measured joint positions."""
        self.command = np.asarray(measured, float).copy()

    def tick(self, goal, measured, dt):
        """Return the next joint targets toward goal after dt seconds."""
        if self.command is None:
            self.start(measured)
        origin = np.asarray(measured, float) if self.reference == 'measured' else self.command
        target = self.arm.inverse(goal, near=origin)
        step = np.clip(target - origin, -self.max_speed * dt, self.max_speed * dt)
        self.command = origin + step
        return self.command.copy()
