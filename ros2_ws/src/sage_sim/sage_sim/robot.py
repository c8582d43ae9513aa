# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
A MuJoCo robot without ROS: PD joint-position tracking, rendering, seeded episodes.

`MujocoRobot` is generic over MuJoCo models: the actuated joints (one hinge or slide joint per
actuator) come from the model, the camera is chosen by name. A camera named `top_down` that the
model does not define is added at load time, centred over the model's geometry and framing all
of it or, with a reach task, the square about the disc its arm covers (Reacher's own cameras
show the goal as a pixel or two at 64 px).

The reach task (Reacher) is described by names in the model: the slide joints that place the
goal, the goal body and the effector body. A model without them runs without a task (no goal,
distance NaN, never successful). With `ReachTask.target_colors`, the scene has one target per
colour (the model's own target takes the first; the others are added at load time, alike) and
an episode's goal is the target its task sentence names ("reach the blue target").
"""

from dataclasses import dataclass, fields
import math
import os

import mujoco
import numpy as np
from sage_common.task_text import words

TOP_DOWN = 'top_down'
TASK_TEMPLATE = 'reach the {} target'
# Target colours a scene can use (rgba).
COLORS = {'red': (0.9, 0.15, 0.1, 1.0), 'blue': (0.1, 0.35, 1.0, 1.0),
          'green': (0.1, 0.8, 0.2, 1.0), 'yellow': (0.95, 0.85, 0.1, 1.0)}


def colored(names):
    """Return ReachTask.target_colors of colour names: ((name, rgba), ...) from COLORS."""
    return tuple((name, COLORS[name]) for name in names)


# Two targets told apart by colour alone: the sentence is the only way to know which to reach.
TWO_COLORS = colored(('red', 'blue'))
_ONE_DOF_JOINTS = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))


def default_model_path():
    """Return gymnasium's Reacher-v5 MJCF (envs/mujoco/assets/reacher.xml)."""
    import gymnasium
    return os.path.join(os.path.dirname(gymnasium.__file__), 'envs', 'mujoco', 'assets',
                        'reacher.xml')


def _geometry_bounds(model):
    """Return (lo, hi) world-frame corners of all non-plane geoms at the model's qpos0."""
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    for g in range(model.ngeom):
        if model.geom_type[g] == int(mujoco.mjtGeom.mjGEOM_PLANE):
            continue
        rot = data.geom_xmat[g].reshape(3, 3)
        centre = data.geom_xpos[g] + rot @ model.geom_aabb[g, :3]
        half = np.abs(rot) @ model.geom_aabb[g, 3:]
        lo = np.minimum(lo, centre - half)
        hi = np.maximum(hi, centre + half)
    if not np.all(np.isfinite(lo)):
        raise ValueError('the model has no geometry besides planes to frame with a camera')
    return lo, hi


def load_model(path=None, camera=TOP_DOWN, aspect=4 / 3, fovy=45.0, margin=1.05, task=None):
    """
    Load an MJCF file and return the compiled MjModel.

    When `camera` is `top_down` and the model has no camera of that name, one is added looking
    straight down (+x right, +y up in the image) from a height where the whole geometry fits a
    `fovy`-degree view of the given aspect ratio (width / height), with `margin` to spare;
    or, when the model has the reach `task`, only the square of `task.view_half_width` (m)
    about the geometry's centre.
    """
    path = path or default_model_path()
    if not os.path.isfile(path):
        raise FileNotFoundError(f'MuJoCo model {path} does not exist')
    spec = mujoco.MjSpec.from_file(path)
    model = spec.compile()
    if task is not None and len(task.target_colors) > 1 and _has_task(model, task):
        _add_targets(spec, task)
        model = spec.compile()
    if camera == TOP_DOWN and mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera) < 0:
        lo, hi = _geometry_bounds(model)
        centre = (lo + hi) / 2
        half = (hi - lo) / 2
        if task is not None and task.view_half_width and _has_task(model, task):
            half[:2] = task.view_half_width
        tan_half = math.tan(math.radians(fovy) / 2)
        height = margin * max(half[1] / tan_half, half[0] / (tan_half * aspect))
        spec.worldbody.add_camera(name=TOP_DOWN, pos=[centre[0], centre[1], hi[2] + height],
                                  fovy=fovy)
        model = spec.compile()
    return model


def _add_targets(spec, task):
    """Add a copy of the goal body (slide joints and sphere) per extra target colour."""
    original = spec.body(task.goal_body)
    sphere = next(g for g in original.geoms if g.type == mujoco.mjtGeom.mjGEOM_SPHERE)
    for color, _ in task.target_colors[1:]:
        body = spec.worldbody.add_body(name=task.target_body(color), pos=original.pos)
        for joint, like in zip(task.target_joints(color), task.goal_joints):
            like = spec.joint(like)
            body.add_joint(name=joint, type=like.type, axis=like.axis, range=like.range,
                           limited=like.limited)
        body.add_geom(name=task.target_body(color), type=mujoco.mjtGeom.mjGEOM_SPHERE,
                      size=sphere.size, contype=0, conaffinity=0)


def _has_task(model, task):
    """Return True when the model names the task's goal joints, goal body and effector."""
    ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in task.goal_joints]
    ids += [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, n)
            for n in (task.goal_body, task.effector_body)]
    return min(ids) >= 0


@dataclass
class Perturbation:
    """
    Physics scale factors and visual changes applied to the nominal model on reset.

    Scales multiply the nominal values (1.0 = unchanged). `color_shift` is the largest random
    offset added to each geom's r, g, b (0..1 units); `camera_jitter_m` / `camera_jitter_deg`
    the largest random camera displacement / rotation about each axis. The random draws come
    from the episode seed, so a seed always gives the same perturbed scene.
    """

    mass_scale: float = 1.0
    friction_scale: float = 1.0
    damping_scale: float = 1.0
    gain_scale: float = 1.0
    light_scale: float = 1.0
    color_shift: float = 0.0
    camera_jitter_m: float = 0.0
    camera_jitter_deg: float = 0.0

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value):
                raise ValueError(f'perturbation {f.name} must be finite, got {value}')
            if f.name.endswith('_scale') and value <= 0:
                raise ValueError(f'perturbation {f.name} must be > 0, got {value}')
            if not f.name.endswith('_scale') and value < 0:
                raise ValueError(f'perturbation {f.name} must be >= 0, got {value}')


@dataclass
class ReachTask:
    """Names and figures of a reach task in the model (defaults: gymnasium's Reacher-v5)."""

    goal_joints: tuple = ('target_x', 'target_y')
    goal_body: str = 'target'
    effector_body: str = 'fingertip'
    goal_radius: float = 0.2
    init_noise: float = 0.1
    success_threshold: float = 0.02
    # What the camera shows. Reacher draws its goal as a 9-mm dot inside a walled arena: at
    # 64 px that is 1-2 px beside dark-red walls, and a CNN did not learn to find it in 600
    # steps (median error 13 cm, as bad as guessing the centre). Framed on the disc the arm
    # reaches, with the goal drawn as the success disc, the same CNN finds it within 0.2 cm
    # in 200 steps. Rendering only: the goal geom does not collide.
    view_half_width: float = 0.23
    goal_marker_radius: float = 0.02
    # ((name, rgba), ...): one target per colour; fewer than two is the single-goal task.
    target_colors: tuple = ()
    min_separation: float = 0.1  # between two targets' centres, m

    def target_body(self, color):
        """Return the body of the target of `color` (the model's goal body for the first)."""
        first = self.target_colors[0][0] if self.target_colors else None
        return self.goal_body if color == first else f'{self.goal_body}_{color}'

    def target_joints(self, color):
        """Return the slide joints placing the target of `color`."""
        if self.target_body(color) == self.goal_body:
            return self.goal_joints
        return tuple(f'{self.target_body(color)}_{axis}' for axis in 'xy')

    def colors(self):
        """Return the target colour names (empty for the single-goal task)."""
        return tuple(name for name, _ in self.target_colors) if len(self.target_colors) > 1 \
            else ()


def task_color(text, colors):
    """
    Return the colour a task sentence names; ValueError when it names none or several.

    The sentence is matched by words, so "Reach the BLUE target." names blue.
    """
    named = [c for c in colors if c in set(words(str(text)))]
    if len(named) != 1:
        raise ValueError(f'task {text!r} names {"no" if not named else "more than one"} '
                         f'target of {list(colors)}')
    return named[0]


@dataclass
class Snapshot:
    """The state a frame is rendered from: simulated time, positions and velocities."""

    time: float
    qpos: np.ndarray
    qvel: np.ndarray


class MujocoRobot:
    """
    A MuJoCo model whose actuated joints track position targets with a PD loop.

    step() runs one physics step: torque = kp (target - q) - kd qdot on each actuated joint,
    converted to the actuator's control and clipped to its ctrlrange. Targets are held until
    changed; a reset sets them to the new initial positions, so the robot holds still.
    """

    def __init__(self, model_path=None, camera=TOP_DOWN, width=320, height=240, kp=100.0,
                 kd=20.0, task=None, timestep=0.0, render_samples=0):
        task = task or ReachTask()
        self.model = load_model(model_path, camera, aspect=width / height, task=task)
        if timestep > 0:
            self.model.opt.timestep = timestep
        # Multisample anti-aliasing: 4 (MuJoCo's default) triples llvmpipe's render time, and
        # a policy trained on one setting sees the other as a visual perturbation: every user
        # (node, evaluator, tests) renders with the same default.
        self.model.vis.quality.offsamples = int(render_samples)
        self.data = mujoco.MjData(self.model)
        self.camera = camera
        self.camera_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
        if self.camera_id < 0:
            raise ValueError(f'camera {camera!r} is not in the model (cameras: '
                             f'{self._names(mujoco.mjtObj.mjOBJ_CAMERA, self.model.ncam)})')
        self.width, self.height = int(width), int(height)
        self._init_joints()
        self.kp = np.broadcast_to(np.asarray(kp, float), (self.n_joints,)).copy()
        self.kd = np.broadcast_to(np.asarray(kd, float), (self.n_joints,)).copy()
        self.task = self._init_task(task)
        self._nominal = {name: getattr(self.model, name).copy() for name in (
            'body_mass', 'body_inertia', 'geom_friction', 'dof_damping', 'actuator_gainprm',
            'geom_rgba', 'light_diffuse', 'light_ambient', 'cam_pos', 'cam_quat')}
        self._nominal_headlight = (self.model.vis.headlight.diffuse.copy(),
                                   self.model.vis.headlight.ambient.copy())
        # Torque per unit control at nominal gain: the controller's model of the actuator.
        self._torque_per_ctrl = (self.model.actuator_gear[self._actuators, 0]
                                 * self.model.actuator_gainprm[self._actuators, 0])
        self._ctrl_lo = self.model.actuator_ctrlrange[self._actuators, 0].copy()
        self._ctrl_hi = self.model.actuator_ctrlrange[self._actuators, 1].copy()
        limited = self.model.actuator_ctrllimited[self._actuators].astype(bool)
        self._ctrl_lo[~limited] = -np.inf
        self._ctrl_hi[~limited] = np.inf
        self._render_data = mujoco.MjData(self.model)
        self._kinematics_data = mujoco.MjData(self.model)
        self._arm_bodies = self._chain_to(self._effector_body if self.task else
                                          int(self.model.jnt_bodyid[self._joints[-1]]))
        self._renderer = None
        self.perturbation = Perturbation()
        self.reset(0)

    def _names(self, obj, count):
        return [mujoco.mj_id2name(self.model, obj, i) for i in range(count)]

    def _init_joints(self):
        model = self.model
        actuators, joints = [], []
        for a in range(model.nu):
            if model.actuator_trntype[a] != int(mujoco.mjtTrn.mjTRN_JOINT):
                continue
            j = int(model.actuator_trnid[a, 0])
            if model.jnt_type[j] not in _ONE_DOF_JOINTS:
                continue
            actuators.append(a)
            joints.append(j)
        if not joints:
            raise ValueError('the model has no actuator driving a hinge or slide joint')
        self._actuators = np.array(actuators)
        self.joint_names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j)
                            for j in joints]
        self.n_joints = len(joints)
        self._joints = joints
        self._qadr = model.jnt_qposadr[joints]
        self._vadr = model.jnt_dofadr[joints]
        self.joint_range = np.where(model.jnt_limited[joints, None].astype(bool),
                                    model.jnt_range[joints], [-np.inf, np.inf])
        self.target = np.zeros(self.n_joints)

    def _init_task(self, task):
        self._targets, self.target_color = {}, None
        if not _has_task(self.model, task):
            return None
        model = self.model
        ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in task.goal_joints]
        self._goal_qadr = model.jnt_qposadr[ids]
        self._goal_vadr = model.jnt_dofadr[ids]
        self._goal_body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, task.goal_body)
        self._effector_body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY,
                                                task.effector_body)
        # Each target: (its body, the qpos/qvel addresses of its slide joints), by colour.
        for color in task.colors():
            jids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n)
                    for n in task.target_joints(color)]
            self._targets[color] = (
                mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, task.target_body(color)),
                model.jnt_qposadr[jids], model.jnt_dofadr[jids])
        rgba = dict(task.target_colors) if self._targets else {}
        bodies = {b: color for color, (b, _, _) in self._targets.items()} or \
            {self._goal_body: None}
        for g in np.nonzero(np.isin(model.geom_bodyid, list(bodies)))[0]:
            if model.geom_type[g] == int(mujoco.mjtGeom.mjGEOM_SPHERE) and \
                    not model.geom_contype[g] and not model.geom_conaffinity[g]:
                if task.goal_marker_radius:
                    model.geom_size[g, 0] = model.geom_rbound[g] = task.goal_marker_radius
                if rgba:
                    model.geom_rgba[g] = rgba[bodies[int(model.geom_bodyid[g])]]
        self.target_color = next(iter(self._targets), None)
        return task

    def _chain_to(self, tip):
        """Return the body ids from the arm's first body below the world down to tip."""
        chain = []
        while tip > 0:
            chain.append(tip)
            tip = int(self.model.body_parentid[tip])
        return np.array(chain[::-1])

    def arm_points(self, positions=None):
        """
        Return the (N, 3) world positions of the arm's bodies, from the base to the tip.

        positions: actuated joint positions to place the arm at instead of its state (e.g.
        the commanded target): forward kinematics on a scratch copy, physics untouched.
        """
        data = self.data
        if positions is not None:
            data = self._kinematics_data
            data.qpos[:] = self.data.qpos
            data.qpos[self._qadr] = positions
            mujoco.mj_kinematics(self.model, data)
        return data.xpos[self._arm_bodies].copy()

    # --- control and physics -------------------------------------------------------------

    @property
    def timestep(self):
        return float(self.model.opt.timestep)

    @property
    def time(self):
        return float(self.data.time)

    def joint_positions(self):
        return self.data.qpos[self._qadr].copy()

    def joint_velocities(self):
        return self.data.qvel[self._vadr].copy()

    def joint_efforts(self):
        """Return the actuator torque/force applied on each actuated joint in the last step."""
        return self.data.qfrc_actuator[self._vadr].copy()

    def set_target(self, positions, indices=None):
        """Set position targets for all actuated joints, or for the joints at `indices`."""
        positions = np.asarray(positions, dtype=float)
        if not np.all(np.isfinite(positions)):
            raise ValueError('joint targets must be finite')
        if indices is None:
            if positions.shape != (self.n_joints,):
                raise ValueError(f'expected {self.n_joints} joint targets, got {positions.shape}')
            self.target[:] = positions
        else:
            self.target[np.asarray(indices)] = positions

    def step(self):
        """Run one physics step with the PD torques; return the controls applied."""
        error = self.target - self.data.qpos[self._qadr]
        torque = self.kp * error - self.kd * self.data.qvel[self._vadr]
        ctrl = np.clip(torque / self._torque_per_ctrl, self._ctrl_lo, self._ctrl_hi)
        self.data.ctrl[self._actuators] = ctrl
        mujoco.mj_step(self.model, self.data)
        return ctrl

    # --- episodes and the task -----------------------------------------------------------

    def reset(self, seed, perturbation=None, target=None):
        """
        Reset to a seeded initial state, apply `perturbation` (default: none) to the model.

        Reacher, as gymnasium does: the goal uniform in a disc of `goal_radius`, every other
        joint at its qpos0 plus uniform noise of +-`init_noise`, small velocities. With target
        colours, every target is drawn so (at least `min_separation` apart) and the goal is the
        target of colour `target` (None: drawn from the seed too). Return the goal (empty when
        the model has no task).
        """
        rng = np.random.default_rng(seed)
        self.apply_perturbation(perturbation or Perturbation(), np.random.default_rng([seed, 1]))
        mujoco.mj_resetData(self.model, self.data)
        noise = self.task.init_noise if self.task else 0.1
        qpos = self.model.qpos0 + rng.uniform(-noise, noise, self.model.nq)
        qvel = rng.uniform(-0.005, 0.005, self.model.nv)
        if self.task:
            while True:
                goal = rng.uniform(-self.task.goal_radius, self.task.goal_radius, 2)
                if np.linalg.norm(goal) < self.task.goal_radius:
                    break
            # The goal joints' qpos is an offset from the goal body's model position.
            body_pos = self.model.body_pos[self._goal_body, :2]
            qpos[self._goal_qadr] = self.model.qpos0[self._goal_qadr] + goal - body_pos
            qvel[self._goal_vadr] = 0.0
            if self._targets:
                self._place_targets(goal, target, np.random.default_rng([seed, 2]), qpos, qvel)
        qpos[self._qadr] = np.clip(qpos[self._qadr], *self.joint_range.T)
        self.data.qpos[:] = qpos
        self.data.qvel[:] = qvel
        mujoco.mj_forward(self.model, self.data)
        self.target[:] = self.joint_positions()
        return self.goal()

    def _place_targets(self, first, target, rng, qpos, qvel):
        """Place the targets after the first (already at `first`); pick the named one."""
        task = self.task
        placed = [first]
        for color, (body, qadr, vadr) in list(self._targets.items())[1:]:
            for _ in range(10000):
                xy = rng.uniform(-task.goal_radius, task.goal_radius, 2)
                if np.linalg.norm(xy) < task.goal_radius and all(
                        np.linalg.norm(xy - p) >= task.min_separation for p in placed):
                    break
            else:
                raise ValueError(f'cannot place {len(self._targets)} targets '
                                 f'{task.min_separation} m apart in a disc of '
                                 f'{task.goal_radius} m')
            placed.append(xy)
            qpos[qadr] = self.model.qpos0[qadr] + xy - self.model.body_pos[body, :2]
            qvel[vadr] = 0.0
        colors = list(self._targets)
        if target is None:
            target = colors[int(rng.integers(len(colors)))]
        elif target not in self._targets:
            raise ValueError(f'no {target!r} target in the scene: {colors}')
        self.target_color = target

    def task_text(self):
        """Return the episode's task sentence ('' for the single-goal task)."""
        return TASK_TEMPLATE.format(self.target_color) if self.target_color else ''

    def targets(self):
        """Return {colour: (x, y)} of every target ({} for the single-goal task)."""
        return {color: self.data.xpos[body, :2].copy()
                for color, (body, _, _) in self._targets.items()} if self.task else {}

    def goal(self):
        """Return the goal position (x, y), empty without a task."""
        if not self.task:
            return np.zeros(0)
        body = self._targets[self.target_color][0] if self._targets else self._goal_body
        return self.data.xpos[body, :2].copy()

    def effector(self):
        """Return the effector position (x, y), empty without a task."""
        if not self.task:
            return np.zeros(0)
        return self.data.xpos[self._effector_body, :2].copy()

    def distance(self):
        """Return the effector-to-goal distance in metres (NaN without a task)."""
        if not self.task:
            return float('nan')
        return float(np.linalg.norm(self.effector() - self.goal()))

    def success(self):
        """Return True when the effector is within the task's success threshold of the goal."""
        return bool(self.task) and self.distance() < self.task.success_threshold

    # --- perturbations --------------------------------------------------------------------

    def apply_perturbation(self, perturbation, rng=None):
        """Restore the nominal model, then apply `perturbation` (random parts drawn from rng)."""
        m, nom = self.model, self._nominal
        rng = rng or np.random.default_rng()
        for name, value in nom.items():
            getattr(m, name)[:] = value
        m.vis.headlight.diffuse[:], m.vis.headlight.ambient[:] = self._nominal_headlight
        p = perturbation
        m.body_mass[:] *= p.mass_scale
        m.body_inertia[:] *= p.mass_scale
        m.geom_friction[:] *= p.friction_scale
        m.dof_damping[:] *= p.damping_scale
        m.actuator_gainprm[:, 0] *= p.gain_scale
        for array in (m.light_diffuse, m.light_ambient, m.vis.headlight.diffuse,
                      m.vis.headlight.ambient):
            array[:] = np.clip(array * p.light_scale, 0.0, 1.0)
        shift = rng.uniform(-p.color_shift, p.color_shift, (m.ngeom, 3))
        m.geom_rgba[:, :3] = np.clip(m.geom_rgba[:, :3] + shift, 0.0, 1.0)
        c = self.camera_id
        m.cam_pos[c] += rng.uniform(-p.camera_jitter_m, p.camera_jitter_m, 3)
        angles = np.radians(rng.uniform(-p.camera_jitter_deg, p.camera_jitter_deg, 3))
        turn = np.zeros(4)
        mujoco.mju_euler2Quat(turn, angles, 'xyz')
        quat = np.zeros(4)
        mujoco.mju_mulQuat(quat, m.cam_quat[c].copy(), turn)
        m.cam_quat[c] = quat
        self.perturbation = p

    # --- rendering ------------------------------------------------------------------------

    def snapshot(self):
        """Return a copy of the state to render from (cheap; take it under the physics lock)."""
        return Snapshot(float(self.data.time), self.data.qpos.copy(), self.data.qvel.copy())

    def intrinsics(self):
        """Return (fx, fy, cx, cy) of the camera in pixels (MuJoCo: square pixels, fovy)."""
        fovy = math.radians(float(self.model.cam_fovy[self.camera_id]))
        f = (self.height / 2) / math.tan(fovy / 2)
        return f, f, (self.width - 1) / 2, (self.height - 1) / 2

    def render(self, snapshot=None):
        """
        Render (rgb uint8 HxWx3, depth float32 HxW metres) of snapshot (default: now).

        The OpenGL context belongs to the thread that renders first; render from one thread.
        """
        snapshot = snapshot or self.snapshot()
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, self.height, self.width)
        data = self._render_data
        data.time = snapshot.time
        data.qpos[:] = snapshot.qpos
        data.qvel[:] = snapshot.qvel
        mujoco.mj_forward(self.model, data)
        r = self._renderer
        r.update_scene(data, camera=self.camera_id)
        rgb = r.render()
        r.enable_depth_rendering()
        try:
            depth = r.render()  # the same scene, read back as depth
        finally:
            r.disable_depth_rendering()
        return rgb, depth

    def close(self):
        """Free the renderer (from the thread that rendered)."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
