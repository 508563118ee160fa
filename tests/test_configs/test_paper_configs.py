"""The real-nuScenes paper configs (``configs/*/*_nus-3d-map.py``): BEVFusion's recipe is in
them (CBGS, GT-paste with its switch-off, rotation +-pi/4, 9 sweeps, the LiDAR-only stage and the
fused fine-tuning ``load_from`` chain, the Swin-T checkpoint path), and every one runs loss and
predict at full size on CPU (slow): six 3 x 256 x 704 images, 30k LiDAR points in range, four
GT boxes and six map masks, batch 1, one forward/backward and one predict."""
import glob
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmdet3d_plugin.engine import load_model_checkpoint
from mmdet3d_plugin.registry import MODELS
from mmdet3d_plugin.testing import make_batch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PAPER_CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs/*/*_nus-3d-map.py')))
LIDAR_STAGE = osp.join(
    REPO, 'configs/bevfusion/bevfusion_lidar_voxel0075_second_secfpn_8xb4-cyclic-20e_nus-3d-map.py')
RECIPE_CONFIGS = [osp.join(REPO, 'configs', path) for path in (
    'bevfusion/bevfusion_lidar-cam_swint-voxel0075_second_secfpn_8xb4-cyclic-20e_nus-3d-map.py',
    'bevfusion/bevfusion_cam_swint-lss_second_secfpn_8xb4-cyclic-20e_nus-3d-map.py',
    'metabev/metabev_lidar-cam_swint-voxel0075_bev-evolving-m2oe_8xb4-cyclic-20e_nus-3d-map.py',
)] + [LIDAR_STAGE]
FINE_TUNING = [c for c in RECIPE_CONFIGS if 'lidar-cam' in c]


def _types(pipeline) -> list:
    return [t['type'] for t in pipeline]


@pytest.mark.parametrize('config', RECIPE_CONFIGS, ids=osp.basename)
def test_recipe_is_in_the_paper_config(config):
    cfg = Config.fromfile(config)
    dataset = cfg.train_dataloader.dataset
    assert dataset.type == 'CBGSDataset' and dataset.dataset.type == 'NuScenesBEVDataset'
    pipeline = dataset.dataset.pipeline
    (augment, ) = [t for t in pipeline if t['type'] == 'GlobalAugmentAll']
    assert augment['rot_range'] == pytest.approx([-math.pi / 4, math.pi / 4])
    for sweeps in [t for t in pipeline + cfg.test_pipeline if t['type'] == 'LoadSweepsWithRing']:
        assert sweeps['sweeps_num'] == 9
    assert cfg.auto_scale_lr.base_batch_size == 32  # 8 GPUs x 4
    if config == LIDAR_STAGE:  # GT-paste for 15 of 20 epochs
        assert 'ObjectSample' in _types(pipeline) and cfg.train_cfg.max_epochs == 20
        (hook, ) = cfg.custom_hooks
        assert hook['type'] == 'WrappedPipelineSwitchHook' and hook['switch_epoch'] == 15
        assert _types(hook['switch_pipeline']) == [
            t for t in _types(pipeline) if t != 'ObjectSample']
        assert not cfg.get('load_from')
        return
    assert 'ObjectSample' not in _types(pipeline)  # the images carry no pasted objects
    assert cfg.model.img_backbone.init_cfg.checkpoint == cfg.swin_checkpoint
    if config in FINE_TUNING:
        stage1 = osp.splitext(osp.basename(LIDAR_STAGE))[0]
        assert cfg.load_from == f'work_dirs/{stage1}/epoch_20.pth'
        assert cfg.train_cfg.max_epochs == 6
    # the command-line override the README documents
    cfg.merge_from_dict({'model.img_backbone.init_cfg.checkpoint': '/elsewhere/swin.pth'})
    assert cfg.model.img_backbone.init_cfg.checkpoint == '/elsewhere/swin.pth'


def test_missing_swin_checkpoint_is_named():
    cfg = Config.fromfile(RECIPE_CONFIGS[0])
    cfg.merge_from_dict({'model.img_backbone.init_cfg.checkpoint':
                         '/nonexistent/swint-nuimages-pretrained.pth'})
    backbone = MODELS.build(cfg.model.img_backbone)
    with pytest.raises(FileNotFoundError, match='/nonexistent/swint-nuimages-pretrained.pth'):
        backbone.init_weights()


def _build(config: str):
    cfg = Config.fromfile(config)
    if cfg.model.get('img_backbone'):  # no pretrained file here: Swin-T's own random init
        cfg.model.img_backbone.init_cfg = None
    return cfg, MODELS.build(cfg.model)


def _batch(model, cfg):
    return make_batch(batch_size=1, image_size=(256, 704), num_points=30000, num_boxes=(4, ),
                      with_imgs=model.has_camera, with_points=model.has_lidar, masks=True)


@pytest.mark.slow
@pytest.mark.parametrize('config', PAPER_CONFIGS, ids=osp.basename)
def test_paper_config_runs_loss_and_predict_at_full_size(config):
    torch.manual_seed(0)
    cfg, model = _build(config)
    if model.has_camera:
        assert tuple(cfg.model.view_transform.image_size) == (256, 704)
    batch = _batch(model, cfg)
    model.train()
    losses = model(**model.data_preprocessor(batch, training=True), mode='loss')
    assert any(key.startswith('loss_map') for key in losses)
    total = sum(value for key, value in losses.items() if 'loss' in key)
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(batch, training=False), mode='predict')
    assert results[0].masks_bev.shape == (6, 200, 200)
    assert results[0].pred_instances_3d.bboxes_3d.tensor.shape[1] == 9


def _stage_one(load_from: str) -> str:
    """The config whose training writes ``load_from`` (``work_dirs/<config name>/epoch_N.pth``)."""
    name = osp.basename(osp.dirname(load_from))
    (config, ) = glob.glob(osp.join(REPO, 'configs', '*', name + '.py'))
    return config


@pytest.mark.slow
def test_fine_tuning_loads_its_lidar_stage_through_safe_loading(tmp_path):
    """Every paper config with ``load_from``: its stage-1 model (the config that writes that
    path) built at full size and saved as mmengine saves it, then loaded into the fused model
    through the safe loader: the LiDAR branch comes from it, the camera branch stays as built."""
    chains = {}
    for config in PAPER_CONFIGS:
        load_from = Config.fromfile(config).get('load_from')
        if load_from:
            chains.setdefault(_stage_one(load_from), []).append(config)
    assert set(FINE_TUNING) <= {c for configs in chains.values() for c in configs}
    for stage_one, fused_configs in chains.items():
        torch.manual_seed(0)
        _, lidar_model = _build(stage_one)
        assert not lidar_model.has_camera
        lidar_state = lidar_model.state_dict()
        checkpoint = tmp_path / (osp.basename(stage_one) + '.pth')
        torch.save({'meta': {'epoch': 20}, 'state_dict': lidar_state}, checkpoint)
        del lidar_model
        for config in fused_configs:
            torch.manual_seed(1)
            _, model = _build(config)
            camera_before = {k: v.clone() for k, v in model.state_dict().items()
                             if k.startswith(('img_backbone.', 'img_neck.', 'view_transform.'))}
            assert camera_before
            load_model_checkpoint(model, str(checkpoint), logger='silent')
            state = model.state_dict()
            lidar_keys = [k for k in lidar_state if k.startswith('pts_middle_encoder.')]
            assert lidar_keys
            for key in lidar_keys:
                torch.testing.assert_close(state[key], lidar_state[key], msg=f'{config}: {key}')
            for key, value in camera_before.items():
                torch.testing.assert_close(state[key], value, msg=f'{config}: {key}')
