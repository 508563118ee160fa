#!/usr/bin/env bash
# Drive3D environment set-up: the one install script used by `make setup`, CI and docker/Dockerfile.
#
# Idempotent: every step checks whether its result is already there, and the whole run is skipped
# when nothing it depends on changed (stamp keyed on the requirement files, setup.py and the op sources).
#
# Environment:
#   VENV            virtual environment to create/use (default: <repo>/.venv; "system" = current python)
#   PYTHON          interpreter that creates the venv (default: python3)
#   DRIVE3D_CACHE   wheel cache outside the repo (default: ~/.cache/drive3d); the mmcv build lives in
#                   $DRIVE3D_CACHE/wheels/mmcv-<mmcv>-torch<torch>-<cuda|cpu> so a torch change never reuses it
#   FORCE_CUDA=1    build mmcv and Drive3D ops with CUDA (automatic when nvidia-smi sees a GPU)
#   CONSTRAINTS     pip constraints file (default: requirements/constraints-cpu.txt; "none" on a GPU cluster)
#   TORCH_SPEC      torch/torchvision requirement (default: "torch==2.14.1 torchvision==0.29.1")
#   MAX_JOBS        parallel compile jobs (default: nproc)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
DRIVE3D_CACHE="${DRIVE3D_CACHE:-$HOME/.cache/drive3d}"
CONSTRAINTS="${CONSTRAINTS:-$ROOT/requirements/constraints-cpu.txt}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}"
MMCV_VERSION="${MMCV_VERSION:-2.1.0}"
export MAX_JOBS="${MAX_JOBS:-$(nproc)}"
if [[ -z "${FORCE_CUDA:-}" ]] && command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  export FORCE_CUDA=1
fi
export FORCE_CUDA="${FORCE_CUDA:-0}"

T0=$(date +%s)
step() { echo "[setup $(( $(date +%s) - T0 ))s] $*"; }

# ---------------------------------------------------------------- 0. anything changed?
stamp_inputs() {
  cat requirements/*.txt setup.py tools/setup_env.sh 2>/dev/null
  find mmdet3d_plugin/ops -path '*/csrc/*' -type f 2>/dev/null | sort | xargs -r cat
  echo "FORCE_CUDA=$FORCE_CUDA TORCH_SPEC=$TORCH_SPEC VENV=$VENV"
}
STAMP_HASH=$(stamp_inputs | sha256sum | cut -d' ' -f1)
if [[ "$VENV" == "system" ]]; then
  PY="$(command -v "$PYTHON")"
  STAMP_FILE="$DRIVE3D_CACHE/system-setup.stamp"
else
  PY="$VENV/bin/python"
  STAMP_FILE="$VENV/.drive3d-setup.stamp"
fi
if [[ -x "$PY" && -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP_HASH" ]]; then
  step "environment up to date ($PY); nothing to do"
  exit 0
fi

# ---------------------------------------------------------------- 1. Debian packages
need_debs=()
dpkg -s libusb-1.0-0 >/dev/null 2>&1 || need_debs+=(libusb-1.0-0)   # open3d: ImportError libusb-1.0.so.0
dpkg -s libgl1 >/dev/null 2>&1 || need_debs+=(libgl1)               # open3d / opencv
dpkg -s libgomp1 >/dev/null 2>&1 || need_debs+=(libgomp1)           # OpenMP for torch/open3d
if (( ${#need_debs[@]} )); then
  step "installing Debian packages: ${need_debs[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_debs[@]}"
else
  step "Debian packages present"
fi

# ---------------------------------------------------------------- 2. venv
if [[ "$VENV" != "system" && ! -x "$PY" ]]; then
  step "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$PY" -m pip --disable-pip-version-check)
CARGS=()
[[ "$CONSTRAINTS" != "none" ]] && CARGS=(-c "$CONSTRAINTS")
pipi() { "${PIP[@]}" install "${CARGS[@]}" "$@"; }   # pip install under the constraints file

step "build tools (pip, setuptools<81, wheel, ninja, numpy<2)"
"${PIP[@]}" install -q --upgrade "pip<26"
pipi -q -r requirements/build.txt "numpy<2"

# ---------------------------------------------------------------- 3. torch
step "torch / torchvision ($TORCH_SPEC)"
# shellcheck disable=SC2086
pipi -q $TORCH_SPEC
TORCH_TAG=$("$PY" -c "import torch; print(torch.__version__.split('+')[0])")
CUDA_TAG="cpu"; [[ "$FORCE_CUDA" == "1" ]] && CUDA_TAG="cu$("$PY" -c "import torch; print((torch.version.cuda or 'none').replace('.', ''))")"

# ---------------------------------------------------------------- 4. mmcv with ops (cached wheel)
MMCV_DIR="$DRIVE3D_CACHE/wheels/mmcv-$MMCV_VERSION-torch$TORCH_TAG-$CUDA_TAG"
if "$PY" -c "import mmcv, mmcv.ops, sys; from mmcv.ops import nms; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null \
   && [[ -f "$VENV/.mmcv-build" && "$(cat "$VENV/.mmcv-build" 2>/dev/null)" == "$MMCV_DIR" ]]; then
  step "mmcv $MMCV_VERSION with ops already installed"
else
  if ! ls "$MMCV_DIR"/mmcv-*.whl >/dev/null 2>&1; then
    step "building mmcv $MMCV_VERSION with ops into $MMCV_DIR (once; ~10 min on 2 cores, MAX_JOBS=$MAX_JOBS, FORCE_CUDA=$FORCE_CUDA)"
    rm -rf "$MMCV_DIR.tmp" && mkdir -p "$MMCV_DIR.tmp/src"
    "${PIP[@]}" download -q --no-deps --no-build-isolation --no-binary :all: \
      -d "$MMCV_DIR.tmp/src" "mmcv==$MMCV_VERSION"
    tar xzf "$MMCV_DIR.tmp/src/mmcv-$MMCV_VERSION.tar.gz" -C "$MMCV_DIR.tmp/src"
    TORCH_INC=$("$PY" -c "import torch.utils.cpp_extension as c; print(c.include_paths()[0])")
    if grep -q 'C++20 or later' "$TORCH_INC/ATen/ATen.h" 2>/dev/null; then
      # mmcv 2.1.0 hard-codes -std=c++14/17, but this torch's headers need C++20.
      step "patching mmcv's setup.py: -std=c++14/17 -> -std=c++20 (torch $TORCH_TAG headers require C++20)"
      sed -i "s/-std=c++1[47]/-std=c++20/g" "$MMCV_DIR.tmp/src/mmcv-$MMCV_VERSION/setup.py"
    fi
    MMCV_WITH_OPS=1 "${PIP[@]}" wheel --no-build-isolation --no-deps --no-cache-dir \
      -w "$MMCV_DIR.tmp" "$MMCV_DIR.tmp/src/mmcv-$MMCV_VERSION"
    rm -rf "$MMCV_DIR.tmp/src"
    rm -rf "$MMCV_DIR" && mv "$MMCV_DIR.tmp" "$MMCV_DIR"   # atomic: never a half-built cache
  else
    step "mmcv wheel found in cache $MMCV_DIR"
  fi
  pipi -q --no-deps --force-reinstall "$MMCV_DIR"/mmcv-*.whl
  pipi -q addict packaging Pillow pyyaml yapf opencv-python
  [[ "$VENV" != "system" ]] && echo "$MMCV_DIR" > "$VENV/.mmcv-build"
fi

# ---------------------------------------------------------------- 5. the OpenMMLab stack and the rest
step "mmengine, mmdet, mmdet3d, spconv, nuscenes-devkit, numba and friends"
pipi -q -r requirements/runtime.txt
step "optional components: open3d, segment-anything"
pipi -q -r requirements/optional.txt
step "test tools"
pipi -q -r requirements/tests.txt

# ---------------------------------------------------------------- 6. Drive3D itself (+ its optional ops)
step "pip install -e . (Drive3D ops with FORCE_CUDA=$FORCE_CUDA)"
pipi -q --no-build-isolation --no-deps -e .

mkdir -p "$(dirname "$STAMP_FILE")"
echo "$STAMP_HASH" > "$STAMP_FILE.tmp" && mv "$STAMP_FILE.tmp" "$STAMP_FILE"
step "done"
