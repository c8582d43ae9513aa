# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""MujocoRobot, EpisodeRunner and SimClock without ROS."""

import numpy as np
import pytest
from sage_sim.episode import EpisodeRunner, SimClock
from sage_sim.robot import MujocoRobot, Perturbation, ReachTask, task_color, TWO_COLORS
from sage_sim.teacher import TwoLinkArm

SLIDER_XML = """
<mujoco model="slider">
  <option timestep="0.005"/>
  <worldbody>
    <geom name="floor" type="plane" size="1 1 0.1"/>
    <body name="cart" pos="0 0 0.05">
      <joint name="rail" type="slide" axis="1 0 0" range="-0.5 0.5" limited="true"/>
      <geom type="box" size="0.05 0.05 0.05" mass="1"/>
    </body>
  </worldbody>
  <actuator>
    <motor joint="rail" ctrlrange="-2 2" ctrllimited="true" gear="10"/>
  </actuator>
</mujoco>
"""


@pytest.fixture(scope='module')
def robot():
    r = MujocoRobot()
    yield r
    r.close()


def run(robot, steps):
    for _ in range(steps):
        robot.step()


def test_joints_and_camera_come_from_the_model(robot):
    assert robot.joint_names == ['joint0', 'joint1']
    assert robot.timestep == pytest.approx(0.01)
    assert robot.camera == 'top_down'
    np.testing.assert_allclose(robot.joint_range[1], [-3.0, 3.0])


def test_pd_tracks_a_target_and_holds_it(robot):
    robot.reset(1)
    target = np.array([0.8, -1.2])
    robot.set_target(target)
    run(robot, 150)
    np.testing.assert_allclose(robot.joint_positions(), target, atol=2e-3)
    run(robot, 100)  # no new command: the last target is held
    np.testing.assert_allclose(robot.joint_positions(), target, atol=1e-4)
    assert np.all(np.abs(robot.joint_velocities()) < 1e-2)


def test_reset_holds_the_initial_position(robot):
    robot.reset(2)
    start = robot.joint_positions()
    np.testing.assert_allclose(robot.target, start)
    run(robot, 100)
    np.testing.assert_allclose(robot.joint_positions(), start, atol=1e-3)


def test_torque_is_clipped_to_the_ctrlrange():
    r = MujocoRobot(kp=1e5, kd=0.0)
    r.set_target([3.0, -3.0])
    ctrl = r.step()
    np.testing.assert_allclose(np.abs(ctrl), [1.0, 1.0])
    np.testing.assert_allclose(np.abs(r.joint_efforts()), [200.0, 200.0])


def test_targets_must_be_finite_and_complete(robot):
    with pytest.raises(ValueError):
        robot.set_target([np.nan, 0.0])
    with pytest.raises(ValueError):
        robot.set_target([0.0, 0.0, 0.0])
    robot.set_target([0.25], indices=[1])
    assert robot.target[1] == 0.25


def test_reset_is_deterministic_per_seed(robot):
    goals, qpos = [], []
    for seed in (7, 7, 8):
        goals.append(robot.reset(seed))
        qpos.append(robot.data.qpos.copy())
    np.testing.assert_array_equal(goals[0], goals[1])
    np.testing.assert_array_equal(qpos[0], qpos[1])
    assert not np.allclose(goals[0], goals[2])
    for seed in range(30):
        goal = robot.reset(seed)
        assert np.linalg.norm(goal) < 0.2
        np.testing.assert_allclose(robot.goal(), goal)
        assert np.all(np.abs(robot.joint_positions()) <= 0.1)


def test_success_is_distance_below_the_threshold(robot):
    robot.reset(3)
    assert robot.distance() == pytest.approx(np.linalg.norm(robot.effector() - robot.goal()))
    assert robot.success() == (robot.distance() < 0.02)
    # Move the goal onto the fingertip (goal joints are target_x, target_y).
    tip = robot.effector()
    robot.data.qpos[-2:] = tip
    robot.step()
    assert robot.distance() < 0.02 and robot.success()
    robot.data.qpos[-2:] = tip + [0.025, 0.0]
    robot.step()
    assert 0.02 < robot.distance() and not robot.success()


def test_success_threshold_is_configurable():
    r = MujocoRobot(task=ReachTask(success_threshold=1.0))
    r.reset(0)
    assert r.success() and r.distance() < 1.0


def test_physics_perturbations_scale_the_model_and_are_undone(robot):
    m = robot.model
    nominal = {k: getattr(m, k).copy() for k in ('body_mass', 'geom_friction', 'dof_damping',
                                                 'actuator_gainprm')}
    robot.reset(0, Perturbation(mass_scale=1.2, friction_scale=0.8, damping_scale=1.2,
                                gain_scale=0.8))
    np.testing.assert_allclose(m.body_mass, nominal['body_mass'] * 1.2)
    np.testing.assert_allclose(m.geom_friction, nominal['geom_friction'] * 0.8)
    np.testing.assert_allclose(m.dof_damping, nominal['dof_damping'] * 1.2)
    np.testing.assert_allclose(m.actuator_gainprm[:, 0], nominal['actuator_gainprm'][:, 0] * 0.8)
    robot.reset(0)
    for key, value in nominal.items():
        np.testing.assert_array_equal(getattr(m, key), value)


def test_weaker_actuators_track_more_slowly(robot):
    reached = []
    for gain in (1.0, 0.05):
        robot.reset(0, Perturbation(gain_scale=gain))
        robot.set_target([1.5, 0.0])
        run(robot, 30)
        reached.append(robot.joint_positions()[0])
    robot.reset(0)
    assert reached[1] < reached[0] - 0.1


def test_vision_perturbations_are_seeded(robot):
    m = robot.model
    cam, rgba = m.cam_pos.copy(), m.geom_rgba.copy()
    light = m.vis.headlight.diffuse.copy()
    p = Perturbation(light_scale=0.5, color_shift=0.05, camera_jitter_m=0.02,
                     camera_jitter_deg=2.0)
    robot.reset(4, p)
    jittered = m.cam_pos.copy()
    assert 0 < np.abs(jittered - cam).max() <= 0.02
    assert 0 < np.abs(m.geom_rgba - rgba).max() <= 0.05
    np.testing.assert_allclose(m.vis.headlight.diffuse, light * 0.5)
    robot.reset(4, p)
    np.testing.assert_array_equal(m.cam_pos, jittered)
    robot.reset(4)
    np.testing.assert_array_equal(m.cam_pos, cam)
    np.testing.assert_array_equal(m.geom_rgba, rgba)


def test_invalid_perturbations_are_refused():
    with pytest.raises(ValueError):
        Perturbation(mass_scale=0.0)
    with pytest.raises(ValueError):
        Perturbation(color_shift=float('nan'))


def _pixel(robot, point):
    """Project a world point through the camera intrinsics (image +x right, +y = world +y)."""
    fx, fy, cx, cy = robot.intrinsics()
    cam = robot.model.cam_pos[robot.camera_id]
    z = cam[2] - point[2]
    return (int(round(cy - fy * (point[1] - cam[1]) / z)),
            int(round(cx + fx * (point[0] - cam[0]) / z)))


def test_top_down_render_frames_the_reach_and_matches_the_intrinsics(robot):
    robot.reset(5)
    rgb, depth = robot.render()
    assert rgb.shape == (240, 320, 3) and rgb.dtype == np.uint8
    assert depth.shape == (240, 320) and depth.dtype == np.float32
    # The square about the disc the arm reaches (0.21 m) is in the image; the walls (y = 0.3,
    # across the short side) are not.
    for x, y in ((-0.22, -0.22), (0.22, 0.22), (0.0, 0.3)):
        row, col = _pixel(robot, (x, y, 0.01))
        assert (0 <= row < 240 and 0 <= col < 320) == (y < 0.3)
    # The goal (red sphere, drawn as the 2-cm success disc) is where the intrinsics put it.
    goal = robot.data.xpos[robot.model.body('target').id]
    row, col = _pixel(robot, goal)
    r, g, b = rgb[row, col].astype(int)
    assert r > 100 and r > 2 * g and r > 2 * b
    metres_per_px = 2 * robot.model.cam_pos[robot.camera_id][2] * np.tan(
        np.radians(robot.model.cam_fovy[robot.camera_id]) / 2) / 240
    near = int(0.04 / metres_per_px)
    patch = rgb[row - near:row + near, col - near:col + near].astype(int)
    marker = (patch[..., 0] > 2 * patch[..., 1]) & (patch[..., 0] > 60)
    assert marker.sum() * metres_per_px ** 2 == pytest.approx(np.pi * 0.02 ** 2, rel=0.25)
    # Depth is metres along the optical axis: the floor beside the arm is at the camera height.
    row, col = _pixel(robot, (-0.2, -0.2, 0.0))
    assert depth[row, col] == pytest.approx(robot.model.cam_pos[robot.camera_id][2], abs=2e-3)


def test_colour_perturbation_changes_the_image(robot):
    robot.reset(6)
    plain, _ = robot.render()
    robot.reset(6, Perturbation(color_shift=0.1))
    shifted, _ = robot.render()
    robot.reset(6)
    assert np.abs(plain.astype(int) - shifted.astype(int)).mean() > 1.0


def test_any_model_with_actuated_joints_runs_without_a_task(tmp_path):
    path = tmp_path / 'slider.xml'
    path.write_text(SLIDER_XML)
    r = MujocoRobot(str(path), width=64, height=48, kp=50.0, kd=10.0)
    assert r.joint_names == ['rail'] and r.timestep == pytest.approx(0.005)
    assert r.goal().size == 0 and np.isnan(r.distance()) and not r.success()
    r.set_target([0.3])
    run(r, 400)
    assert r.joint_positions()[0] == pytest.approx(0.3, abs=2e-3)
    rgb, depth = r.render()
    assert rgb.shape == (48, 64, 3)
    r.close()
    with pytest.raises(ValueError, match='camera'):
        MujocoRobot(str(path), camera='nope')


def test_episode_ends_after_its_duration(robot):
    runner = EpisodeRunner(robot, duration=0.5)
    assert runner.episode == 0 and not runner.running
    runner.reset(9)
    assert runner.episode == 1 and runner.running
    changes = [runner.step() for _ in range(60)]
    assert changes.index('ended') == 49 and changes.count('ended') == 1
    assert changes[50:] == [None] * 10
    status = runner.status()
    assert not status.running and status.step == 50 and status.seed == 9
    runner.reset(9, duration=0.1)
    assert runner.episode == 2
    assert [runner.step() for _ in range(10)][-1] == 'ended'
    with pytest.raises(ValueError):
        EpisodeRunner(robot, duration=0.0)


def test_sim_clock_follows_the_node_clock_and_never_goes_back():
    clock = SimClock()
    clock.anchor(1_000_000_000, 0.0)
    assert clock.stamp_ns(0.25) == 1_250_000_000
    clock.anchor(1_100_000_000, 0.0)  # reset while the node clock lags the last stamp
    assert clock.stamp_ns(0.0) >= 1_250_000_000
    clock.anchor(5_000_000_000, 0.0)
    assert clock.stamp_ns(0.01) == 5_010_000_000


def test_render_samples_set_the_anti_aliasing():
    r = MujocoRobot(width=64, height=48, render_samples=4)
    assert r.model.vis.quality.offsamples == 4
    # Every user (node, evaluator, tests) renders alike by default: no anti-aliasing.
    assert MujocoRobot(width=64, height=48).model.vis.quality.offsamples == 0


def test_episode_reports_success_flips(robot):
    runner = EpisodeRunner(robot, duration=5.0)
    runner.reset(0)
    robot.set_target(robot.joint_positions() + [0.0, 0.0])
    robot.data.qpos[-2:] = robot.effector()  # goal on the fingertip: success on the next step
    assert runner.step() == 'success' and runner.status().success
    assert runner.step() is None
    robot.data.qpos[-2:] = robot.effector() + [0.1, 0.0]
    assert runner.step() == 'success' and not runner.status().success


@pytest.fixture(scope='module')
def two_targets():
    return MujocoRobot(width=64, height=48, task=ReachTask(target_colors=TWO_COLORS))


def test_a_two_colour_scene_draws_separated_targets_and_the_goal_is_the_named_one(two_targets):
    r = two_targets
    named = []
    for seed in range(40):
        goal = r.reset(seed)
        targets = r.targets()
        assert set(targets) == {'red', 'blue'}
        assert np.linalg.norm(targets['red'] - targets['blue']) >= r.task.min_separation
        assert all(np.linalg.norm(p) < r.task.goal_radius for p in targets.values())
        np.testing.assert_array_equal(goal, targets[r.target_color])
        assert r.task_text() == f'reach the {r.target_color} target'
        named.append(r.target_color)
    assert 10 < named.count('blue') < 30  # drawn from the seed, both colours
    for color in ('red', 'blue'):  # the same scene with either sentence
        goal = r.reset(3, target=color)
        np.testing.assert_array_equal(goal, r.targets()[color])
    with pytest.raises(ValueError, match='no .green. target'):
        r.reset(3, target='green')


def test_the_two_targets_are_drawn_in_their_colours_and_success_is_on_the_named_one(two_targets):
    r = two_targets
    r.reset(5, target='blue')
    rgb = r.render()[0].astype(int)
    r_, g_, b_ = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    red = (r_ > 70) & (r_ > 3 * np.maximum(g_, b_))
    blue = (b_ > 60) & (b_ > 1.8 * np.maximum(r_, g_))  # not the teal arm
    assert red.sum() >= 4 and blue.sum() >= 4
    # The fingertip on the named target is success; on the other one it is not.
    arm = TwoLinkArm.from_model(r.model)
    for color, other in (('blue', 'red'), ('red', 'blue')):
        r.reset(5, target=other)
        r.set_target(arm.inverse(r.targets()[color], near=r.joint_positions()))
        run(r, 400)
        assert np.linalg.norm(r.effector() - r.targets()[color]) < r.task.success_threshold
        assert not r.success()
        r.reset(5, target=color)
        r.set_target(arm.inverse(r.targets()[color], near=r.joint_positions()))
        run(r, 400)
        assert r.success()


def test_task_sentences_name_one_known_colour():
    assert task_color('Reach the BLUE target.', ('red', 'blue')) == 'blue'
    for bad in ('', 'reach the green target', 'red or blue', 'reach the reddish target'):
        with pytest.raises(ValueError, match='names'):
            task_color(bad, ('red', 'blue'))


def test_the_single_goal_scene_is_unchanged_by_the_task_option():
    plain, one = MujocoRobot(width=64, height=48), MujocoRobot(
        width=64, height=48, task=ReachTask(target_colors=TWO_COLORS[:1]))
    for seed in range(3):
        np.testing.assert_array_equal(plain.reset(seed), one.reset(seed))
    assert one.task_text() == '' and one.targets() == {} and plain.model.nq == one.model.nq
