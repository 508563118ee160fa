"""Bad input: truncated / wrongly sized / NaN / empty point files, missing or broken images,
missing cameras and info keys, and create_data killed or failing mid-write."""
import copy
import os
import pickle
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

from mmdet3d_plugin.datasets.converters import create_nuscenes_infos

CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT')
PREFIX = dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP', img='',
              **{cam: f'samples/{cam}' for cam in CAMERAS})
POINTS = dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5)


@pytest.fixture(scope='module')
def root(synthetic_world):
    """The shared world's nuScenes root (read-only: every bad file is made in ``tmp_path``)."""
    return synthetic_world.nuscenes


def build(spec):
    from mmdet3d.registry import TRANSFORMS
    with DefaultScope.overwrite_default_scope('mmdet3d_plugin'):
        return TRANSFORMS.build(spec)


def dataset(root, ann_file='nuscenes_infos_train.pkl', pipeline=(), **kwargs):
    from mmdet3d.registry import DATASETS
    with DefaultScope.overwrite_default_scope('mmdet3d_plugin'):
        return DATASETS.build(dict(
            type='NuScenesBEVDataset', data_root=str(root), ann_file=ann_file,
            data_prefix=PREFIX, pipeline=list(pipeline), test_mode=True,
            modality=dict(use_lidar=True, use_camera=True), **kwargs))


@pytest.fixture(scope='module')
def info(root):
    """The sample's info after the dataset's path handling (no pipeline)."""
    return dataset(root).get_data_info(0)


def with_lidar(info, path):
    results = copy.deepcopy(info)
    results['lidar_points']['lidar_path'] = str(path)
    return results


# ---------------------------------------------------------------------------------- points
def test_stock_name_builds_the_checked_loader_in_our_scope():
    from mmdet3d.datasets.transforms import LoadPointsFromFile as Stock
    from mmdet3d.registry import TRANSFORMS
    from mmdet3d_plugin.datasets.transforms import CheckedLoadPointsFromFile
    assert type(build(POINTS)) is CheckedLoadPointsFromFile
    assert issubclass(CheckedLoadPointsFromFile, Stock)
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        assert type(TRANSFORMS.build(POINTS)) is Stock


def test_missing_truncated_and_wrong_width_files(info, tmp_path):
    loader = build(POINTS)
    with pytest.raises(FileNotFoundError, match=rf"nothing\.bin.*token {info['token']}"):
        loader(with_lidar(info, tmp_path / 'nothing.bin'))
    good = np.fromfile(info['lidar_points']['lidar_path'], np.float32)
    truncated = tmp_path / 'truncated.pcd.bin'
    truncated.write_bytes(good.tobytes()[:-7])
    size = good.nbytes - 7
    with pytest.raises(ValueError, match=rf'truncated\.pcd\.bin has {size} bytes.*load_dim=5'):
        loader(with_lidar(info, truncated))
    seven = tmp_path / 'seven.bin'  # 7 points x 5 columns read with load_dim=4: 140 % 16 != 0
    good[:35].tofile(seven)
    with pytest.raises(ValueError, match=r'seven\.bin has 140 bytes.*load_dim=4'):
        build(dict(POINTS, load_dim=4, use_dim=4))(with_lidar(info, seven))


def test_non_finite_points_raise_or_are_dropped(info, tmp_path):
    points = np.random.default_rng(0).normal(size=(50, 5)).astype(np.float32)
    points[[3, 17, 40], 1] = np.nan
    points[22, 4] = np.inf
    path = tmp_path / 'nan.bin'
    points.tofile(path)
    with pytest.raises(ValueError, match=r'nan\.bin holds 4 of 50 points with NaN/inf'):
        build(POINTS)(with_lidar(info, path))
    with pytest.warns(UserWarning, match='dropped 4 points'):
        results = build(dict(POINTS, non_finite='drop'))(with_lidar(info, path))
    kept = np.delete(points, [3, 17, 22, 40], axis=0)
    np.testing.assert_array_equal(results['points'].tensor.numpy(), kept)


def test_empty_cloud_gives_zero_points_and_still_packs_and_voxelises(info, tmp_path):
    from mmdet3d.models.data_preprocessors import Det3DDataPreprocessor
    from mmengine.dataset import pseudo_collate
    path = tmp_path / 'empty.pcd.bin'
    path.write_bytes(b'')
    loader = build(POINTS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        results = loader(with_lidar(info, path))
        loader(with_lidar(info, path))
    assert sum('is empty' in str(w.message) for w in caught) == 1  # once per loader
    assert tuple(results['points'].tensor.shape) == (0, 5)
    with pytest.raises(ValueError, match=r'empty\.pcd\.bin is empty'):
        build(dict(POINTS, on_empty='error'))(with_lidar(info, path))
    # the rest of a LiDAR pipeline runs and the batch voxelises to zero voxels
    for spec in (dict(type='LoadSweepsWithRing', sweeps_num=0, keep_ring=False),
                 dict(type='GlobalAugmentAll'),
                 dict(type='PointsRangeFilter', point_cloud_range=[-50, -50, -5, 50, 50, 3]),
                 dict(type='Pack3DDetBEVInputs', keys=['points'])):
        results = build(spec)(results)
    assert tuple(results['inputs']['points'].shape) == (0, 5)
    preprocessor = Det3DDataPreprocessor(
        voxel=True, voxel_type='hard', voxel_layer=dict(
            max_num_points=10, point_cloud_range=[-51.2, -51.2, -5, 51.2, 51.2, 3],
            voxel_size=[0.4, 0.4, 8], max_voxels=(1000, 1000)))
    batch = preprocessor(pseudo_collate([results]), False)
    assert batch['inputs']['points'][0].shape == (0, 5)
    assert batch['inputs']['voxels']['voxels'].shape[0] == 0


def test_sweep_files_are_checked_the_same_way(info, tmp_path):
    base = build(POINTS)(copy.deepcopy(info))
    sweep = np.fromfile(base['lidar_sweeps'][0]['lidar_points']['lidar_path'], np.float32)
    sweep = sweep.reshape(-1, 5).copy()
    sweep[:6, 0] = np.nan
    path = tmp_path / 'nan_sweep.pcd.bin'
    sweep.tofile(path)
    results = copy.deepcopy(base)
    results['lidar_sweeps'] = results['lidar_sweeps'][:1]
    results['lidar_sweeps'][0]['lidar_points']['lidar_path'] = str(path)
    with pytest.raises(ValueError, match=r'nan_sweep\.pcd\.bin holds 6 of'):
        build(dict(type='LoadSweepsWithRing', sweeps_num=1))(copy.deepcopy(results))
    dropped = build(dict(type='LoadSweepsWithRing', sweeps_num=1, non_finite='drop'))(results)
    assert len(dropped['points']) == len(base['points']) + len(sweep) - 6
    assert torch.isfinite(dropped['points'].tensor).all()


# ---------------------------------------------------------------------------------- images
def test_missing_and_broken_image_files(info, tmp_path):
    loader = build(dict(type='LoadMultiViewImages'))
    results = copy.deepcopy(info)
    results['images']['CAM_BACK']['img_path'] = str(tmp_path / 'gone.jpg')
    with pytest.raises(FileNotFoundError,
                       match=rf"CAM_BACK not found: .*gone\.jpg.*token {info['token']}"):
        loader(results)
    data = open(info['images']['CAM_FRONT_LEFT']['img_path'], 'rb').read()
    for name, payload in (('cut.jpg', data[:len(data) // 2]), ('noise.jpg', b'not an image' * 9),
                          ('zero.jpg', b'')):
        (tmp_path / name).write_bytes(payload)
        results = copy.deepcopy(info)
        results['images']['CAM_FRONT_LEFT']['img_path'] = str(tmp_path / name)
        with pytest.raises(ValueError, match=rf'CAM_FRONT_LEFT.*{name}'):
            loader(results)


def test_missing_camera_raises_or_is_blanked(info):
    results = copy.deepcopy(info)
    del results['images']['CAM_BACK_LEFT']
    with pytest.raises(KeyError, match=r"CAM_BACK_LEFT is not in .*present: \['CAM_BACK', "):
        build(dict(type='LoadMultiViewImages'))(copy.deepcopy(results))
    blank = build(dict(type='LoadMultiViewImages', missing_camera='blank'))(results)
    full = build(dict(type='LoadMultiViewImages'))(copy.deepcopy(info))
    assert blank['dropped_views'] == [4] and blank['camera_missing'] is False
    assert blank['img'][4].shape == (225, 400, 3) and not blank['img'][4].any()
    for view in (0, 1, 2, 3, 5):
        np.testing.assert_array_equal(blank['img'][view], full['img'][view])
        np.testing.assert_array_equal(blank['lidar2img'][view], full['lidar2img'][view])
    np.testing.assert_array_equal(blank['lidar2img'][4], np.eye(4))
    # the corruption suite accumulates into the same record
    dropped = build(dict(type='ViewDrop', num_views=5))(blank)
    assert len(dropped['dropped_views']) >= 5 and 4 in dropped['dropped_views']


# ---------------------------------------------------------------------------------- info keys
def edited_infos(root, tmp_path, edit):
    infos = pickle.load(open(root / 'nuscenes_infos_train.pkl', 'rb'))
    edit(infos['data_list'][0])
    path = tmp_path / 'edited_infos.pkl'
    pickle.dump(infos, open(path, 'wb'))
    return str(path), infos['data_list'][0]['token']


@pytest.mark.parametrize('key', ['images', 'lidar_points'])
def test_missing_info_key_names_key_and_token(root, tmp_path, key):
    ann_file, token = edited_infos(root, tmp_path, lambda info: info.pop(key))
    with pytest.raises(KeyError, match=rf'{token}.*lacks \[\'{key}\'\]'):
        dataset(root, ann_file)


def test_pipeline_key_error_names_key_and_token(root, tmp_path):
    ann_file, token = edited_infos(root, tmp_path, lambda info: info.pop('ego2global'))
    data = dataset(root, ann_file, pipeline=[
        POINTS, dict(type='LoadBEVMapGT', data_root=str(root))])
    with pytest.raises(KeyError, match=rf"token {token}.*ego2global"):
        data[0]
    data = dataset(root, ann_file, pipeline=[dict(type='ObjectRangeFilter',
                                                  point_cloud_range=[-50, -50, -5, 50, 50, 3])])
    with pytest.raises(KeyError, match=rf"sample token {token} .*KeyError 'gt_bboxes_3d'"):
        data[0]  # a stock transform's bare KeyError gets the sample named


# ---------------------------------------------------------------------------------- create_data
def write_fake_infos(out_dir):
    for split in ('train', 'val'):
        (out_dir / f'nuscenes_infos_{split}.pkl').write_bytes(f'previous {split}'.encode())


def test_create_data_failing_mid_write_leaves_no_partial_file(root, tmp_path, monkeypatch):
    from mmdet3d_plugin.datasets.converters import nuscenes_infos
    write_fake_infos(tmp_path)

    def failing_dump(obj, file, protocol=None):
        file.write(b'\x80\x05half a pickle')
        raise RuntimeError('disk full')

    monkeypatch.setattr(nuscenes_infos.pickle, 'dump', failing_dump)
    with pytest.raises(RuntimeError, match='disk full'):
        create_nuscenes_infos(str(root), str(tmp_path), progress=False)
    assert sorted(os.listdir(tmp_path)) == ['nuscenes_infos_train.pkl', 'nuscenes_infos_val.pkl']
    assert (tmp_path / 'nuscenes_infos_train.pkl').read_bytes() == b'previous train'
    fresh = tmp_path / 'fresh'
    with pytest.raises(RuntimeError, match='disk full'):
        create_nuscenes_infos(str(root), str(fresh), progress=False)
    assert os.listdir(fresh) == []


@pytest.mark.slow  # a fresh interpreter imports the package (~15 s on 2 busy cores)
def test_create_data_killed_mid_write_leaves_previous_files(root, tmp_path):
    """SIGKILL half-way through writing the first info file (a separate process: forking this
    multi-threaded test process can deadlock the child)."""
    write_fake_infos(tmp_path)
    code = ('import os, pickle, signal, sys\n'
            'from mmdet3d_plugin.datasets.converters import create_nuscenes_infos\n'
            'def dump(obj, file, protocol=None):\n'
            '    file.write(pickle.dumps(obj)[:100]); file.flush()\n'
            '    os.kill(os.getpid(), signal.SIGKILL)\n'
            'pickle.dump = dump\n'
            'create_nuscenes_infos(sys.argv[1], sys.argv[2], progress=False)\n')
    proc = subprocess.run([sys.executable, '-c', code, str(root), str(tmp_path)],
                          capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert (tmp_path / 'nuscenes_infos_train.pkl').read_bytes() == b'previous train'
    assert (tmp_path / 'nuscenes_infos_val.pkl').read_bytes() == b'previous val'
    leftovers = [name for name in os.listdir(tmp_path) if not name.startswith('nuscenes_infos_')]
    assert all(name.startswith('.') and name.endswith('.tmp') for name in leftovers), leftovers
    assert sorted(p.name for p in tmp_path.glob('*.pkl')) == ['nuscenes_infos_train.pkl',
                                                             'nuscenes_infos_val.pkl']


def test_info_files_get_ordinary_permissions(root, tmp_path):
    umask = os.umask(0o022)
    try:
        written = create_nuscenes_infos(str(root), str(tmp_path), progress=False)
    finally:
        os.umask(umask)
    assert os.stat(written['train']).st_mode & 0o777 == 0o644  # not mkstemp's 0o600
    assert pickle.load(open(written['train'], 'rb'))['data_list']
