# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Reading a serialized ROS message (CDR, as a bag stores it) at its offsets, without rosbags.

A recorded day is mostly a few message types whose layout is fixed; reading their fields at
their offsets with `struct` and `np.frombuffer` (zero copy) is several times cheaper than
deserialising every field into Python objects. Layout: a 4-byte encapsulation header
(00 01 little-endian, 00 00 big-endian), then the fields, each aligned to its size (at most
8) counted from the end of that header. A sequence is a uint32 count then its elements
(aligned to the element size when there is any); a string is a uint32 length that counts
its NUL, then the bytes.

Malformed bytes (a length running past the end, a string without its NUL) raise CdrError.
"""

import struct

import numpy as np

HEADER = 4
U32 = {'<': struct.Struct('<I'), '>': struct.Struct('>I')}
U32_PAIR = {'<': struct.Struct('<II'), '>': struct.Struct('>II')}
STAMP = {'<': struct.Struct('<iI'), '>': struct.Struct('>iI')}
F64 = {'<': np.dtype('<f8'), '>': np.dtype('>f8')}


class CdrError(ValueError):
    """Bytes that are not the CDR of the expected message."""


def byte_order(buf):
    """Return '<' or '>' of a CDR buffer's encapsulation header; CdrError if it has none."""
    if len(buf) < HEADER + 4 or buf[0] != 0 or buf[1] not in (0, 1):
        raise CdrError(f'not a CDR message ({len(buf)} bytes, header {bytes(buf[:4]).hex()})')
    return '<' if buf[1] == 1 else '>'


def align(pos, size):
    """Return pos moved up to a multiple of size (4 or 8) counted from the header's end."""
    return HEADER + ((pos - HEADER + size - 1) & -size)


def u32(buf, pos, order):
    """Return (uint32 at pos aligned to 4, position after it)."""
    pos = align(pos, 4)
    try:
        return U32[order].unpack_from(buf, pos)[0], pos + 4
    except struct.error:
        raise CdrError(f'the message ends at {len(buf)} bytes, inside a uint32 at {pos}') \
            from None


def string(buf, pos, order):
    """Return (str, position after it) of the CDR string at pos."""
    length, pos = u32(buf, pos, order)
    end = pos + length
    if length == 0 or end > len(buf) or buf[end - 1] != 0:
        raise CdrError(f'the string of {length} bytes at {pos} runs past the end of the '
                       f'{len(buf)}-byte message or has no NUL')
    try:
        return str(buf[pos:end - 1], 'utf-8'), end
    except UnicodeDecodeError as exc:
        raise CdrError(f'the string at {pos} is not UTF-8 ({exc})') from None


def strings(buf, pos, order):
    """Return (list of str, position after it) of a string[] at pos."""
    count, pos = u32(buf, pos, order)
    if count > len(buf):
        raise CdrError(f'a string[] of {count} at {pos} cannot fit the message')
    out = []
    for _ in range(count):
        text, pos = string(buf, pos, order)
        out.append(text)
    return out, pos


def float64s(buf, pos, order):
    """Return (read-only float64 view, position after it) of a float64[] at pos."""
    count, pos = u32(buf, pos, order)
    if count:
        pos = align(pos, 8)
    end = pos + 8 * count
    if end > len(buf):
        raise CdrError(f'a float64[] of {count} at {pos} runs past the end of the '
                       f'{len(buf)}-byte message')
    return np.frombuffer(buf, F64[order], count, pos), end


def header(buf, order):
    """Return (stamp ns, frame_id, position after the std_msgs/Header)."""
    try:
        sec, nanosec = STAMP[order].unpack_from(buf, HEADER)
    except struct.error:
        raise CdrError(f'the message ends at {len(buf)} bytes, inside its header') from None
    frame_id, pos = string(buf, HEADER + 8, order)
    return sec * 1_000_000_000 + nanosec, frame_id, pos


class Float64Array:
    """The `data` of a std_msgs/Float64MultiArray read from CDR (the layout is skipped)."""

    __slots__ = ('data',)

    def __init__(self, data):
        self.data = data


def float64_multi_array(raw):
    """Return the Float64Array of a serialized std_msgs/Float64MultiArray."""
    buf = memoryview(raw)
    order = byte_order(buf)
    dims, pos = u32(buf, HEADER, order)
    if dims > len(buf):
        raise CdrError(f'a layout of {dims} dimensions cannot fit the message')
    for _ in range(dims):  # MultiArrayDimension: label, size, stride
        _, pos = string(buf, pos, order)
        pos = align(pos, 4) + 8
    _, pos = u32(buf, pos, order)  # data_offset
    data, _ = float64s(buf, pos, order)
    return Float64Array(data)
