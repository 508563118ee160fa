"""Every BEVFusion / MetaBEV config builds on CPU with consistent shapes (the paper configs'
full-size loss / predict: tests/test_configs/test_paper_configs.py)."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmdet3d_plugin.registry import MODELS
from mmdet3d_plugin.testing import make_batch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs/metabev/*.py')) +
                 glob.glob(osp.join(REPO, 'configs/bevfusion/*.py')))
# the camera + LiDAR synthetic configs run loss/predict in test_bev_detectors.py
SINGLE_SENSOR_SYNTHETIC = [
    c for c in CONFIGS if c.endswith('_synthetic.py') and 'lidar-cam' not in c]


def test_every_method_has_paper_and_synthetic_configs():
    names = [osp.basename(c) for c in CONFIGS]
    for method in ('metabev', 'bevfusion'):
        assert any(n.startswith(method) and n.endswith('_synthetic.py') for n in names)
        assert any(n.startswith(method) and n.endswith('_nus-3d-map.py') for n in names)


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_config_builds_with_consistent_branch_shapes(config):
    cfg = Config.fromfile(config)
    assert cfg.default_scope == 'mmdet3d_plugin'
    train_set = cfg.train_dataloader.dataset  # paper configs wrap it in CBGSDataset
    assert train_set.get('dataset', train_set).pipeline == cfg.train_pipeline
    assert cfg.test_dataloader.dataset.pipeline == cfg.test_pipeline
    model = MODELS.build(cfg.model)
    in_channels = model.fuser.in_channels
    if model.has_camera:
        assert model.view_transform.bev_channels == in_channels[0]
        bev_shape = model.view_transform.bev_shape
        grid = model.view_transform.grid
        assert model.seg_head.transform.input_shape == bev_shape
        assert (grid.xbound[0], grid.xbound[1]) == (cfg.model.seg_head.input_xbound[0],
                                                    cfg.model.seg_head.input_xbound[1])
    if model.has_lidar:
        model.eval()
        batch = make_batch(batch_size=1, num_points=2000, with_imgs=False, masks=False)
        with torch.no_grad():
            data = model.data_preprocessor(batch, training=False)
            present = torch.ones(1, dtype=torch.bool)
            lidar, has_points = model.lidar_bev(data['inputs']['voxels'], present)
        assert has_points.all()
        assert lidar.shape[1] == in_channels[1]
        assert tuple(lidar.shape[-2:]) == model.seg_head.transform.input_shape
    if hasattr(model.fuser, 'bev_shape'):
        assert model.fuser.bev_shape == model.seg_head.transform.input_shape


def _loss_and_predict(config: str, num_points: int, image_size=None) -> None:
    torch.manual_seed(0)
    cfg = Config.fromfile(config)
    model = MODELS.build(cfg.model)  # no init_weights: paper configs would fetch Swin-T weights
    if image_size is None:
        image_size = tuple(cfg.model.view_transform.image_size) if model.has_camera else (32, 64)
    batch = make_batch(batch_size=1, image_size=image_size, num_points=num_points,
                       num_boxes=(4, ), with_imgs=model.has_camera,
                       with_points=model.has_lidar)
    model.train()
    losses = model(**model.data_preprocessor(batch, training=True), mode='loss')
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(batch, training=False), mode='predict')
    assert results[0].masks_bev.shape == (6, 200, 200)
    if model.bbox_head is None:  # a map-only config predicts no boxes at all
        assert 'pred_instances_3d' not in results[0]
    else:
        assert results[0].pred_instances_3d.bboxes_3d.tensor.shape[1] == 9


@pytest.mark.parametrize('config', SINGLE_SENSOR_SYNTHETIC, ids=osp.basename)
def test_single_sensor_synthetic_config_runs_loss_and_predict(config):
    _loss_and_predict(config, num_points=4000)

# the paper configs' full-size loss / predict (30k points, 256 x 704) and their load_from chain:
# tests/test_configs/test_paper_configs.py
