# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Messages read at their CDR offsets against rclpy's serializer; bad payloads refused.

image_from_cdr, joint_state_from_cdr and sage_common.cdr.float64_multi_array.
"""

import struct

import numpy as np
import pytest
from rclpy.serialization import serialize_message
from sage_common import cdr
from sage_common.messages import fill_image
from sage_perception.decode import (decode_color, decode_depth, DecodeError, image_from_cdr,
                                    image_to_array, joint_state_from_cdr)
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, MultiArrayDimension

RNG = np.random.default_rng(11)
CASES = [('rgb8', (5, 7, 3), np.uint8), ('bgr8', (4, 9, 3), np.uint8),
         ('mono8', (3, 5), np.uint8), ('16UC1', (6, 3), np.uint16),
         ('32FC1', (2, 5), np.float32)]


def _pixels(shape, dtype):
    if np.dtype(dtype).kind == 'f':
        return (RNG.random(shape) * 4).astype(dtype)
    return RNG.integers(1, np.iinfo(dtype).max, shape, dtype=dtype)


def _message(encoding, shape, dtype, frame_id='camera', sec=1_700_000_123, nanosec=456_789):
    msg = fill_image(Image(), _pixels(shape, dtype), encoding)
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    return msg


@pytest.mark.parametrize('encoding,shape,dtype', CASES)
@pytest.mark.parametrize('frame_id', ['', 'c', 'cam', 'came', 'camera_color_optical'])
def test_fields_and_pixels_match_the_message(encoding, shape, dtype, frame_id):
    """Odd frame_id lengths move every later field: alignment counts after the CDR header."""
    msg = _message(encoding, shape, dtype, frame_id)
    raw = serialize_message(msg)
    image = image_from_cdr(raw)
    assert image.stamp_ns == 1_700_000_123 * 10**9 + 456_789
    assert image.frame_id == frame_id and image.encoding == encoding
    assert (image.height, image.width, image.step) == (msg.height, msg.width, msg.step)
    assert image.is_bigendian == bool(msg.is_bigendian)
    assert image.data.dtype == np.uint8 and not image.data.flags.writeable
    assert np.shares_memory(image.data, np.frombuffer(raw, np.uint8))  # zero copy
    np.testing.assert_array_equal(image_to_array(image), image_to_array(msg))
    decode = decode_depth if encoding in ('16UC1', '32FC1') else decode_color
    np.testing.assert_array_equal(decode(image), decode(msg))


def test_row_padding_and_big_endian_pixels():
    msg = _message('16UC1', (3, 4), np.uint16)
    pixels = image_to_array(msg).copy()
    padded = np.zeros((3, 12), np.uint8)
    padded[:, :8] = pixels.astype('>u2').view(np.uint8)
    msg.step, msg.is_bigendian, msg.data = 12, 1, padded.tobytes()
    image = image_from_cdr(serialize_message(msg))
    assert image.step == 12 and image.is_bigendian
    np.testing.assert_array_equal(image_to_array(image), pixels)


def test_big_endian_cdr_encapsulation():
    """A big-endian CDR stream (encapsulation 00 00) is read with its own byte order."""
    body = (struct.pack('>iI', 7, 9) + struct.pack('>I', 2) + b'a\0' + b'\0\0'
            + struct.pack('>II', 1, 2) + struct.pack('>I', 6) + b'mono8\0' + b'\0'
            + b'\0' + struct.pack('>II', 2, 2) + b'\x05\x06')
    image = image_from_cdr(b'\0\0\0\0' + body)
    assert (image.stamp_ns, image.frame_id, image.encoding) == (7 * 10**9 + 9, 'a', 'mono8')
    np.testing.assert_array_equal(image_to_array(image), [[5, 6]])


def _with_data_length(raw, size):
    """Return raw with the data sequence's declared length replaced (the last field)."""
    image = image_from_cdr(raw)
    at = len(raw) - len(image.data) - 4
    return raw[:at] + struct.pack('<I', size) + raw[at + 4:]


def test_truncated_payloads_raise():
    raw = serialize_message(_message('rgb8', (4, 4, 3), np.uint8))
    for cut in (3, 10, 20, 40, len(raw) - 1):
        with pytest.raises(DecodeError) as err:
            image_from_cdr(raw[:cut])
        assert err.value.reason in ('malformed', 'truncated'), cut


def test_size_mismatches_raise_and_never_decode():
    msg = _message('rgb8', (4, 4, 3), np.uint8)
    raw = serialize_message(msg)
    with pytest.raises(DecodeError) as err:  # declared length shorter than height*step
        image_from_cdr(_with_data_length(raw, len(msg.data) - 3)[:-3])
    assert err.value.reason == 'size_mismatch'
    short_rows = _message('rgb8', (4, 4, 3), np.uint8)
    short_rows.step = 4 * 3 - 1     # a row of 4 rgb8 pixels needs 12 bytes
    short_rows.data = bytes(short_rows.step * 4)
    with pytest.raises(DecodeError) as err:
        image_from_cdr(serialize_message(short_rows))
    assert err.value.reason == 'size_mismatch'
    tall = _message('mono8', (4, 4), np.uint8)
    tall.height = 5                 # declares a row more than the data holds
    with pytest.raises(DecodeError) as err:
        image_from_cdr(serialize_message(tall))
    assert err.value.reason == 'size_mismatch'
    with pytest.raises(DecodeError) as err:  # declared length past the buffer's end
        image_from_cdr(_with_data_length(raw, len(msg.data) + 100))
    assert err.value.reason == 'truncated'


def test_unknown_encoding_and_foreign_bytes_raise():
    msg = _message('mono8', (2, 2), np.uint8)
    msg.encoding = 'yuv422'
    with pytest.raises(DecodeError) as err:
        image_from_cdr(serialize_message(msg))
    assert err.value.reason == 'unsupported_encoding'
    with pytest.raises(DecodeError) as err:
        image_from_cdr(b'\x12\x34' + bytes(40))
    assert err.value.reason == 'malformed'


@pytest.mark.parametrize('fields', [
    {'name': ['joint0', 'joint1'], 'position': [0.5, -1.0], 'velocity': [0.1, 0.2],
     'effort': [3.0, 4.0]},
    {'name': ['a'], 'position': [1.0], 'velocity': [], 'effort': []},
    {'name': ['ab'], 'position': [], 'velocity': [2.0], 'effort': []},
    {'name': [], 'position': [], 'velocity': [], 'effort': []}])
def test_joint_states_match_the_message(fields):
    msg = JointState(**fields)
    msg.header.frame_id = 'base'
    msg.header.stamp.sec, msg.header.stamp.nanosec = 12, 34
    for _ in range(2):  # the second read takes the remembered layout
        state = joint_state_from_cdr(serialize_message(msg))
        assert state.stamp_ns == 12 * 10**9 + 34 and state.frame_id == 'base'
        assert state.name == fields['name']
        for key in ('position', 'velocity', 'effort'):
            np.testing.assert_array_equal(getattr(state, key), fields[key])


def test_joint_state_layout_is_not_reused_for_other_counts_or_names():
    """Same byte size, other array lengths or names: read afresh, not at the old offsets."""
    one = JointState(name=['j0', 'j1'], position=[1.0, 2.0], velocity=[3.0, 4.0], effort=[])
    two = JointState(name=['j0', 'j1'], position=[1.0, 2.0], velocity=[], effort=[5.0, 6.0])
    three = JointState(name=['k0', 'k1'], position=[7.0, 8.0], velocity=[9.0, 1.0], effort=[])
    raws = [serialize_message(m) for m in (one, two, three)]
    assert len({len(r) for r in raws}) == 1
    for msg, raw in zip((one, two, three, one), raws + raws[:1]):
        state = joint_state_from_cdr(raw)
        assert state.name == list(msg.name)
        for key in ('position', 'velocity', 'effort'):
            np.testing.assert_array_equal(getattr(state, key), getattr(msg, key))


def test_truncated_joint_state_raises():
    raw = serialize_message(JointState(name=['j0'], position=[1.0], velocity=[2.0]))
    for cut in (12, 20, 30, 40):
        with pytest.raises(DecodeError) as err:
            joint_state_from_cdr(raw[:cut])
        assert err.value.reason == 'malformed', cut


@pytest.mark.parametrize('dims', [0, 1, 2])
def test_float64_multi_array_data(dims):
    msg = Float64MultiArray(data=[1.5, -2.5, 3.25])
    msg.layout.dim = [MultiArrayDimension(label='x' * (i + 1), size=3, stride=3)
                      for i in range(dims)]
    msg.layout.data_offset = 1
    np.testing.assert_array_equal(cdr.float64_multi_array(serialize_message(msg)).data,
                                  msg.data)
    with pytest.raises(cdr.CdrError):
        cdr.float64_multi_array(serialize_message(msg)[:-9])
