"""SparseOcc as a detector: every occupancy config builds and runs loss and predict on CPU
(the paper configs at full size are slow), the prune targets, a missing camera."""
import glob
import os

import pytest
import torch
from mmengine.config import Config

from mmdet3d_plugin.registry import MODELS
from mmdet3d_plugin.sparseocc import block_occupancy
from mmdet3d_plugin.testing import make_occupancy_batch

SYNTHETIC = sorted(glob.glob('configs/sparseocc/*_synthetic.py') +
                   glob.glob('configs/occ_baseline/*_synthetic.py'))
PAPER = sorted(set(glob.glob('configs/sparseocc/*.py') + glob.glob('configs/occ_baseline/*.py'))
               - set(SYNTHETIC))


def test_block_occupancy_marks_cells_holding_any_occupied_voxel():
    gt = torch.full((1, 4, 4, 2), 17)
    gt[0, 0, 0, 0] = 3  # cell (z 0, y 0, x 0)
    gt[0, 3, 2, 1] = 255  # ignored: not occupied
    gt[0, 2, 3, 1] = 17  # free
    occupied = block_occupancy(gt, free_label=17, ignore_index=255, shape_zyx=(1, 2, 2))
    assert occupied.shape == (1, 1, 2, 2)
    assert occupied.tolist() == [[[[True, False], [False, False]]]]


def _batch_for(cfg, batch_size):
    head = cfg.model.occ_head
    free = 17 if head.num_classes == 18 else 0
    depth = tuple(s // (cfg.model.view_transform.image_size[0] //
                        cfg.model.view_transform.feature_size[0])
                  for s in cfg.model.view_transform.image_size)
    return make_occupancy_batch(batch_size=batch_size,
                                image_size=tuple(cfg.model.view_transform.image_size),
                                grid_shape=tuple(head.grid_shape), num_classes=head.num_classes,
                                free_label=free, mask_key=head.get('mask_key'),
                                depth_shape=depth)


def _loss_and_predict(config, batch_size, backward=True):
    torch.manual_seed(0)
    cfg = Config.fromfile(config)
    cfg.model.img_backbone.pop('init_cfg', None)  # no ResNet-50 weights here
    model = MODELS.build(cfg.model)
    batch = _batch_for(cfg, batch_size)
    model.train()
    losses = model(**model.data_preprocessor(batch, training=True), mode='loss')
    total = sum(losses.values())
    assert torch.isfinite(total)
    if backward:
        total.backward()
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(batch, training=False), mode='predict')
    grid = tuple(cfg.model.occ_head.grid_shape)
    assert results[0].pred_occ.shape == grid and results[0].pred_occ.dtype == torch.uint8
    assert results[0].pred_occ_probs.shape == (cfg.model.occ_head.num_classes, ) + grid
    return model, losses


@pytest.mark.parametrize('config', SYNTHETIC)
def test_synthetic_occupancy_configs_run_loss_and_predict(config):
    model, losses = _loss_and_predict(config, batch_size=2)
    if type(model).__name__ == 'SparseOcc':
        assert 'loss_prune' in losses and 'loss_dice' in losses and 'd0.loss_cls' in losses


#: The nuScenes-Occupancy paper configs at full size (512 x 512 x 40 x 17 logits, Lovasz-softmax
#: over 10.5 M voxels, SparseOcc's 100 query masks decoded to the grid) take 1.5-2 min each on 2
#: cores (measured passing 2026-12-02: 234 s and 222 s with 1 thread beside a training job): run
#: with DRIVE3D_FULL_SIZE_TESTS=1. The Occ3D paper configs -- the same ResNet-50 / SECONDFPN
#: branch at 256 x 704, the same diffuser / pyramid / head code, 200 x 200 x 16 -- run always;
#: their full-size backward only on request too (a profiled 1-thread SparseOcc Occ3D run spent
#: 38 s of 105 s in it; the synthetic configs' runs cover the same code's backward).
FULL_SIZE = os.environ.get('DRIVE3D_FULL_SIZE_TESTS') == '1'
FULL_SIZE_ONLY_ON_REQUEST = pytest.mark.skipif(
    not FULL_SIZE,
    reason='nuScenes-Occupancy paper config at full size (~2 min on 2 cores); set '
    'DRIVE3D_FULL_SIZE_TESTS=1')


@pytest.mark.slow
@pytest.mark.parametrize('config', [
    pytest.param(c, marks=FULL_SIZE_ONLY_ON_REQUEST) if 'nus-occupancy' in c else c
    for c in PAPER])
def test_paper_occupancy_configs_run_loss_and_predict_at_full_size(config):
    _loss_and_predict(config, batch_size=1, backward=FULL_SIZE)


def test_sparseocc_survives_a_missing_camera():
    cfg = Config.fromfile('configs/sparseocc/sparseocc_cam_tiny_1xb2-cpu_synthetic.py')
    model = MODELS.build(cfg.model)
    batch = _batch_for(cfg, 1)
    batch['inputs']['img'][0].zero_()
    batch['data_samples'][0].set_metainfo(dict(camera_missing=True))
    model.train()
    losses = model(**model.data_preprocessor(batch, training=True), mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
