# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""QoS profiles used across the suite, chosen by name from a parameter."""

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy


def sensor_qos(depth=5):
    """Best effort, keep last: what camera and joint drivers publish with (SensorDataQoS)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def reliable_qos(depth=10):
    """Reliable, keep last: the suite's own streams, where a subscriber loses nothing."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def latched_qos(depth=1):
    """Reliable, transient local: state a late joiner must still get (e-stop, status)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


PROFILES = {'sensor': sensor_qos, 'reliable': reliable_qos, 'latched': latched_qos}


def qos_from_name(name, depth=None):
    """Return the profile called name ('sensor', 'reliable' or 'latched')."""
    try:
        factory = PROFILES[name]
    except KeyError:
        raise ValueError(f'unknown QoS profile {name!r}; expected one of {sorted(PROFILES)}')
    return factory() if depth is None else factory(depth)
