# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The context pipeline without ROS: validate, align, encode, and say what was present.

`ContextPipeline` takes Image and JointState messages (any objects with the same fields),
rejects bad input by reason through a RejectCounter, pairs colour with depth by stamp,
looks joints up as of the camera stamp, runs the encoder (`EncoderRuntime`, a probed
sage_common OnnxModel loaded by `load_runtime`) and hands each context to a callback;
`reset_history` starts the encoder's recurrent history afresh at an episode boundary. The
node (context_node.py) only wires topics, parameters and diagnostics to it.
"""

import threading
import time

import numpy as np

from sage_common.messages import stamp_to_sec
from sage_common.onnx_runtime import OnnxModel
from sage_common.registry import ModelError
from sage_common.task_text import check_task_text, TaskTextError
from sage_perception import layout
from sage_perception.decode import decode_color, decode_depth, DecodeError, JointOrder
from sage_perception.encoder import (initial_hidden, io_specs, MODEL_NAME, preprocess,
                                     presence_bits, stored_encoder_config, TASK_INPUT)
from sage_perception.sync import AsOfBuffer, make_synchronizer
from sage_perception.trust import (DEFAULT_MONITOR_PARAMS, FILENAME as TRUST_FILE, TrustModel,
                                   TrustMonitor)


class EncoderRuntime(OnnxModel):
    """
    A verified, probed encoder version: one preprocessed frame -> (context, hidden).

    `trust` is the version's trust model (trust.npz, fitted by the sleep that trained it), or
    None for a version without one (the initial encoder): its sources are not judged.
    """

    def __init__(self, mv, num_joints, threads=1):
        """Check mv against the encoder layout and the node's joints, open it, probe it."""
        what = f'{mv.name} {mv.version}'
        try:
            config = stored_encoder_config(mv.metadata)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f'{what}: manifest metadata has no usable encoder config ({exc})')
        if int(config['num_joints']) != int(num_joints):
            raise ModelError(f'{what}: built for {config["num_joints"]} joints, this node is '
                             f'configured with {num_joints}')
        inputs, outputs = io_specs(config)
        for kind, expected, actual in (('inputs', inputs, mv.manifest['inputs']),
                                       ('outputs', outputs, mv.manifest['outputs'])):
            if expected != actual:
                raise ModelError(f'{what}: manifest {kind} {actual} do not match the encoder '
                                 f'layout {expected}')
        super().__init__(mv, 'model.onnx', threads)
        self.config = config
        feeds = preprocess(None, None, None, None, None, config)
        feeds['hidden'] = initial_hidden(config)
        context, _ = self.probe(feeds, [(1, layout.DIM), feeds['hidden'].shape])
        if np.any(context[0, _masked_index()] != 0.0):
            raise ModelError(f'{what}: masked groups {layout.MASKED_GROUPS} are not zero')
        if TASK_INPUT in feeds and np.any(context[0, layout.SLICES['intentions']] != 0.0):
            raise ModelError(f'{what}: the intentions group is not zero without a task')
        self.trust = None
        if TRUST_FILE in mv.manifest['files']:
            try:
                self.trust = TrustModel.from_file(mv.path(TRUST_FILE))
            except ValueError as exc:
                raise ModelError(f'{what}: {exc}') from None

    def encode(self, feeds):
        """Return (context (4096,), hidden_out (1, H)) for one preprocessed frame."""
        context, hidden = self.run(feeds)
        return context[0], hidden


def load_runtime(registry, version, num_joints, threads=1, name=MODEL_NAME):
    """
    Load, verify and probe an encoder version (version '' = the active one).

    Raises ModelError naming what is wrong: missing version, hash mismatch, ONNX I/O that
    does not match the manifest, a manifest that does not match the encoder layout or the
    node's joints, or a probe that fails.
    """
    return EncoderRuntime(registry.load(name, version or None), num_joints, threads)


class TrustGate:
    """
    A stream's trust in its sources, and the masking of distrusted ones.

    What the context node and sage_evaluate both run after the encoder: the runtime's trust
    model judges each context (a TrustMonitor for the stream); with `use` on, a context with
    a distrusted source is encoded again with that source's presence flag cleared, exactly as
    if it were missing (its groups zero, its bit clear, the H-module masks it).
    """

    def __init__(self, use=True, params=None):
        self.use = bool(use)
        self.params = params
        self.monitor = None
        self._model = None
        self.masked = 0   # contexts published with a source masked as distrusted

    def reset(self):
        """Episode start: the temporal checks start afresh (the flags stay)."""
        if self.monitor is not None:
            self.monitor.reset()

    def encode(self, runtime, feeds, presence):
        """Return (context, hidden, presence, trust or None) of one preprocessed frame."""
        context, hidden = runtime.encode(feeds)
        if runtime.trust is not self._model:
            self._model = runtime.trust
            self.monitor = None if runtime.trust is None else \
                TrustMonitor(runtime.trust, self.params)
        if self.monitor is None or not np.all(np.isfinite(context)):
            return context, hidden, presence, None
        trust = self.monitor.update(context, presence).copy()
        off = self.monitor.distrusted_bits() & presence if self.use else 0
        if off:
            feeds = dict(feeds, presence=feeds['presence'].copy())
            for name, bit in layout.MODALITY_BITS:
                if off & bit:
                    feeds['presence'][0, layout.MODALITY_INDEX[name]] = 0.0
            context, hidden = runtime.encode(feeds)
            presence &= ~off
            self.masked += 1
        return context, hidden, presence, trust


def _masked_index():
    return np.concatenate([np.arange(layout.DIM)[layout.SLICES[g]]
                           for g in layout.MASKED_GROUPS])


class Frame:
    """A validated, decoded image with its header (message_filters reads header.stamp)."""

    __slots__ = ('header', 'stamp', 'image')

    def __init__(self, header, stamp, image):
        self.header = header
        self.stamp = stamp
        self.image = image


class ContextResult:
    """One context: the colour frame's header, the vector, presence bits, version, timings."""

    __slots__ = ('header', 'stamp', 'context', 'presence', 'version', 'preprocess_s',
                 'encode_s', 'trust')

    def __init__(self, header, stamp, context, presence, version, preprocess_s, encode_s,
                 trust=None):
        self.trust = trust   # (len(trust.SOURCES),) or None: not judged
        self.header = header
        self.stamp = stamp
        self.context = context
        self.presence = presence
        self.version = version
        self.preprocess_s = preprocess_s
        self.encode_s = encode_s


DEFAULT_PIPELINE_PARAMS = {
    'slop_s': 0.02,            # colour/depth pairing tolerance
    'queue_size': 10,          # per-stream synchroniser queue
    'depth_timeout_s': 0.5,    # no depth newer than this before a colour stamp: depth masked
    'joint_max_age_s': 0.1,    # joints older than this at a colour stamp: joints masked
    'max_future_s': 1.0,       # stamps further ahead of the clock are rejected
    'allow_extra_joints': False,
    'prefer_message_filters': True,
    'use_trust': True,         # mask a source the trust model distrusts (False: judge only)
    **{'trust_' + k: v for k, v in DEFAULT_MONITOR_PARAMS.items()},
}


class ContextPipeline:
    """Validated inputs in, contexts out through `on_context(ContextResult)`."""

    def __init__(self, runtime, joint_names, rejects, on_context, params=None,
                 clock=time.perf_counter):
        self.params = dict(DEFAULT_PIPELINE_PARAMS)
        self.params.update(params or {})
        self.rejects = rejects
        self.on_context = on_context
        self.joints = JointOrder(joint_names, allow_extra=self.params['allow_extra_joints'])
        self.joint_buffer = AsOfBuffer()
        self._runtime = runtime
        self.trust = TrustGate(self.params['use_trust'], {
            k: self.params['trust_' + k] for k in DEFAULT_MONITOR_PARAMS})
        self._hidden = initial_hidden(runtime.config)
        self._hidden_version = runtime
        self._not_before = None
        self._last_stamp = {}
        self._last_depth_stamp = None
        self._clock = clock
        self._lock = threading.Lock()
        self.sync, self.sync_impl = make_synchronizer(
            2, int(self.params['queue_size']), float(self.params['slop_s']), self._paired,
            prefer_message_filters=self.params['prefer_message_filters'])
        self.accepted = {'color': 0, 'depth': 0, 'joints': 0, 'task': 0}
        self.task = None  # the task sentence the contexts carry (None: no task)
        self.published = 0
        self.history_resets = 0
        self.dropped_before_start = 0

    # -- model -----------------------------------------------------------------------------
    @property
    def runtime(self):
        return self._runtime

    def swap_runtime(self, runtime):
        """Atomically switch to a loaded, probed runtime; the next frame uses it."""
        self._runtime = runtime

    def reset_history(self, stamp=None):
        """
        Start the encoder's history afresh: the hidden state back to initial_hidden.

        Training unrolls the encoder from that state at the start of each sequence. `stamp`
        (seconds) is the episode's start: colour frames stamped earlier that are encoded
        afterwards (in flight, or queued for a depth pair, at the boundary) are dropped and
        counted instead of entering the new episode's history.
        """
        with self._lock:
            runtime = self._runtime
            self._hidden = initial_hidden(runtime.config)
            self._hidden_version = runtime
            self.trust.reset()
            if stamp is not None:
                self._not_before = float(stamp)
            self.history_resets += 1

    # -- inputs ----------------------------------------------------------------------------
    def _check_stamp(self, stream, header, now):
        stamp = stamp_to_sec(header.stamp)
        if stamp <= 0.0:
            self.rejects.reject('stamp_zero', f'{stream}: header stamp is zero')
            return None
        if now is not None and stamp - now > self.params['max_future_s']:
            self.rejects.reject('stamp_in_future',
                                f'{stream}: stamp {stamp:.3f} is {stamp - now:.3f} s ahead')
            return None
        last = self._last_stamp.get(stream)
        if last is not None and stamp <= last:
            self.rejects.reject('stamp_out_of_order',
                                f'{stream}: stamp {stamp:.6f} <= previous {last:.6f}')
            return None
        return stamp

    def _accept(self, stream, msg, now, decode):
        """Check msg's stamp and decode it: (stamp, value), or None with the rejection counted."""
        stamp = self._check_stamp(stream, msg.header, now)
        if stamp is None:
            return None
        try:
            value = decode(msg)
        except DecodeError as exc:
            self.rejects.reject(exc.reason, f'{stream}: {exc}')
            return None
        self._last_stamp[stream] = stamp
        self.accepted[stream] += 1
        return stamp, value

    def on_color(self, msg, now=None):
        """Accept one colour Image; `now` is the clock in seconds for the future check."""
        with self._lock:
            accepted = self._accept('color', msg, now, decode_color)
            if accepted is None:
                return
            stamp, image = accepted
            frame = Frame(msg.header, stamp, image)
            if self.depth_silent(stamp):
                self._encode(frame, None)
            else:
                self.sync.add(0, frame)

    def on_depth(self, msg, now=None):
        """Accept one depth Image (16UC1 mm or 32FC1 m)."""
        with self._lock:
            accepted = self._accept('depth', msg, now, decode_depth)
            if accepted is None:
                return
            stamp, image = accepted
            self._last_depth_stamp = stamp
            self.sync.add(1, Frame(msg.header, stamp, image))

    def on_joints(self, msg, now=None):
        """Accept one JointState (names in any order, or a subset of the joints)."""
        with self._lock:
            accepted = self._accept('joints', msg, now, self.joints.update)
            if accepted is not None and accepted[1] is not None:
                self.joint_buffer.add(*accepted)

    def on_task(self, data):
        """
        Take a task sentence (str or bytes) for the contexts from now on; return it, or None.

        A text that cannot be a task (empty, over task_text.MAX_BYTES, not UTF-8) is rejected
        and counted, and the contexts carry no task until a usable one arrives: never the
        previous task, which the sender just replaced.
        """
        with self._lock:
            try:
                self.task = check_task_text(data)
            except TaskTextError as exc:
                self.task = None
                self.rejects.reject('task_text', f'task: {exc}')
                return None
            self.accepted['task'] += 1
            return self.task

    def depth_silent(self, stamp):
        """Return True when no depth arrived within depth_timeout_s before stamp."""
        last = self._last_depth_stamp
        return last is None or stamp - last > self.params['depth_timeout_s']

    # -- encoding --------------------------------------------------------------------------
    def _paired(self, color, depth):
        self._encode(color, depth)

    def _encode(self, color, depth):
        if self._not_before is not None and color.stamp < self._not_before:
            self.dropped_before_start += 1
            return
        runtime = self._runtime
        if runtime is not self._hidden_version:
            self._hidden = initial_hidden(runtime.config)
            self._hidden_version = runtime
        found = self.joint_buffer.as_of(color.stamp, self.params['joint_max_age_s'],
                                        tolerance=self.params['slop_s'])
        positions = velocities = efforts = None
        if found is not None:
            positions, velocities, efforts = found[1]
        t0 = self._clock()
        feeds = preprocess(color.image, None if depth is None else depth.image, positions,
                           velocities, efforts, runtime.config, self.task)
        feeds['hidden'] = self._hidden
        presence = presence_bits(feeds)  # (an encoder without a task input ignores the task)
        t1 = self._clock()
        context, hidden, presence, trust = self.trust.encode(runtime, feeds, presence)
        t2 = self._clock()
        if not (np.all(np.isfinite(context)) and np.all(np.isfinite(hidden))):
            self.rejects.reject('model_output_not_finite', f'model {runtime.version}')
            self._hidden = initial_hidden(runtime.config)
            return
        self._hidden = hidden
        self.published += 1
        self.on_context(ContextResult(color.header, color.stamp, context, presence,
                                      runtime.version, t1 - t0, t2 - t1, trust))


def heatmap_mono8(context, side=64, scale=3.0):
    """
    Return the context as a (side, side) uint8 image: value -scale..scale -> 0..255.

    Row-major, so each 256-D group is a band of 256/side rows (4 rows at 64x64).
    """
    values = np.clip(np.asarray(context, dtype=np.float32), -scale, scale)
    return ((values + scale) * (255.0 / (2 * scale))).astype(np.uint8).reshape(side, side)
