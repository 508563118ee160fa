"""FastPointsRangeFilter / FastPointShuffle behave exactly like mmdet3d's transforms."""
import copy

import numpy as np
import torch
from mmdet3d.datasets.transforms import PointShuffle, PointsRangeFilter
from mmdet3d.structures import LiDARPoints

from mmdet3d_plugin.datasets.transforms import FastPointShuffle, FastPointsRangeFilter

RANGE = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]


def sample(num=5000):
    rng = np.random.default_rng(0)
    xyz = rng.uniform(-60, 60, (num, 3)) * [1, 1, 0.1]
    xyz[:10] = [[51.2, 0, 0], [-51.2, 0, 0], [0, 0, 3.0], [0, 0, -5.0], [51.19, 0, 0],
                [0, -51.19, 2.99], [0, 0, -4.99], [60, 0, 0], [0, 0, 0], [1, 1, 1]]  # edges
    points = np.c_[xyz, rng.uniform(0, 255, num), rng.uniform(0, 0.5, num)].astype(np.float32)
    return dict(points=LiDARPoints(torch.from_numpy(points), points_dim=5),
                pts_semantic_mask=np.arange(num), pts_instance_mask=np.arange(num)[::-1].copy())


def test_range_filter_matches_mmdet3d():
    stock = PointsRangeFilter(RANGE)(sample())
    fast = FastPointsRangeFilter(RANGE)(sample())
    assert 0 < len(fast['points']) < 5000
    assert type(fast['points']) is LiDARPoints and fast['points'].points_dim == 5
    torch.testing.assert_close(fast['points'].tensor, stock['points'].tensor, rtol=0, atol=0)
    for key in ('pts_semantic_mask', 'pts_instance_mask'):
        np.testing.assert_array_equal(fast[key], stock[key])


def test_shuffle_is_the_same_permutation_as_mmdet3d():
    torch.manual_seed(7)
    stock = PointShuffle()(sample())
    torch.manual_seed(7)
    fast = FastPointShuffle()(sample())
    torch.testing.assert_close(fast['points'].tensor, stock['points'].tensor, rtol=0, atol=0)
    original = sample()['points'].tensor
    order = fast['pts_semantic_mask']
    assert sorted(order.tolist()) == list(range(5000)) and not np.array_equal(order, np.sort(order))
    torch.testing.assert_close(fast['points'].tensor, original[torch.from_numpy(order)])
    np.testing.assert_array_equal(fast['pts_instance_mask'], 4999 - order)


def test_empty_points_pass():
    empty = dict(points=LiDARPoints(torch.zeros(0, 5), points_dim=5))
    assert FastPointsRangeFilter(RANGE)(copy.deepcopy(empty))['points'].tensor.shape == (0, 5)
    assert FastPointShuffle()(empty)['points'].tensor.shape == (0, 5)


def test_affine_xyz_matches_float64_matmul_in_place():
    from mmdet3d_plugin.datasets.transforms.point_ops import affine_xyz_
    array = np.random.default_rng(1).uniform(-80, 80, (20000, 5)).astype(np.float32)
    matrix = np.eye(4)
    matrix[:3, :3] = [[0.9, -0.4, 0.1], [0.4, 0.9, 0.0], [0.0, 0.2, 1.1]]
    matrix[:3, 3] = (1.5, -2.0, 0.3)
    expected = array[:, :3].astype(np.float64) @ matrix[:3, :3].T + matrix[:3, 3]
    moved = array.copy()
    assert affine_xyz_(moved, matrix) is moved
    np.testing.assert_allclose(moved[:, :3], expected, atol=1e-4)
    np.testing.assert_array_equal(moved[:, 3:], array[:, 3:])
