#!/usr/bin/env bash
# Sourced by the launch scripts (dist_*.sh, slurm_*.sh): sets PYTHON to the interpreter that
# has Drive3D installed, so the README's commands work without an activated environment.
# Order: $PYTHON if set; else the project's environment ($VENV, default <repo>/.venv, the one
# `make setup` creates) when it exists; else `python` (or `python3`) on PATH (conda, VENV=system).
# Fails with the fix when the chosen interpreter cannot import torch.
_drive3d_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  _drive3d_venv="${VENV:-$_drive3d_repo/.venv}"
  if [[ "$_drive3d_venv" != system && -x "$_drive3d_venv/bin/python" ]]; then
    PYTHON="$_drive3d_venv/bin/python"
  elif command -v python >/dev/null 2>&1; then
    PYTHON=python
  else
    PYTHON=python3
  fi
fi
if ! "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
  echo "error: interpreter '$PYTHON' cannot import torch; run 'make setup' in $_drive3d_repo" \
       "(creates .venv) or set PYTHON=/path/to/python of an environment with Drive3D installed" >&2
  exit 1
fi
export PYTHON
