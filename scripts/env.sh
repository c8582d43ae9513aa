# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
# Source me: the venv, the built workspace and the DDS settings SAGE runs with.
#   source scripts/env.sh
_sage_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_sage_venv="${SAGE_VENV:-$_sage_root/.venv}"
if [ ! -f "$_sage_root/ros2_ws/install/setup.bash" ]; then
  echo "SAGE is not set up: run 'make setup' first" >&2
  return 1 2>/dev/null || exit 1
fi
# shellcheck disable=SC1091
source "$_sage_venv/bin/activate"
# shellcheck disable=SC1091
source "$_sage_root/ros2_ws/install/setup.bash"
export SAGE_ROOT="$_sage_root"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
# DDS stays on this machine unless the caller says otherwise (a robot talking to a workstation).
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
case "${ROS_DISTRO:-kilted}" in
  humble|iron) export ROS_LOCALHOST_ONLY="${ROS_LOCALHOST_ONLY:-1}" ;;
esac
# Shared memory + TCP on loopback for large samples: images arrive in ~2.5 ms instead of ~13 ms
# (DESIGN.md, "Facts measured").
export FASTDDS_BUILTIN_TRANSPORTS="${FASTDDS_BUILTIN_TRANSPORTS:-LARGE_DATA}"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
unset _sage_root _sage_venv
