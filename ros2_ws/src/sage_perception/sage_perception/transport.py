# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The Fast DDS settings that carry camera-sized samples fast between local processes.

With ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST (how SAGE keeps DDS on loopback),
rmw_fastrtps replaces the builtin transports, so FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA has no
effect, and its shared-memory segment (512 KB) is too small for a 640x480 image: images go as
fragmented UDP. `config/fastdds_shm.xml` adds a 32 MB shared-memory transport; every process
of the graph must load it (FASTDDS_DEFAULT_PROFILES_FILE) for its samples to use it.
"""

import os
from pathlib import Path

PROFILE_ENV = 'FASTDDS_DEFAULT_PROFILES_FILE'
PROFILE_FILE = 'fastdds_shm.xml'


def fastdds_profile_path():
    """Return the installed path of the large shared-memory Fast DDS profile."""
    try:
        from ament_index_python.packages import get_package_share_directory

        path = Path(get_package_share_directory('sage_perception')) / 'config' / PROFILE_FILE
    except (ImportError, LookupError):
        path = Path(__file__).resolve().parents[1] / 'config' / PROFILE_FILE
    if not path.is_file():
        raise FileNotFoundError(f'Fast DDS profile {path} is missing (run make setup)')
    return path


def with_large_sample_transport(env=None):
    """Return a copy of env (default os.environ) that loads the profile, unless one is set."""
    env = dict(os.environ if env is None else env)
    env.setdefault(PROFILE_ENV, str(fastdds_profile_path()))
    return env
