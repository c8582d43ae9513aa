# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""What a recorded topic is: its 'topic type qos' entry, its Python class and its bag QoS."""

import importlib

from rclpy.qos import DurabilityPolicy, ReliabilityPolicy
from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness,
                                QosReliability, QosTime)
from sage_common.qos import qos_from_name

from .msgdefs import normalize_type


def parse_topic_entry(entry):
    """Return (topic, type or 'auto', qos name) of a 'topic type qos' entry."""
    parts = entry.split()
    if len(parts) == 2:
        parts.append('reliable')
    if len(parts) != 3 or not parts[0].startswith('/'):
        raise ValueError(f'topics entry {entry!r} is not "/topic pkg/msg/Type qos"')
    qos_from_name(parts[2])  # validates the name
    return parts[0], parts[1], parts[2]


def message_class(msgtype):
    """
    Return the installed Python class of pkg/msg/Name (or pkg/Name).

    ImportError names the missing type and the fix (source the workspace that defines it).
    """
    package, _, name = normalize_type(msgtype).split('/')
    try:
        return getattr(importlib.import_module(f'{package}.msg'), name)
    except (ImportError, AttributeError):
        raise ImportError(f'message type {msgtype} is not installed here (no Python package '
                          f'{package}.msg with {name}); source the workspace that defines it') \
            from None


def bag_qos(profile):
    """Return the rosbags Qos describing an rclpy QoSProfile (for offered_qos_profiles)."""
    never = QosTime(0x7FFFFFFF, 0xFFFFFFFF)
    return Qos(QosHistory.KEEP_LAST, profile.depth,
               QosReliability.RELIABLE if profile.reliability == ReliabilityPolicy.RELIABLE
               else QosReliability.BEST_EFFORT,
               QosDurability.TRANSIENT_LOCAL
               if profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
               else QosDurability.VOLATILE,
               never, never, QosLiveliness.AUTOMATIC, never, False)
