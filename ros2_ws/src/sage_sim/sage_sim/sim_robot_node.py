# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
sim_robot: a MuJoCo robot behind the topics a real robot driver offers.

Threads: the physics loop (absolute deadlines at the model's timestep, PD tracking, joint
states every step), the camera loop (30 Hz, renders a snapshot of the state outside the
physics lock), and the executor (commands, reset service, /sim/episode, /diagnostics, and
/sim/markers: the arm as measured and as commanded, the goal and the effector, for rviz).
Every stamp is the node clock at the simulated state's time (SimClock).

Sensor faults (`fault.*` parameters, settable at run time with `ros2 param set`) change what
the camera and the encoders report from a chosen episode time on (see sensor_faults).

Each reset also publishes /sage/episode_start (std_msgs/Header: the episode's start stamp,
frame_id its number), the only episode information SAGE's nodes get: /sim/episode carries
the goal, which they must not see.
"""

import math
import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Point
import numpy as np
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.time import Time
from sage_common.diagnostics import make_array, make_status, OK, WARN
from sage_common.messages import fill_image
from sage_common.node import block_stop_signals, declare_all, FATAL, run_node
from sage_common.qos import latched_qos, qos_from_name, reliable_qos
from sage_common.rejects import RejectCounter
from sage_common.stats import RateMeter
from sage_interfaces.msg import EpisodeState
from sage_interfaces.srv import ResetEpisode
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, Header, String
from std_srvs.srv import SetBool
from visualization_msgs.msg import Marker, MarkerArray

from .episode import EpisodeRunner, SimClock
from .robot import colored, COLORS, MujocoRobot, Perturbation, ReachTask, task_color
from .sensor_faults import KINDS, SensorFault, SensorFaults

# name: (default, description, (min, max) or None). Mirrored by config/sim_robot.yaml.
PARAMETERS = {
    'model_path': ('', "MJCF file; '' = gymnasium's Reacher-v5 reacher.xml", None),
    'camera': ('top_down', 'camera name in the model (top_down is added if missing)', None),
    'width': (320, 'rendered image width, px', (16, 4096)),
    'height': (240, 'rendered image height, px', (16, 4096)),
    'render_samples': (0, 'anti-aliasing samples per pixel (4 = MuJoCo default, 3x slower '
                          'in software rendering)', (0, 16)),
    'camera_rate': (30.0, 'camera frames per second', (1.0, 120.0)),
    'timestep': (0.0, "physics timestep, s; 0 = the model's", (0.0, 0.1)),
    'kp': (100.0, 'PD proportional gain, torque per rad (m)', (0.0, 1e5)),
    'kd': (20.0, 'PD derivative gain, torque per rad/s (m/s)', (0.0, 1e4)),
    'controller_name': ('arm_controller', 'commands come on /<controller_name>/commands', None),
    'command_qos': ('reliable', 'QoS of the command subscription: sensor|reliable', None),
    'sensor_qos': ('sensor', 'QoS of camera and joint topics: sensor|reliable', None),
    'depth_encoding': ('32FC1', 'depth image encoding: 32FC1 (metres) or 16UC1 (mm)', None),
    'color_frame_id': ('camera_color_optical_frame', 'frame_id of colour images', None),
    'depth_frame_id': ('camera_depth_optical_frame', 'frame_id of depth images', None),
    'episode_duration': (2.0, 'default episode length, s', (0.01, 3600.0)),
    'episode_rate': (20.0, '/sim/episode publish rate, Hz (also on every change)', (1.0, 100.0)),
    'seed': (0, 'seed of the idle scene at start-up', (0, 2 ** 31 - 1)),
    'success_threshold': (0.02, 'effector-goal distance counted as success, m', (0.0, 1.0)),
    'goal_radius': (0.2, 'goals are uniform in a disc of this radius, m', (0.0, 10.0)),
    'min_target_separation': (0.1, 'least distance between two targets, m', (0.0, 1.0)),
    'diagnostics_period': (1.0, '/diagnostics period, s', (0.1, 60.0)),
    'markers_rate': (10.0, '/sim/markers (rviz: the arm measured and commanded, goal, '
                     'effector) rate, Hz; 0 = off', (0.0, 100.0)),
    'markers_frame': ('world', 'frame_id of the markers (the MuJoCo world frame)', None),
    'perturb.mass_scale': (1.0, 'body mass and inertia scale applied on reset', (0.01, 100.0)),
    'perturb.friction_scale': (1.0, 'geom friction scale applied on reset', (0.01, 100.0)),
    'perturb.damping_scale': (1.0, 'joint damping scale applied on reset', (0.01, 100.0)),
    'perturb.gain_scale': (1.0, 'actuator gain scale applied on reset', (0.01, 100.0)),
    'perturb.light_scale': (1.0, 'light intensity scale applied on reset', (0.0, 10.0)),
    'perturb.color_shift': (0.0, 'max random rgb offset per geom (0..1)', (0.0, 1.0)),
    'perturb.camera_jitter_m': (0.0, 'max random camera displacement per axis, m', (0.0, 1.0)),
    'perturb.camera_jitter_deg': (0.0, 'max random camera rotation per axis, deg',
                                  (0.0, 45.0)),
    'fault.kind': ('none', f'sensor fault to inject: {"|".join(KINDS)}', None),
    'fault.start_s': (0.0, 'episode time at which the fault starts, s', (0.0, 1e9)),
    'fault.duration_s': (1e9, 'how long the fault lasts, s', (1e-3, 1e9)),
    'fault.severity': (0.0, 'noise sigma, shift or dropout as a fraction (0..1]', (0.0, 1.0)),
    'fault.joint': (0, 'index of the stuck joint in joint_names', (0, 64)),
}
# Declared without a default (not in config/sim_robot.yaml): unset means the model's joints.
UNSET_PARAMETERS = {
    'joint_names': (Parameter.Type.STRING_ARRAY, 'joint order of commands and /joint_states; '
                    "unset = the model's actuated joints", None),
    'target_colors': (Parameter.Type.STRING_ARRAY, "one target per colour, the episode's "
                      f'task sentence names the goal (of {sorted(COLORS)}); unset = one goal',
                      None),
}


def camera_info(robot, stamp, frame_id):
    """Return the pinhole CameraInfo of the robot's camera."""
    fx, fy, cx, cy = robot.intrinsics()
    info = CameraInfo()
    info.header.stamp = stamp
    info.header.frame_id = frame_id
    info.width, info.height = robot.width, robot.height
    info.distortion_model = 'plumb_bob'
    info.d = [0.0] * 5
    info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def arm_markers(stamp, frame, measured, commanded, goal, effector, goal_radius, targets=None):
    """
    Return the MarkerArray rviz shows: the arm as measured and as commanded, goal, effector.

    measured, commanded: (N, 3) body positions base to tip; goal, effector: (x, y), empty
    when the model has no reach task; goal_radius: the success disc's radius (m); targets:
    {colour: (x, y)} of a scene of several targets, each drawn in its colour (namespace
    `target_<colour>`), the goal disc around the one named.
    """
    def marker(ident, ns, kind, rgba, scale):
        m = Marker()
        m.header.stamp, m.header.frame_id = stamp, frame
        m.ns, m.id, m.type, m.action = ns, ident, kind, Marker.ADD
        m.pose.orientation.w = 1.0
        m.scale.x, m.scale.y, m.scale.z = scale
        m.color.r, m.color.g, m.color.b, m.color.a = rgba
        return m

    def points(xyz):
        return [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in xyz]

    arm = marker(0, 'arm', Marker.LINE_STRIP, (0.2, 0.4, 1.0, 1.0), (0.01, 0.0, 0.0))
    arm.points = points(measured)
    target = marker(1, 'arm_commanded', Marker.LINE_STRIP, (1.0, 0.6, 0.1, 0.6),
                    (0.006, 0.0, 0.0))
    target.points = points(commanded)
    markers = [arm, target]
    for ident, ns, xy, rgba, size in ((2, 'goal', goal, (1.0, 0.1, 0.1, 0.8), 2 * goal_radius),
                                      (3, 'effector', effector, (0.1, 0.9, 0.2, 1.0), 0.015)):
        if len(xy) == 2:
            m = marker(ident, ns, Marker.SPHERE, rgba, (size, size, size))
            m.pose.position.x, m.pose.position.y = float(xy[0]), float(xy[1])
            markers.append(m)
    for ident, (color, xy) in enumerate(sorted((targets or {}).items()), 4):
        m = marker(ident, f'target_{color}', Marker.SPHERE, COLORS[color], (0.02, 0.02, 0.02))
        m.pose.position.x, m.pose.position.y = float(xy[0]), float(xy[1])
        markers.append(m)
    return MarkerArray(markers=markers)


def depth_pixels(depth, encoding):
    """Return depth in metres as the array for `encoding` (32FC1 m, 16UC1 mm, 0 = no data)."""
    if encoding == '32FC1':
        return depth.astype(np.float32, copy=False)
    mm = np.rint(depth * 1000.0)
    mm[~np.isfinite(mm) | (mm > 65535)] = 0
    return mm.astype(np.uint16)


class SimRobotNode(Node):
    """Thin ROS wiring around EpisodeRunner / MujocoRobot."""

    def __init__(self):
        super().__init__('sim_robot')
        p = declare_all(self, {**PARAMETERS, **UNSET_PARAMETERS})
        joint_names = p['joint_names']
        if p['depth_encoding'] not in ('32FC1', '16UC1'):
            raise ValueError(f"depth_encoding must be 32FC1 or 16UC1, got {p['depth_encoding']}")
        self.p = p
        colors = list(p['target_colors'] or ())
        unknown = sorted(set(colors) - set(COLORS))
        if unknown or len(set(colors)) != len(colors) or len(colors) == 1:
            raise ValueError(f'target_colors {colors} must be two or more distinct colours of '
                             f'{sorted(COLORS)}')
        task = ReachTask(goal_radius=p['goal_radius'], success_threshold=p['success_threshold'],
                         target_colors=colored(colors),
                         min_separation=p['min_target_separation'])
        self.robot = MujocoRobot(p['model_path'] or None, p['camera'], p['width'], p['height'],
                                 p['kp'], p['kd'], task, p['timestep'], p['render_samples'])
        self.joint_names = list(joint_names) if joint_names else list(self.robot.joint_names)
        unknown = [n for n in self.joint_names if n not in self.robot.joint_names]
        if unknown or len(set(self.joint_names)) != len(self.joint_names):
            raise ValueError(f'joint_names {self.joint_names} must be distinct actuated joints '
                             f'of the model: {self.robot.joint_names}')
        self._command_index = [self.robot.joint_names.index(n) for n in self.joint_names]
        self.runner = EpisodeRunner(self.robot, p['episode_duration'], p['seed'],
                                    self._perturbation())
        self.faults = SensorFaults(self._sensor_fault({}), seed=p['seed'])
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.clock_map = SimClock()
        self._sim_lock = threading.Lock()
        self._render_lock = threading.Lock()
        self._stop = threading.Event()
        self._running = threading.Event()  # cleared by ~/pause: the robot rests
        self._running.set()
        self.rejects = RejectCounter(self.get_logger())
        self.joint_rate = RateMeter()
        self.camera_rate = RateMeter()
        self.physics_overruns = 0
        self.camera_overruns = 0
        self.camera_repeats_skipped = 0
        self.render_ms = 0.0

        sensor = qos_from_name(p['sensor_qos'])
        self.pub_joints = self.create_publisher(JointState, '/joint_states', sensor)
        self.pub_color = self.create_publisher(Image, '/camera/color/image_raw', sensor)
        self.pub_color_info = self.create_publisher(CameraInfo, '/camera/color/camera_info',
                                                    sensor)
        self.pub_depth = self.create_publisher(Image, '/camera/depth/image_rect_raw', sensor)
        self.pub_depth_info = self.create_publisher(CameraInfo, '/camera/depth/camera_info',
                                                    sensor)
        self.pub_episode = self.create_publisher(EpisodeState, '/sim/episode', reliable_qos())
        self.pub_episode_start = self.create_publisher(Header, '/sage/episode_start',
                                                       reliable_qos())
        # The episode's task sentence, latched: a node started mid-episode still gets it.
        self.pub_task = self.create_publisher(String, '/sage/task', latched_qos()) \
            if task.colors() else None
        self.pub_diag = self.create_publisher(DiagnosticArray, '/diagnostics', reliable_qos())
        topic = f"/{p['controller_name']}/commands"
        self.create_subscription(Float64MultiArray, topic, self._on_command,
                                 qos_from_name(p['command_qos']))
        self.create_service(ResetEpisode, '~/reset_episode', self._on_reset)
        self.create_service(SetBool, '~/pause', self._on_pause)
        self.create_timer(1.0 / p['episode_rate'], self._publish_episode)
        self.create_timer(p['diagnostics_period'], self._publish_diagnostics)
        if p['markers_rate'] > 0:
            self.pub_markers = self.create_publisher(MarkerArray, '/sim/markers',
                                                     reliable_qos(2))
            self.create_timer(1.0 / p['markers_rate'], self._publish_markers)

        self.clock_map.anchor(self.get_clock().now().nanoseconds, self.robot.time)
        self.failure = None
        self._camera_ready = threading.Event()
        self._threads = [threading.Thread(target=self._guard, args=(loop,), name=loop.__name__,
                                          daemon=True)
                         for loop in (self._camera_loop, self._physics_loop)]
        for t in self._threads:
            t.start()
        self.get_logger().info(
            f'sim_robot: joints {self.joint_names} on {topic}, physics '
            f'{1 / self.robot.timestep:.0f} Hz, camera {p["camera"]!r} {self.robot.width}x'
            f'{self.robot.height} at {p["camera_rate"]:.0f} Hz, depth {p["depth_encoding"]}, '
            f'episodes {p["episode_duration"]} s')

    def _publish_markers(self):
        with self._sim_lock:
            measured = self.robot.arm_points()
            commanded = self.robot.arm_points(self.robot.target)
            goal, effector = self.robot.goal(), self.robot.effector()
            targets = self.robot.targets()
        self.pub_markers.publish(arm_markers(self.get_clock().now().to_msg(),
                                             self.p['markers_frame'], measured, commanded,
                                             goal, effector,
                                             self.p['success_threshold'], targets))

    def _sensor_fault(self, changed):
        """Return the SensorFault of the fault.* parameters, with `changed` {name: value}."""
        values = {name: changed.get(name, self.get_parameter(name).value)
                  for name in PARAMETERS if name.startswith('fault.')}
        return SensorFault(**{name[len('fault.'):]: value for name, value in values.items()})

    def _on_set_parameters(self, params):
        changed = {p.name: p.value for p in params if p.name.startswith('fault.')}
        if not changed:
            return SetParametersResult(successful=True)
        try:
            fault = self._sensor_fault(changed)
            if fault.joint >= len(self.joint_names):
                raise ValueError(f'fault.joint {fault.joint} is not one of the '
                                 f'{len(self.joint_names)} joints')
        except ValueError as exc:
            self.get_logger().warning(f'sensor fault refused: {exc}')
            return SetParametersResult(successful=False, reason=str(exc))
        with self._render_lock, self._sim_lock:
            self.faults.replace(fault)
        self.get_logger().warning(f'sensor fault set: {fault}')
        return SetParametersResult(successful=True)

    def _perturbation(self):
        prefix = 'perturb.'
        return Perturbation(**{name[len(prefix):]: self.get_parameter(name).value
                               for name in PARAMETERS if name.startswith(prefix)})

    def _stamp(self, sim_time):
        ns = self.clock_map.stamp_ns(sim_time)
        return Time(nanoseconds=ns).to_msg()

    # --- threads ----------------------------------------------------------------------

    def _guard(self, loop):
        """Run a thread's loop; a crash stops the node (main exits non-zero)."""
        block_stop_signals()
        try:
            loop()
        except Exception as exc:
            self.failure = f'{loop.__name__} failed: {exc!r}'
            self.get_logger().fatal(self.failure)
            self._stop.set()
            self._camera_ready.set()
            rclpy.try_shutdown(context=self.context)

    def _physics_loop(self):
        # The first render creates the GL context (slow); start the clock after it.
        self._camera_ready.wait(30.0)
        with self._sim_lock:
            self.clock_map.anchor(self.get_clock().now().nanoseconds, self.robot.time)
        dt = self.robot.timestep
        msg = JointState()
        msg.name = list(self.joint_names)
        idx = self._command_index
        next_t = time.monotonic()
        while not self._stop.is_set():
            if not self._running.is_set():
                self._stop.wait(0.05)
                next_t = time.monotonic()
                continue
            with self._sim_lock:
                change = self.runner.step()
                stamp = self._stamp(self.robot.time)
                q, v = self.faults.joints(self.robot.time, self.robot.joint_positions()[idx],
                                          self.robot.joint_velocities()[idx])
                e = self.robot.joint_efforts()[idx]
                status = self.runner.status() if change else None
            msg.header.stamp = stamp
            msg.position, msg.velocity, msg.effort = q.tolist(), v.tolist(), e.tolist()
            if not self._publish(self.pub_joints, msg):
                return
            self.joint_rate.tick()
            if change == 'success':
                self._publish_episode()
            elif change == 'ended':
                self.get_logger().info(
                    f'episode {status.episode} (seed {status.seed}) ended: distance '
                    f'{status.distance:.4f} m, success {status.success}')
                self._publish_episode()
            next_t += dt
            delay = next_t - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            elif delay < -5 * dt:
                # Too far behind to catch up: skip ahead and keep stamps on the node clock.
                self.physics_overruns += 1
                next_t = time.monotonic()
                with self._sim_lock:
                    self.clock_map.anchor(self.get_clock().now().nanoseconds, self.robot.time)

    def _camera_loop(self):
        period = 1.0 / self.p['camera_rate']
        enc = self.p['depth_encoding']
        color, depth_msg = Image(), Image()
        next_t, last_stamp = time.monotonic(), None
        try:
            while not self._stop.is_set():
                if not self._running.is_set() and self._camera_ready.is_set():
                    self._stop.wait(0.05)
                    next_t = time.monotonic()
                    continue
                with self._render_lock:
                    with self._sim_lock:
                        snap = self.robot.snapshot()
                        stamp = self._stamp(snap.time)
                    # No physics step since the last frame (a starved physics thread): the
                    # same state again would be a second frame with the same stamp.
                    repeat = stamp == last_stamp
                    if not repeat:
                        last_stamp = stamp
                        t0 = time.perf_counter()
                        rgb, depth = self.robot.render(snap)
                        self.render_ms = (time.perf_counter() - t0) * 1e3
                        rgb, depth = self.faults.camera(snap.time, rgb, depth)
                if repeat:
                    self.camera_repeats_skipped += 1
                    self._stop.wait(0.002)
                    continue
                first = not self._camera_ready.is_set()
                self._camera_ready.set()
                for msg, pixels, encoding, frame in (
                        (color, rgb, 'rgb8', self.p['color_frame_id']),
                        (depth_msg, depth_pixels(depth, enc), enc, self.p['depth_frame_id'])):
                    msg.header.stamp, msg.header.frame_id = stamp, frame
                    fill_image(msg, pixels, encoding)
                if not (self._publish(self.pub_color, color)
                        and self._publish(self.pub_depth, depth_msg)
                        and self._publish(self.pub_color_info, camera_info(
                            self.robot, stamp, self.p['color_frame_id']))
                        and self._publish(self.pub_depth_info, camera_info(
                            self.robot, stamp, self.p['depth_frame_id']))):
                    return
                self.camera_rate.tick()
                next_t += period
                delay = next_t - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                elif delay < -period:
                    self.camera_overruns += 0 if first else 1  # the first creates the GL context
                    next_t = time.monotonic()
        finally:
            with self._render_lock:
                self.robot.close()

    def _publish(self, publisher, msg):
        """Publish unless shutting down; return False once the node can no longer publish."""
        try:
            publisher.publish(msg)
            return True
        except Exception:  # the context was shut down under a publishing thread
            if self._stop.is_set() or not rclpy.ok(context=self.context):
                return False
            raise

    def stop(self):
        """Stop and join the physics and camera threads."""
        self._stop.set()
        self._camera_ready.set()
        for t in self._threads:
            t.join(5.0)

    # --- executor callbacks -----------------------------------------------------------

    def _on_command(self, msg):
        values = msg.data
        if len(values) != len(self.joint_names):
            self.rejects.reject('wrong_length', f'{len(values)} values for joints '
                                f'{self.joint_names}')
            return
        if not all(math.isfinite(v) for v in values):
            self.rejects.reject('non_finite', f'{list(values)}')
            return
        with self._sim_lock:
            self.robot.set_target(values, self._command_index)

    def _on_pause(self, request, response):
        """
        Pause (data true) or resume the simulated robot: no physics, frames or joint states.

        A resting robot has nothing for the nodes to process; while it sleeps, the cores go to
        training (on 2 cores the running graph took ~1.8 of them). On resume the sim clock
        is anchored to the node clock again, so stamps never go back.
        """
        with self._sim_lock:
            if request.data:
                self._running.clear()
            elif not self._running.is_set():
                self.clock_map.anchor(max(self.get_clock().now().nanoseconds,
                                          self.clock_map.stamp_ns(self.robot.time) + 1),
                                      self.robot.time)
                self._running.set()
        response.success = True
        response.message = 'paused' if request.data else 'running'
        self.get_logger().info(f'sim_robot {response.message}')
        return response

    def _on_reset(self, request, response):
        try:
            if request.seed < 0:
                raise ValueError(f'seed must be >= 0, got {request.seed}')
            perturbation = self._perturbation()
            target = None
            if request.task:
                if not self.robot.task.colors():
                    raise ValueError(f'task {request.task!r} given to a single-goal scene')
                target = task_color(request.task, self.robot.task.colors())
        except ValueError as exc:
            self.rejects.reject('reset_refused', f'reset refused: {exc}')
            response.success, response.message = False, str(exc)
            return response
        start = Header()
        with self._render_lock:
            with self._sim_lock:
                # The current state's stamp is the latest given: the episode starts after it,
                # so a frame of the last episode is never stamped at the new one's start.
                last_ns = self.clock_map.stamp_ns(self.robot.time)
                goal = self.runner.reset(request.seed, request.duration, perturbation, target)
                self.clock_map.anchor(max(self.get_clock().now().nanoseconds, last_ns + 1),
                                      self.robot.time)
                episode, duration = self.runner.episode, self.runner.duration
                start.stamp = self._stamp(self.robot.time)
                task = self.robot.task_text()
            start.frame_id = str(episode)
            # Under the render lock: out before any frame of the new episode is rendered.
            if self.pub_task is not None:
                self._publish(self.pub_task, String(data=task))
            self._publish(self.pub_episode_start, start)
        response.success = True
        response.episode = episode
        response.goal = goal.tolist()
        response.message = f'episode {episode} seed {request.seed}, {duration} s' + \
            (f', {task!r}' if self.pub_task is not None else '')
        self.get_logger().info(f'reset: {response.message}, goal {np.round(goal, 4).tolist()}')
        self._publish_episode()
        return response

    def _publish_episode(self):
        with self._sim_lock:
            s = self.runner.status()
            stamp = self._stamp(s.time)
        msg = EpisodeState()
        msg.header.stamp = stamp
        msg.header.frame_id = 'world'
        msg.episode, msg.seed, msg.running, msg.step = s.episode, s.seed, s.running, s.step
        msg.goal, msg.effector = s.goal.tolist(), s.effector.tolist()
        msg.distance, msg.success = s.distance, s.success
        self._publish(self.pub_episode, msg)

    def _publish_diagnostics(self):
        joint_hz, camera_hz = self.joint_rate.rate(), self.camera_rate.rate()
        physics_hz = 1.0 / self.robot.timestep
        level, message = OK, 'running'
        if joint_hz < 0.9 * physics_hz or camera_hz < 0.9 * self.p['camera_rate']:
            level, message = WARN, 'publishing below the configured rates'
        if not self._running.is_set():
            level, message = OK, 'paused'
        fault = self.faults.fault
        if fault.kind != 'none':
            level, message = WARN, f'injecting sensor fault {fault.kind} from {fault.start_s} s'
        values = {'joint_state_hz': joint_hz, 'camera_hz': camera_hz,
                  'physics_hz_target': physics_hz, 'camera_hz_target': self.p['camera_rate'],
                  'physics_overruns': self.physics_overruns,
                  'camera_overruns': self.camera_overruns,
                  'camera_repeats_skipped': self.camera_repeats_skipped,
                  'render_ms': self.render_ms,
                  'rejected_total': self.rejects.total(), 'episode': self.runner.episode,
                  'episode_running': self.runner.running, 'sensor_fault': fault.kind,
                  'faulty_frames': self.faults.faulty_frames,
                  'faulty_joint_states': self.faults.faulty_joint_states}
        values.update(self.rejects.as_values())
        status = make_status('sim_robot', 'mujoco', level, message, values)
        self._publish(self.pub_diag, make_array(self.get_clock().now().to_msg(), [status]))


def _stop(node):
    node.stop()
    return node.failure


def main(args=None):
    return run_node(SimRobotNode, 'sim_robot', args,
                    {**FATAL, FileNotFoundError: 'no robot model'}, _stop)


if __name__ == '__main__':
    sys.exit(main())
