# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The GR00T inference-service wire protocol, N1.5 and N1.6, without sockets.

Messages are msgpack. A request is ``{"endpoint": name, "data": ..., "api_token": ...}``
(``data`` only for endpoints that take input, ``api_token`` only when one is set), in that
key order, as the upstream clients build it. Numpy arrays travel as
``{"__ndarray_class__": True, "as_npy": <np.save bytes>}`` and modality configs as
``{"__ModalityConfig_class__": True, "as_json": ...}``; an error is ``{"error": str}``.

N1.5 (``gr00t/eval/service.py``): the observation is flat, ``video.<cam>`` uint8 (T,H,W,3),
``state.<part>`` (T,D), ``annotation.human.action.task_description`` as ``[str]``; the
``get_action`` reply is ``{"action.<part>": (16,D)}``; the modality config's ``as_json`` is
a JSON string with full keys (``state.arm``).

N1.6 (``gr00t/policy/server_client.py``): ``data = {"observation": OBS, "options": None}``
with OBS nested, ``{"video": {cam: uint8 (B,T,H,W,3)}, "state": {part: float32 (B,T,D)},
"language": {key: [[str]]}}``; the reply is ``[{part: float32 (B,16,D)}, info]``; the
modality config's ``as_json`` is a mapping with short keys (``arm``); a ``reset`` endpoint.

Safety: arrays are read with numpy's .npy reader and ``allow_pickle=False`` only (an .npz
or a pickle is refused), object/void dtypes are refused, and anything that is not msgpack
(e.g. the ``torch.save`` pickles mid-2025 N1.5 code sent) is refused. Every refusal is a
``ProtocolError`` whose ``reason`` names it, for the callers' fault counters.
"""

from dataclasses import dataclass, field
import io
import json
import math
import re

import msgpack
import numpy as np

PROTOCOLS = ('n1.5', 'n1.6')
NDARRAY_TAG = '__ndarray_class__'
MODALITY_CONFIG_TAG = '__ModalityConfig_class__'
TASK_KEY = 'annotation.human.action.task_description'   # N1.5's (and our default) task key
MODALITIES = ('video', 'state', 'action', 'language')
DEFAULT_HORIZON = 16
NPY_MAGIC = b'\x93NUMPY'
ALLOWED_DTYPE_KINDS = 'biufUS'   # bool, int, uint, float, str, bytes: never objects/void
UNAUTHORIZED = 'Unauthorized: Invalid API token'
PING_REPLY = {'status': 'ok', 'message': 'Server is running'}


class ProtocolError(Exception):
    """A message that breaks the protocol; `reason` is a short name for counters."""

    def __init__(self, reason, message):
        super().__init__(f'{reason}: {message}')
        self.reason = reason
        self.message = message


def check_protocol(protocol):
    """Return protocol if it is 'n1.5' or 'n1.6'; raise ValueError otherwise."""
    if protocol not in PROTOCOLS:
        raise ValueError(f'protocol must be one of {PROTOCOLS}, got {protocol!r}')
    return protocol


# --- arrays and msgpack ------------------------------------------------------------------

def encode_ndarray(array):
    """Return the wire form of a numpy array: np.save bytes, never a pickle."""
    if array.dtype.kind not in ALLOWED_DTYPE_KINDS:
        raise ProtocolError('bad_ndarray', f'cannot send an array of dtype {array.dtype}')
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return {NDARRAY_TAG: True, 'as_npy': out.getvalue()}


def decode_ndarray(obj):
    """Return the array of a wire ndarray; refuse pickles, .npz and object/void dtypes."""
    data = obj.get('as_npy')
    if not isinstance(data, (bytes, bytearray)):
        raise ProtocolError('bad_ndarray', f'as_npy is {type(data).__name__}, not bytes')
    if not data.startswith(NPY_MAGIC):
        raise ProtocolError('bad_ndarray', 'as_npy is not .npy data')
    try:
        array = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:   # numpy: "Object arrays cannot be loaded when allow_pickle=False"
        reason = 'pickle_refused' if 'pickle' in str(exc) else 'bad_ndarray'
        raise ProtocolError(reason, f'as_npy refused: {exc}') from None
    except Exception as exc:
        raise ProtocolError('bad_ndarray', f'as_npy unreadable: {exc}') from None
    if array.dtype.kind not in ALLOWED_DTYPE_KINDS:
        raise ProtocolError('bad_ndarray', f'refused array of dtype {array.dtype}')
    return array


def _encode_custom(obj):
    if isinstance(obj, np.ndarray):
        return encode_ndarray(obj)
    if isinstance(obj, ModalityConfigWire):
        return {MODALITY_CONFIG_TAG: True, 'as_json': obj.as_json}
    if isinstance(obj, np.generic):
        raise TypeError(f'numpy scalar {obj!r} ({obj.dtype}): send an array or a Python number')
    raise TypeError(f'cannot serialize {type(obj).__name__}')


def _decode_custom(obj):
    if NDARRAY_TAG in obj:
        return decode_ndarray(obj)
    if MODALITY_CONFIG_TAG in obj:
        as_json = obj.get('as_json')
        if isinstance(as_json, str):
            try:
                as_json = json.loads(as_json)
            except ValueError as exc:
                raise ProtocolError('bad_reply', f'modality config as_json: {exc}') from None
        if not isinstance(as_json, dict):
            raise ProtocolError('bad_reply', 'modality config as_json is not a mapping')
        return as_json
    return obj


def pack(obj):
    """Return the msgpack bytes of obj (arrays as np.save bytes), as upstream's to_bytes."""
    try:
        return msgpack.packb(obj, default=_encode_custom)
    except ProtocolError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise ProtocolError('bad_request', f'cannot pack: {exc}') from None


def unpack(data):
    """Return the object of msgpack bytes; ProtocolError('not_msgpack') for anything else."""
    try:
        return msgpack.unpackb(bytes(data), object_hook=_decode_custom)
    except ProtocolError:
        raise
    except Exception as exc:   # ExtraData, FormatError, StackError, ValueError, ...
        raise ProtocolError('not_msgpack', f'{type(exc).__name__}: {exc}'[:200]) from None


# --- requests and replies ----------------------------------------------------------------

NO_DATA = object()


def make_request(endpoint, data=NO_DATA, api_token=''):
    """Return a request dict in upstream's key order: endpoint, data (if any), api_token."""
    request = {'endpoint': endpoint}
    if data is not NO_DATA:
        request['data'] = data
    if api_token:
        request['api_token'] = api_token
    return request


def get_action_request(protocol, observation, api_token=''):
    """Return the get_action request of a protocol for an already built observation."""
    if check_protocol(protocol) == 'n1.6':
        return make_request('get_action', {'observation': observation, 'options': None},
                            api_token)
    return make_request('get_action', observation, api_token)


def reset_request(api_token=''):
    """Return N1.6's reset request."""
    return make_request('reset', {'options': None}, api_token)


def raise_if_error(reply):
    """Raise ProtocolError for an {"error": ...} reply ('unauthorized' or 'server_error')."""
    if isinstance(reply, dict) and 'error' in reply:
        message = str(reply['error'])
        reason = 'unauthorized' if message.startswith('Unauthorized') else 'server_error'
        raise ProtocolError(reason, message[:500])
    return reply


# --- modality configuration ----------------------------------------------------------------

@dataclass
class ModalityConfigWire:
    """A modality config as it travels: `as_json` a JSON string (N1.5) or a mapping (N1.6)."""

    as_json: object


@dataclass
class Layout:
    """
    What a policy server expects and answers, from its modality config.

    Keys are short (`arm`, `top_down`); `language` keeps the full task key (it is a key of
    the observation in both protocols). Horizons are the lengths of the delta indices.
    """

    video: list = field(default_factory=list)
    state: list = field(default_factory=list)
    action: list = field(default_factory=list)
    language: list = field(default_factory=lambda: [TASK_KEY])
    video_horizon: int = 1
    state_horizon: int = 1
    action_horizon: int = DEFAULT_HORIZON

    @property
    def task_key(self):
        """Return the key the task description goes under."""
        return self.language[0] if self.language else TASK_KEY


def _config_dict(protocol, modality, keys, horizon):
    full = [f'{modality}.{k}' for k in keys] if protocol == 'n1.5' and modality != 'language' \
        else list(keys)
    if protocol == 'n1.5':   # pydantic's model_dump_json(): compact, field order
        return {'delta_indices': list(range(horizon)), 'modality_keys': full}
    return {'delta_indices': list(range(horizon)), 'modality_keys': full,
            'sin_cos_embedding_keys': None, 'mean_std_embedding_keys': None,
            'action_configs': None}


def modality_config_reply(protocol, layout):
    """Return the get_modality_config reply of a server with this layout."""
    check_protocol(protocol)
    horizons = {'video': layout.video_horizon, 'state': layout.state_horizon,
                'action': layout.action_horizon, 'language': 1}
    keys = {'video': layout.video, 'state': layout.state, 'action': layout.action,
            'language': layout.language}
    reply = {}
    for modality in MODALITIES:
        if not keys[modality]:
            continue
        config = _config_dict(protocol, modality, keys[modality], horizons[modality])
        if protocol == 'n1.5':
            config = json.dumps(config, separators=(',', ':'))
        reply[modality] = ModalityConfigWire(config)
    return reply


def parse_modality_config(protocol, reply):
    """Return the Layout of a get_modality_config reply; ProtocolError('bad_reply') if odd."""
    check_protocol(protocol)
    raise_if_error(reply)
    if not isinstance(reply, dict):
        raise ProtocolError('bad_reply', f'modality config is {type(reply).__name__}')
    layout = Layout(language=[])
    for modality in MODALITIES:
        config = reply.get(modality)
        if config is None:
            continue
        if not isinstance(config, dict):
            raise ProtocolError('bad_reply', f'modality config {modality!r} is not a mapping')
        keys, deltas = config.get('modality_keys'), config.get('delta_indices')
        if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)
                and isinstance(deltas, list)):
            raise ProtocolError('bad_reply', f'modality config {modality!r}: keys {keys!r}, '
                                f'delta_indices {deltas!r}')
        if modality != 'language':
            prefix = modality + '.'
            keys = [k[len(prefix):] if k.startswith(prefix) else k for k in keys]
        setattr(layout, modality, keys)
        if modality != 'language':
            setattr(layout, f'{modality}_horizon', len(deltas))
    if not layout.language:
        layout.language = [TASK_KEY]
    return layout


# --- observations ------------------------------------------------------------------------

def build_observation(protocol, videos, states, task, task_key=TASK_KEY):
    """
    Return the get_action observation of one frame (T = 1, B = 1).

    videos: {camera: uint8 (H, W, 3)}; states: {part: (D,) floats}; task: str.
    N1.5: flat keys, video (1,H,W,3) uint8, state (1,D) float64, task [str];
    N1.6: nested, video (1,1,H,W,3) uint8, state (1,1,D) float32, task [[str]].
    """
    check_protocol(protocol)
    for camera, image in videos.items():
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ProtocolError('bad_request', f'video {camera!r}: expected uint8 (H, W, 3), '
                                f'got {image.dtype} {image.shape}')
    if protocol == 'n1.5':
        obs = {f'video.{k}': np.ascontiguousarray(v, np.uint8)[None] for k, v in videos.items()}
        obs.update({f'state.{k}': np.asarray(v, np.float64).reshape(1, -1)
                    for k, v in states.items()})
        obs[task_key] = [str(task)]
        return obs
    return {'video': {k: np.ascontiguousarray(v, np.uint8)[None, None]
                      for k, v in videos.items()},
            'state': {k: np.asarray(v, np.float32).reshape(1, 1, -1) for k, v in states.items()},
            'language': {task_key: [[str(task)]]}}


def _one(array, what, ndim):
    """Return array without its leading batch/time axes of size 1, checking ndim."""
    if not isinstance(array, np.ndarray):
        raise ProtocolError('bad_request', f'{what} is {type(array).__name__}, not an array')
    while array.ndim > ndim and array.shape[0] == 1:
        array = array[0]
    if array.ndim != ndim:
        raise ProtocolError('bad_request', f'{what}: shape {array.shape} is not one frame')
    return array


def parse_observation(protocol, data, layout):
    """
    Server side: return (videos, states, task) of one frame of a get_action request's data.

    Every key of the layout must be present (extra keys are ignored); videos uint8
    (H, W, 3), states float (D,). Raises ProtocolError('bad_request').
    """
    check_protocol(protocol)
    if not isinstance(data, dict):
        raise ProtocolError('bad_request', f'get_action data is {type(data).__name__}')
    if protocol == 'n1.6':
        unknown = set(data) - {'observation', 'options'}
        if unknown or not isinstance(data.get('observation'), dict):
            raise ProtocolError('bad_request', 'N1.6 get_action data must be {"observation": '
                                f'..., "options": ...}}, got keys {sorted(map(str, data))}')
        obs = data['observation']
        groups = {m: obs.get(m) if isinstance(obs.get(m), dict) else {}
                  for m in ('video', 'state', 'language')}

        def get(modality, key):
            return groups[modality].get(key)
    else:
        def get(modality, key):
            return data.get(key if modality == 'language' else f'{modality}.{key}')
    videos, states = {}, {}
    for key in layout.video:
        image = _one(get('video', key), f'video {key!r}', 3)
        if image.dtype != np.uint8 or image.shape[2] != 3:
            raise ProtocolError('bad_request', f'video {key!r}: expected uint8 (H, W, 3), got '
                                f'{image.dtype} {image.shape}')
        videos[key] = image
    for key in layout.state:
        state = _one(get('state', key), f'state {key!r}', 1)
        if state.dtype.kind not in 'iuf':
            raise ProtocolError('bad_request', f'state {key!r} has dtype {state.dtype}')
        states[key] = state.astype(np.float64)
    task = get('language', layout.task_key)
    while isinstance(task, (list, tuple)) and len(task) == 1:
        task = task[0]
    if layout.language and not isinstance(task, str):
        raise ProtocolError('bad_request', f'task {layout.task_key!r} missing or not text')
    return videos, states, task if isinstance(task, str) else ''


# --- actions ---------------------------------------------------------------------------------

def action_reply(protocol, actions):
    """Return the get_action reply for {part: (H, D)} arrays (float32, batched in N1.6)."""
    if check_protocol(protocol) == 'n1.5':
        return {f'action.{k}': np.asarray(v, np.float32) for k, v in actions.items()}
    return [{k: np.asarray(v, np.float32)[None] for k, v in actions.items()}, {}]


def parse_action_reply(protocol, reply, dims, horizon=DEFAULT_HORIZON):
    """
    Client side: return {part: float64 (horizon, D)} of a get_action reply.

    dims: {part: D} the robot expects. Refused with a ProtocolError: an error reply
    ('server_error'/'unauthorized'), a reply of the wrong form ('bad_reply'), parts that
    differ from dims ('layout_mismatch'), wrong shapes ('bad_shape'), NaN/inf ('non_finite').
    A leading batch axis of 1 is accepted in both protocols.
    """
    check_protocol(protocol)
    raise_if_error(reply)
    if protocol == 'n1.6':
        if not (isinstance(reply, (list, tuple)) and len(reply) == 2
                and isinstance(reply[0], dict)):
            raise ProtocolError('bad_reply', 'N1.6 get_action reply must be [action, info]')
        actions = reply[0]
    else:
        if not isinstance(reply, dict):
            raise ProtocolError('bad_reply', f'get_action reply is {type(reply).__name__}')
        if not all(isinstance(k, str) and k.startswith('action.') for k in reply):
            raise ProtocolError('bad_reply', f'N1.5 reply keys must be action.<part>: '
                                f'{sorted(map(str, reply))}')
        actions = {k[len('action.'):]: v for k, v in reply.items()}
    if set(actions) != set(dims):
        raise ProtocolError('layout_mismatch', f'reply parts {sorted(map(str, actions))}, the '
                            f'robot expects {sorted(dims)}')
    out = {}
    for part, dim in dims.items():
        array = actions[part]
        if not isinstance(array, np.ndarray) or array.dtype.kind not in 'iuf':
            raise ProtocolError('bad_reply', f'action {part!r} is not a numeric array')
        if array.ndim == 3 and array.shape[0] == 1:
            array = array[0]
        if array.shape != (horizon, dim):
            raise ProtocolError('bad_shape', f'action {part!r} has shape {array.shape}, '
                                f'expected ({horizon}, {dim})')
        array = array.astype(np.float64)
        if not np.all(np.isfinite(array)):
            raise ProtocolError('non_finite', f'action {part!r} holds NaN or inf')
        out[part] = array
    return out


_GOAL_TEXT = re.compile(r'\(\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*\)')


def goal_from_text(text):
    """Return the (x, y) of the last `(x, y)` in a task text, or None."""
    matches = _GOAL_TEXT.findall(text or '')
    if not matches:
        return None
    try:
        goal = np.array([float(v) for v in matches[-1]])
    except ValueError:
        return None
    return goal if all(math.isfinite(v) for v in goal) else None
