"""nuScenes v2 info creation: read by mmdet3d's NuScenesDataset and pipelines, sweeps exact."""
import pickle
import runpy
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT')


@pytest.fixture(scope='module')
def root(synthetic_world):
    return synthetic_world.nuscenes


@pytest.fixture(scope='module')
def infos_dir(root, tmp_path_factory):
    """Folder of the infos ``create_data.py nuscenes --max-sweeps 40`` writes for the shared
    world (its main(), in this process; into ``--out-dir``: the shared world is read-only)."""
    out = tmp_path_factory.mktemp('infos')
    create_data = runpy.run_path(str(REPO / 'tools/create_data.py'))
    create_data['main'](['nuscenes', '--root-path', str(root), '--version', 'v1.0-mini',
                         '--max-sweeps', '40', '--out-dir', str(out)])
    return out


def test_info_files_have_v2_layout_and_extras(infos_dir, synthetic_world):
    for split, scene in (('train', 'scene-0061'), ('val', 'scene-0103')):
        infos = pickle.load(open(infos_dir / f'nuscenes_infos_{split}.pkl', 'rb'))
        meta = infos['metainfo']
        assert meta['dataset'] == 'nuscenes' and meta['max_sweeps'] == 40
        data = infos['data_list']
        assert len(data) == synthetic_world.config.num_keyframes
        assert {d['scene_name'] for d in data} == {scene}
        first = data[0]
        assert len(first['lidar_sweeps']) == 40  # the synthetic world has 40 lead sweeps
        assert set(first['images']) == set(CAMERAS)
        for key in ('scene_token', 'lidar_token', 'prev', 'next', 'location', 'occ3d_path',
                    'occ_path', 'pts_semantic_mask_path'):
            assert key in first, key
        assert first['instances'] and len(first['instances'][0]['bbox_3d']) == 7


def test_mmdet3d_dataset_and_multisweep_loading(root, infos_dir):
    from mmdet3d.datasets import NuScenesDataset
    from mmdet3d.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    prefix = dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP',
                  **{cam: f'samples/{cam}' for cam in CAMERAS})
    pipeline = [
        dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
        dict(type='LoadPointsFromMultiSweeps', sweeps_num=9, use_dim=[0, 1, 2, 3, 4],
             pad_empty_sweeps=True, remove_close=True),
        dict(type='LoadAnnotations3D'),
        dict(type='LoadMultiViewImageFromFiles', to_float32=True),
        dict(type='Pack3DDetInputs', keys=['points', 'img', 'gt_bboxes_3d', 'gt_labels_3d']),
    ]
    dataset = NuScenesDataset(data_root=str(root),
                              ann_file=str(infos_dir / 'nuscenes_infos_val.pkl'),
                              data_prefix=prefix, pipeline=pipeline,
                              modality=dict(use_lidar=True, use_camera=True))
    sample = dataset[1]
    points = sample['inputs']['points']
    single = np.fromfile(root / 'samples/LIDAR_TOP' / dataset.get_data_info(1)['lidar_points']
                         ['lidar_path'].split('/')[-1], dtype=np.float32).reshape(-1, 5)
    assert points.shape[0] > 5 * len(single)  # ten sweeps accumulated
    assert sample['inputs']['img'].shape == (6, 3, 225, 400)
    gt = sample['data_samples'].gt_instances_3d
    assert len(gt.bboxes_3d) > 5 and gt.labels_3d.min() >= 0


def test_sweep_transform_is_exact(root, infos_dir):
    """Static ground points of a sweep, moved by lidar2sensor's inverse, lie on the ground."""
    info = pickle.load(open(infos_dir / 'nuscenes_infos_val.pkl', 'rb'))['data_list'][2]
    lidar2ego = np.array(info['lidar_points']['lidar2ego'])
    sweep = info['lidar_sweeps'][20]
    points = np.fromfile(root / sweep['lidar_points']['lidar_path'], dtype=np.float32)
    points = points.reshape(-1, 5)[:, :3]
    sensor2lidar = np.linalg.inv(np.array(sweep['lidar_points']['lidar2sensor']))
    in_lidar = points @ sensor2lidar[:3, :3].T + sensor2lidar[:3, 3]
    in_ego = in_lidar @ lidar2ego[:3, :3].T + lidar2ego[:3, 3]
    z = in_ego[:, 2]
    ground = np.abs(z) < 0.2
    assert ground.mean() > 0.3  # most low returns land on z = 0 in the keyframe's ego frame


def test_missing_tables_are_named(tmp_path):
    from mmdet3d_plugin.datasets.converters import create_nuscenes_infos
    with pytest.raises(FileNotFoundError, match='v1.0-mini'):
        create_nuscenes_infos(str(tmp_path), str(tmp_path))
    with pytest.raises(ValueError, match='max_sweeps'):
        create_nuscenes_infos(str(tmp_path), str(tmp_path), max_sweeps=41)
