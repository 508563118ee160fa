"""The camera occupancy models learn on the shared synthetic world (slow): ``tools/train.py``
(its ``main``, in-process) on the session world's Occ3D files (3 training keyframes of
scene-0061, evaluated on the 3 of scene-0103 through ``Occ3DMetric``), the Occ3D mIoU (17
classes, camera mask) above a floor set from measured runs. The all-free prediction scores
mIoU 0 (every class IoU 0, free is not averaged), so any floor above 0 means the model
predicts occupied classes correctly."""
import os
import re
from pathlib import Path

import pytest

from mmdet3d_plugin.testing import load_tool

REPO = Path(__file__).resolve().parents[2]
#: config -> (epochs, extra --cfg-options, mIoU floor, geometry IoU floor); see MEASURED below.
CONFIGS = {
    'configs/occ_baseline/occ-baseline_cam_tiny_1xb2-cpu_synthetic.py': (30, [], 1.5, 15.0),
    # one sample per step, as the paper trains SparseOcc (8 GPUs x 1): 3 updates an epoch
    'configs/sparseocc/sparseocc_cam_tiny_1xb2-cpu_synthetic.py':
        (60, ['train_dataloader.batch_size=1'], 0.4, 20.0),
}
# MEASURED (2-core CPU, seed 0, this exact schedule: 30 epochs of 2 iterations, 2026-12-02):
# dense baseline Occ3D mIoU 3.52 (trailer 17.5, driveable surface 24.4, terrain 7.0, sidewalk
# 4.3, construction vehicle 5.0), geometry IoU 32.4, SC IoU 25.2, SSC mIoU 3.09; 385 s for the
# test with 1 thread beside two other jobs (~4.8 s/iteration; about 2 s alone with 2 threads);
# with 2 threads and the losses taken in the latent's (Z, Y, X) layout: 3.72 (trailer 18.4,
# driveable surface 27.8), geometry IoU 36.0.
# SparseOcc learns its masks far more slowly than the dense per-voxel head: at the config's
# batch 2, 30 epochs (60 steps) left it unlearned or collapsed to all-free at most seeds and
# thread counts (seed 0: mIoU 0.06 / geometry 6.5 with 2 threads, the CI failure of stop 21,
# 1.12 / 34.8 with 1; seed 1: 0.13 / 6.5), 60 epochs (120 steps) too (seed 0: 0 / 0, seed 1:
# 2.73 / 64.0), so the test trains at batch 1 for 60 epochs (180 steps, 1 thread beside another
# run): mIoU 2.82 / 2.74 / 2.76 / 2.58 (seeds 0 / 1 / 2 / 3; driveable surface ~44, free ~98,
# every other class 0), geometry IoU 45.9 / 69.9 / 69.3 / 66.0 (at 40 epochs seed 2 still
# collapsed: 0 / 0); seed 0 with 2 threads alone (as CI): 0.88 / 39.2, 134 s for the test.
# The floors are about half the lowest measured values, for other CPUs' numerics; SparseOcc's
# mIoU rests on the one class it learns this early (driveable surface), hence its low floor.


def _link_world(world, tmp_path: Path) -> None:
    """``tmp_path/data/synthetic`` -> the session world (the configs' relative data roots)."""
    (tmp_path / 'data').mkdir()
    os.symlink(world.out, tmp_path / 'data' / 'synthetic')


def _last_val_metrics(work_dir: Path) -> dict:
    """``occ3d/mIoU`` and ``occ3d/geometry_IoU`` of the run's last validation, from its log
    file (one per runner; the ``vis_data`` files follow mmengine's Visualizer singleton, which a
    second runner in this interpreter reuses with the first one's directory)."""
    logs = sorted(work_dir.glob('*/*.log'))
    assert logs, f'no training log under {work_dir}'
    text = logs[-1].read_text()
    metrics = {}
    for name in ('mIoU', 'geometry_IoU'):
        found = re.findall(rf'occ3d/{name}: ([0-9.]+)', text)
        assert found, f'no occ3d/{name} in {logs[-1]}:\n{text[-3000:]}'
        metrics[f'occ3d/{name}'] = float(found[-1])
    return metrics


@pytest.mark.slow
@pytest.mark.parametrize('config', sorted(CONFIGS), ids=lambda c: Path(c).stem)
def test_camera_occupancy_model_learns(config, synthetic_world, tmp_path, monkeypatch):
    epochs, options, min_miou, min_geometry = CONFIGS[config]
    _link_world(synthetic_world, tmp_path)
    monkeypatch.chdir(tmp_path)
    # tools/train.py's main in this interpreter: the same run as the command line, without a
    # new interpreter's ~20 s of imports
    load_tool('train').main([str(REPO / config), '--work-dir', 'work', '--max-epochs',
                             str(epochs), '--cfg-options', 'randomness.seed=0', *options])
    metrics = _last_val_metrics(tmp_path / 'work')
    miou, geometry = metrics['occ3d/mIoU'], metrics['occ3d/geometry_IoU']
    assert miou >= min_miou and geometry >= min_geometry, dict(mIoU=miou, geometry_IoU=geometry)
