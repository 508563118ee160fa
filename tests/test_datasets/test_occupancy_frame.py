"""OccupancyFrame: lidar2occ per grid frame, grid flips that keep points and labels consistent,
seeded draws, clear errors; Pack3DDetBEVInputs keeps the occupancy dtypes and metas."""
import numpy as np
import pytest
import torch

from mmdet3d_plugin.datasets.transforms import OccupancyFrame, Pack3DDetBEVInputs
from mmdet3d_plugin.structures.occupancy_grid import OccupancyGrid

GRID = OccupancyGrid.occ3d_nuscenes()


def lidar2ego() -> np.ndarray:
    """A LIDAR_TOP mounting like nuScenes' (yaw ~90 deg, 0.9 m ahead, 1.8 m up)."""
    yaw = np.deg2rad(89.0)
    matrix = np.eye(4)
    matrix[:2, :2] = [[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]]
    matrix[:3, 3] = (0.94, 0.0, 1.84)
    return matrix


def occ3d_results(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return dict(lidar_points=dict(lidar2ego=lidar2ego().tolist()),
                gt_occ=rng.integers(0, 18, GRID.shape).astype(np.uint8),
                mask_camera=rng.random(GRID.shape) < 0.5,
                mask_lidar=rng.random(GRID.shape) < 0.5)


def lidar_points_in_voxels(count: int, seed: int = 1) -> np.ndarray:
    """(count, 3) LiDAR-frame points near the centres of random voxels (off the voxel faces)."""
    rng = np.random.default_rng(seed)
    index = rng.integers(0, GRID.shape, (count, 3))
    centres = GRID.lower + (index + 0.5) * np.array(GRID.voxel_size)
    ego = centres + rng.uniform(-0.3, 0.3, (count, 3)) * np.array(GRID.voxel_size)
    return (np.linalg.inv(lidar2ego()) @ np.c_[ego, np.ones(count)].T).T[:, :3]


def labels_at(results: dict, points: np.ndarray, key: str = 'gt_occ') -> np.ndarray:
    grid_points = (results['lidar2occ'].astype(np.float64) @ np.c_[points, np.ones(len(points))].T
                   ).T[:, :3]
    index, inside = GRID.voxel_of(grid_points)
    assert inside.all()
    return results[key][tuple(index.T)]


def test_lidar2occ_is_lidar2ego_for_occ3d_and_identity_for_lidar_grids():
    results = occ3d_results()
    before = {key: results[key].copy() for key in ('gt_occ', 'mask_camera', 'mask_lidar')}
    out = OccupancyFrame()(results)
    assert out['lidar2occ'].dtype == np.float32 and out['lidar2occ'].shape == (4, 4)
    np.testing.assert_allclose(out['lidar2occ'], lidar2ego(), atol=1e-6)
    assert out['occ_flip'] == (False, False)
    for key, array in before.items():
        np.testing.assert_array_equal(out[key], array)
    lidar_grid = OccupancyFrame('nuscenes-occupancy')(
        dict(gt_occ=np.zeros((512, 512, 40), np.uint8)))
    np.testing.assert_array_equal(lidar_grid['lidar2occ'], np.eye(4))


@pytest.mark.parametrize('flips', [(1.0, 0.0), (0.0, 1.0), (1.0, 1.0)])
def test_a_flip_reverses_the_grid_and_keeps_every_point_on_its_label(flips):
    points = lidar_points_in_voxels(5000)
    plain = OccupancyFrame()(occ3d_results())
    flipped = OccupancyFrame(flip_x_ratio=flips[0], flip_y_ratio=flips[1])(occ3d_results())
    assert flipped['occ_flip'] == tuple(bool(f) for f in flips)
    axes = tuple(axis for axis, flip in enumerate(flips) if flip)
    for key in ('gt_occ', 'mask_camera', 'mask_lidar'):
        np.testing.assert_array_equal(flipped[key], np.flip(plain[key], axes))
        assert flipped[key].dtype == plain[key].dtype and flipped[key].flags.c_contiguous
        # a point inside a voxel before the flip lands on the same label after it
        np.testing.assert_array_equal(labels_at(flipped, points, key),
                                      labels_at(plain, points, key))
    # the reflection is x -> (x_min + x_max) - x (here -x) in the grid frame
    reflection = np.diag([-1.0 if f else 1.0 for f in flips] + [1.0, 1.0])
    np.testing.assert_allclose(flipped['lidar2occ'], reflection @ lidar2ego(), atol=1e-6)


def test_flips_follow_the_seeded_global_rng():
    transform = OccupancyFrame(flip_x_ratio=0.5, flip_y_ratio=0.5)

    def draws():
        return [transform(dict(lidar_points=dict(lidar2ego=lidar2ego())))['occ_flip']
                for _ in range(12)]

    np.random.seed(3)
    first = draws()
    np.random.seed(3)
    assert draws() == first
    assert len(set(first)) > 1  # both outcomes occur
    state = np.random.get_state()[1].copy()
    OccupancyFrame(flip_y_ratio=1.0)(occ3d_results())  # ratios 0 and 1 draw nothing
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_bad_inputs_raise_naming_the_problem():
    results = occ3d_results()
    results['gt_occ'] = results['gt_occ'][:, :, :8]
    with pytest.raises(ValueError, match=r"results\['gt_occ'\].*\(200, 200, 16\).*\(200, 200, 8\)"):
        OccupancyFrame()(results)
    with pytest.raises(ValueError, match=r'OccupancyFrame: bad grid.*does not fit'):
        OccupancyFrame(grid=dict(point_cloud_range=(-40, -40, -1, 40, 40, 5.4),
                                 voxel_size=(0.3, 0.3, 0.4), shape=(200, 200, 16)))
    with pytest.raises(KeyError, match='lidar2ego'):
        OccupancyFrame()(dict(gt_occ=np.zeros(GRID.shape, np.uint8)))
    augmented = dict(occ3d_results(), lidar_aug_matrix=np.diag([-1.0, 1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match='lidar_aug_matrix'):
        OccupancyFrame()(augmented)
    with pytest.raises(ValueError, match='flip_x_ratio'):
        OccupancyFrame(flip_x_ratio=1.5)


def test_packing_keeps_occupancy_dtypes_and_the_frame_metas():
    results = OccupancyFrame(flip_x_ratio=1.0)(occ3d_results())
    packed = Pack3DDetBEVInputs(keys=['gt_occ', 'mask_camera', 'mask_lidar'])(results)
    sample = packed['data_samples']
    assert sample.gt_occ.dtype == torch.uint8 and sample.gt_occ.shape == GRID.shape
    assert sample.mask_camera.dtype == torch.bool and sample.mask_lidar.dtype == torch.bool
    np.testing.assert_array_equal(sample.gt_occ.numpy(), results['gt_occ'])
    assert sample.metainfo['occ_flip'] == (True, False)
    assert np.asarray(sample.metainfo['lidar2occ']).shape == (4, 4)
    with pytest.raises(ValueError, match=r"results\['gt_occ'\] must be \(X, Y, Z\)"):
        Pack3DDetBEVInputs(keys=['gt_occ'])(dict(gt_occ=np.zeros((200, 200), np.uint8)))
