"""Drive3D loading/augmentation transforms on the synthetic world, through mmdet3d's dataset."""
import copy

import numpy as np
import pytest

from mmdet3d_plugin.synthetic.nuscenes_tables import LIDARSEG_INDEX
from mmdet3d_plugin.synthetic.occupancy import LABELS, write_nuscenes_occupancy

PREFIX = dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP')
KEYFRAME = [dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5)]
CLASSES = ('car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle', 'motorcycle',
           'pedestrian', 'traffic_cone', 'barrier')


@pytest.fixture(scope='module')
def world(synthetic_world):
    """The shared world's folder (``nuscenes/`` with its infos, ``occ3d/``)."""
    return synthetic_world.out


def run(world, pipeline, index=1):
    """Results dict of sample ``index`` of the val split after ``pipeline`` (no packing)."""
    from mmdet3d.datasets import NuScenesDataset
    dataset = NuScenesDataset(data_root=str(world / 'nuscenes'), ann_file='nuscenes_infos_val.pkl',
                              data_prefix=PREFIX, pipeline=pipeline, filter_empty_gt=False,
                              modality=dict(use_lidar=True, use_camera=False))
    return dataset[index]


def lidarseg(world, results):
    path = world / 'nuscenes/lidarseg/v1.0-mini' / results['pts_semantic_mask_path']
    return np.fromfile(path, dtype=np.uint8)


def pixel(xy, bound=(-50.0, 0.5, 200)):
    index = np.floor((np.asarray(xy) - bound[0]) / bound[1]).astype(np.int64)
    return index, np.all((index >= 0) & (index < bound[2]), axis=-1)


def inside_boxes(xyz, boxes, margin):
    """(N, M) whether points lie in LiDAR boxes (gravity centres), grown by ``margin``."""
    center = boxes.gravity_center.numpy()
    dims, yaw = boxes.tensor[:, 3:6].numpy(), boxes.tensor[:, 6].numpy()
    rel = xyz[:, None, :] - center[None]
    c, s = np.cos(yaw), np.sin(yaw)
    u, v = c * rel[..., 0] + s * rel[..., 1], -s * rel[..., 0] + c * rel[..., 1]
    return ((np.abs(u) <= dims[:, 0] / 2 + margin) & (np.abs(v) <= dims[:, 1] / 2 + margin)
            & (np.abs(rel[..., 2]) <= dims[:, 2] / 2 + margin))


# ---------------------------------------------------------------------------------- sweeps
def test_sweeps_keep_ring_and_time_lag(world):
    results = run(world, KEYFRAME + [dict(type='LoadSweepsWithRing', sweeps_num=10,
                                          test_mode=True)])
    points = results['points'].tensor.numpy()
    assert points.shape[1] == 6
    rings = points[:, 4]
    assert np.array_equal(rings, np.rint(rings)) and set(np.unique(rings)) == set(range(32))
    keyframe = np.fromfile(results['lidar_points']['lidar_path'], np.float32).reshape(-1, 5)
    assert np.array_equal(points[:len(keyframe), :5], keyframe)
    expected = [0.0] + [results['timestamp'] - s['timestamp'] for s in results['lidar_sweeps']]
    lags, counts = np.unique(points[:, 5], return_counts=True)
    np.testing.assert_allclose(lags, sorted(expected), atol=1e-6)
    sizes = [len(keyframe)] + [np.fromfile(s['lidar_points']['lidar_path'], np.float32).size // 5
                               for s in results['lidar_sweeps']]
    assert counts.tolist() == sizes  # lags ascend with sweep age, as the infos list them


def test_ten_sweeps_ground_lies_at_z0_in_keyframe_ego_frame(world):
    results = run(world, KEYFRAME + [dict(type='LoadSweepsWithRing', sweeps_num=10,
                                          test_mode=True)])
    points = results['points'].tensor.numpy().astype(np.float64)
    lidar2ego = np.array(results['lidar_points']['lidar2ego'])
    z = (points[:, :3] @ lidar2ego[:3, :3].T + lidar2ego[:3, 3])[:, 2]
    for lag in np.unique(points[:, 5]):
        sweep_z = z[points[:, 5] == lag]
        assert (np.abs(sweep_z) < 0.03).mean() > 0.2, lag  # ground returns (1 cm range noise)
        assert sweep_z.min() > -0.05, lag  # nothing below the ground plane


def test_exact_transform_for_a_turning_sweep(world, tmp_path):
    """A sweep taken while the ego turned: exact loader right, mmdet3d's formula off."""
    from mmdet3d.registry import TRANSFORMS
    from mmdet3d_plugin.datasets.transforms import LoadSweepsWithRing
    base = run(world, KEYFRAME + [dict(type='LoadSweepsWithRing', sweeps_num=1, test_mode=True)])
    sweep = copy.deepcopy(base['lidar_sweeps'][0])
    raw = np.fromfile(sweep['lidar_points']['lidar_path'], np.float32).reshape(-1, 5)
    yaw = np.radians(25.0)
    turn = np.eye(4)  # new sweep-sensor frame -> recorded sweep-sensor frame
    turn[:3, :3] = [[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]]
    turn[:3, 3] = (1.5, -0.7, 0.0)
    turned = raw.copy()
    turned[:, :3] = (raw[:, :3].astype(np.float64) - turn[:3, 3]) @ turn[:3, :3]
    path = tmp_path / 'turned.pcd.bin'
    turned.astype(np.float32).tofile(path)
    sensor2lidar = np.linalg.inv(np.array(sweep['lidar_points']['lidar2sensor'])) @ turn
    sweep['lidar_points'].update(lidar_path=str(path), lidar2sensor=np.linalg.inv(sensor2lidar))
    keyframe_rows = len(base['points']) - len(raw)
    expected = base['points'].tensor.numpy()[keyframe_rows:, :3]

    def load(transform):
        results = copy.deepcopy(base)
        results['points'] = results['points'][:keyframe_rows, :5]
        results['lidar_sweeps'] = [sweep]
        return transform(results)['points'].tensor.numpy()[keyframe_rows:, :3]

    ours = load(LoadSweepsWithRing(sweeps_num=1, test_mode=True))
    np.testing.assert_allclose(ours, expected, atol=2e-3)
    mmdet3d = load(TRANSFORMS.build(dict(type='LoadPointsFromMultiSweeps', sweeps_num=1,
                                         use_dim=[0, 1, 2, 3, 4], test_mode=True)))
    assert np.abs(mmdet3d - expected).max() > 0.2  # shifted by R.T @ t - t


def test_beam_reduction_keeps_the_same_four_rings_in_every_sweep(world):
    results = run(world, KEYFRAME + [dict(type='LoadSweepsWithRing', sweeps_num=10,
                                          beam_reduction=4, test_mode=True)])
    points = results['points'].tensor.numpy()
    assert len(np.unique(points[:, 5])) == 11  # keyframe and ten sweeps
    for lag in np.unique(points[:, 5]):
        assert set(np.unique(points[points[:, 5] == lag, 4])) == {3.0, 11.0, 19.0, 27.0}
    after = run(world, KEYFRAME + [dict(type='LoadSweepsWithRing', sweeps_num=10, test_mode=True),
                                   dict(type='BeamReduction', num_beams=4)])  # ring in column 4
    np.testing.assert_array_equal(after['points'].tensor.numpy(), points)


def test_padding_close_removal_and_mmdet3d_layout(world):
    from mmdet3d_plugin.datasets.transforms import LoadSweepsWithRing
    base = run(world, KEYFRAME)
    keyframe = base['points'].tensor.numpy()
    close = (np.abs(keyframe[:, 0]) < 3.0) & (np.abs(keyframe[:, 1]) < 3.0)
    assert close.any()
    results = LoadSweepsWithRing(sweeps_num=3, pad_empty_sweeps=True, remove_close=True,
                                 close_radius=3.0)(dict(copy.deepcopy(base), lidar_sweeps=[]))
    points = results['points'].tensor.numpy()
    assert len(points) == len(keyframe) + 3 * (~close).sum() and not points[:, 5].any()
    results = LoadSweepsWithRing(sweeps_num=2, keep_ring=False, test_mode=True)(
        copy.deepcopy(base))
    points = results['points'].tensor.numpy()
    assert points.shape[1] == 5 and len(np.unique(points[:, 4])) == 3  # x y z i lag


def test_sweep_errors_name_the_file(world, tmp_path):
    base = run(world, KEYFRAME)
    from mmdet3d_plugin.datasets.transforms import LoadSweepsWithRing
    for name, payload, error in (('missing.pcd.bin', None, FileNotFoundError),
                                 ('short.pcd.bin', b'\0' * 22, ValueError)):
        results = copy.deepcopy(base)
        path = tmp_path / name
        if payload is not None:
            path.write_bytes(payload)
        results['lidar_sweeps'][0]['lidar_points']['lidar_path'] = str(path)
        with pytest.raises(error, match=name):
            LoadSweepsWithRing(sweeps_num=10, test_mode=True)(results)


# ---------------------------------------------------------------------------------- occupancy
def test_occ3d_gt_loads(world):
    results = run(world, [dict(type='LoadOcc3DGT', occ3d_root=str(world / 'occ3d'))])
    stored = np.load(world / 'occ3d' / results['occ3d_path'])
    assert results['gt_occ'].shape == (200, 200, 16) and results['gt_occ'].dtype == np.uint8
    assert np.array_equal(results['gt_occ'], stored['semantics'])
    assert results['mask_camera'].dtype == bool and results['mask_lidar'].shape == (200, 200, 16)
    assert np.array_equal(results['mask_camera'], stored['mask_camera'] == 1)


def test_nuscenes_occupancy_gt_densifies_like_openoccupancy(tmp_path):
    from mmdet3d_plugin.datasets.transforms import LoadNuScenesOccupancyGT
    dense = np.zeros((512, 512, 40), np.uint8)
    dense[10, 20, 5], dense[300, 7, 39], dense[1, 2, 3] = 4, 16, 255
    write_nuscenes_occupancy(str(tmp_path), 'scene', 'lidar', dense)
    results = LoadNuScenesOccupancyGT(str(tmp_path))(dict(scene_token='scene',
                                                          lidar_token='lidar'))
    assert np.array_equal(results['gt_occ'], dense)
    with pytest.raises(FileNotFoundError, match='other.npy'):
        LoadNuScenesOccupancyGT(str(tmp_path))(dict(occ_path='other.npy'))


def test_occupancy_errors_name_the_file_and_key(world, tmp_path):
    from mmdet3d_plugin.datasets.transforms import LoadOcc3DGT
    loader = LoadOcc3DGT(str(tmp_path))
    with pytest.raises(KeyError, match='occ3d_path'):
        loader(dict(token='t'))
    with pytest.raises(FileNotFoundError, match='nothing.npz'):
        loader(dict(occ3d_path='nothing.npz'))
    np.savez(tmp_path / 'partial.npz', semantics=np.zeros((200, 200, 16), np.uint8),
             mask_lidar=np.zeros((200, 200, 16), np.uint8))
    with pytest.raises(KeyError, match=r"partial\.npz.*mask_camera"):
        loader(dict(occ3d_path='partial.npz'))
    masks = dict(mask_lidar=np.ones((200, 200, 16), np.uint8),
                 mask_camera=np.ones((200, 200, 16), np.uint8))
    bad = {'shape.npz': (np.zeros((200, 200, 8), np.uint8), r'shape\.npz: semantics has shape'),
           'dtype.npz': (np.zeros((200, 200, 16), np.float32), r'dtype\.npz: semantics must be '
                         'an integer'),
           'range.npz': (np.full((200, 200, 16), 18, np.uint8), r'range\.npz: semantics must '
                         r'hold labels 0\.\.17')}
    for name, (semantics, message) in bad.items():
        np.savez(tmp_path / name, semantics=semantics, **masks)
        with pytest.raises(ValueError, match=message):
            loader(dict(occ3d_path=name))
    from mmdet3d_plugin.datasets.transforms import LoadNuScenesOccupancyGT
    sparse_loader = LoadNuScenesOccupancyGT(str(tmp_path))
    np.save(tmp_path / 'float.npy', np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match=r'float\.npy must hold integer'):
        sparse_loader(dict(occ_path='float.npy'))
    np.save(tmp_path / 'cls.npy', np.array([[0, 0, 0, 17]]))
    with pytest.raises(ValueError, match=r'cls\.npy: cls must be 0 \(noise\) or 1\.\.16'):
        sparse_loader(dict(occ_path='cls.npy'))


# ---------------------------------------------------------------------------------- BEV map
def test_bev_map_masks_match_the_map_and_lidarseg(world):
    from mmdet3d_plugin.datasets.transforms import LoadBEVMapGT
    results = run(world, KEYFRAME + [dict(type='LoadBEVMapGT', data_root=str(world / 'nuscenes'))])
    masks = results['gt_masks_bev']
    assert masks.shape == (6, 200, 200) and masks.dtype == np.uint8
    assert masks[0].mean() > 0.05 and masks[5].any()  # drivable_area, divider
    points, labels = results['points'].tensor.numpy(), lidarseg(world, results)
    for label, channel in (('flat.driveable_surface', 0), ('flat.sidewalk', 2)):
        index, ok = pixel(points[labels == LIDARSEG_INDEX[label], :2])
        assert ok.sum() > 100 and masks[channel][tuple(index[ok].T)].mean() > 0.9, label
    with pytest.raises(FileNotFoundError, match='singapore-queenstown.json'):
        LoadBEVMapGT(str(world / 'nuscenes'))(dict(results, location='singapore-queenstown'))


# ---------------------------------------------------------------------------------- augmentation
AUGMENT = dict(type='GlobalAugmentAll', rot_range=(-1.2, 1.2), scale_ratio_range=(0.9, 1.1),
               translation_std=(0.3, 0.3, 0.1), flip_ratio_bev_horizontal=1.0,
               flip_ratio_bev_vertical=1.0, test_mode=True)


@pytest.fixture(scope='module', params=['both_flips', 'horizontal_flip'])
def augmented(world, request):
    """Base, augmented and map-after-augmentation results of one sample. Both flips make a
    rotation (a wrong inverse shows); one flip a reflection (the mirrored map patch)."""
    augment = dict(AUGMENT, flip_ratio_bev_vertical=float(request.param == 'both_flips'))
    loads = KEYFRAME + [dict(type='LoadAnnotations3D'),
                        dict(type='LoadOcc3DGT', occ3d_root=str(world / 'occ3d')),
                        dict(type='LoadBEVMapGT', data_root=str(world / 'nuscenes'))]
    base, aug = run(world, loads), run(world, loads + [augment])
    exact = run(world, loads[:3] + [augment, loads[3]])  # map rasterised after augmentation
    return base, aug, exact


def test_augmentation_matrix_moves_points_and_is_deterministic(world, augmented):
    base, aug, _ = augmented
    matrix = aug['lidar_aug_matrix'].astype(np.float64)
    assert (np.linalg.det(matrix[:3, :3]) < 0) == (not aug['pcd_vertical_flip'])
    xyz = base['points'].tensor.numpy()[:, :3]
    np.testing.assert_allclose(xyz @ matrix[:3, :3].T + matrix[:3, 3],
                               aug['points'].tensor.numpy()[:, :3], atol=1e-3)
    np.testing.assert_array_equal(aug['points'].tensor.numpy()[:, 3:], base['points'].tensor[:, 3:])
    augment = dict(AUGMENT, flip_ratio_bev_vertical=float(aug['pcd_vertical_flip']))
    again = run(world, KEYFRAME + [augment])
    np.testing.assert_array_equal(again['lidar_aug_matrix'], aug['lidar_aug_matrix'])
    other = run(world, KEYFRAME + [augment], index=2)
    assert not np.allclose(other['lidar_aug_matrix'], aug['lidar_aug_matrix'])


def test_points_stay_inside_their_boxes(augmented):
    base, aug, _ = augmented
    before = inside_boxes(base['points'].tensor.numpy()[:, :3], base['gt_bboxes_3d'], -0.02)
    after = inside_boxes(aug['points'].tensor.numpy()[:, :3], aug['gt_bboxes_3d'], 0.02)
    assert before.sum() > 100 and after[before].all()
    np.testing.assert_allclose(aug['gt_bboxes_3d'].gravity_center.numpy(),
                               base['gt_bboxes_3d'].gravity_center.numpy()
                               @ aug['lidar_aug_matrix'][:3, :3].T + aug['lidar_aug_matrix'][:3, 3],
                               atol=1e-3)


def test_map_pixels_follow_the_road_points(world, augmented):
    base, aug, exact = augmented
    labels = lidarseg(world, base)
    is_road = labels == LIDARSEG_INDEX['flat.driveable_surface']
    road = base['points'].tensor.numpy()[is_road, :3]
    moved = aug['points'].tensor.numpy()[is_road, :3]
    index, ok = pixel(road[:, :2])
    interior = np.zeros(len(road), bool)  # road points whose 3x3 pixel neighbourhood is drivable
    padded = np.pad(base['gt_masks_bev'][0], 1)
    windows = sum(padded[1 + dx:201 + dx, 1 + dy:201 + dy]
                  for dx in (-1, 0, 1) for dy in (-1, 0, 1))
    interior[ok] = windows[tuple(index[ok].T)] == 9
    new_index, new_ok = pixel(moved[:, :2])
    check = interior & new_ok
    assert check.sum() > 500
    assert aug['gt_masks_bev'][0][tuple(new_index[check].T)].all()
    assert exact['gt_masks_bev'][0][tuple(new_index[check].T)].mean() > 0.99
    # The resampled raster matches the map rasterised in the augmented frame (BEVFusion's
    # placement) wherever its source lies inside the original raster.
    inverse = np.linalg.inv(aug['lidar_aug_matrix'].astype(np.float64))
    centers = -50.0 + (np.arange(200) + 0.5) * 0.5
    grid = np.stack(np.meshgrid(centers, centers, indexing='ij'), -1)
    _, valid = pixel(grid @ inverse[:2, :2].T + inverse[:2, 3])
    agree = aug['gt_masks_bev'][:, valid] == exact['gt_masks_bev'][:, valid]
    assert valid.mean() > 0.8 and agree.mean(axis=1).min() > 0.97 and agree.mean() > 0.985


def test_occupancy_follows_the_boxes(augmented):
    base, aug, _ = augmented
    lidar2ego = np.array(base['lidar_points']['lidar2ego'])

    def labels_at(results):
        centers = results['gt_bboxes_3d'].gravity_center.numpy().astype(np.float64)
        ego = centers @ lidar2ego[:3, :3].T + lidar2ego[:3, 3]
        index = np.floor((ego - (-40.0, -40.0, -1.0)) / 0.4).astype(np.int64)
        ok = np.all((index >= 0) & (index < (200, 200, 16)), axis=1)
        out = np.full(len(centers), -1)
        out[ok] = results['gt_occ'][tuple(index[ok].T)]
        return out

    classes = np.array([LABELS[CLASSES[i]] for i in base['gt_labels_3d']])
    carried = labels_at(base) == classes
    assert carried.sum() >= 5
    kept = labels_at(aug)[carried] == classes[carried]
    large = base['gt_bboxes_3d'].tensor[carried, 3:5].numpy().min(1) >= 1.0
    assert kept[large].all() and kept.mean() >= 0.8
    for key in ('mask_camera', 'mask_lidar'):
        assert aug[key].dtype == bool and 0.5 < aug[key].sum() / base[key].sum() < 1.5


def test_training_draws_sweeps_from_the_nearest_pool_whatever_the_info_holds():
    # infos made for 40-sweep models must not stretch a 9-sweep model's training span
    from mmdet3d_plugin.datasets.transforms import LoadSweepsWithRing
    np.random.seed(0)
    nearest = LoadSweepsWithRing(sweeps_num=9)  # sweep_pool=10: BEVFusion's 9 of 10
    draws = np.stack([nearest._choose(40) for _ in range(200)])
    assert draws.shape == (200, 9) and draws.max() == 9 and len(np.unique(draws)) == 10
    everything = LoadSweepsWithRing(sweeps_num=9, sweep_pool=None)  # mmdet3d: all of them
    assert max(everything._choose(40).max() for _ in range(50)) > 9
    assert list(LoadSweepsWithRing(sweeps_num=9, test_mode=True)._choose(40)) == list(range(9))
    assert LoadSweepsWithRing(sweeps_num=40)._choose(40).tolist() == list(range(40))
    with pytest.raises(ValueError, match='sweep_pool'):
        LoadSweepsWithRing(sweep_pool=0)
