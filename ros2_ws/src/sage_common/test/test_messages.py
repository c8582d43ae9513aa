# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Stamps <-> seconds, arrays and images filled from numpy."""

import numpy as np
import pytest
from sage_common.messages import (fill_image, floats_to_array, sec_to_stamp, stamp_to_ns,
                                  stamp_to_sec)


class Stamp:
    sec = 0
    nanosec = 0


class Image:
    height = width = step = is_bigendian = 0
    encoding = ''
    data = b''


def test_stamps_round_trip():
    stamp = sec_to_stamp(1700000000.25, Stamp())
    assert (stamp.sec, stamp.nanosec) == (1700000000, 250000000)
    assert stamp_to_sec(stamp) == pytest.approx(1700000000.25)
    assert stamp_to_ns(stamp) == 1700000000250000000


@pytest.mark.parametrize('pixels, encoding, step', [
    (np.arange(24, dtype=np.uint8).reshape(2, 4, 3), 'rgb8', 12),
    (np.arange(8, dtype=np.float32).reshape(2, 4), '32FC1', 16),
    (np.arange(8, dtype=np.uint16).reshape(2, 4), '16UC1', 8),
    (np.arange(8, dtype=np.float64).reshape(2, 4), '32FC1', 16),  # converted to float32
])
def test_fill_image_sets_size_fields_and_bytes(pixels, encoding, step):
    msg = fill_image(Image(), pixels, encoding)
    assert (msg.height, msg.width, msg.step, msg.encoding) == (2, 4, step, encoding)
    assert msg.is_bigendian == (np.little_endian is False)
    kind = {'rgb8': np.uint8, '32FC1': np.float32, '16UC1': np.uint16}[encoding]
    assert bytes(msg.data) == np.ascontiguousarray(pixels, kind).tobytes()


def test_fill_image_keeps_big_endian_and_refuses_wrong_channels():
    msg = fill_image(Image(), np.ones((2, 2), np.dtype('>f4')), '32FC1')
    assert msg.is_bigendian == 1
    assert bytes(msg.data)[:4] == np.array(1.0, '>f4').tobytes()
    with pytest.raises(ValueError, match='channels'):
        fill_image(Image(), np.zeros((2, 2, 3), np.uint8), 'mono8')


def test_floats_to_array_is_float32():
    buf = floats_to_array(np.array([0.5, 1.5]))
    assert buf.typecode == 'f' and list(buf) == [0.5, 1.5]
