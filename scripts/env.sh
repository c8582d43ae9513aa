# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
# Source me: the venv, the built workspace and the DDS settings SAGE runs with.
#   source scripts/env.sh
_sage_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=paths.sh
source "$_sage_root/scripts/paths.sh" || return 1 2>/dev/null || exit 1
if [ ! -f "$_sage_install/setup.bash" ]; then
  echo "SAGE is not set up: run 'make setup' first (${SAGE_ROS_DISTRO:+SAGE_ROS_DISTRO=$SAGE_ROS_DISTRO })" >&2
  return 1 2>/dev/null || exit 1
fi
# shellcheck disable=SC1091
source "$_sage_venv/bin/activate"
# shellcheck disable=SC1091
source "$_sage_install/setup.bash"
export SAGE_ROOT="$_sage_root"
# The wheels do not set ROS_DISTRO the way a sourced distro does.
if [ -n "${SAGE_ROS_DISTRO:-}" ]; then export ROS_DISTRO="$SAGE_ROS_DISTRO"; fi
# The packages' console scripts (sage_models, sage_train, sage_supervisor, ...) by name, as
# `ros2 run <pkg> <name>` would find them.
for _sage_bin in "$_sage_install"/*/lib/sage_*/; do
  case ":$PATH:" in *":${_sage_bin%/}:"*) ;; *) PATH="${_sage_bin%/}:$PATH" ;; esac
done
export PATH
unset _sage_bin
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
# DDS stays on this machine unless the caller says otherwise (a robot talking to a workstation).
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
case "${ROS_DISTRO:-kilted}" in
  humble|iron) export ROS_LOCALHOST_ONLY="${ROS_LOCALHOST_ONLY:-1}" ;;
esac
# Camera-sized samples through a 32 MB shared-memory segment: with LOCALHOST discovery
# rmw_fastrtps ignores FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA and its default 512 KB segment
# sends a 640x480 image as fragmented UDP (~13 ms); with this profile it takes ~2.5 ms.
export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$_sage_install/sage_perception/share/sage_perception/config/fastdds_shm.xml}"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
unset _sage_root _sage_venv _sage_build _sage_install _sage_log
