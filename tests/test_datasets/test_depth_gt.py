"""MultiViewDepthGT: a LiDAR point at a known depth lands in the right view, cell and depth bin
after the image and LiDAR augmentations; the nearest return wins; packing."""
import numpy as np
import pytest
import torch
from mmdet3d.structures.points import LiDARPoints

from mmdet3d_plugin.datasets.transforms import MultiViewDepthGT, Pack3DDetBEVInputs
from mmdet3d_plugin.datasets.transforms.image_aug import affine_to_4x4, augmentation_affine
from mmdet3d_plugin.models.view_transforms import frustum_to_lidar, make_frustum
from mmdet3d_plugin.models.view_transforms.depth_loss import depth_bin_targets
from mmdet3d_plugin.testing import rig_matrices

FINAL_DIM = (128, 352)
STRIDE = 8
DBOUND = (1.0, 60.0, 1.0)
VIEW = 1  # CAM_FRONT_RIGHT


def _lidar_aug():
    """Rotation 0.3 rad about z, scale 1.05, a translation: original -> augmented LiDAR frame."""
    c, s = np.cos(0.3), np.sin(0.3)
    matrix = np.eye(4)
    matrix[:3, :3] = 1.05 * np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    matrix[:3, 3] = [0.4, -0.2, 0.1]
    return matrix


def _results(points_cam, time_lags):
    """Results with 6 views, flipped + rotated + cropped images, points given in VIEW's camera."""
    cam2img, lidar2cam = rig_matrices()
    affine = augmentation_affine(0.9, (10, 60), True, 3.0, FINAL_DIM)
    img_aug = np.repeat(affine_to_4x4(affine)[None], 6, axis=0).astype(np.float32)
    lidar_aug = _lidar_aug()
    original = (np.linalg.inv(lidar2cam[VIEW].astype(np.float64)) @
                np.c_[points_cam, np.ones(len(points_cam))].T).T  # (P, 4) original LiDAR frame
    augmented = (lidar_aug @ original.T).T[:, :3]
    points = np.c_[augmented, np.zeros(len(points_cam)), time_lags].astype(np.float32)
    results = dict(points=LiDARPoints(points, points_dim=5),
                   img=[np.zeros(FINAL_DIM + (3, ), np.float32) for _ in range(6)],
                   lidar2img=(cam2img @ lidar2cam).astype(np.float32), img_aug_matrix=img_aug,
                   lidar_aug_matrix=lidar_aug.astype(np.float32))
    if not len(points_cam):
        return results, None
    # where the augmented image shows the first point, by the ImageAug3D convention
    pixel = cam2img[VIEW] @ np.r_[points_cam[0], 1.0]
    u_aug, v_aug = (affine @ np.r_[pixel[0] / pixel[2], pixel[1] / pixel[2], 1.0])[:2]
    return results, (u_aug, v_aug)


def test_point_lands_in_its_view_cell_and_bin_and_the_frustum_maps_back_to_it():
    points_cam = np.array([[1.0, 0.5, 12.3],     # the point under test
                           [1.0 * 15 / 12.3, 0.5 * 15 / 12.3, 15.0],  # same ray, farther
                           [0.0, 0.0, 7.0]])     # a sweep point (time lag 0.1 s): ignored
    results, (u_aug, v_aug) = _results(points_cam, [0.0, 0.0, 0.1])
    depth = MultiViewDepthGT(downsample=STRIDE)(results)['gt_depth']
    assert depth.shape == (6, FINAL_DIM[0] // STRIDE, FINAL_DIM[1] // STRIDE)
    assert depth.dtype == np.float32
    row, col = int((v_aug + 0.5) // STRIDE), int((u_aug + 0.5) // STRIDE)
    assert depth[VIEW, row, col] == pytest.approx(12.3, abs=1e-4)
    assert np.count_nonzero(depth) == 1  # other views, cells and the sweep point: empty
    bins, mask = depth_bin_targets(torch.from_numpy(depth), DBOUND, 59)
    assert mask.sum() == 1 and bins[VIEW, row, col] == 11  # bin 11 = 1 m + 11 x 1 m = 12 m

    # the LSS frustum point of that cell and bin lies within a cell of the point (augmented frame)
    frustum = make_frustum(FINAL_DIM, depth.shape[1:], DBOUND)
    cam2img, lidar2cam = rig_matrices()
    lidar = frustum_to_lidar(frustum[11:12, row:row + 1, col:col + 1],
                             torch.from_numpy(cam2img)[None],
                             torch.from_numpy(lidar2cam)[None],
                             torch.from_numpy(results['img_aug_matrix'])[None],
                             torch.from_numpy(results['lidar_aug_matrix'])[None])
    target = results['points'].tensor[0, :3].numpy()
    # 0.3 m of depth rounding + half a cell (~0.4 m at 12 m for stride 8) laterally, x 1.05
    assert np.linalg.norm(lidar[0, VIEW, 0, 0, 0].numpy() - target) < 0.8

    # every sweep (max_time_lag=None) brings the 7 m point in, nowhere near the first one
    with_sweeps = MultiViewDepthGT(downsample=STRIDE, max_time_lag=None)(
        _results(points_cam, [0.0, 0.0, 0.1])[0])['gt_depth']
    assert np.count_nonzero(with_sweeps) == 2 and with_sweeps.min() == 0.0


def test_no_points_give_an_empty_map_and_packing_keeps_it():
    results, _ = _results(np.zeros((0, 3)), np.zeros(0))
    results = MultiViewDepthGT(downsample=STRIDE)(results)
    assert not results['gt_depth'].any()
    packed = Pack3DDetBEVInputs(keys=['points', 'img', 'gt_depth'])(results)
    gt = packed['data_samples'].gt_depth
    assert isinstance(gt, torch.Tensor) and gt.dtype == torch.float32
    assert tuple(gt.shape) == (6, 16, 44)


def test_image_size_not_a_multiple_of_the_stride_is_refused():
    results, _ = _results(np.zeros((0, 3)), np.zeros(0))
    with pytest.raises(ValueError, match='multiple of downsample=12'):
        MultiViewDepthGT(downsample=12)(results)
