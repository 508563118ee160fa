"""configs/_base_/datasets/synthetic-nus-bev.py: datasets built through mmdet3d's registry under
our scope on a tiny generated world; packed samples, a collated batch through mmdet3d's
Det3DDataPreprocessor, and the evaluators on ground truth."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

CONFIG = Path(__file__).resolve().parents[2] / 'configs/_base_/datasets/synthetic-nus-bev.py'


@pytest.fixture(scope='module')
def cfg(synthetic_world):
    cfg = Config.fromfile(str(CONFIG))
    data_root = str(synthetic_world.nuscenes) + '/'
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = data_root
        for step in loader.dataset.pipeline:
            if step['type'] == 'LoadBEVMapGT':
                step['data_root'] = data_root
    for metric in cfg.val_evaluator:
        if metric['type'] == 'NuScenesMetric':
            metric.update(data_root=data_root, ann_file=data_root + 'nuscenes_infos_val.pkl')
    return cfg


def build_dataset(spec):
    from mmdet3d.registry import DATASETS
    with DefaultScope.overwrite_default_scope('mmdet3d_plugin'):
        return DATASETS.build(spec)


def check_packed(item, cfg):
    views, (height, width) = len(cfg.cameras), cfg.final_dim
    image = item['inputs']['img']
    assert image.shape == (views, 3, height, width) and image.dtype == torch.float32
    assert 0 <= image.min() and image.max() <= 255 and image.std() > 10
    points = item['inputs']['points']
    assert points.ndim == 2 and points.shape[1] == cfg.point_dims and len(points) > 10000
    low, high = np.array(cfg.point_cloud_range[:3]), np.array(cfg.point_cloud_range[3:])
    assert ((points[:, :3].numpy() >= low) & (points[:, :3].numpy() <= high)).all()
    lags = np.unique(points[:, 4].numpy())
    assert lags[0] == 0 and 5 <= len(lags) <= cfg.sweeps_num + 1  # keyframe + sweeps
    sample = item['data_samples']
    masks = sample.gt_masks_bev
    assert masks.shape == (len(cfg.map_classes), 200, 200) and masks.dtype == torch.uint8
    assert masks[0].float().mean() > 0.05  # drivable area around the ego
    meta = sample.metainfo
    for key in ('cam2img', 'lidar2cam', 'lidar2img', 'cam2lidar', 'img_aug_matrix'):
        assert np.asarray(meta[key]).shape == (views, 4, 4), key
    assert meta['num_views'] == views and meta['cam_names'] == list(cfg.cameras)
    assert meta['img_shape'] == tuple(cfg.final_dim)
    return sample


def test_train_dataset_items(cfg, synthetic_world):
    dataset = build_dataset(cfg.train_dataloader.dataset)
    assert type(dataset).__name__ == 'NuScenesBEVDataset'
    assert len(dataset) == synthetic_world.config.num_keyframes  # scene-0061's keyframes
    np.random.seed(0)
    first, second = dataset[0], dataset[0]
    sample = check_packed(first, cfg)
    boxes = sample.gt_instances_3d.bboxes_3d
    assert len(boxes) > 5 and boxes.tensor.shape[1] == 9  # with velocity
    assert len(sample.gt_instances_3d.labels_3d) == len(boxes)
    lidar_aug = np.asarray(sample.metainfo['lidar_aug_matrix'])
    assert lidar_aug.shape == (4, 4) and not np.allclose(lidar_aug, np.eye(4))
    # random augmentation: another draw gives other matrices
    assert not np.allclose(sample.metainfo['img_aug_matrix'],
                           second['data_samples'].metainfo['img_aug_matrix'])
    # a used dataset still pickles (spawned DataLoader workers): maps reload lazily
    import pickle
    again = pickle.loads(pickle.dumps(dataset))[0]
    assert again['data_samples'].gt_masks_bev.shape == masks_shape(cfg)


def masks_shape(cfg):
    return (len(cfg.map_classes), 200, 200)


def test_val_dataset_items_are_deterministic(cfg):
    dataset = build_dataset(cfg.val_dataloader.dataset)
    first, second = dataset[0], dataset[0]
    sample = check_packed(first, cfg)
    assert sample.eval_ann_info is not None and len(sample.eval_ann_info['gt_bboxes_3d']) > 0
    assert 'lidar_aug_matrix' not in sample.metainfo  # absent = identity
    np.testing.assert_array_equal(sample.metainfo['img_aug_matrix'],
                                  second['data_samples'].metainfo['img_aug_matrix'])
    torch.testing.assert_close(first['inputs']['img'], second['inputs']['img'])


def test_collated_batch_passes_the_data_preprocessor(cfg):
    from mmdet3d.models.data_preprocessors import Det3DDataPreprocessor
    from mmengine.dataset import pseudo_collate
    dataset = build_dataset(cfg.train_dataloader.dataset)
    batch = pseudo_collate([dataset[0], dataset[0]])
    preprocessor = Det3DDataPreprocessor(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=False,
        pad_size_divisor=32, voxel=True, voxel_type='hard',
        voxel_layer=dict(max_num_points=10, point_cloud_range=cfg.point_cloud_range,
                         voxel_size=[0.4, 0.4, 8.0], max_voxels=(60000, 60000)))
    out = preprocessor(batch, True)
    height, width = cfg.final_dim
    assert out['inputs']['imgs'].shape == (2, len(cfg.cameras), 3, height, width)
    assert abs(float(out['inputs']['imgs'].mean())) < 3  # normalised
    assert [p.shape[1] for p in out['inputs']['points']] == [cfg.point_dims] * 2
    assert out['inputs']['voxels']['coors'][:, 0].unique().tolist() == [0, 1]
    assert [s.gt_masks_bev.shape for s in out['data_samples']] == [(6, 200, 200)] * 2


def test_evaluators_build_and_score_ground_truth(cfg):
    from mmdet3d.registry import METRICS
    with DefaultScope.overwrite_default_scope('mmdet3d_plugin'):
        metrics = [METRICS.build(spec) for spec in cfg.val_evaluator]
    assert [type(m).__name__ for m in metrics] == ['NuScenesMetric', 'BEVMapSegMetric']
    item = build_dataset(cfg.val_dataloader.dataset)[0]
    sample = item['data_samples']
    sample.masks_bev = sample.gt_masks_bev.float()  # the GT as a perfect prediction
    metric = metrics[1]
    metric.process({}, [sample.to_dict()])
    result = metric.compute_metrics(metric.results)
    assert result['mean/iou@max'] == pytest.approx(100.0)
