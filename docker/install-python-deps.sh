#!/usr/bin/env bash
# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
#
# Install SAGE's Python dependencies into the image's venv (both Dockerfiles run this).
#
#   install-python-deps.sh REQUIREMENTS_DIR
#
# requirements/python.txt holds the pins (scripts/setup.sh installs the same file). torch and
# onnxruntime are taken out of it and installed from where the image needs them instead:
#
#   SAGE_VENV              the venv to create or reuse (it sees the ROS distro's packages,
#                          as scripts/setup.sh's venv does where a distro is sourced)
#   TORCH_INDEX_URL        the index torch comes from (required): PyTorch's CPU index on x86,
#                          NVIDIA's Jetson wheel index on a Jetson
#   TORCH_VERSION          '' = the torch pin of python.txt; 'latest' = the newest the index
#                          has; else that version
#   ONNXRUNTIME_PACKAGE    onnxruntime (CPU) or onnxruntime-gpu (CUDA, TensorRT where built in)
#   ONNXRUNTIME_INDEX_URL  '' = pip's configured index
#   ONNXRUNTIME_VERSION    '' = the onnxruntime pin of python.txt; 'latest'; or a version
#   EXTRA_PIP_PACKAGES     more requirement specifiers, space separated (e.g. NVIDIA's CUDA
#                          runtime wheels for onnxruntime-gpu on a base without CUDA)
#   REQUIRE_CUDA_TORCH     1 = fail unless the installed torch was built with CUDA (Jetson)
#   IMPORT_CHECK           1 = import torch and onnxruntime at the end (where importing needs
#                          no GPU driver: x86)
#
# On Humble, requirements/constraints-humble.txt applies (numpy < 2), as in scripts/setup.sh.
set -euo pipefail

fail() {
  echo "install-python-deps: error: $*" >&2
  exit 1
}

req_dir="${1:-}"
[ -n "$req_dir" ] || fail "usage: install-python-deps.sh REQUIREMENTS_DIR"
python_txt="$req_dir/python.txt"
[ -f "$python_txt" ] || fail "$python_txt not found"
[ -n "${SAGE_VENV:-}" ] || fail "SAGE_VENV is not set"
[ -n "${TORCH_INDEX_URL:-}" ] || fail "TORCH_INDEX_URL is not set (the index torch comes from)"
ONNXRUNTIME_PACKAGE="${ONNXRUNTIME_PACKAGE:-onnxruntime}"
case "$ONNXRUNTIME_PACKAGE" in
  onnxruntime | onnxruntime-gpu) ;;
  *) fail "ONNXRUNTIME_PACKAGE must be onnxruntime or onnxruntime-gpu, not '$ONNXRUNTIME_PACKAGE'" ;;
esac

# The requirement specifier for package $1 from version argument $2 (python.txt's pin of $1
# when empty).
spec() {
  local name="$1" version="$2" pinned
  case "$version" in
    latest) printf '%s\n' "$name" ;;
    '')
      pinned="$(sed -n "s/^$name==\([^[:space:]#;]*\).*/\1/p" "$python_txt" | head -n 1)"
      [ -n "$pinned" ] || fail "no '$name==' pin in $python_txt"
      printf '%s==%s\n' "$name" "$pinned"
      ;;
    *) printf '%s==%s\n' "$name" "$version" ;;
  esac
}
torch_spec="$(spec torch "${TORCH_VERSION:-}")"
ort_spec="$(spec onnxruntime "${ONNXRUNTIME_VERSION:-}")"
ort_spec="$ONNXRUNTIME_PACKAGE${ort_spec#onnxruntime}"

if [ ! -x "$SAGE_VENV/bin/python" ]; then
  # --system-site-packages: rclpy, the message packages and colcon come from the distro.
  # Without ensurepip (no python3-venv package, as on some Jetson images) the venv uses the
  # system's pip, which installs into the venv all the same.
  python3 -m venv --system-site-packages "$SAGE_VENV" 2>/dev/null \
    || python3 -m venv --system-site-packages --without-pip "$SAGE_VENV"
fi
py="$SAGE_VENV/bin/python"
"$py" -m pip --version >/dev/null 2>&1 || fail "no pip for $py (install python3-pip)"

constraints=()
if [ "${ROS_DISTRO:-}" = humble ]; then
  constraints=(-c "$req_dir/constraints-humble.txt")
fi
pip_install=("$py" -m pip install --no-cache-dir --disable-pip-version-check "${constraints[@]}")

echo "install-python-deps: $torch_spec from $TORCH_INDEX_URL"
"${pip_install[@]}" --index-url "$TORCH_INDEX_URL" "$torch_spec"

ort_index=()
if [ -n "${ONNXRUNTIME_INDEX_URL:-}" ]; then
  ort_index=(--index-url "$ONNXRUNTIME_INDEX_URL")
fi
echo "install-python-deps: $ort_spec from ${ONNXRUNTIME_INDEX_URL:-the default index}"
"${pip_install[@]}" "${ort_index[@]}" "$ort_spec"

# The rest of python.txt: every line but the torch and onnxruntime pins.
rest="$(mktemp)"
grep -vE '^[[:space:]]*(torch|onnxruntime)[[:space:]]*([=<>!~;[]|$)' "$python_txt" > "$rest"
extra=()
if [ -n "${EXTRA_PIP_PACKAGES:-}" ]; then
  read -r -a extra <<< "$EXTRA_PIP_PACKAGES"
fi
"${pip_install[@]}" -r "$rest" "${extra[@]}"
rm -f "$rest"

# What was installed is what was asked for: one ONNX Runtime build (both would share the
# onnxruntime module), a CUDA torch where one is required. Read from the installed files, so
# this also runs where importing needs a GPU driver the build does not have.
REQUIRE_CUDA_TORCH="${REQUIRE_CUDA_TORCH:-0}" IMPORT_CHECK="${IMPORT_CHECK:-0}" \
ONNXRUNTIME_PACKAGE="$ONNXRUNTIME_PACKAGE" "$py" - <<'PY'
import importlib.metadata as md
import importlib.util
import os
from pathlib import Path
import re
import sys


def installed(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


wanted = os.environ['ONNXRUNTIME_PACKAGE']
other = 'onnxruntime' if wanted == 'onnxruntime-gpu' else 'onnxruntime-gpu'
if installed(wanted) is None:
    sys.exit(f'install-python-deps: error: {wanted} is not installed')
if installed(other) is not None:
    sys.exit(f'install-python-deps: error: both {wanted} and {other} are installed '
             '(they share the onnxruntime module)')
torch_spec = importlib.util.find_spec('torch')
if torch_spec is None:
    sys.exit('install-python-deps: error: torch is not importable')
version_py = Path(torch_spec.submodule_search_locations[0]) / 'version.py'
match = re.search(r"^cuda\s*(?::[^=]*)?=\s*'([^']+)'", version_py.read_text(), re.M)
torch_cuda = match.group(1) if match else None
print(f'install-python-deps: torch {installed("torch")} (CUDA {torch_cuda}), '
      f'{wanted} {installed(wanted)}')
if os.environ['REQUIRE_CUDA_TORCH'] == '1' and not torch_cuda:
    sys.exit('install-python-deps: error: this torch was built without CUDA; '
             'check TORCH_INDEX_URL (the Jetson wheel index for this JetPack)')
if os.environ['IMPORT_CHECK'] == '1':
    import onnxruntime
    import torch
    providers = onnxruntime.get_available_providers()
    print(f'install-python-deps: torch {torch.__version__}, ONNX Runtime providers {providers}')
    if wanted == 'onnxruntime-gpu' and 'CUDAExecutionProvider' not in providers:
        sys.exit('install-python-deps: error: onnxruntime-gpu without CUDAExecutionProvider')
PY
