"""KITTI infos by mmdet3d's own converter (``create_kitti_infos``) on the synthetic world: v2
layout with difficulty and num_lidar_pts, reduced point clouds, read by mmdet3d's
``KittiDataset`` with the stock kitti-3d-3class test pipeline, and ground truth as prediction
scoring 100 in ``KittiMetric``; atomic output."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from kitti_eval_cpu import use_cpu_rotate_iou

from mmdet3d_plugin.datasets.converters.kitti_infos import create_kitti_infos

CLASSES = ['Pedestrian', 'Cyclist', 'Car']  # mmdet3d's kitti-3d-3class
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def kitti_root(kitti_world):
    """The shared full-size KITTI world, converted by ``create_kitti_infos`` (its own root)."""
    return str(kitti_world.kitti)


def load(path: str) -> dict:
    with open(path, 'rb') as f:
        return pickle.load(f)


def stock_test_pipeline() -> list:
    """The test pipeline of mmdet3d's ``configs/_base_/datasets/kitti-3d-3class.py``."""
    import mmdet3d
    from mmengine import Config
    path = os.path.join(os.path.dirname(mmdet3d.__file__), '.mim', 'configs', '_base_',
                        'datasets', 'kitti-3d-3class.py')
    return Config.fromfile(path).test_pipeline


def test_v2_infos_with_difficulty_points_and_reduced_clouds(kitti_root):
    splits = {'train': [0, 1, 2], 'val': [3, 4, 5], 'trainval': list(range(6)), 'test': []}
    for split, frames in splits.items():
        infos = load(os.path.join(kitti_root, f'kitti_infos_{split}.pkl'))
        assert infos['metainfo']['dataset'] == 'kitti'
        assert infos['metainfo']['categories']['Car'] == 2
        assert [d['sample_idx'] for d in infos['data_list']] == frames
    assert not [n for n in os.listdir(kitti_root) if n.startswith('.')]  # no temporary left
    data_list = load(os.path.join(kitti_root, 'kitti_infos_trainval.pkl'))['data_list']
    reduced = os.path.join(kitti_root, 'training', 'velodyne_reduced')
    assert sorted(os.listdir(reduced)) == [f'{i:06d}.bin' for i in range(6)]
    cars = 0
    for info in data_list:
        assert info['lidar_points']['lidar_path'] == f"{info['sample_idx']:06d}.bin"
        assert info['images']['CAM2']['img_path'] == f"{info['sample_idx']:06d}.png"
        assert (info['images']['CAM2']['height'], info['images']['CAM2']['width']) == (900, 1600)
        full = np.fromfile(os.path.join(kitti_root, 'training', 'velodyne',
                                        f"{info['sample_idx']:06d}.bin"), dtype=np.float32)
        part = np.fromfile(os.path.join(reduced, f"{info['sample_idx']:06d}.bin"),
                           dtype=np.float32)
        assert 0 < part.size < full.size and part.size % 4 == 0  # image_2's field of view
        for instance in info['instances']:
            assert instance['difficulty'] in (-1, 0, 1, 2)
            if instance['bbox_label'] == 2:
                cars += 1
                assert instance['num_lidar_pts'] >= 0
    assert cars >= 6
    assert any(i['difficulty'] == 0 and i['num_lidar_pts'] > 20 for d in data_list
               for i in d['instances'])


def test_stock_kitti_dataset_and_metric_score_ground_truth_perfectly(kitti_root, tmp_path,
                                                                    monkeypatch):
    from mmdet3d.datasets import KittiDataset
    from mmdet3d.evaluation import KittiMetric
    use_cpu_rotate_iou(monkeypatch)
    common = dict(data_root=kitti_root, data_prefix=dict(pts='training/velodyne_reduced'),
                  modality=dict(use_lidar=True, use_camera=False), test_mode=True,
                  metainfo=dict(classes=CLASSES), box_type_3d='LiDAR')
    dataset = KittiDataset(ann_file='kitti_infos_trainval.pkl', pipeline=stock_test_pipeline(),
                           **common)
    assert len(dataset) == 6
    predictions = []
    for index in range(len(dataset)):
        sample = dataset[index]
        assert sample['inputs']['points'].shape[1] == 4 and len(sample['inputs']['points']) > 0
        ann = dataset.parse_ann_info(dataset.get_data_info(index))  # LiDAR-frame GT
        boxes = ann['gt_bboxes_3d']
        keep = torch.as_tensor(ann['gt_labels_3d'] >= 0)
        # 0.1 % smaller than the GT: identical rotated boxes trip the CUDA IoU kernel
        # (open-mmlab/mmdetection3d#2910); IoU 0.997 passes every threshold
        tensor = boxes.tensor[keep].clone()
        tensor[:, 3:6] *= 0.999
        predictions.append(dict(bboxes_3d=type(boxes)(tensor),
                                labels_3d=torch.as_tensor(ann['gt_labels_3d'])[keep],
                                scores_3d=torch.ones(int(keep.sum()))))
    # AP samples 41 recall points: a perfect detector scores 100 only with >= 40 GT of each
    # evaluated class and difficulty, so the frames are repeated (infos and predictions alike)
    infos = load(os.path.join(kitti_root, 'kitti_infos_trainval.pkl'))
    repeat = 14
    infos['data_list'] = infos['data_list'] * repeat
    ann_file = str(tmp_path / 'repeated_infos.pkl')
    with open(ann_file, 'wb') as f:
        pickle.dump(infos, f)
    # the synthetic annotations reach 80 m around the ego; KITTI's default limit is 70.4 m
    metric = KittiMetric(ann_file=ann_file, metric='bbox',
                         pcd_limit_range=[0, -80, -5, 80, 80, 3])
    metric.dataset_meta = dict(classes=CLASSES)
    for k in range(len(infos['data_list'])):
        metric.process({}, [dict(pred_instances_3d=dict(predictions[k % len(predictions)]),
                                 pred_instances=dict(), sample_idx=k)])
    results = metric.evaluate(len(infos['data_list']))
    # the world's frames hold cars and pedestrians at every difficulty (no cyclists)
    keys = [f'Kitti metric/pred_instances_3d/KITTI/{name}_{kind}_{points}_{level}_{overlap}'
            for name in ('Car', 'Pedestrian') for kind in ('3D', 'BEV', '2D')
            for points in ('AP11', 'AP40') for level in ('easy', 'moderate', 'hard')
            for overlap in ('strict', 'loose')]
    assert {key: results[key] for key in keys} == {key: pytest.approx(100.0) for key in keys}


@pytest.mark.slow  # a fresh interpreter imports torch/mmdet3d and runs the converter (~35 s)
def test_cli_writes_infos_into_out_dir(kitti_world, copy_world, tmp_path):
    # mmdet3d's converter rewrites training/velodyne_reduced in the root itself: use a copy.
    root = str(copy_world(kitti_world).kitti)
    out = tmp_path / 'infos'
    subprocess.run([sys.executable, os.path.join(REPO, 'tools', 'create_data.py'), 'kitti',
                    '--root-path', root, '--out-dir', str(out), '--extra-tag', 'syn'],
                   check=True, cwd=str(tmp_path), capture_output=True)
    assert sorted(os.listdir(out)) == [f'syn_infos_{s}.pkl' for s in
                                       ('test', 'train', 'trainval', 'val')]
    assert load(str(out / 'syn_infos_val.pkl'))['data_list'][0]['sample_idx'] == 3


def test_missing_layout_is_named_and_nothing_written(tmp_path):
    (tmp_path / 'training' / 'velodyne').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match='ImageSets'):
        create_kitti_infos(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ['training']


def test_interrupted_conversion_leaves_no_info_file(kitti_root, tmp_path, monkeypatch):
    from mmdet3d_plugin.datasets.converters.kitti_infos import mmdet3d_converters
    _, update_infos = mmdet3d_converters()
    original, calls = update_infos.update_kitti_infos, []

    def crash(pkl_path, out_dir):  # the second split fails after the first was converted
        calls.append(pkl_path)
        if len(calls) == 2:
            with open(os.path.join(out_dir, os.path.basename(pkl_path)), 'wb') as f:
                f.write(b'half')
            raise RuntimeError('disk full')
        original(pkl_path=pkl_path, out_dir=out_dir)

    monkeypatch.setattr(update_infos, 'update_kitti_infos', crash)
    out = tmp_path / 'infos'
    with pytest.raises(RuntimeError, match='disk full'):
        create_kitti_infos(kitti_root, str(out), 'crashed', with_reduced=False)
    assert os.listdir(out) == []  # no .pkl, no temporary folder
