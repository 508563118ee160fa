"""LiDAR depth ground truth for camera depth supervision (BEVDepth / BEVFusion ``DepthLSS``).

``MultiViewDepthGT`` projects the (augmented) LiDAR points into every (augmented) camera view and
keeps, for every cell of the image feature map, the depth of the nearest return: BEVDepth's
``get_downsampled_gt_depth`` (min depth per ``downsample x downsample`` block of the full-
resolution sparse depth map), computed here directly at the feature stride without building the
full-resolution map. The result is ``results['gt_depth']`` ``(N, H / downsample, W /
downsample)`` float32 metres, 0 where no point falls; ``Pack3DDetBEVInputs`` packs it as
``data_sample.gt_depth``.

Geometry (the conventions of :mod:`.image_aug` and :mod:`.global_augment`): an augmented point
``q`` maps to ``[u' d, v' d, d, 1]``-style pixel coordinates by

    [u d, v d, d, 1] = lidar2img @ inv(lidar_aug_matrix) @ q,
    [u', v', d, 1] = img_aug_matrix @ [u, v, d, 1],

so the transform must run **after** ``GlobalAugmentAll`` and ``ImageAug3D`` (it reads both
matrices, identity when absent). Pixel centres are at integers, so feature cell ``(i, j)``
covers ``u' in [j s - 0.5, (j + 1) s - 0.5)``, ``v' in [i s - 0.5, (i + 1) s - 0.5)``, the
cells whose centres :func:`mmdet3d_plugin.models.view_transforms.make_frustum` uses.

The depth map is supervision only, never an input: a model trained with a modality drop still
sees it when the drop removes the LiDAR branch. Views dropped or blanked by a corruption are
masked out by the model (``dropped_views`` / ``camera_missing`` metainfo), not here, so the
transform may sit before or after the corruptions. No kept library offers this projection for
Drive3D's matrix layout (mmdet3d's BEVDepth-style code lives in projects not in the wheel), hence
the hand-written numpy below.
"""
from typing import Dict, Optional

import numpy as np
from mmcv.transforms import BaseTransform

from mmdet3d_plugin.registry import TRANSFORMS
from .corruptions.base import get_images, get_points


def project_to_views(points: np.ndarray, lidar2img: np.ndarray, img_aug_matrix: np.ndarray,
                     lidar_aug_matrix: np.ndarray) -> np.ndarray:
    """Augmented-image pixel coordinates and depth of augmented LiDAR points in every view.

    Args:
        points: ``(P, 3)`` x, y, z in the augmented LiDAR frame.
        lidar2img: ``(N, 4, 4)`` original LiDAR frame -> original image (``cam2img @
            lidar2cam``).
        img_aug_matrix: ``(N, 4, 4)``.
        lidar_aug_matrix: ``(4, 4)`` original -> augmented LiDAR frame.

    Returns:
        np.ndarray: ``(N, P, 3)`` float64 ``(u', v', d)``; ``d <= 0`` behind the camera.
    """
    homogeneous = np.concatenate([points.astype(np.float64),
                                  np.ones((points.shape[0], 1))], axis=1)  # (P, 4)
    to_img = lidar2img.astype(np.float64) @ np.linalg.inv(lidar_aug_matrix.astype(np.float64))
    cam = homogeneous[None] @ to_img.transpose(0, 2, 1)  # (N, P, 4) [u d, v d, d, 1]
    depth = cam[..., 2]
    safe = np.where(np.abs(depth) < 1e-6, 1e-6, depth)
    pixels = np.stack([cam[..., 0] / safe, cam[..., 1] / safe, depth, np.ones_like(depth)],
                      axis=-1)
    augmented = pixels @ img_aug_matrix.astype(np.float64).transpose(0, 2, 1)
    return np.concatenate([augmented[..., :2], depth[..., None]], axis=-1)


def min_depth_map(uvd: np.ndarray, image_size, downsample: int,
                  min_depth: float = 1e-3) -> np.ndarray:
    """Nearest depth per feature cell of one view.

    Args:
        uvd: ``(P, 3)`` augmented-image ``(u', v', d)`` of one view.
        image_size: ``(H, W)`` of the augmented image.
        downsample: Feature stride ``s``; ``H`` and ``W`` must be multiples of it.
        min_depth: Points nearer than this (or behind the camera) are ignored.

    Returns:
        np.ndarray: ``(H / s, W / s)`` float32, 0 where no point falls.
    """
    height, width = image_size
    rows, cols = height // downsample, width // downsample
    col = np.floor((uvd[:, 0] + 0.5) / downsample)
    row = np.floor((uvd[:, 1] + 0.5) / downsample)
    keep = ((uvd[:, 2] > min_depth) & (col >= 0) & (col < cols) & (row >= 0) & (row < rows))
    cells = (row[keep] * cols + col[keep]).astype(np.int64)
    depths = uvd[keep, 2]
    order = np.lexsort((depths, cells))  # by cell, nearest first (faster than np.minimum.at)
    first = np.ones(order.shape[0], dtype=bool)
    first[1:] = cells[order[1:]] != cells[order[:-1]]
    depth_map = np.zeros(rows * cols, dtype=np.float32)
    depth_map[cells[order[first]]] = depths[order[first]]
    return depth_map.reshape(rows, cols)


@TRANSFORMS.register_module()
class MultiViewDepthGT(BaseTransform):
    """Sparse per-view LiDAR depth at the image feature stride -> ``results['gt_depth']``.

    Args:
        downsample: Feature stride of the depth the view transform predicts (the image size
            after ``ImageAug3D`` must be a multiple of it), e.g. 8 for a 128 x 352 input and
            16 x 44 features.
        max_time_lag: Use only points whose time lag (column ``time_dim``) is at most this, in
            seconds; ``0.0`` = the keyframe sweep only (BEVDepth), None = every loaded sweep
            (BEVFusion; moving objects then smear).
        time_dim: Column of the time lag in the points (mmdet3d's nuScenes layout: 4).
        min_depth: Points nearer than this many metres to the image plane are ignored.

    Required keys: ``points``, ``img``, ``lidar2img`` (N, 4, 4); optional ``img_aug_matrix``
    (N, 4, 4) and ``lidar_aug_matrix`` (4, 4) (identity when absent).
    Added key: ``gt_depth`` (N, H / downsample, W / downsample) float32.
    """

    def __init__(self, downsample: int = 8, max_time_lag: Optional[float] = 0.0,
                 time_dim: int = 4, min_depth: float = 1e-3) -> None:
        if int(downsample) < 1:
            raise ValueError(f'MultiViewDepthGT: downsample must be >= 1, got {downsample}')
        self.downsample = int(downsample)
        self.max_time_lag = None if max_time_lag is None else float(max_time_lag)
        self.time_dim = int(time_dim)
        self.min_depth = float(min_depth)

    def transform(self, results: Dict) -> Dict:
        """Add ``results['gt_depth']`` (see the class docstring)."""
        images = get_images(results, type(self).__name__)
        points = get_points(results, type(self).__name__).tensor.numpy()
        height, width = images[0].shape[:2]
        if height % self.downsample or width % self.downsample:
            raise ValueError(f'MultiViewDepthGT: image size {(height, width)} is not a multiple '
                             f'of downsample={self.downsample}; place it after ImageAug3D and '
                             'match the view transform feature stride')
        if 'lidar2img' not in results:
            raise KeyError("MultiViewDepthGT needs results['lidar2img'] (N, 4, 4); load the "
                           'cameras with LoadMultiViewImages first')
        views = len(images)
        if self.max_time_lag is not None:
            if points.shape[1] <= self.time_dim:
                raise ValueError(f'MultiViewDepthGT: points have {points.shape[1]} columns, no '
                                 f'time lag in column {self.time_dim}; set max_time_lag=None')
            points = points[points[:, self.time_dim] <= self.max_time_lag + 1e-6]
        img_aug = results.get('img_aug_matrix')
        img_aug = (np.tile(np.eye(4), (views, 1, 1)) if img_aug is None else np.asarray(img_aug))
        lidar_aug = results.get('lidar_aug_matrix')
        lidar_aug = np.eye(4) if lidar_aug is None else np.asarray(lidar_aug)
        lidar2img = np.asarray(results['lidar2img'])
        for name, matrix in (('lidar2img', lidar2img), ('img_aug_matrix', img_aug)):
            if matrix.shape != (views, 4, 4):
                raise ValueError(f"MultiViewDepthGT: results['{name}'] must be ({views}, 4, 4) "
                                 f'for {views} images, got {matrix.shape}')
        uvd = project_to_views(points[:, :3], lidar2img, img_aug, lidar_aug)
        results['gt_depth'] = np.stack([
            min_depth_map(uvd[view], (height, width), self.downsample, self.min_depth)
            for view in range(views)])
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(downsample={self.downsample}, '
                f'max_time_lag={self.max_time_lag}, time_dim={self.time_dim}, '
                f'min_depth={self.min_depth})')
