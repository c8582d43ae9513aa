# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Message definitions for the bags: rosbags' typestore of the running distro plus the .msg files.

Standard types come from rosbags' copy of the running distro's definitions; any type it does
not know (the suite's own sage_interfaces types, or a robot's custom messages) is loaded from
the installed `share/<package>/msg/<Name>.msg` files, dependencies included, so every bag
carries the definitions a reader needs to decode it.
"""

import os
from pathlib import Path
import sys

from rosbags.typesys import get_types_from_msg, get_typestore, Stores
from rosbags.typesys.base import Nodetype


class UnknownTypeError(LookupError):
    """A message type with no definition in the typestore nor in any installed .msg file."""


def normalize_type(msgtype):
    """Return 'pkg/msg/Name' for 'pkg/msg/Name' or 'pkg/Name'; raise ValueError otherwise."""
    parts = msgtype.strip().split('/')
    if len(parts) == 2 and all(parts):
        return f'{parts[0]}/msg/{parts[1]}'
    if len(parts) == 3 and all(parts) and parts[1] == 'msg':
        return '/'.join(parts)
    raise ValueError(f'not a ROS 2 message type name: {msgtype!r} (expected pkg/msg/Name)')


def distro_store():
    """Return the rosbags store of $ROS_DISTRO (LATEST when unset or unknown to rosbags)."""
    distro = os.environ.get('ROS_DISTRO', '').upper()
    return getattr(Stores, f'ROS2_{distro}', Stores.LATEST) if distro else Stores.LATEST


def share_dirs(package):
    """Yield candidate share/<package> directories: the ament index, then this prefix."""
    try:
        from ament_index_python.packages import get_package_share_directory
        yield Path(get_package_share_directory(package))
    except (ImportError, LookupError, ValueError):
        pass
    for prefix in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) + [sys.prefix]:
        if prefix:
            yield Path(prefix) / 'share' / package


def find_msg_file(msgtype):
    """Return the installed .msg file of msgtype, or None."""
    package, _, name = normalize_type(msgtype).split('/')
    for share in share_dirs(package):
        path = share / 'msg' / f'{name}.msg'
        if path.is_file():
            return path
    return None


def _referenced_types(fields):
    for _, (node, detail) in fields:
        while node in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            (node, detail), _ = detail
        if node == Nodetype.NAME:
            yield detail


class MessageDefinitions:
    """Resolve message types to (msgdef text, RIHS01 hash) for rosbag2 connections."""

    def __init__(self, store=None):
        self.typestore = get_typestore(store or distro_store())

    def resolve(self, msgtype):
        """Make msgtype (and what it references) known; return its normalized name."""
        msgtype = normalize_type(msgtype)
        pending = [msgtype]
        found = {}
        while pending:
            name = pending.pop()
            if name in found or name in self.typestore.fielddefs:
                continue
            path = find_msg_file(name)
            if path is None:
                raise UnknownTypeError(
                    f"message type {name} is unknown: not in rosbags' {distro_store().value} "
                    f'typestore and no {name.split("/")[-1]}.msg installed under share/'
                    f'{name.split("/")[0]}/msg (is the package built and sourced?)')
            types = get_types_from_msg(path.read_text(), name)
            found.update(types)
            for _, fields in types.values():
                pending.extend(_referenced_types(fields))
        if found:
            self.typestore.register(found)
        return msgtype

    def definition(self, msgtype):
        """Return (msgdef, rihs01) of msgtype, resolving it first."""
        msgtype = self.resolve(msgtype)
        msgdef, _ = self.typestore.generate_msgdef(msgtype, ros_version=2)
        return msgdef, self.typestore.hash_rihs01(msgtype)
