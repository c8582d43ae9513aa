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
`joint_state_from_cdr(raw)` does the same for sensor_msgs/JointState (the arrays are views).
"""

import struct

import numpy as np
from sage_common import cdr
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
    try:
        order = cdr.byte_order(buf)
    except cdr.CdrError as exc:
        raise DecodeError('malformed', f'Image: {exc}') from None
    try:
        stamp_ns, frame_id, pos = cdr.header(buf, order)
        pos = cdr.align(pos, 4)
        height, width = cdr.U32_PAIR[order].unpack_from(buf, pos)
        encoding, pos = cdr.string(buf, pos + 8, order)
        is_bigendian = buf[pos]
        pos = cdr.align(pos + 1, 4)
        step, size = cdr.U32_PAIR[order].unpack_from(buf, pos)
    except cdr.CdrError as exc:
        raise DecodeError('truncated', f'Image: {exc}') from None
    except (struct.error, IndexError):
        raise DecodeError('truncated', f'Image CDR ends inside its header ({total} bytes)') \
            from None
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
    return CdrImage(stamp_ns, frame_id, height, width, encoding, bool(is_bigendian), step,
                    data)


class CdrJointState:
    """The fields of a sensor_msgs/JointState read from CDR; the arrays view the buffer."""

    __slots__ = ('stamp_ns', 'frame_id', 'name', 'position', 'velocity', 'effort')

    def __init__(self, stamp_ns, frame_id, name, position, velocity, effort):
        self.stamp_ns = stamp_ns
        self.frame_id = frame_id
        self.name = name
        self.position = position
        self.velocity = velocity
        self.effort = effort


class _JointLayout:
    """Where the arrays of one JointState layout are: messages of a topic share it."""

    __slots__ = ('size', 'head', 'names_end', 'tail', 'frame_id', 'names', 'arrays')

    def __init__(self, raw, names_end, frame_id, names, arrays):
        self.size, self.head, self.names_end = len(raw), bytes(raw[:4]), names_end
        self.tail = bytes(raw[cdr.HEADER + 8:names_end])
        self.frame_id, self.names = frame_id, names
        self.arrays = arrays  # ((count, where the count is, where the doubles start), ...)

    def matches(self, raw, u32):
        return (len(raw) == self.size and raw[:4] == self.head
                and raw[cdr.HEADER + 8:self.names_end] == self.tail
                and all(u32.unpack_from(raw, at)[0] == n for n, at, _ in self.arrays))


_joint_layout = None  # the last JointState layout read (per process)


def joint_state_from_cdr(raw):
    """
    Return the CdrJointState of one serialized sensor_msgs/JointState.

    Layout: header, name string[], then position, velocity, effort float64[] (each a uint32
    count, then, when not empty, 8-aligned doubles). Bytes past effort are allowed (rmw
    pads). Raises DecodeError('malformed') when a count or string runs past the buffer.
    A message of the same size whose encapsulation, frame_id, names and array lengths are
    those of the previous one has its arrays at the same offsets: only the stamp is read.
    """
    global _joint_layout
    layout = _joint_layout
    order = '<' if len(raw) > 1 and raw[1] == 1 else '>'
    if layout is not None and layout.matches(raw, cdr.U32[order]):
        sec, nanosec = cdr.STAMP[order].unpack_from(raw, cdr.HEADER)
        dtype = cdr.F64[order]
        return CdrJointState(sec * 1_000_000_000 + nanosec, layout.frame_id, list(layout.names),
                             *(np.frombuffer(raw, dtype, n, at) for n, _, at in layout.arrays))
    buf = memoryview(raw)
    try:
        order = cdr.byte_order(buf)
        stamp_ns, frame_id, pos = cdr.header(buf, order)
        names, names_end = cdr.strings(buf, pos, order)
        values, arrays, pos = [], [], names_end
        for _ in range(3):
            at = cdr.align(pos, 4)
            array, pos = cdr.float64s(buf, pos, order)
            values.append(array)
            arrays.append((array.size, at, pos - 8 * array.size))
    except cdr.CdrError as exc:
        raise DecodeError('malformed', f'JointState: {exc}') from None
    _joint_layout = _JointLayout(buf, names_end, frame_id, names, tuple(arrays))
    return CdrJointState(stamp_ns, frame_id, list(names), *values)


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
