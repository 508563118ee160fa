"""The voxel grid of semantic-occupancy ground truth and the nuScenes-Occupancy file layout.

:class:`OccupancyGrid` describes a grid convention (range, voxel size, shape, coordinate frame,
free label); :meth:`OccupancyGrid.occ3d_nuscenes` and :meth:`OccupancyGrid.nuscenes_occupancy` are
the two benchmarks' grids. nuScenes-Occupancy files are sparse ``(N, 4)`` ``[z, y, x, cls]``
lists of the non-free voxels with noise written as ``cls`` 0;
:func:`sparsify_nuscenes_occupancy` and :func:`densify_nuscenes_occupancy` convert between
that list and the dense grid as JeffWang987/OpenOccupancy's ``LoadOccupancy`` builds it.
Labels are those of :mod:`.occupancy_labels`.
"""
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from .occupancy_labels import NUSC_OCC_FREE_INDEX as NUSC_OCC_FREE
from .occupancy_labels import NUSC_OCC_NOISE_INDEX as NUSC_OCC_NOISE
from .occupancy_labels import OCC3D_FREE_INDEX as OCC3D_FREE

#: Coordinate frames a grid can be defined in: ego or LIDAR_TOP.
FRAMES = ('ego', 'lidar')


@dataclass(frozen=True)
class OccupancyGrid:
    """A voxel grid: ``shape`` voxels of ``voxel_size`` filling ``point_cloud_range``.

    Attributes:
        point_cloud_range (tuple): ``(x_min, y_min, z_min, x_max, y_max, z_max)`` in metres.
        voxel_size (tuple): ``(vx, vy, vz)`` in metres.
        shape (tuple): ``(X, Y, Z)``; must equal ``(max - min) / voxel_size``.
        frame_of (str): Default coordinate frame, ``'ego'`` or ``'lidar'`` (LIDAR_TOP).
        free_label (int): Label of free voxels (17 for Occ3D, 0 for nuScenes-Occupancy).
    """
    point_cloud_range: Tuple[float, float, float, float, float, float]
    voxel_size: Tuple[float, float, float]
    shape: Tuple[int, int, int]
    frame_of: str = 'ego'
    free_label: int = OCC3D_FREE

    def __post_init__(self):
        pcr = tuple(float(v) for v in np.ravel(self.point_cloud_range))
        voxel = tuple(float(v) for v in np.ravel(self.voxel_size))
        shape = tuple(int(v) for v in np.ravel(self.shape))
        if len(pcr) != 6 or not all(lo < hi for lo, hi in zip(pcr[:3], pcr[3:])):
            raise ValueError(f'point_cloud_range must be (x_min, y_min, z_min, x_max, y_max, '
                             f'z_max) with min < max, got {self.point_cloud_range}')
        if len(voxel) != 3 or min(voxel) <= 0:
            raise ValueError(f'voxel_size must be 3 positive sizes, got {self.voxel_size}')
        expected = tuple(round((hi - lo) / v) for lo, hi, v in zip(pcr[:3], pcr[3:], voxel))
        fits = all(abs((hi - lo) / v - n) < 1e-6 * max(n, 1)
                   for lo, hi, v, n in zip(pcr[:3], pcr[3:], voxel, shape))
        if len(shape) != 3 or shape != expected or not fits:
            raise ValueError(f'shape {self.shape} does not fit point_cloud_range {pcr} with '
                             f'voxel_size {voxel} (expected {expected})')
        if self.frame_of not in FRAMES:
            raise ValueError(f'frame_of must be one of {FRAMES}, got {self.frame_of!r}')
        if not 0 <= int(self.free_label) <= 255:
            raise ValueError(f'free_label must be in [0, 255], got {self.free_label}')
        object.__setattr__(self, 'point_cloud_range', pcr)
        object.__setattr__(self, 'voxel_size', voxel)
        object.__setattr__(self, 'shape', shape)
        object.__setattr__(self, 'free_label', int(self.free_label))

    @classmethod
    def occ3d_nuscenes(cls) -> 'OccupancyGrid':
        """Occ3D-nuScenes: 0.4 m, [-40, -40, -1, 40, 40, 5.4], 200x200x16, ego frame."""
        return cls((-40.0, -40.0, -1.0, 40.0, 40.0, 5.4), (0.4, 0.4, 0.4), (200, 200, 16), 'ego',
                   OCC3D_FREE)

    @classmethod
    def nuscenes_occupancy(cls) -> 'OccupancyGrid':
        """nuScenes-Occupancy: 0.2 m, [-51.2, -51.2, -5, 51.2, 51.2, 3], 512x512x40, LiDAR
        frame, 0 = free."""
        return cls((-51.2, -51.2, -5.0, 51.2, 51.2, 3.0), (0.2, 0.2, 0.2), (512, 512, 40),
                   'lidar', NUSC_OCC_FREE)

    @property
    def lower(self) -> np.ndarray:
        """``(3,)`` minimum corner."""
        return np.array(self.point_cloud_range[:3])

    def centers(self, axis: int) -> np.ndarray:
        """Voxel centre coordinates along ``axis`` (0 = x, 1 = y, 2 = z), ``(shape[axis],)``."""
        return self.lower[axis] + (np.arange(self.shape[axis]) + 0.5) * self.voxel_size[axis]

    def voxel_of(self, points: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Voxel indices ``(N, 3)`` int64 of points ``(N, 3)`` (grid frame) and ``(N,)`` bool
        whether each lies in the grid (half-open voxels ``[min, max)``)."""
        index = np.floor((np.asarray(points, dtype=np.float64).reshape(-1, 3) - self.lower)
                         / np.array(self.voxel_size)).astype(np.int64)
        inside = np.all((index >= 0) & (index < np.array(self.shape)), axis=1)
        return index, inside


def sparsify_nuscenes_occupancy(semantics: np.ndarray) -> np.ndarray:
    """The sparse ``(N, 4)`` int64 ``[z, y, x, cls]`` list of a dense nuScenes-Occupancy grid.

    Args:
        semantics (np.ndarray): ``(X, Y, Z)`` dense labels: 0 free, 1..16, 255 noise.

    Returns:
        np.ndarray: ``(N, 4)`` int64, one row per non-free voxel in C order (as
        ``np.argwhere``), noise written as ``cls`` 0.
    """
    semantics = np.asarray(semantics)
    if semantics.ndim != 3:
        raise ValueError(f'semantics must have shape (X, Y, Z), got {semantics.shape}')
    if semantics.size and (semantics.min() < 0 or not (
            (semantics <= 16) | (semantics == NUSC_OCC_NOISE)).all()):
        raise ValueError('semantics must hold nuScenes-Occupancy labels 0 (free), 1..16 or '
                         f'{NUSC_OCC_NOISE} (noise)')
    x, y, z = np.nonzero(semantics != NUSC_OCC_FREE)
    cls = semantics[x, y, z].astype(np.int64)
    return np.stack([z, y, x, np.where(cls == NUSC_OCC_NOISE, 0, cls)], 1).astype(np.int64)


def densify_nuscenes_occupancy(sparse: np.ndarray, shape: Tuple[int, int, int]) -> np.ndarray:
    """Dense ``(X, Y, Z)`` uint8 grid of a sparse ``(N, 4)`` ``[z, y, x, cls]`` list, as
    OpenOccupancy's ``LoadOccupancy`` builds it: unlisted voxels 0 (free), ``cls`` 0 -> 255."""
    sparse = np.asarray(sparse)
    if sparse.ndim != 2 or sparse.shape[1] != 4:
        raise ValueError(f'sparse must have shape (N, 4), got {sparse.shape}')
    index = sparse[:, [2, 1, 0]].astype(np.int64)
    if len(index) and (index.min() < 0 or np.any(index.max(0) >= np.array(shape))):
        raise ValueError(f'sparse holds voxel indices outside shape {tuple(shape)}')
    dense = np.full(tuple(shape), NUSC_OCC_FREE, dtype=np.uint8)
    dense[tuple(index.T)] = np.where(sparse[:, 3] == 0, NUSC_OCC_NOISE, sparse[:, 3])
    return dense
