#!/usr/bin/env bash
# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
#
# Entrypoint of the SAGE images: source ROS 2 and the SAGE workspace, then run the command.
#
#   sage-entrypoint ros2 launch launch/sage.launch.py robot:=hardware
#   sage-entrypoint sage_train --bags /opt/sage/bags --models /opt/sage/models
#
# The distro's setup script is $ROS_ROOT/setup.bash (official images, apt) or
# $ROS_ROOT/install/setup.bash (jetson-containers images, which build ROS from source and set
# ROS_ROOT); ROS_ROOT defaults to /opt/ros/$ROS_DISTRO. The packages' console scripts
# (sage_train, sage_models, ...) go on PATH, as scripts/env.sh does outside the container.
set -e

fail() {
  echo "sage-entrypoint: error: $*" >&2
  exit 1
}

[ -n "${ROS_DISTRO:-}" ] || fail "ROS_DISTRO is not set: build the image on a ROS 2 base image"
ros_root="${ROS_ROOT:-/opt/ros/$ROS_DISTRO}"
ros_setup=""
for candidate in "$ros_root/setup.bash" "$ros_root/install/setup.bash"; do
  if [ -f "$candidate" ]; then
    ros_setup="$candidate"
    break
  fi
done
[ -n "$ros_setup" ] || fail "no setup.bash for ROS 2 $ROS_DISTRO in $ros_root or $ros_root/install"
# The setup scripts read unset variables: sourced without `set -u`.
# shellcheck disable=SC1090
source "$ros_setup"

export SAGE_ROOT="${SAGE_ROOT:-/opt/sage}"
ws_setup="$SAGE_ROOT/ros2_ws/install/setup.bash"
if [ -f "$ws_setup" ]; then
  # shellcheck disable=SC1090
  source "$ws_setup"
  for bin in "$SAGE_ROOT"/ros2_ws/install/*/lib/sage_*/; do
    if [ -d "$bin" ]; then PATH="${bin%/}:$PATH"; fi
  done
elif [ "${SAGE_ENTRYPOINT_NO_WORKSPACE:-0}" != 1 ]; then
  # Only the image build itself (colcon build) runs without a built workspace.
  fail "the SAGE workspace is not built: $ws_setup is missing"
fi

# CUDA/cuDNN from NVIDIA's pip wheels (EXTRA_PIP_PACKAGES of the x86 image), if any, for
# onnxruntime-gpu on a base image without a CUDA toolkit.
if [ -n "${SAGE_VENV:-}" ]; then
  for lib in "$SAGE_VENV"/lib/python3*/site-packages/nvidia/*/lib; do
    if [ -d "$lib" ]; then
      export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi
  done
fi
export PATH

[ "$#" -gt 0 ] || fail "no command given"
exec "$@"
