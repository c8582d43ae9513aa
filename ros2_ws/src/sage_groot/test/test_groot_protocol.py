# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The GR00T wire codec, byte for byte against an independent hand-written encoder."""

import io
import json
import pickle
import struct

import msgpack
import numpy as np
import pytest
from sage_groot import protocol as wire


# --- an independent msgpack/npy writer for the few types the protocol uses ----------------

def mp_str(text):
    raw = text.encode()
    if len(raw) < 32:
        return bytes([0xa0 | len(raw)]) + raw
    if len(raw) < 256:
        return b'\xd9' + bytes([len(raw)]) + raw
    return b'\xda' + struct.pack('>H', len(raw)) + raw


def mp_bin(raw):
    if len(raw) < 256:
        return b'\xc4' + bytes([len(raw)]) + raw
    if len(raw) < 65536:
        return b'\xc5' + struct.pack('>H', len(raw)) + raw
    return b'\xc6' + struct.pack('>I', len(raw)) + raw


def mp_map(items):
    assert len(items) < 16
    return bytes([0x80 | len(items)]) + b''.join(k + v for k, v in items)


def mp_array(items):
    assert len(items) < 16
    return bytes([0x90 | len(items)]) + b''.join(items)


def mp_int(value):
    assert 0 <= value < 128
    return bytes([value])


MP_TRUE, MP_NIL = b'\xc3', b'\xc0'


def npy(descr, shape, data):
    """Return the .npy v1.0 bytes numpy writes: magic, header padded to 64 bytes, raw data."""
    shape_text = '(' + ', '.join(str(s) for s in shape) + (',)' if len(shape) == 1 else ')')
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}"
    total = 10 + len(header) + 1
    header += ' ' * ((64 - total % 64) % 64) + '\n'
    return b'\x93NUMPY\x01\x00' + struct.pack('<H', len(header)) + header.encode() + data


def mp_ndarray(descr, shape, data):
    return mp_map([(mp_str('__ndarray_class__'), MP_TRUE),
                   (mp_str('as_npy'), mp_bin(npy(descr, shape, data)))])


IMAGE = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
ARM = np.array([0.25, -1.5])
TASK = 'reach the target'


# --- envelopes ---------------------------------------------------------------------------

def test_ping_kill_and_modality_config_requests_byte_for_byte():
    assert wire.pack(wire.make_request('ping')) == b'\x81\xa8endpoint\xa4ping'
    assert wire.pack(wire.make_request('kill')) == mp_map([(mp_str('endpoint'),
                                                            mp_str('kill'))])
    with_token = wire.make_request('get_modality_config', api_token='s3cret')
    assert wire.pack(with_token) == mp_map([(mp_str('endpoint'), mp_str('get_modality_config')),
                                            (mp_str('api_token'), mp_str('s3cret'))])


def test_n15_get_action_request_byte_for_byte():
    obs = wire.build_observation('n1.5', {'top_down': IMAGE}, {'arm': ARM}, TASK)
    assert list(obs) == ['video.top_down', 'state.arm', wire.TASK_KEY]
    assert obs['video.top_down'].shape == (1, 2, 3, 3) and obs['video.top_down'].dtype == np.uint8
    assert obs['state.arm'].shape == (1, 2) and obs['state.arm'].dtype == np.float64
    expected = mp_map([
        (mp_str('endpoint'), mp_str('get_action')),
        (mp_str('data'), mp_map([
            (mp_str('video.top_down'), mp_ndarray('|u1', (1, 2, 3, 3), IMAGE.tobytes())),
            (mp_str('state.arm'), mp_ndarray('<f8', (1, 2), ARM.astype('<f8').tobytes())),
            (mp_str(wire.TASK_KEY), mp_array([mp_str(TASK)])),
        ])),
        (mp_str('api_token'), mp_str('tok')),
    ])
    assert wire.pack(wire.get_action_request('n1.5', obs, 'tok')) == expected


def test_n16_get_action_and_reset_requests_byte_for_byte():
    obs = wire.build_observation('n1.6', {'top_down': IMAGE}, {'arm': ARM}, TASK)
    expected = mp_map([
        (mp_str('endpoint'), mp_str('get_action')),
        (mp_str('data'), mp_map([
            (mp_str('observation'), mp_map([
                (mp_str('video'), mp_map([(mp_str('top_down'), mp_ndarray(
                    '|u1', (1, 1, 2, 3, 3), IMAGE.tobytes()))])),
                (mp_str('state'), mp_map([(mp_str('arm'), mp_ndarray(
                    '<f4', (1, 1, 2), ARM.astype('<f4').tobytes()))])),
                (mp_str('language'), mp_map([(mp_str(wire.TASK_KEY),
                                              mp_array([mp_array([mp_str(TASK)])]))])),
            ])),
            (mp_str('options'), MP_NIL),
        ])),
    ])
    assert wire.pack(wire.get_action_request('n1.6', obs)) == expected
    assert wire.pack(wire.reset_request()) == mp_map([
        (mp_str('endpoint'), mp_str('reset')),
        (mp_str('data'), mp_map([(mp_str('options'), MP_NIL)]))])


def test_action_replies_byte_for_byte_and_parsed():
    chunk = np.arange(32, dtype=np.float32).reshape(16, 2) / 10
    n15 = wire.pack(wire.action_reply('n1.5', {'arm': chunk}))
    assert n15 == mp_map([(mp_str('action.arm'), mp_ndarray('<f4', (16, 2), chunk.tobytes()))])
    n16 = wire.pack(wire.action_reply('n1.6', {'arm': chunk}))
    assert n16 == mp_array([mp_map([(mp_str('arm'), mp_ndarray('<f4', (1, 16, 2),
                                                               chunk.tobytes()))]),
                            mp_map([])])
    for protocol, raw in (('n1.5', n15), ('n1.6', n16)):
        parsed = wire.parse_action_reply(protocol, wire.unpack(raw), {'arm': 2})
        assert parsed['arm'].dtype == np.float64
        np.testing.assert_array_equal(parsed['arm'], chunk.astype(np.float64))


def test_error_reply_byte_for_byte():
    raw = wire.pack({'error': wire.UNAUTHORIZED})
    assert raw == b'\x81\xa5error' + mp_str('Unauthorized: Invalid API token')
    with pytest.raises(wire.ProtocolError) as err:
        wire.parse_action_reply('n1.6', wire.unpack(raw), {'arm': 2})
    assert err.value.reason == 'unauthorized'
    with pytest.raises(wire.ProtocolError) as err:
        wire.raise_if_error(wire.unpack(wire.pack({'error': 'CUDA out of memory'})))
    assert err.value.reason == 'server_error' and 'CUDA' in err.value.message


def test_modality_config_replies_as_upstream_and_parsed():
    layout = wire.Layout(video=['top_down'], state=['arm', 'goal'], action=['arm'])
    n15 = wire.unpack(wire.pack(wire.modality_config_reply('n1.5', layout)))
    raw15 = wire.pack(wire.modality_config_reply('n1.5', layout))
    # N1.5: as_json a compact JSON string (pydantic's model_dump_json) with full keys.
    state_json = '{"delta_indices":[0],"modality_keys":["state.arm","state.goal"]}'
    assert mp_str(state_json) in raw15 and mp_str('__ModalityConfig_class__') in raw15
    assert n15['action']['delta_indices'] == list(range(16))
    assert n15['language']['modality_keys'] == [wire.TASK_KEY]
    # N1.6: as_json a mapping with short keys and the dataclass's other fields.
    raw16 = msgpack.unpackb(wire.pack(wire.modality_config_reply('n1.6', layout)))
    assert raw16['state'] == {'__ModalityConfig_class__': True, 'as_json': {
        'delta_indices': [0], 'modality_keys': ['arm', 'goal'], 'sin_cos_embedding_keys': None,
        'mean_std_embedding_keys': None, 'action_configs': None}}
    for protocol in wire.PROTOCOLS:
        parsed = wire.parse_modality_config(
            protocol, wire.unpack(wire.pack(wire.modality_config_reply(protocol, layout))))
        assert parsed == layout


def test_upstream_n15_modality_config_with_full_keys():
    # As N1.5's MsgSerializer sends it: as_json a JSON string of the pydantic model.
    def config(keys, deltas):
        return {'__ModalityConfig_class__': True,
                'as_json': json.dumps({'delta_indices': deltas, 'modality_keys': keys})}

    reply = msgpack.packb({'video': config(['video.webcam'], [0]),
                           'state': config(['state.single_arm', 'state.gripper'], [0]),
                           'action': config(['action.single_arm', 'action.gripper'],
                                            list(range(16))),
                           'language': config([wire.TASK_KEY], [0])})
    layout = wire.parse_modality_config('n1.5', wire.unpack(reply))
    assert layout.video == ['webcam'] and layout.state == ['single_arm', 'gripper']
    assert layout.action == ['single_arm', 'gripper'] and layout.action_horizon == 16
    assert layout.task_key == wire.TASK_KEY


# --- refusals ------------------------------------------------------------------------------

def test_pickled_object_arrays_are_refused():
    objects = np.array([{'a': 1}, None], dtype=object)
    out = io.BytesIO()
    np.save(out, objects, allow_pickle=True)
    evil = msgpack.packb({'action.arm': {'__ndarray_class__': True, 'as_npy': out.getvalue()}})
    with pytest.raises(wire.ProtocolError) as err:
        wire.unpack(evil)
    assert err.value.reason == 'pickle_refused'
    with pytest.raises(wire.ProtocolError) as err:   # nor are they ever sent
        wire.pack({'x': objects})
    assert err.value.reason == 'bad_ndarray'


@pytest.mark.parametrize('payload, reason', [
    (pickle.dumps({'action.arm': [[0.0, 0.0]]}), 'bad_ndarray'),   # a pickle as as_npy
    (b'PK\x03\x04' + b'\x00' * 30, 'bad_ndarray'),                  # an .npz (zip) as as_npy
    (npy('|V8', (1,), b'\x00' * 8), 'bad_ndarray'),                  # void dtype
    ('text', 'bad_ndarray'),                                         # not bytes at all
])
def test_odd_ndarray_payloads_are_refused(payload, reason):
    data = msgpack.packb({'a': {'__ndarray_class__': True, 'as_npy': payload}})
    with pytest.raises(wire.ProtocolError) as err:
        wire.unpack(data)
    assert err.value.reason == reason


@pytest.mark.parametrize('raw', [
    pickle.dumps({'action.arm': np.zeros((16, 2))}),    # mid-2025 N1.5: torch.save pickles
    b'PK\x03\x04\x14\x00' + b'\x00' * 40,              # torch.save's zip format
    b'ERROR',                                          # what some servers send on failure
    b'\x82\xa1a',                                      # truncated msgpack
    b'',
])
def test_non_msgpack_replies_are_refused(raw):
    with pytest.raises(wire.ProtocolError) as err:
        wire.unpack(raw)
    assert err.value.reason == 'not_msgpack'


def test_numpy_scalars_cannot_be_sent():
    with pytest.raises(wire.ProtocolError) as err:
        wire.pack({'x': np.float32(1.0)})
    assert err.value.reason == 'bad_request'


@pytest.mark.parametrize('protocol', wire.PROTOCOLS)
@pytest.mark.parametrize('actions, dims, reason', [
    ({'arm': np.zeros((16, 3))}, {'arm': 2}, 'bad_shape'),
    ({'arm': np.zeros((8, 2))}, {'arm': 2}, 'bad_shape'),
    ({'arm': np.zeros((2, 16, 2))}, {'arm': 2}, 'bad_shape'),
    ({'arm': np.full((16, 2), np.nan)}, {'arm': 2}, 'non_finite'),
    ({'arm': np.full((16, 2), np.inf)}, {'arm': 2}, 'non_finite'),
    ({'left_arm': np.zeros((16, 2))}, {'arm': 2}, 'layout_mismatch'),
    ({'arm': np.zeros((16, 2)), 'gripper': np.zeros((16, 1))}, {'arm': 2}, 'layout_mismatch'),
    ({'arm': np.array([['a', 'b']] * 16)}, {'arm': 2}, 'bad_reply'),
])
def test_bad_action_replies_are_refused(protocol, actions, dims, reason):
    reply = wire.unpack(wire.pack(_raw_reply(protocol, actions)))
    with pytest.raises(wire.ProtocolError) as err:
        wire.parse_action_reply(protocol, reply, dims)
    assert err.value.reason == reason


def _raw_reply(protocol, actions):
    if protocol == 'n1.5':
        return {f'action.{k}': v for k, v in actions.items()}
    return [dict(actions), {}]


@pytest.mark.parametrize('protocol, reply', [
    ('n1.5', [{'action.arm': np.zeros((16, 2))}, {}]),
    ('n1.6', {'arm': np.zeros((1, 16, 2))}),
    ('n1.5', {'arm': np.zeros((16, 2))}),
    ('n1.5', None),
])
def test_replies_of_the_other_generation_are_refused(protocol, reply):
    with pytest.raises(wire.ProtocolError) as err:
        wire.parse_action_reply(protocol, wire.unpack(wire.pack(reply)), {'arm': 2})
    assert err.value.reason in ('bad_reply', 'layout_mismatch')


@pytest.mark.parametrize('protocol', wire.PROTOCOLS)
def test_server_side_observation_parsing(protocol):
    layout = wire.Layout(video=['top_down'], state=['arm'], action=['arm'])
    obs = wire.build_observation(protocol, {'top_down': IMAGE}, {'arm': ARM}, TASK)
    data = wire.unpack(wire.pack(wire.get_action_request(protocol, obs)))['data']
    videos, states, task = wire.parse_observation(protocol, data, layout)
    np.testing.assert_array_equal(videos['top_down'], IMAGE)
    np.testing.assert_allclose(states['arm'], ARM, rtol=1e-6)
    assert task == TASK
    missing = wire.Layout(video=['wrist'], state=['arm'], action=['arm'])
    with pytest.raises(wire.ProtocolError, match='wrist'):
        wire.parse_observation(protocol, data, missing)


def test_goal_from_text():
    np.testing.assert_allclose(wire.goal_from_text('reach the target at (0.105, -0.032)'),
                               [0.105, -0.032])
    assert wire.goal_from_text('reach the red target') is None
    assert wire.goal_from_text('(nan, 1)') is None
