# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
sensor_msgs Image and JointState -> numpy, without ROS-only helpers (no cv_bridge).

Decoding is zero-copy where the layout allows it (`np.frombuffer` over `msg.data`, strided
for row padding). Bad input raises DecodeError whose `reason` is a short counter key. Images
are filled from numpy by sage_common.messages.fill_image.
"""

import numpy as np
from sage_common.messages import COLOR_ENCODINGS, DEPTH_ENCODINGS, ENCODINGS

MAX_SIDE = 16384


class DecodeError(ValueError):
    """Bad input: `reason` is the counter key, the message says what was wrong."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


def image_to_array(msg, allowed=ENCODINGS):
    """
    Return the image as an (H, W) or (H, W, C) numpy view of msg.data.

    The result aliases the message buffer (read only) whenever the byte order is native;
    big-endian multi-byte data is byte-swapped into a new array.
    """
    encoding = msg.encoding
    if encoding not in allowed:
        raise DecodeError('unsupported_encoding',
                          f'encoding {encoding!r} not in {sorted(allowed)}')
    channels, kind = allowed[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE):
        raise DecodeError('size_mismatch', f'bad image size {width}x{height}')
    itemsize = np.dtype(kind).itemsize
    row_bytes = width * channels * itemsize
    if step < row_bytes:
        raise DecodeError('size_mismatch',
                          f'step {step} < width*channels*itemsize {row_bytes} ({encoding})')
    if step % itemsize:
        raise DecodeError('size_mismatch', f'step {step} not a multiple of {itemsize}')
    data = msg.data
    size = len(data)
    if size < step * height:
        raise DecodeError('truncated', f'{size} bytes < step*height {step * height}')
    if size > step * height:
        raise DecodeError('size_mismatch', f'{size} bytes > step*height {step * height}')
    dtype = np.dtype(('>' if msg.is_bigendian else '<') + kind)
    # A strided view over the message buffer: skips row padding without copying.
    image = np.ndarray((height, width * channels), dtype=dtype, buffer=data,
                       strides=(step, itemsize))
    if channels > 1:
        image = image.reshape(height, width, channels)
    if dtype.byteorder not in ('=', '|', _native()):
        image = image.astype(dtype.newbyteorder('='))
    return image


def _native():
    return '<' if np.little_endian else '>'


def color_to_rgb(image, encoding):
    """Return an (H, W, 3) uint8 RGB view or copy of a decoded colour image."""
    if encoding == 'rgb8':
        return image
    if encoding == 'bgr8':
        return image[:, :, ::-1]
    if encoding == 'rgba8':
        return image[:, :, :3]
    if encoding == 'bgra8':
        return image[:, :, 2::-1]
    if encoding == 'mono8':
        return np.repeat(image[:, :, None], 3, axis=2)
    raise DecodeError('unsupported_encoding', f'{encoding!r} is not a colour encoding')


def depth_to_metres(image, encoding):
    """Return an (H, W) float32 depth in metres; 0 mm and non-finite values become NaN."""
    if encoding == '16UC1':
        metres = image.astype(np.float32) * np.float32(1e-3)
        metres[image == 0] = np.nan
        return metres
    if encoding == '32FC1':
        return image.astype(np.float32, copy=False)
    raise DecodeError('unsupported_encoding', f'{encoding!r} is not a depth encoding')


def decode_color(msg):
    """Return the (H, W, 3) uint8 RGB image of a colour Image message."""
    return color_to_rgb(image_to_array(msg, COLOR_ENCODINGS), msg.encoding)


def decode_depth(msg):
    """Return the (H, W) float32 depth in metres of a 16UC1 or 32FC1 Image message."""
    return depth_to_metres(image_to_array(msg, DEPTH_ENCODINGS), msg.encoding)


class JointOrder:
    """
    Maps JointState messages, names in any order or a subset, into a fixed joint order.

    Keeps the latest value of every configured joint; `update(msg)` returns (positions,
    velocities, efforts) in the configured order once every joint has been seen, else None.
    Missing velocity/effort arrays (allowed by JointState) read as zeros.
    """

    def __init__(self, joint_names, allow_extra=False):
        if not joint_names or len(set(joint_names)) != len(joint_names):
            raise ValueError(f'joint_names must be unique and non-empty: {joint_names}')
        self.joint_names = list(joint_names)
        self.index = {name: i for i, name in enumerate(self.joint_names)}
        self.allow_extra = allow_extra
        n = len(self.joint_names)
        self._values = np.zeros((3, n), dtype=np.float64)
        self._seen = np.zeros(n, dtype=bool)

    def update(self, msg):
        """Merge one JointState; raise DecodeError on bad input (nothing is merged then)."""
        names = list(msg.name)
        n = len(names)
        if n == 0:
            raise DecodeError('joint_size_mismatch', 'JointState without names')
        if len(set(names)) != n:
            raise DecodeError('joint_size_mismatch', f'duplicate joint names {names}')
        fields = []
        for label, values in (('position', msg.position), ('velocity', msg.velocity),
                              ('effort', msg.effort)):
            values = np.asarray(values, dtype=np.float64)
            if values.size not in (0, n) or (label == 'position' and values.size != n):
                raise DecodeError('joint_size_mismatch',
                                  f'{n} names but {values.size} {label} values')
            if values.size and not np.all(np.isfinite(values)):
                raise DecodeError('joint_not_finite', f'non-finite {label}: {values.tolist()}')
            fields.append(values)
        known = [self.index.get(name) for name in names]
        unknown = [name for name, i in zip(names, known) if i is None]
        if unknown and (not self.allow_extra or len(unknown) == n):
            raise DecodeError('unknown_joint_names',
                              f'{unknown} not in configured joints {self.joint_names}')
        rows = [j for j, i in enumerate(known) if i is not None]
        cols = [known[j] for j in rows]
        for k, values in enumerate(fields):
            self._values[k, cols] = values[rows] if values.size else 0.0
        self._seen[cols] = True
        return self.current()

    def current(self):
        """Return (positions, velocities, efforts) copies, or None until all joints are seen."""
        if not self._seen.all():
            return None
        return self._values[0].copy(), self._values[1].copy(), self._values[2].copy()
