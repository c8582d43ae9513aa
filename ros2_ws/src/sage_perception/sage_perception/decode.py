# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
sensor_msgs Image and JointState -> numpy, without ROS-only helpers (no cv_bridge).

Decoding is zero-copy where the layout allows it (`np.frombuffer` over `msg.data`, strided
for row padding). Bad input raises DecodeError whose `reason` is a short counter key. Images
are filled from numpy by sage_common.messages.fill_image.

`image_from_cdr(raw)` reads a serialized sensor_msgs/Image (a recorded bag's bytes) straight
from its CDR layout, without deserialising it field by field: the header, size and encoding
are unpacked at their offsets and the pixels are a zero-copy view of the buffer. The result
(`CdrImage`) has the message's attributes, so decode_color/decode_depth take it like a message.
"""

import struct

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


class CdrImage:
    """The fields of a sensor_msgs/Image read from CDR; `data` is a uint8 view of the buffer."""

    __slots__ = ('stamp_ns', 'frame_id', 'height', 'width', 'encoding', 'is_bigendian',
                 'step', 'data')

    def __init__(self, stamp_ns, frame_id, height, width, encoding, is_bigendian, step, data):
        self.stamp_ns = stamp_ns
        self.frame_id = frame_id
        self.height = height
        self.width = width
        self.encoding = encoding
        self.is_bigendian = is_bigendian
        self.step = step
        self.data = data

    def __repr__(self):
        return (f'CdrImage({self.width}x{self.height} {self.encoding} step {self.step}, '
                f'stamp {self.stamp_ns} ns)')


_U32 = {'<': struct.Struct('<I'), '>': struct.Struct('>I')}
_STAMP = {'<': struct.Struct('<iI'), '>': struct.Struct('>iI')}
_SIZE = {'<': struct.Struct('<II'), '>': struct.Struct('>II')}
_HEADER = 4  # the CDR encapsulation header; alignment counts from its end


def image_from_cdr(raw, allowed=ENCODINGS):
    """
    Return the CdrImage of one serialized sensor_msgs/Image (CDR, either byte order).

    Layout after the 4-byte encapsulation header (alignment relative to its end): stamp sec
    int32, nanosec uint32; frame_id string (uint32 length with the NUL, bytes, align 4);
    height, width uint32; encoding string; is_bigendian uint8; align 4; step uint32; data
    sequence<uint8> (uint32 length, bytes). Raises DecodeError, never returns garbage: an
    unknown encoding, data whose length is not height*step, a step shorter than a row of
    width pixels, a string or sequence running past the buffer.
    """
    buf = memoryview(raw)
    total = len(buf)
    if total < _HEADER + 8 or buf[0] != 0 or buf[1] not in (0, 1):
        raise DecodeError('malformed', f'not a CDR message ({total} bytes, header '
                          f'{bytes(buf[:4]).hex()})')
    order = '<' if buf[1] == 1 else '>'
    u32 = _U32[order]
    sec, nanosec = _STAMP[order].unpack_from(buf, _HEADER)
    pos = _HEADER + 8
    try:
        frame_id, pos = _cdr_string(buf, pos, u32)
        pos = _align4(pos)
        height, width = _SIZE[order].unpack_from(buf, pos)
        encoding, pos = _cdr_string(buf, pos + 8, u32)
        is_bigendian = buf[pos]
        pos = _align4(pos + 1)
        step, size = _SIZE[order].unpack_from(buf, pos)
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise DecodeError('truncated', f'Image CDR ends inside its header ({total} bytes: '
                          f'{exc})') from None
    pos += 8
    if encoding not in allowed:
        raise DecodeError('unsupported_encoding',
                          f'encoding {encoding!r} not in {sorted(allowed)}')
    if pos + size > total:
        raise DecodeError('truncated', f'data of {size} bytes runs past the end of the '
                          f'{total}-byte message')
    channels, kind = allowed[encoding]
    row_bytes = width * channels * np.dtype(kind).itemsize
    if size != height * step or step < row_bytes:
        raise DecodeError('size_mismatch', f'{width}x{height} {encoding} step {step}: data '
                          f'{size} bytes, expected height*step {height * step} and step >= '
                          f'{row_bytes}')
    data = np.frombuffer(buf, np.uint8, size, pos)
    return CdrImage(sec * 1_000_000_000 + nanosec, frame_id, height, width, encoding,
                    bool(is_bigendian), step, data)


def _cdr_string(buf, pos, u32):
    """Return (str, position after it) of the CDR string at pos (4-aligned length)."""
    pos = _align4(pos)
    (length,) = u32.unpack_from(buf, pos)
    pos += 4
    end = pos + length
    if length == 0 or end > len(buf) or buf[end - 1] != 0:
        raise IndexError(f'string of {length} bytes at {pos} is malformed')
    return str(buf[pos:end - 1], 'utf-8'), end


def _align4(pos):
    return _HEADER + ((pos - _HEADER + 3) & ~3)


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
