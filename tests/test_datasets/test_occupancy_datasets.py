"""Occ3DDataset / NuScenesOccupancyDataset with configs/_base_/datasets/synthetic-occ3d.py on the
tiny generated world: packed samples (shapes, dtypes, flips consistent with the stored labels),
deterministic evaluation samples, infos without the ground-truth key, and the metrics on
ground truth taken from dataset samples."""
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope

from mmdet3d_plugin.datasets.transforms import LoadOcc3DGT

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'configs/_base_/datasets/synthetic-occ3d.py'
OCC_SHAPE = (200, 200, 16)


@pytest.fixture(scope='module')
def cfg(synthetic_world):
    cfg = Config.fromfile(str(CONFIG))
    for loader, split in ((cfg.train_dataloader, 'train'), (cfg.val_dataloader, 'val')):
        loader.dataset.data_root = str(synthetic_world.nuscenes) + '/'
        loader.dataset.ann_file = str(synthetic_world.infos['occ3d'][split])
        for step in loader.dataset.pipeline:
            if step['type'] == 'LoadOcc3DGT':
                step['occ3d_root'] = str(synthetic_world.occ3d)
    return cfg


def build(spec, registry='DATASETS'):
    import mmdet3d.registry
    with DefaultScope.overwrite_default_scope('mmdet3d_plugin'):
        return getattr(mmdet3d.registry, registry).build(spec)


@pytest.fixture(scope='module')
def val_dataset(cfg):
    return build(cfg.val_dataloader.dataset)


def check_packed(item, cfg):
    image = item['inputs']['img']
    assert image.shape == (6, 3) + tuple(cfg.final_dim) and image.dtype == torch.float32
    assert image.std() > 10
    sample = item['data_samples']
    assert sample.gt_occ.shape == OCC_SHAPE and sample.gt_occ.dtype == torch.uint8
    for key in ('mask_camera', 'mask_lidar'):
        mask = getattr(sample, key)
        assert mask.shape == OCC_SHAPE and mask.dtype == torch.bool and mask.any(), key
    assert np.asarray(sample.metainfo['lidar2occ']).shape == (4, 4)
    assert 'lidar_aug_matrix' not in sample.metainfo  # the points are never augmented
    return sample


def stored_labels(dataset, index, occ3d_root):
    """The keyframe's labels.npz as LoadOcc3DGT reads it, before any flip."""
    return LoadOcc3DGT(occ3d_root=str(occ3d_root))(dict(dataset.get_data_info(index)))


def test_train_samples_flip_the_grid_consistently(cfg, synthetic_world):
    dataset = build(cfg.train_dataloader.dataset)
    assert type(dataset).__name__ == 'Occ3DDataset'
    assert len(dataset) == synthetic_world.config.num_keyframes
    np.random.seed(0)
    items = [dataset[0] for _ in range(4)]
    stored = stored_labels(dataset, 0, synthetic_world.occ3d)
    lidar2ego = np.asarray(dataset.get_data_info(0)['lidar_points']['lidar2ego'])
    flips = set()
    for item in items:
        sample = check_packed(item, cfg)
        depth = sample.gt_depth
        assert depth.shape == (6, 16, 44) and depth.dtype == torch.float32
        assert (depth > 0).float().mean() > 0.02 and float(depth.max()) < 80
        flip = tuple(sample.metainfo['occ_flip'])
        flips.add(flip)
        axes = tuple(axis for axis in (0, 1) if flip[axis])
        for key in ('gt_occ', 'mask_camera', 'mask_lidar'):
            np.testing.assert_array_equal(getattr(sample, key).numpy(),
                                          np.flip(stored[key], axes))
        reflection = np.diag([-1.0 if f else 1.0 for f in flip] + [1.0, 1.0])
        np.testing.assert_allclose(sample.metainfo['lidar2occ'], reflection @ lidar2ego,
                                   atol=1e-5)
    assert len(flips) > 1  # random grid flips (seeded)


def test_val_samples_are_deterministic_and_unflipped(cfg, val_dataset, synthetic_world):
    first, second = val_dataset[0], val_dataset[0]
    sample = check_packed(first, cfg)
    assert 'gt_depth' not in sample and tuple(sample.metainfo['occ_flip']) == (False, False)
    np.testing.assert_allclose(
        sample.metainfo['lidar2occ'],
        np.asarray(val_dataset.get_data_info(0)['lidar_points']['lidar2ego']), atol=1e-6)
    stored = stored_labels(val_dataset, 0, synthetic_world.occ3d)
    np.testing.assert_array_equal(sample.gt_occ.numpy(), stored['gt_occ'])
    torch.testing.assert_close(first['inputs']['img'], second['inputs']['img'])
    for key in ('gt_occ', 'mask_camera', 'mask_lidar'):
        assert torch.equal(getattr(sample, key), getattr(second['data_samples'], key)), key
    for key in ('img_aug_matrix', 'lidar2occ'):
        np.testing.assert_array_equal(sample.metainfo[key],
                                      second['data_samples'].metainfo[key])


@pytest.mark.parametrize('dataset_type, key', [('Occ3DDataset', 'occ3d_path'),
                                               ('NuScenesOccupancyDataset', 'occ_path')])
def test_an_info_without_the_ground_truth_path_names_key_token_and_file(
        cfg, synthetic_world, tmp_path, dataset_type, key):
    with open(synthetic_world.infos['occ3d']['val'], 'rb') as f:
        infos = pickle.load(f)
    token = infos['data_list'][1]['token']
    del infos['data_list'][1][key]
    ann_file = tmp_path / 'no_occupancy_path.pkl'
    with open(ann_file, 'wb') as f:
        pickle.dump(infos, f)
    spec = dict(cfg.val_dataloader.dataset, type=dataset_type, ann_file=str(ann_file))
    with pytest.raises(KeyError, match=rf"{re.escape(token)}.*{re.escape(str(ann_file))}.*"
                                       rf"lacks '{key}'"):
        build(spec)


def test_occ3d_metric_scores_ground_truth_as_prediction_100(cfg, val_dataset):
    metrics_cfg = cfg.val_evaluator  # Occ3DMetric and SSCMetric (a list) in the synthetic config
    metrics_cfg = metrics_cfg if isinstance(metrics_cfg, list) else [metrics_cfg]
    evaluator = Evaluator([build(metric, 'METRICS') for metric in metrics_cfg])
    for index in range(len(val_dataset)):
        sample = val_dataset[index]['data_samples']
        sample.pred_occ = sample.gt_occ.clone()  # what the model's predict sets
        evaluator.process(data_samples=[sample])  # dicts, as mmengine's ValLoop hands them
    metrics = evaluator.evaluate(len(val_dataset))
    assert metrics['occ3d/mIoU'] == pytest.approx(100.0)
    assert metrics['ssc/SSC_mIoU'] == pytest.approx(100.0)
    assert metrics['ssc/SC_IoU'] == pytest.approx(100.0)


def test_nuscenes_occupancy_dataset_packs_the_lidar_frame_grid(synthetic_world):
    root = str(synthetic_world.nuscenes_occupancy)
    pipeline = [dict(type='LoadNuScenesOccupancyGT', occ_root=root),
                dict(type='OccupancyFrame', grid='nuscenes-occupancy'),
                dict(type='Pack3DDetBEVInputs', keys=['gt_occ'])]
    dataset = build(dict(
        type='NuScenesOccupancyDataset', data_root=str(synthetic_world.nuscenes) + '/',
        ann_file=str(synthetic_world.infos['nuscenes-occupancy']['val']), pipeline=pipeline,
        data_prefix=dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP', img=''),
        test_mode=True))
    sample = dataset[0]['data_samples']
    assert sample.gt_occ.shape == (512, 512, 40) and sample.gt_occ.dtype == torch.uint8
    np.testing.assert_array_equal(sample.metainfo['lidar2occ'], np.eye(4))
    sample.pred_occ = sample.gt_occ.clone()
    evaluator = Evaluator(build(
        Config.fromfile(str(REPO / 'configs/_base_/datasets/nus-occupancy.py')).val_evaluator,
        'METRICS'))
    evaluator.process(data_samples=[sample])
    metrics = evaluator.evaluate(1)
    assert metrics['ssc/SC_IoU'] == pytest.approx(100.0)
    assert metrics['ssc/SSC_mIoU'] == pytest.approx(100.0)


@pytest.mark.parametrize('name', ['occ3d-nus.py', 'nus-occupancy.py', 'synthetic-occ3d.py'])
def test_dataset_configs_use_their_pipelines_and_roots(name):
    cfg = Config.fromfile(str(REPO / 'configs/_base_/datasets' / name))
    assert cfg.train_dataloader.dataset.pipeline == cfg.train_pipeline
    assert cfg.test_dataloader.dataset.pipeline == cfg.test_pipeline
    assert not cfg.train_dataloader.dataset.filter_empty_gt
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        assert loader.dataset.data_root == cfg.data_root
        root_key = 'occ3d_root' if 'occ3d_root' in cfg else 'occ_root'
        loaders = [t for t in loader.dataset.pipeline if t['type'].startswith('Load')
                   and t['type'].endswith('GT')]
        assert [t[root_key] for t in loaders] == [cfg[root_key]]
    frames = [t for t in cfg.train_pipeline if t['type'] == 'OccupancyFrame']
    assert [(t['flip_x_ratio'], t['flip_y_ratio']) for t in frames] == [(0.5, 0.5)]
