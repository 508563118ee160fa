#!/usr/bin/env bash
# GPU checks, run whenever a GPU machine is at hand (CI has none). Prints everything and writes
# JSON/logs to ${OUT:-gpu_check_out}. Works in a bare PyTorch+CUDA environment: only the
# BEV pooling op needs to build (mmcv/mmdet3d/spconv are checked only if importable).
#   bash tools/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
echo "== device"; nvidia-smi -L
$PY -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name(0))"
echo "== build Drive3D ops with CUDA"
start=$(date +%s)
FORCE_CUDA=1 DRIVE3D_OPS_STRICT=1 MAX_JOBS=${MAX_JOBS:-16} $PY setup.py build_ext --inplace \
  > "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
echo "built in $(( $(date +%s) - start )) s"
$PY -c "from mmdet3d_plugin.ops.bev_pool import _ext; print('bev_pool with_cuda =', _ext.with_cuda())"
echo "== CUDA kernels vs reference (float64, gradcheck) and CPU kernels"
$PY -X faulthandler -m pytest --noconftest -p no:cacheprovider -v tests/test_ops/test_bev_pool.py \
  > "$OUT/pytest_bev_pool.log" 2>&1; echo "pytest exit $?"; grep -E "PASSED|FAILED|ERROR|passed|failed|Fatal|File" "$OUT/pytest_bev_pool.log" | tail -60
if $PY -c "import spconv, mmcv, mmdet3d" 2>/dev/null; then
  echo "== spconv GPU path"
  $PY -m pytest -p no:cacheprovider -q tests/test_ops/test_sparse_conv.py -m gpu 2>&1 | tail -3
else
  echo "== spconv/mmcv/mmdet3d not installed here: sparse-conv GPU tests not run"
fi
echo "== BEV pooling benchmark, nuScenes LSS size"
$PY benchmarks/bev_pool.py --device cuda --repeats 20 --json "$OUT/bev_pool_cuda_fp32.json"
$PY benchmarks/bev_pool.py --device cuda --dtype float16 --repeats 20 --skip "torch LSS cumsum" \
  --json "$OUT/bev_pool_cuda_fp16.json"
