"""The occupancy-grid frame of a sample and its flip augmentation: ``OccupancyFrame``.

Camera occupancy models lift image features into the voxel grid of the ground truth, so they
need the transform from the (original) LiDAR frame, where ``lidar2img`` starts, to the grid frame:

    lidar2occ = flip @ base,    base = lidar2ego (ego-frame grids, Occ3D) or I (LiDAR-frame
                                grids, nuScenes-Occupancy),

``results['lidar2occ']`` (4, 4) float32. The training augmentation is BEVDet's BEV flip done on
the grid instead of the points: flipping along x reverses ``gt_occ``, ``mask_camera`` and
``mask_lidar`` along axis 0 and left-multiplies ``lidar2occ`` by the reflection
``x -> (x_min + x_max) - x`` of the grid's range, which maps the centre of voxel ``i`` onto the
centre of voxel ``X - 1 - i`` exactly (likewise y, axis 1). The images and the points are not
touched: a model that builds its volume through ``lidar2occ`` sees the flipped scene and the
flipped labels consistently, and ``MultiViewDepthGT`` keeps working in the original LiDAR frame.
The draws use numpy's global RNG, as mmdet3d's random transforms do (seed it for reproducible
samples); a ratio of 0 or 1 draws nothing. ``results['occ_flip']`` records ``(flip_x, flip_y)``.

The points must not be augmented (no ``GlobalAugmentAll``): a ``lidar_aug_matrix`` other than
the identity is refused, since ``lidar2occ`` starts in the original LiDAR frame.
"""
from typing import Dict, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from mmdet3d_plugin.registry import TRANSFORMS
from mmdet3d_plugin.structures.occupancy_grid import OccupancyGrid
from .loading_occupancy import occupancy_grid

#: Grid arrays (X, Y, Z) flipped with the grid (those present in ``results``).
GRID_ARRAY_KEYS = ('gt_occ', 'mask_camera', 'mask_lidar')


def grid_reflection(grid: OccupancyGrid, axis: int) -> np.ndarray:
    """(4, 4) float64 reflection ``v -> (min + max) - v`` of coordinate ``axis`` of ``grid``."""
    reflection = np.eye(4)
    reflection[axis, axis] = -1.0
    reflection[axis, 3] = grid.point_cloud_range[axis] + grid.point_cloud_range[axis + 3]
    return reflection


def _ratio(value: float, name: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f'OccupancyFrame: {name} must be a probability in [0, 1], got {value}')
    return value


@TRANSFORMS.register_module()
class OccupancyFrame(BaseTransform):
    """Set ``lidar2occ`` and flip the occupancy grid along x / y (see the module docstring).

    Args:
        grid (str | dict | OccupancyGrid): The ground truth's grid: ``'occ3d-nuscenes'`` (ego
            frame), ``'nuscenes-occupancy'`` (LiDAR frame) or ``OccupancyGrid`` arguments.
            Defaults to ``'occ3d-nuscenes'``.
        flip_x_ratio (float): Probability of flipping along x (training; 0 at test).
        flip_y_ratio (float): Probability of flipping along y.

    Required keys: ``lidar_points['lidar2ego']`` (4, 4) for ego-frame grids; optional
    ``gt_occ``, ``mask_camera``, ``mask_lidar`` (X, Y, Z) (those present must have the grid's
    shape), ``lidar_aug_matrix`` (must be the identity).
    Added / updated keys: ``lidar2occ`` (4, 4) float32, ``occ_flip`` (bool, bool), the flipped
    grid arrays (contiguous, dtypes kept).
    """

    def __init__(self, grid: Union[str, dict, OccupancyGrid] = 'occ3d-nuscenes',
                 flip_x_ratio: float = 0.0, flip_y_ratio: float = 0.0) -> None:
        try:
            self.grid = occupancy_grid(grid)
        except (TypeError, ValueError) as error:
            raise type(error)(f'OccupancyFrame: bad grid {grid!r}: {error}') from error
        self.flip_x_ratio = _ratio(flip_x_ratio, 'flip_x_ratio')
        self.flip_y_ratio = _ratio(flip_y_ratio, 'flip_y_ratio')

    def _base(self, results: Dict) -> np.ndarray:
        if self.grid.frame_of == 'lidar':
            return np.eye(4)
        lidar2ego = (results.get('lidar_points') or {}).get('lidar2ego')
        if lidar2ego is None:
            raise KeyError("OccupancyFrame needs results['lidar_points']['lidar2ego'] (4, 4) for "
                           f"the ego-frame grid {self.grid.shape}; got keys {sorted(results)}")
        lidar2ego = np.asarray(lidar2ego, dtype=np.float64)
        if lidar2ego.shape != (4, 4):
            raise ValueError(f"OccupancyFrame: results['lidar_points']['lidar2ego'] must be "
                             f'(4, 4), got {lidar2ego.shape}')
        return lidar2ego

    def _draw(self) -> Tuple[bool, bool]:
        """``(flip_x, flip_y)``; a ratio of 0 or 1 is certain and draws nothing."""
        return tuple(bool(ratio >= 1.0 or (ratio > 0.0 and np.random.rand() < ratio))
                     for ratio in (self.flip_x_ratio, self.flip_y_ratio))

    def transform(self, results: Dict) -> Dict:
        """Add ``lidar2occ`` / ``occ_flip`` and flip the grid arrays (see the class docstring).

        Raises:
            KeyError: naming ``lidar_points['lidar2ego']`` when an ego-frame grid lacks it.
            ValueError: naming the array whose shape is not the grid's, or a non-identity
                ``lidar_aug_matrix``.
        """
        lidar_aug = results.get('lidar_aug_matrix')
        if lidar_aug is not None and not np.allclose(lidar_aug, np.eye(4), atol=1e-6):
            raise ValueError('OccupancyFrame: lidar_aug_matrix is not the identity; occupancy '
                             'pipelines must not augment the points (lidar2occ starts in the '
                             'original LiDAR frame; flip the grid here instead)')
        arrays = [key for key in GRID_ARRAY_KEYS if key in results]
        for key in arrays:
            shape = np.shape(results[key])
            if shape != self.grid.shape:
                raise ValueError(f"OccupancyFrame: results['{key}'] must have the grid shape "
                                 f'(X, Y, Z) = {self.grid.shape}, got {shape}')
        lidar2occ = self._base(results)
        flips = self._draw()
        for axis, flip in enumerate(flips):
            if not flip:
                continue
            lidar2occ = grid_reflection(self.grid, axis) @ lidar2occ
            for key in arrays:
                results[key] = np.ascontiguousarray(np.flip(results[key], axis))
        results['lidar2occ'] = lidar2occ.astype(np.float32)
        results['occ_flip'] = flips
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(shape={self.grid.shape}, frame={self.grid.frame_of!r}, '
                f'flip_x_ratio={self.flip_x_ratio}, flip_y_ratio={self.flip_y_ratio})')
