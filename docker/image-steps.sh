#!/usr/bin/env bash
# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
#
# The build steps both Dockerfiles share.
#
#   image-steps.sh create-user UID GID [GROUP ...]
#       the non-root user 'sage' with that UID/GID; a user or group the base image already has
#       with those ids gives way (Ubuntu 24.04 images ship 'ubuntu' as 1000). It joins each
#       GROUP the image has (e.g. video and render: the GPU device nodes belong to them).
#   image-steps.sh build-workspace VENV
#       colcon build of ros2_ws as scripts/setup.sh builds it, without --symlink-install (an
#       image keeps only the install tree), with VENV's python; build and log trees removed.
set -euo pipefail

create_user() {
  local uid="$1" gid="$2" existing group
  shift 2
  existing="$(getent passwd "${uid}" | cut -d: -f1)"
  if [ -n "${existing}" ]; then userdel "${existing}"; fi
  existing="$(getent group "${gid}" | cut -d: -f1)"
  if [ -n "${existing}" ]; then groupdel "${existing}"; fi
  groupadd --gid "${gid}" sage
  useradd --uid "${uid}" --gid "${gid}" --create-home --shell /bin/bash sage
  for group in "$@"; do
    if getent group "${group}" >/dev/null; then usermod -aG "${group}" sage; fi
  done
}

build_workspace() {
  local venv="$1"
  SAGE_ENTRYPOINT_NO_WORKSPACE=1 sage-entrypoint \
    python -m colcon --log-base ros2_ws/log build \
    --base-paths ros2_ws/src --build-base ros2_ws/build --install-base ros2_ws/install \
    --event-handlers console_direct- console_stderr+ summary+ \
    --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="${venv}/bin/python"
  test -f ros2_ws/install/setup.bash
  rm -rf ros2_ws/build ros2_ws/log
}

case "${1:-}" in
  create-user)
    [ "$#" -ge 3 ] || { echo "usage: $0 create-user UID GID [GROUP ...]" >&2; exit 2; }
    shift; create_user "$@" ;;
  build-workspace)
    [ "$#" -eq 2 ] || { echo "usage: $0 build-workspace VENV" >&2; exit 2; }
    build_workspace "$2" ;;
  *)
    echo "usage: $0 create-user UID GID [GROUP ...] | build-workspace VENV" >&2; exit 2 ;;
esac
