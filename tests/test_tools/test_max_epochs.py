"""``tools/train.py --max-epochs``: the schedule is stretched to the new length (epoch-based
schedulers scaled, iteration-based ones kept); the claim checks train with it
(tests/test_tools/test_claim_check.py)."""
import sys
from argparse import Namespace
from pathlib import Path

import pytest
from mmengine.config import Config

from mmdet3d_plugin.engine import prepare_train_config, set_max_epochs

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC = REPO / 'configs/metabev/metabev_lidar-cam_tiny_1xb2-cpu_synthetic.py'
# BEVFusion's LiDAR-only stage keeps the 20-epoch one-cycle (the fused configs fine-tune 6 epochs)
CYCLIC = REPO / ('configs/bevfusion/'
                 'bevfusion_lidar_voxel0075_second_secfpn_8xb4-cyclic-20e_nus-3d-map.py')


def test_synthetic_schedule_doubles_and_keeps_the_iteration_warmup():
    cfg = set_max_epochs(Config.fromfile(str(SYNTHETIC)), 24)
    assert cfg.train_cfg.max_epochs == 24 and cfg.train_cfg.val_interval == 24
    assert cfg.default_hooks.checkpoint.interval == 24
    warmup, cosine = cfg.param_scheduler
    assert (warmup.by_epoch, warmup.begin, warmup.end) == (False, 0, 50)
    assert (cosine.begin, cosine.end, cosine.T_max) == (0, 24, 24)


def test_one_cycle_keeps_its_shape():
    cfg = Config.fromfile(str(CYCLIC))
    assert [(s.begin, s.end, s.T_max) for s in cfg.param_scheduler] == [(0, 8, 8), (8, 20, 12)] * 2
    set_max_epochs(cfg, 10)
    assert cfg.train_cfg.max_epochs == 10
    assert [(s.begin, s.end, s.T_max) for s in cfg.param_scheduler] == [(0, 4, 4), (4, 10, 6)] * 2


def test_milestones_scale_and_other_intervals_stay():
    cfg = Config(dict(
        train_cfg=dict(by_epoch=True, max_epochs=12, val_interval=2),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=3)),
        param_scheduler=dict(type='MultiStepLR', milestones=[8, 11], by_epoch=True)))
    set_max_epochs(cfg, 24)
    assert cfg.param_scheduler.milestones == [16, 22]
    assert cfg.train_cfg.val_interval == 2 and cfg.default_hooks.checkpoint.interval == 3


def test_bad_requests_are_named():
    with pytest.raises(ValueError, match='epoch-based train_cfg'):
        set_max_epochs(Config(dict(train_cfg=dict(type='IterBasedTrainLoop', max_iters=100))), 2)
    with pytest.raises(ValueError, match='positive integer'):
        set_max_epochs(Config.fromfile(str(SYNTHETIC)), 0)
    with pytest.raises(ValueError, match=r'param_scheduler\[0\] \(CosineAnnealingLR\) spans'):
        set_max_epochs(Config.fromfile(str(CYCLIC)), 1)


def test_train_tool_argument_reaches_the_config():
    sys.path.insert(0, str(REPO / 'tools'))
    try:
        from train import parse_args
    finally:
        sys.path.remove(str(REPO / 'tools'))
    args = parse_args([str(Path(__file__).parent / 'toy_config.py'), '--max-epochs', '5'])
    cfg = prepare_train_config(args)
    assert cfg.train_cfg.max_epochs == 5 and cfg.train_cfg.val_interval == 1
    assert prepare_train_config(Namespace(**dict(vars(args), max_epochs=None))).train_cfg.max_epochs == 2

