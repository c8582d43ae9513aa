# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Message fields <-> Python: stamps and seconds; arrays and images from numpy (no ROS)."""

import array
import math
import sys

import numpy as np

# sensor_msgs/Image encoding -> (channels, numpy dtype without byte order)
COLOR_ENCODINGS = {
    'rgb8': (3, 'u1'), 'bgr8': (3, 'u1'), 'rgba8': (4, 'u1'), 'bgra8': (4, 'u1'),
    'mono8': (1, 'u1'),
}
DEPTH_ENCODINGS = {'16UC1': (1, 'u2'), '32FC1': (1, 'f4')}
ENCODINGS = {**COLOR_ENCODINGS, **DEPTH_ENCODINGS}


def stamp_to_sec(stamp):
    """Return a builtin_interfaces Time as float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def stamp_to_ns(stamp):
    """Return a builtin_interfaces Time as integer nanoseconds."""
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def sec_to_stamp(seconds, stamp):
    """Fill a builtin_interfaces Time from float seconds and return it."""
    frac, whole = math.modf(seconds)
    stamp.sec = int(whole)
    stamp.nanosec = int(round(frac * 1e9)) % 1000000000
    return stamp


def fill_image(msg, image, encoding):
    """
    Fill a sensor_msgs Image's size fields and data from a numpy image; return msg.

    The image is converted to the encoding's dtype if needed (a big-endian one stays
    big-endian) and copied once through the array.array fast path, never element by element.
    """
    channels, kind = ENCODINGS[encoding]
    image = np.asarray(image)
    if image.dtype.newbyteorder('=') != np.dtype(kind):
        image = image.astype(kind)
    image = np.ascontiguousarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] != channels:
        raise ValueError(f'{encoding} needs {channels} channels, got shape {image.shape}')
    height, width = image.shape[:2]
    msg.height, msg.width = int(height), int(width)
    msg.encoding = encoding
    order = image.dtype.byteorder
    msg.is_bigendian = int(order == '>' or (order == '=' and sys.byteorder == 'big'))
    msg.step = int(width * channels * image.dtype.itemsize)
    data = array.array('B')  # what a uint8[] field takes without per-element checks
    data.frombytes(image.reshape(-1).view(np.uint8))
    msg.data = data
    return msg


def floats_to_array(values):
    """Return an array.array('f') of a float vector (what a float32[] field takes unchecked)."""
    buf = array.array('f')
    buf.frombytes(np.ascontiguousarray(values, dtype=np.float32).tobytes())
    return buf
