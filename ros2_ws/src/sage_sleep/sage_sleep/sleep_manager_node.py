# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The sleep_manager node: records the robot's day into rosbag2 segments and runs sleeps.

Wiring only: raw subscriptions, serviced by their own thread (`RawTakeLoop`: one wait set,
no executor), feed `Recorder.offer_batch`; the wake -> sleep -> deploy cycle is
`sleep_cycle.SleepCycle`, which this node feeds (a timer, the services, the `TrainerRun` of a
sleep, the nodes' reload answers) and whose actions it carries out; a timer publishes
/sage/sleep_status and /diagnostics. On start, segments left open by a crash are salvaged
before anything is recorded. When a trainer finishes successfully, the running nodes are told
to load the registry's active versions (`reload_services`, LoadModel with an empty version)
before the robot wakes. `~/set_recording` (SetBool) switches wake recording off and on, e.g.
while a policy is evaluated on seeds that must never become training data.
"""

import os
from pathlib import Path
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sage_common.diagnostics import ERROR, make_array, make_status, OK, WARN
from sage_common.node import declare_all, FATAL, run_node
from sage_common.qos import latched_qos, qos_from_name, reliable_qos
from sage_common.registry import default_model_dir, ModelRegistry
from sage_interfaces.msg import SleepStatus
from sage_interfaces.srv import LoadModel
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool, Trigger
from visualization_msgs.msg import Marker

from .recording.msgdefs import MessageDefinitions, normalize_type, UnknownTypeError
from .recording.quota import ACTIONS, DiskQuota
from .recording.recorder import keep_freed_buffers, parse_mode, Recorder, TopicInfo
from .recording.salvage import salvage_all
from .recording.take_loop import RawTakeLoop
from .recording.topics import bag_qos, message_class, parse_topic_entry
from .sleep_cycle import CallReloads, Log, PauseRecording, PublishStatus, ResumeRecording, \
    SleepCycle, SleepTrigger, StartTrainer, TrainerRun

MB = 1 << 20
DEFAULT_TOPICS = [
    '/camera/color/image_raw sensor_msgs/msg/Image sensor',
    '/camera/color/camera_info sensor_msgs/msg/CameraInfo sensor',
    '/camera/depth/image_rect_raw sensor_msgs/msg/Image sensor',
    '/camera/depth/camera_info sensor_msgs/msg/CameraInfo sensor',
    '/joint_states sensor_msgs/msg/JointState sensor',
    '/sage/context sage_interfaces/msg/Context reliable',
    '/sage/context_compressed sage_interfaces/msg/CompressedContext reliable',
    '/arm_controller/commands std_msgs/msg/Float64MultiArray reliable',
    '/sage/shadow/commands std_msgs/msg/Float64MultiArray reliable',
    '/teacher/commands std_msgs/msg/Float64MultiArray reliable',
    '/sage/estop std_msgs/msg/Bool latched',
    '/sim/episode sage_interfaces/msg/EpisodeState reliable',
    '/sage/task std_msgs/msg/String latched',
]
# name: (default, description, (min, max) or None). Mirrored by config/sleep_manager.yaml.
# String arrays use [''] for "none" (a parameter needs a typed default); '' entries are dropped.
PARAMETERS = {
    'bag_root': ('', "where bags go; '' = $SAGE_ROOT/bags (else ./bags)", None),
    'segment_max_mb': (512.0, 'rotate the segment once it reaches this size (MiB)',
                       (0.01, 1e6)),
    'segment_max_seconds': (300.0, 'rotate the segment after this long (s)', (1.0, 86400.0)),
    'queue_max_mb': (256.0, 'writer queue bound (MiB); messages beyond it are dropped, counted',
                     (1.0, 65536.0)),
    'flush_period_s': (1.0, 'push the pending MCAP chunk to the file this often (s): the most '
                       'a crash can lose', (0.05, 60.0)),
    'quota_mb': (0.0, 'total size of all bags (MiB); 0 = no quota', (0.0, 1e9)),
    'min_free_mb': (1024.0, 'never leave less free space than this on the volume (MiB)',
                    (0.0, 1e9)),
    'quota_action': ('prune', 'when the budget is reached: prune (delete the oldest segments) '
                     'or pause (stop recording until space is available)', None),
    'metadata_version': (8, 'rosbag2 metadata version written (8: Humble reads it; 9)',
                         (8, 9)),
    'qos_depth': (50, 'history depth of the recording subscriptions: absorbs bursts while '
                  'the executor is busy (losses in the DDS queue cannot be counted)', (1, 10000)),
    'idle_sleep_minutes': (0.0, 'sleep after this many minutes without motion or teacher; '
                           '0 = off', (0.0, 1e6)),
    'motion_threshold': (0.01, 'joint position change (rad) that counts as motion',
                         (0.0, 10.0)),
    'joint_states_topic': ('/joint_states', 'joint states watched by the idle rule', None),
    'model_dir': ('', "model registry root; '' = $SAGE_ROOT/models", None),
    'status_period_s': (1.0, 'period of /sage/sleep_status and /diagnostics (s)',
                        (0.05, 60.0)),
    'status_text_frame': ('world', 'frame_id of /sage/sleep_status_text (rviz)', None),
    'reload_timeout_s': (30.0, 'how long to wait for the nodes to load new models (s)',
                         (1.0, 600.0)),
    'topics': (DEFAULT_TOPICS, 'recorded topics, one "topic type qos" entry each (type '
               'pkg/msg/Name or "auto" to take it from the graph; qos sensor, reliable or '
               'latched)', None),
    'recording_modes': ([''], 'per-topic recording mode, "topic mode" entries: full (every '
                        'message, the default for topics not listed) or every:N (the first of '
                        'every N messages, e.g. a 30 Hz camera kept at 10 Hz when sleep trains '
                        "on fewer frames; the rest counted as decimated); '' entries ignored",
                        None),
    'sleep_schedule': ([''], "local times HH:MM at which to sleep ('' entries ignored)", None),
    'idle_teacher_topics': (['/teacher/commands'],
                            'topics whose messages count as teacher activity', None),
    'trainer_command': ([''], "argv of the trainer a sleep runs ('' entries ignored; empty = "
                        'none)', None),
    'model_names': (['encoder', 'h_module', 'l_module'],
                    'models whose active versions the status reports', None),
    'reload_services': (['/context_node/load_model', '/h_module/load_model',
                         '/l_module/load_model'],
                        'LoadModel services told to load the active versions after a sleep',
                        None),
}


def _not_called(msg):
    del msg


def status_text_marker(status, frame):
    """Return a text Marker of a SleepStatus for rviz: phase, progress, bags, versions."""
    marker = Marker(type=Marker.TEXT_VIEW_FACING, action=Marker.ADD, ns='sleep_status', id=0)
    marker.header.stamp, marker.header.frame_id = status.header.stamp, frame
    marker.pose.position.z, marker.pose.orientation.w = 0.3, 1.0
    marker.scale.z = 0.03
    marker.color.r = marker.color.g = marker.color.b = marker.color.a = 1.0
    phase = status.phase if status.phase == 'wake' else \
        f'{status.phase} {100 * status.progress:.0f}%'
    versions = ' '.join(f'{n} {v or "-"}'
                        for n, v in zip(status.model_names, status.model_versions))
    marker.text = (f'{phase}{", recording" if status.recording else ""}; '
                   f'{status.bag_segments} segments, {status.bag_bytes / 1e6:.0f} MB; {versions}')
    return marker


class SleepManagerNode(Node):
    """Records the wake topics, triggers sleeps, runs the trainer, reports status."""

    def __init__(self):
        super().__init__('sleep_manager')
        p = self.p = {name: [v for v in value if v.strip()] if isinstance(value, list) else value
                      for name, value in declare_all(self, PARAMETERS).items()}
        if p['quota_action'] not in ACTIONS:
            raise ValueError(f'quota_action must be one of {ACTIONS}, not {p["quota_action"]!r}')
        root = os.environ.get('SAGE_ROOT', '.')
        self.bag_root = Path(p['bag_root'] or Path(root) / 'bags')
        self.registry = ModelRegistry(p['model_dir'] or default_model_dir())
        self.trigger = SleepTrigger(p['sleep_schedule'], p['idle_sleep_minutes'],
                                    p['motion_threshold'])
        self.cycle = SleepCycle(p['trainer_command'], p['reload_services'],
                                p['reload_timeout_s'], self.trigger)
        entries = [parse_topic_entry(e) for e in p['topics']]
        if not entries:
            raise ValueError('no topics to record (parameter topics is empty)')
        self.every = {}
        for entry in p['recording_modes']:
            topic, _, mode = entry.strip().partition(' ')
            if topic not in {t for t, _, _ in entries}:
                raise ValueError(f'recording_modes entry {entry!r}: {topic} is not in topics')
            self.every[topic] = parse_mode(mode)
        self.bag_root.mkdir(parents=True, exist_ok=True)
        for result in salvage_all(self.bag_root, p['metadata_version'],
                                  log=self.get_logger().warning):
            self.get_logger().info(f'salvage report kept beside the bag: {result.summary()}')
        quota = DiskQuota(self.bag_root, p['quota_mb'] * MB, p['min_free_mb'] * MB,
                          p['quota_action'])
        self.recorder = Recorder(
            self.bag_root, segment_max_bytes=p['segment_max_mb'] * MB,
            segment_max_seconds=p['segment_max_seconds'], queue_max_bytes=p['queue_max_mb'] * MB,
            flush_period_s=p['flush_period_s'], quota=quota,
            metadata_version=p['metadata_version'], log=self.get_logger())
        keep_freed_buffers()  # this process records: reuse message buffers (see there)
        self.take_loop = RawTakeLoop(self.context, self.recorder.offer_batch,
                                     on_error=self._on_take_error)
        self.definitions = MessageDefinitions()
        self.pending = {}    # topic -> qos name, type to be taken from the graph
        self.unknown = {}    # topic -> why it is not recorded
        self.subscriptions_ = []
        self.teacher_topics = set(p['idle_teacher_topics'])
        for topic, msgtype, qos in entries:
            if msgtype == 'auto':
                self.pending[topic] = qos
            else:
                self._subscribe(topic, msgtype, qos)
        if p['idle_sleep_minutes'] > 0:
            self.create_subscription(JointState, p['joint_states_topic'],
                                     lambda m: self.trigger.note_joints(m.position),
                                     qos_from_name('sensor', p['qos_depth']))
        self.trainer = None
        self.reload_clients = {name: self.create_client(LoadModel, name)
                               for name in p['reload_services']}
        self.reloads = {}         # service -> future while the nodes load new models
        self.status_pub = self.create_publisher(SleepStatus, '/sage/sleep_status', latched_qos())
        self.status_text_pub = self.create_publisher(Marker, '/sage/sleep_status_text',
                                                     latched_qos())
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', reliable_qos())
        self.create_service(Trigger, '~/start_sleep', self._on_start_sleep)
        self.create_service(SetBool, '~/set_recording', self._on_set_recording)
        self.create_timer(0.2, self._tick)
        self.create_timer(p['status_period_s'], self._publish_status)
        self.recorder.start()
        self.take_loop.start()
        self.get_logger().info(
            f'recording {len(self.recorder.topics)} topics into {self.bag_root} '
            f'(segments {p["segment_max_mb"]} MiB / {p["segment_max_seconds"]} s, quota '
            f'{p["quota_mb"]} MiB, min free {p["min_free_mb"]} MiB, {p["quota_action"]})')

    # -- recording -------------------------------------------------------------------------
    def _subscribe(self, topic, msgtype, qos_name):
        try:
            msgtype = normalize_type(msgtype)
            cls = message_class(msgtype)
            msgdef, rihs01 = self.definitions.definition(msgtype)
        except (ValueError, ImportError, AttributeError, UnknownTypeError) as exc:
            self.unknown[topic] = f'{msgtype}: {exc}'
            self.get_logger().error(f'not recording {topic}: unknown type {msgtype} ({exc})')
            return
        qos = qos_from_name(qos_name, self.p['qos_depth'])
        every = self.every.get(topic, 1)
        self.recorder.add_topic(TopicInfo(topic, msgtype, msgdef, rihs01, (bag_qos(qos),),
                                          every))
        # Taken by the take loop's thread, never by the executor (the callback is not called).
        sub = self.create_subscription(cls, topic, _not_called, qos, raw=True,
                                       callback_group=self.take_loop.callback_group)
        self.subscriptions_.append(sub)
        self.take_loop.add(sub, topic, self.trigger.note_teacher
                           if topic in self.teacher_topics else None)
        self.get_logger().info(f'recording {topic} [{msgtype}] with {qos_name} QoS'
                               + (f', keeping 1 of every {every} messages' if every > 1 else ''))

    def _on_take_error(self, exc):
        self.get_logger().error(f'taking recorded messages failed: {type(exc).__name__}: {exc}')

    def _discover_types(self):
        graph = dict(self.get_topic_names_and_types())
        for topic in [t for t in self.pending if t in graph]:
            types = graph[topic]
            qos = self.pending.pop(topic)
            if len(types) != 1:
                self.unknown[topic] = f'ambiguous types on the graph: {types}'
                self.get_logger().error(f'not recording {topic}: {self.unknown[topic]}')
                continue
            self._subscribe(topic, types[0], qos)

    # -- sleep: SleepCycle's events in, its actions carried out ----------------------------
    def _on_start_sleep(self, request, response):
        del request
        step = self._apply(self.cycle.request('requested'))
        response.success, response.message = step.accepted, step.message
        return response

    def _on_set_recording(self, request, response):
        step = self._apply(self.cycle.set_recording(request.data,
                                                    self.recorder.snapshot()['recording']))
        response.success, response.message = step.accepted, step.message
        return response

    def _tick(self):
        if self.pending:
            self._discover_types()
        now = time.monotonic()
        if self.trainer is not None:
            if self.trainer.done():
                trainer, self.trainer = self.trainer, None
                self._apply(self.cycle.trainer_exited(trainer.returncode, trainer.result(),
                                                      now))
            else:
                self.cycle.trainer_progress(self.trainer.phase, self.trainer.progress)
            return
        for name, future in list(self.reloads.items()):
            if future.done():
                del self.reloads[name]
                reply = future.result()
                self.cycle.reload_answered(name, reply.success, reply.active_version,
                                           reply.message)
        self._apply(self.cycle.tick(now))

    def _apply(self, step):
        """Carry out a step's actions in order; return the step that answers the event."""
        for action in step.actions:
            if isinstance(action, Log):
                # rclpy fixes a call site's severity: one call per severity.
                if action.level == 'error':
                    self.get_logger().error(action.text)
                else:
                    self.get_logger().info(action.text)
            elif isinstance(action, PauseRecording):
                self.recorder.pause()
            elif isinstance(action, ResumeRecording):
                self.recorder.resume()
            elif isinstance(action, StartTrainer):
                env = dict(os.environ, SAGE_BAG_ROOT=str(self.bag_root),
                           SAGE_MODEL_DIR=str(self.registry.root))
                trainer = TrainerRun(action.argv, env=env)
                if not trainer.start():
                    return self._apply(self.cycle.trainer_failed_to_start(trainer.result()))
                self.trainer = trainer
            elif isinstance(action, CallReloads):
                self.reloads = {}
                for name in action.services:
                    client = self.reload_clients[name]
                    if client.service_is_ready():
                        self.reloads[name] = client.call_async(LoadModel.Request(version=''))
                    else:
                        self.cycle.reload_unavailable(name)
            elif isinstance(action, PublishStatus):
                self._publish_status()
        return step

    # -- status ----------------------------------------------------------------------------
    def _model_versions(self):
        names = self.p['model_names']
        return names, [self.registry.active(n) or '' for n in names]

    def _publish_status(self):
        snap = self.recorder.snapshot()
        closed = list(self.recorder.quota.closed)
        msg = SleepStatus()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.phase = self.cycle.phase
        msg.progress = float(self.cycle.progress)
        msg.model_names, msg.model_versions = self._model_versions()
        msg.last_result = self.cycle.last_result
        msg.wake_periods = len({path.parent.name for path, _ in closed})
        msg.bag_segments = len(closed)
        msg.bag_bytes = int(snap['closed_bytes'])
        msg.recording = bool(snap['recording'])
        self.status_pub.publish(msg)
        self.status_text_pub.publish(status_text_marker(msg, self.p['status_text_frame']))
        self.diag_pub.publish(make_array(msg.header.stamp, self._diagnostics(snap)))

    def _diagnostics(self, snap):
        topics = snap.pop('topics')
        drops = sum(c['dropped_queue'] for c in topics.values())
        quota_drops = sum(c['dropped_quota'] for c in topics.values())
        level, message = OK, 'recording' if snap['recording'] else f'paused ({self.cycle.phase})'
        if drops or quota_drops or self.unknown:
            level = WARN
            message = (f'{drops} queue drops, {quota_drops} over the disk budget, '
                       f'{len(self.unknown)} topics of unknown type')
        if snap['quota_blocked'] or snap['errors']:
            level, message = ERROR, 'disk budget reached or write error: not recording ' \
                f'({snap["last_error"] or "quota"})'
        values = dict(snap, phase=self.cycle.phase, unknown_topics=' '.join(sorted(self.unknown)))
        statuses = [make_status('sleep_manager: recorder', 'sleep_manager', level, message,
                                values)]
        for topic, counts in sorted(topics.items()):
            bad = counts['dropped_queue'] + counts['dropped_quota']
            statuses.append(make_status(f'sleep_manager: {topic}', 'sleep_manager',
                                        WARN if bad else OK,
                                        f'{counts["dropped_queue"]} drops', counts))
        for topic, why in sorted(self.unknown.items()):
            statuses.append(make_status(f'sleep_manager: {topic}', 'sleep_manager', WARN,
                                        f'not recorded: {why}', {'type': why}))
        return statuses

    def stop(self):
        if self.trainer is not None:
            self.trainer.stop()
        self.take_loop.stop()
        self.recorder.close()
        for topic, c in sorted(self.recorder.counts.items()):
            print(f'topic {topic}: received {c.received}, written {c.written}, dropped '
                  f'(queue) {c.dropped_queue}, dropped (disk budget) {c.dropped_quota}, '
                  f'skipped while asleep {c.skipped_paused}, decimated {c.decimated}',
                  flush=True)


def main(args=None):
    return run_node(SleepManagerNode, 'sleep_manager', args,
                    {**FATAL, OSError: 'cannot record'}, SleepManagerNode.stop)


if __name__ == '__main__':
    sys.exit(main())
