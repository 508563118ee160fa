"""Occupancy infos (``create_data.py occ3d`` / ``nuscenes-occupancy``) end to end on a tiny
world: infos -> LoadOcc3DGT / LoadNuScenesOccupancyGT -> the ground truth of that keyframe."""
import os
import pickle
import runpy

import numpy as np
import pytest

from mmdet3d_plugin.datasets.converters import create_occupancy_infos
from mmdet3d_plugin.datasets.transforms.loading_occupancy import (LoadNuScenesOccupancyGT,
                                                                  LoadOcc3DGT)
from mmdet3d_plugin.structures import OccupancyGrid
from mmdet3d_plugin.synthetic import semantic_occupancy
from mmdet3d_plugin.synthetic.nuscenes_writer import sample_token

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def world_root(synthetic_world):
    """The shared world's folder (``nuscenes/``, ``occ3d/``, ``nuscenes-occupancy/``)."""
    return synthetic_world.out


def load(path: str) -> dict:
    with open(path, 'rb') as f:
        return pickle.load(f)


def test_infos_lead_the_loaders_to_each_keyframes_ground_truth(world_root, tiny_world, tmp_path):
    written = create_occupancy_infos(str(world_root / 'nuscenes'), str(tmp_path), 'v1.0-mini',
                                     'occ', max_sweeps=2, occ3d_path=str(world_root / 'occ3d'),
                                     occ_path=str(world_root / 'nuscenes-occupancy'),
                                     progress=False)
    assert sorted(written) == ['train', 'val']
    world = tiny_world  # the world the files were written from
    scenes = {scene.name: scene for scene in world.scenes}
    checked = 0
    for split, path in written.items():
        infos = load(path)
        meta = infos['metainfo']
        assert meta['occ3d_root'] == str(world_root / 'occ3d')
        assert meta['occ_root'] == str(world_root / 'nuscenes-occupancy')
        # one scene per split
        assert len(infos['data_list']) == world.config.num_keyframes
        for info in infos['data_list']:
            assert len(info['lidar_sweeps']) == 2
            occ3d = LoadOcc3DGT(occ3d_root=meta['occ3d_root'])(dict(info))
            assert occ3d['gt_occ'].shape == (200, 200, 16) and occ3d['gt_occ'].dtype == np.uint8
            assert occ3d['mask_camera'].dtype == bool and occ3d['mask_lidar'].shape == (200, 200,
                                                                                          16)
            assert occ3d['mask_camera'].any() and occ3d['mask_lidar'].any()
            occ = LoadNuScenesOccupancyGT(occ_root=meta['occ_root'])(dict(info))
            assert occ['gt_occ'].shape == (512, 512, 40) and occ['gt_occ'].dtype == np.uint8
            # the files are the ground truth of exactly this keyframe
            scene = scenes[info['scene_name']]
            keyframe = info['sample_idx']  # one scene per split
            assert info['token'] == sample_token(scene, keyframe)
            frame = world.frame(scene, scene.keyframe_times()[keyframe])
            np.testing.assert_array_equal(
                occ3d['gt_occ'], semantic_occupancy(world, frame, OccupancyGrid.occ3d_nuscenes()))
            np.testing.assert_array_equal(
                occ['gt_occ'],
                semantic_occupancy(world, frame, OccupancyGrid.nuscenes_occupancy()))
            checked += 1
    assert checked == 2 * world.config.num_keyframes


def test_missing_ground_truth_is_named_and_nothing_written(world_root, tmp_path):
    with pytest.raises(ValueError, match='occ3d_path'):
        create_occupancy_infos(str(world_root / 'nuscenes'), str(tmp_path), progress=False)
    with pytest.raises(FileNotFoundError, match='root not found'):
        create_occupancy_infos(str(world_root / 'nuscenes'), str(tmp_path),
                               occ3d_path=str(tmp_path / 'nowhere'), progress=False)
    occ3d = tmp_path / 'occ3d'
    (occ3d / 'gts').mkdir(parents=True)  # an Occ3D root without this world's samples
    with pytest.raises(FileNotFoundError, match=r'Occ3D labels.npz of sample .* not found'):
        create_occupancy_infos(str(world_root / 'nuscenes'), str(tmp_path / 'out'),
                               occ3d_path=str(occ3d), progress=False)
    assert not (tmp_path / 'out').exists()


def test_cli_occ3d_writes_infos_next_to_the_ground_truth(world_root, tmp_path, capsys):
    create_data = runpy.run_path(os.path.join(REPO, 'tools', 'create_data.py'))
    occ3d = str(world_root / 'occ3d')
    create_data['main'](['occ3d', '--root-path', str(world_root / 'nuscenes'), '--occ3d-path',
                         occ3d, '--out-dir', str(tmp_path), '--max-sweeps', '0'])
    assert sorted(os.listdir(tmp_path)) == ['occ3d_infos_train.pkl', 'occ3d_infos_val.pkl']
    info = load(str(tmp_path / 'occ3d_infos_val.pkl'))['data_list'][0]
    assert os.path.isfile(os.path.join(occ3d, info['occ3d_path']))
    assert 'val: ' in capsys.readouterr().out
