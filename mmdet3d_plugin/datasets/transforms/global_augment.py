"""Global LiDAR-frame augmentation applied consistently to every 3D target: ``GlobalAugmentAll``.

One 4x4 matrix ``A`` (old LiDAR frame -> augmented LiDAR frame) is drawn per sample:
``A = F_v @ F_h @ [[s * R(theta), t], [0, 1]]`` -- rotate about the LiDAR z axis by ``theta``
(counter-clockwise, mmdet3d's ``GlobalRotScaleTrans`` sign), scale by ``s``, translate by ``t``,
then flip y (``horizontal``) and/or x (``vertical``) as mmdet3d's ``RandomFlip3D`` does. It moves

* ``points`` (x, y, z columns; other columns untouched) and ``gt_bboxes_3d`` (through the boxes'
  own ``rotate``/``scale``/``translate``/``flip``, so yaw and velocity follow);
* ``gt_masks_bev`` (C, X, Y), nearest-neighbour resampled on the fixed BEV grid
  (cells that come from outside the raster are 0);
* ``gt_occ`` and ``mask_camera`` / ``mask_lidar`` (X, Y, Z), nearest-neighbour resampled on
  the fixed voxel grid. A grid in the ego frame (Occ3D) is moved by
  ``lidar2ego @ A @ lidar2ego^-1``, so ``lidar2ego`` still maps the augmented points into the
  augmented grid. Voxels from outside the grid become ``occ_fill_label`` with masks False.

The matrix is recorded as ``results['lidar_aug_matrix']`` (composed with an earlier one), as
BEVFusion does: camera geometry stays valid when a model projects augmented points with
``lidar2img @ inv(lidar_aug_matrix)``. mmdet3d's keys ``pcd_rotation``,
``pcd_rotation_angle``, ``pcd_scale_factor``, ``pcd_trans``, ``pcd_horizontal_flip``,
``pcd_vertical_flip`` and ``transformation_3d_flow`` (``R, S, T, HF, VF``) are set too.
"""
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from mmdet3d_plugin.registry import TRANSFORMS
from mmdet3d_plugin.structures.occupancy_grid import OccupancyGrid
from .augment_resample import resample_bev, resample_volumes
from .corruptions.base import sample_identity, stable_hash
from .loading_bev_map import bound_cells, check_bound
from .loading_occupancy import occupancy_grid
from .point_ops import affine_xyz_

OCC_MASK_KEYS = ('mask_camera', 'mask_lidar')


def _pair(value, name: str, low: float, high: float = np.inf) -> tuple:
    pair = tuple(float(v) for v in value)
    if len(pair) != 2 or pair[0] > pair[1] or pair[0] < low or pair[1] > high:
        raise ValueError(f'GlobalAugmentAll: {name} must be (min, max) with {low} <= min <= max'
                         f' <= {high}, got {value!r}')
    return pair


def _ratio(value, name: str) -> float:
    if isinstance(value, bool) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f'GlobalAugmentAll: {name} must be in [0, 1], got {value!r}')
    return float(value)


def augmentation_matrix(angle: float, scale: float, translation: Sequence[float],
                        flip_horizontal: bool, flip_vertical: bool) -> np.ndarray:
    """(4, 4) ``A``: rotate by ``angle`` (rad, CCW about z), scale, translate, then flip y/x."""
    c, s = np.cos(angle), np.sin(angle)
    matrix = np.eye(4)
    matrix[:3, :3] = scale * np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    matrix[:3, 3] = translation
    flip = np.diag([-1.0 if flip_vertical else 1.0, -1.0 if flip_horizontal else 1.0, 1.0, 1.0])
    return flip @ matrix


@TRANSFORMS.register_module()
class GlobalAugmentAll(BaseTransform):
    """Global rotation, scaling, translation and flips of points, boxes, BEV maps and occupancy.

    Args:
        rot_range (Sequence[float]): Rotation range in radians. Defaults to (-pi/4, pi/4).
        scale_ratio_range (Sequence[float]): Scale range, > 0. Defaults to (0.95, 1.05).
        translation_std (Sequence[float]): Std of the Gaussian translation (x, y, z), metres.
            Defaults to (0, 0, 0).
        flip_ratio_bev_horizontal (float): Probability of flipping y. Defaults to 0.
        flip_ratio_bev_vertical (float): Probability of flipping x. Defaults to 0.
        bev_xbound (Sequence[float]): ``(x_min, x_max, dx)`` of ``gt_masks_bev``.
            Defaults to (-50, 50, 0.5).
        bev_ybound (Sequence[float]): ``(y_min, y_max, dy)``. Defaults to (-50, 50, 0.5).
        occ_grid (str | dict | OccupancyGrid): Grid of ``gt_occ``: ``'occ3d-nuscenes'`` (ego
            frame, 200x200x16), ``'nuscenes-occupancy'`` (LiDAR frame, 512x512x40) or
            ``OccupancyGrid`` arguments. Defaults to ``'occ3d-nuscenes'``.
        occ_fill_label (int, optional): Label of voxels that come from outside the grid. None
            uses the grid's free label (17 Occ3D, 0 nuScenes-Occupancy); 255 makes them
            ignored by nuScenes-Occupancy metrics. Defaults to None.
        seed (int, optional): When given, draws come from a generator seeded by ``seed`` and
            the sample identity (token), identical in every worker and epoch. None draws from
            ``numpy.random`` (seeded by mmengine). Defaults to None.
        test_mode (bool): Deterministic draws (``seed``, or 0 when None). Defaults to False.
    """

    def __init__(self, rot_range: Sequence[float] = (-0.78539816, 0.78539816),
                 scale_ratio_range: Sequence[float] = (0.95, 1.05),
                 translation_std: Sequence[float] = (0.0, 0.0, 0.0),
                 flip_ratio_bev_horizontal: float = 0.0, flip_ratio_bev_vertical: float = 0.0,
                 bev_xbound: Sequence[float] = (-50.0, 50.0, 0.5),
                 bev_ybound: Sequence[float] = (-50.0, 50.0, 0.5),
                 occ_grid: Union[str, dict, OccupancyGrid] = 'occ3d-nuscenes',
                 occ_fill_label: Optional[int] = None, seed: Optional[int] = None,
                 test_mode: bool = False) -> None:
        self.rot_range = _pair(rot_range, 'rot_range', -np.inf)
        self.scale_ratio_range = _pair(scale_ratio_range, 'scale_ratio_range', 1e-6)
        self.translation_std = tuple(float(v) for v in translation_std)
        if len(self.translation_std) != 3 or min(self.translation_std) < 0:
            raise ValueError(f'GlobalAugmentAll: translation_std must be 3 non-negative stds, '
                             f'got {translation_std!r}')
        self.flip_ratio_bev_horizontal = _ratio(flip_ratio_bev_horizontal,
                                                'flip_ratio_bev_horizontal')
        self.flip_ratio_bev_vertical = _ratio(flip_ratio_bev_vertical, 'flip_ratio_bev_vertical')
        self.bev_xbound = check_bound(bev_xbound, 'GlobalAugmentAll: bev_xbound')
        self.bev_ybound = check_bound(bev_ybound, 'GlobalAugmentAll: bev_ybound')
        self.occ_grid = occupancy_grid(occ_grid)
        fill = self.occ_grid.free_label if occ_fill_label is None else occ_fill_label
        if isinstance(fill, bool) or not 0 <= int(fill) <= 255:
            raise ValueError(f'GlobalAugmentAll: occ_fill_label must be in [0, 255], got {fill!r}')
        self.occ_fill_label = int(fill)
        if seed is not None and (isinstance(seed, bool) or int(seed) != seed or seed < 0):
            raise ValueError(f'GlobalAugmentAll: seed must be a non-negative int, got {seed!r}')
        self.test_mode = bool(test_mode)
        self.seed = 0 if seed is None and self.test_mode else seed

    def _rng(self, results: Dict):
        if self.seed is None:
            return np.random
        identity = sample_identity(results)
        return np.random.default_rng(
            [int(self.seed), stable_hash(type(self).__name__), stable_hash(identity)])

    def draw(self, results: Dict) -> Dict:
        """Draw the augmentation parameters of one sample.

        Returns:
            dict: ``angle`` (rad), ``scale``, ``translation`` (3,), ``flip_horizontal``,
            ``flip_vertical``.
        """
        rng = self._rng(results)
        return dict(angle=float(rng.uniform(*self.rot_range)),
                    scale=float(rng.uniform(*self.scale_ratio_range)),
                    translation=np.asarray(rng.normal(0.0, 1.0, 3)) * self.translation_std,
                    flip_horizontal=bool(rng.random() < self.flip_ratio_bev_horizontal),
                    flip_vertical=bool(rng.random() < self.flip_ratio_bev_vertical))

    # ------------------------------------------------------------------ targets
    @staticmethod
    def _move_points(results: Dict, matrix: np.ndarray) -> None:
        points = results['points']
        tensor = points.tensor
        if tensor.device.type == 'cpu' and tensor.dtype == torch.float32 and not (
                tensor.requires_grad):
            affine_xyz_(tensor.numpy(), matrix)  # in place, column-wise (4x faster on CPU)
            return
        xyz = tensor[:, :3]
        rotation = xyz.new_tensor(matrix[:3, :3])
        points.tensor[:, :3] = xyz @ rotation.T + xyz.new_tensor(matrix[:3, 3])

    @staticmethod
    def _move_boxes(results: Dict, params: Dict) -> None:
        boxes = results['gt_bboxes_3d']
        if len(boxes) == 0:
            return
        boxes.rotate(params['angle'])
        boxes.scale(params['scale'])
        boxes.translate(params['translation'].astype(np.float32))
        if params['flip_horizontal']:
            boxes.flip('horizontal')
        if params['flip_vertical']:
            boxes.flip('vertical')

    def _move_bev(self, results: Dict, matrix: np.ndarray) -> None:
        masks = np.asarray(results['gt_masks_bev'])
        expected = (bound_cells(self.bev_xbound), bound_cells(self.bev_ybound))
        if masks.ndim != 3 or masks.shape[1:] != expected:
            raise ValueError(f"GlobalAugmentAll: results['gt_masks_bev'] must have shape "
                             f'(C, {expected[0]}, {expected[1]}) for bev_xbound='
                             f'{self.bev_xbound}, bev_ybound={self.bev_ybound}; got {masks.shape}')
        results['gt_masks_bev'] = resample_bev(masks, matrix, self.bev_xbound, self.bev_ybound)

    def _grid_matrix(self, results: Dict, matrix: np.ndarray) -> np.ndarray:
        if self.occ_grid.frame_of == 'lidar':
            return matrix
        lidar2ego = (results.get('lidar_points') or {}).get('lidar2ego',
                                                            results.get('lidar2ego'))
        if lidar2ego is None:
            raise KeyError("GlobalAugmentAll: an ego-frame occupancy grid needs results"
                           f"['lidar_points']['lidar2ego'] (4x4); got keys {sorted(results)}")
        lidar2ego = np.asarray(lidar2ego, dtype=np.float64)
        return lidar2ego @ matrix @ np.linalg.inv(lidar2ego)

    def _move_occupancy(self, results: Dict, matrix: np.ndarray) -> None:
        keys = ['gt_occ'] + [key for key in OCC_MASK_KEYS if results.get(key) is not None]
        volumes = [np.asarray(results[key]) for key in keys]
        for key, volume in zip(keys, volumes):
            if volume.shape != self.occ_grid.shape:
                raise ValueError(f"GlobalAugmentAll: results['{key}'] has shape {volume.shape}, "
                                 f'expected occ_grid shape {self.occ_grid.shape}')
        fills = [self.occ_fill_label] + [0] * (len(keys) - 1)
        moved = resample_volumes(volumes, fills, self._grid_matrix(results, matrix),
                                 self.occ_grid)
        results.update(zip(keys, moved))

    # ------------------------------------------------------------------ transform
    def transform(self, results: Dict) -> Dict:
        """Augment every 3D target of ``results`` with one drawn matrix.

        Args:
            results (dict): Any of ``points`` (BasePoints (N, C)), ``gt_bboxes_3d``
                (LiDARInstance3DBoxes (M, 7 or 9)), ``gt_masks_bev`` (C, X, Y), ``gt_occ``
                (X, Y, Z) with optional ``mask_camera`` / ``mask_lidar`` (X, Y, Z).

        Returns:
            dict: ``results`` with those moved and ``lidar_aug_matrix`` (4, 4) float32 plus
            mmdet3d's ``pcd_*`` keys and ``transformation_3d_flow``.
        """
        params = self.draw(results)
        matrix = augmentation_matrix(**params)
        if results.get('points') is not None:
            self._move_points(results, matrix)
        if results.get('gt_bboxes_3d') is not None:
            self._move_boxes(results, params)
        if results.get('gt_masks_bev') is not None:
            self._move_bev(results, matrix)
        if results.get('gt_occ') is not None:
            self._move_occupancy(results, matrix)
        previous = np.asarray(results.get('lidar_aug_matrix', np.eye(4)), dtype=np.float64)
        results['lidar_aug_matrix'] = (matrix @ previous).astype(np.float32)
        c, s = np.cos(params['angle']), np.sin(params['angle'])
        results['pcd_rotation'] = torch.tensor([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]],
                                               dtype=torch.float32)
        results['pcd_rotation_angle'] = params['angle']
        results['pcd_scale_factor'] = params['scale']
        results['pcd_trans'] = params['translation']
        results['pcd_horizontal_flip'] = params['flip_horizontal']
        results['pcd_vertical_flip'] = params['flip_vertical']
        flow = results.setdefault('transformation_3d_flow', [])
        flow.extend(['R', 'S', 'T'])
        flow.extend(name for name, flag in (('HF', params['flip_horizontal']),
                                            ('VF', params['flip_vertical'])) if flag)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(rot_range={self.rot_range}, scale_ratio_range='
                f'{self.scale_ratio_range}, translation_std={self.translation_std}, '
                f'flip_ratio_bev_horizontal={self.flip_ratio_bev_horizontal}, '
                f'flip_ratio_bev_vertical={self.flip_ratio_bev_vertical}, occ_grid_shape='
                f'{self.occ_grid.shape}, seed={self.seed}, test_mode={self.test_mode})')
