# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Image and JointState decoding against an independent implementation (rosbags-image)."""

import numpy as np
import pytest
from rosbags.image import message_to_cvimage
from sage_common.messages import fill_image
from sage_perception.decode import (decode_color, decode_depth, DecodeError, image_to_array,
                                    JointOrder)
from sensor_msgs.msg import Image, JointState

RNG = np.random.default_rng(7)


def _image(shape, dtype):
    if np.dtype(dtype).kind == 'f':
        return RNG.random(shape).astype(dtype) * 5
    return RNG.integers(0, np.iinfo(dtype).max, shape, dtype=dtype)


@pytest.mark.parametrize('encoding,channels', [('rgb8', 3), ('bgr8', 3), ('rgba8', 4),
                                               ('bgra8', 4), ('mono8', 1)])
def test_colour_matches_rosbags_image(encoding, channels):
    raw = _image((7, 5, channels) if channels > 1 else (7, 5), np.uint8)
    msg = fill_image(Image(), raw, encoding)
    ours = decode_color(msg)
    theirs = message_to_cvimage(msg, 'rgb8')
    assert ours.shape == (7, 5, 3) and ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize('encoding,dtype', [('16UC1', np.uint16), ('32FC1', np.float32)])
@pytest.mark.parametrize('bigendian', [False, True])
def test_depth_matches_rosbags_image(encoding, dtype, bigendian):
    raw = _image((6, 9), dtype)
    raw[0, 0] = 0
    msg = fill_image(Image(), raw.astype(np.dtype(dtype).newbyteorder('>' if bigendian
                                                                      else '<')), encoding)
    assert msg.is_bigendian == int(bigendian)
    theirs = message_to_cvimage(msg)
    np.testing.assert_array_equal(image_to_array(msg), theirs)
    metres = decode_depth(msg)
    expected = theirs.astype(np.float32) * (np.float32(1e-3) if encoding == '16UC1' else 1)
    if encoding == '16UC1':
        assert np.isnan(metres[0, 0])  # 0 mm means no reading
        expected[0, 0] = np.nan
    np.testing.assert_allclose(metres, expected, rtol=1e-6)


@pytest.mark.parametrize('encoding,channels,dtype', [('rgb8', 3, np.uint8),
                                                     ('16UC1', 1, np.uint16),
                                                     ('32FC1', 1, np.float32)])
def test_row_padding_is_skipped_without_copy(encoding, channels, dtype):
    raw = _image((4, 5, channels), dtype)
    row = 5 * channels * np.dtype(dtype).itemsize
    pad = 12
    padded = np.zeros((4, row + pad), np.uint8)
    padded[:, :row] = raw.reshape(4, -1).view(np.uint8)
    padded[:, row:] = 0xAB
    msg = Image(height=4, width=5, encoding=encoding, step=row + pad, is_bigendian=0)
    msg.data = padded.tobytes()
    decoded = image_to_array(msg)
    np.testing.assert_array_equal(decoded.reshape(4, 5, channels), raw)
    assert np.shares_memory(decoded, np.frombuffer(msg.data, np.uint8))


def test_fast_path_fill_sets_array_and_roundtrips():
    raw = _image((48, 64, 3), np.uint8)
    msg = fill_image(Image(), raw, 'rgb8')
    assert msg.step == 64 * 3 and (msg.height, msg.width) == (48, 64)
    np.testing.assert_array_equal(decode_color(msg), raw)


@pytest.mark.parametrize('change,reason', [
    ({'encoding': 'yuv422'}, 'unsupported_encoding'),
    ({'encoding': '32FC1'}, 'unsupported_encoding'),   # depth encoding on the colour path
    ({'step': 5}, 'size_mismatch'),                     # shorter than a row
    ({'width': 0}, 'size_mismatch'),
    ({'data': bytes(4 * 15 - 1)}, 'truncated'),
    ({'data': bytes(4 * 15 + 3)}, 'size_mismatch'),
])
def test_bad_images_raise_with_reason(change, reason):
    msg = fill_image(Image(), np.zeros((4, 5, 3), np.uint8), 'rgb8')
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(DecodeError) as info:
        decode_color(msg)
    assert info.value.reason == reason


def _joints(names, position, velocity=(), effort=()):
    return JointState(name=list(names), position=list(position), velocity=list(velocity),
                      effort=list(effort))


def test_joint_order_any_order_and_subsets():
    order = JointOrder(['a', 'b', 'c'])
    assert order.update(_joints(['c', 'a'], [3.0, 1.0], [30.0, 10.0])) is None  # b unseen
    q, qd, tau = order.update(_joints(['b'], [2.0], [], [0.5]))
    np.testing.assert_array_equal(q, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(qd, [10.0, 0.0, 30.0])
    np.testing.assert_array_equal(tau, [0.0, 0.5, 0.0])


@pytest.mark.parametrize('msg,reason', [
    (_joints(['a', 'x'], [1.0, 2.0]), 'unknown_joint_names'),
    (_joints(['a', 'b'], [1.0, float('nan')]), 'joint_not_finite'),
    (_joints(['a', 'b'], [1.0, 2.0], [float('inf'), 0.0]), 'joint_not_finite'),
    (_joints(['a', 'b'], [1.0]), 'joint_size_mismatch'),
    (_joints(['a', 'b'], [1.0, 2.0], [1.0]), 'joint_size_mismatch'),
    (_joints(['a', 'a'], [1.0, 2.0]), 'joint_size_mismatch'),
    (_joints([], []), 'joint_size_mismatch'),
])
def test_bad_joint_states_raise_and_merge_nothing(msg, reason):
    order = JointOrder(['a', 'b'])
    order.update(_joints(['a', 'b'], [0.1, 0.2]))
    with pytest.raises(DecodeError) as info:
        order.update(msg)
    assert info.value.reason == reason
    np.testing.assert_array_equal(order.current()[0], [0.1, 0.2])


def test_extra_joints_allowed_by_option():
    order = JointOrder(['a'], allow_extra=True)
    q, _, _ = order.update(_joints(['gripper', 'a'], [9.0, 1.5]))
    np.testing.assert_array_equal(q, [1.5])
    with pytest.raises(DecodeError):
        order.update(_joints(['gripper'], [9.0]))


def _ros_cv_bridge():
    """Return cv_bridge only when a real ROS install provides it (the PyPI one is broken)."""
    cv_bridge = pytest.importorskip('cv_bridge')
    if '/opt/ros/' not in (getattr(cv_bridge, '__file__', '') or ''):
        pytest.skip(f'cv_bridge at {cv_bridge.__file__} is not from a ROS install')
    return cv_bridge


@pytest.mark.parametrize('encoding,channels', [('rgb8', 3), ('bgr8', 3), ('bgra8', 4),
                                               ('mono8', 1)])
def test_colour_matches_ros_cv_bridge(encoding, channels):
    bridge = _ros_cv_bridge().CvBridge()
    raw = _image((7, 5, channels) if channels > 1 else (7, 5), np.uint8)
    msg = fill_image(Image(), raw, encoding)
    np.testing.assert_array_equal(decode_color(msg), bridge.imgmsg_to_cv2(msg, 'rgb8'))


@pytest.mark.parametrize('encoding,dtype', [('16UC1', np.uint16), ('32FC1', np.float32)])
def test_depth_matches_ros_cv_bridge(encoding, dtype):
    bridge = _ros_cv_bridge().CvBridge()
    msg = fill_image(Image(), _image((6, 9), dtype), encoding)
    np.testing.assert_array_equal(image_to_array(msg), bridge.imgmsg_to_cv2(msg))
