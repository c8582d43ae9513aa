# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Building /diagnostics messages from plain dictionaries."""

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

OK = DiagnosticStatus.OK
WARN = DiagnosticStatus.WARN
ERROR = DiagnosticStatus.ERROR
STALE = DiagnosticStatus.STALE


def _fmt(value):
    if isinstance(value, float):
        return f'{value:.3f}'
    return str(value)


def make_status(name, hardware_id, level, message, values):
    """Return a DiagnosticStatus with values (a dict) as sorted key/value pairs."""
    status = DiagnosticStatus()
    status.name = name
    status.hardware_id = hardware_id
    status.level = level
    status.message = message
    status.values = [KeyValue(key=str(k), value=_fmt(v)) for k, v in sorted(values.items())]
    return status


def make_array(stamp, statuses):
    """Return a DiagnosticArray stamped stamp holding statuses."""
    array = DiagnosticArray()
    array.header.stamp = stamp
    array.status = list(statuses)
    return array


def status_values(status):
    """Return the key/value pairs of a DiagnosticStatus as a dict (for tests and tools)."""
    return {kv.key: kv.value for kv in status.values}
