"""Nearest-neighbour resampling of rasters under a rigid/similarity/mirror transform.

Used by ``GlobalAugmentAll`` to move BEV map masks and occupancy voxels with the points: every
output cell takes the value of the input cell that contains the *inverse*-transformed output
cell centre (backward mapping, so no holes); cells that map outside the input get a fill value.
"""
from typing import List, Sequence, Tuple

import numpy as np

from mmdet3d_plugin.structures.occupancy_grid import OccupancyGrid


def _cell_centers(bound: Tuple[float, float, float], cells: int) -> np.ndarray:
    return bound[0] + (np.arange(cells) + 0.5) * bound[2]


def resample_bev(masks: np.ndarray, matrix: np.ndarray, xbound: Tuple[float, float, float],
                 ybound: Tuple[float, float, float], fill: int = 0) -> np.ndarray:
    """Move a BEV raster by a transform of its frame.

    Args:
        masks (np.ndarray): (C, X, Y) raster; cell ``(i, j)`` is centred at
            ``(x_min + (i + 0.5) * dx, y_min + (j + 0.5) * dy)``.
        matrix (np.ndarray): (4, 4) transform from the old to the new frame; only its xy rows
            and columns are used (z plays no part in a BEV raster).
        xbound (tuple): ``(x_min, x_max, dx)``.
        ybound (tuple): ``(y_min, y_max, dy)``.
        fill (int): Value of cells that map outside the raster. Defaults to 0.

    Returns:
        np.ndarray: (C, X, Y) raster of the same dtype, ``out[:, i, j] = masks[:, i0, j0]`` with
        ``(i0, j0)`` the cell containing ``matrix^-1 @ centre(i, j)``.
    """
    _, nx, ny = masks.shape
    inverse = np.linalg.inv(np.asarray(matrix, dtype=np.float64))
    gx, gy = np.meshgrid(_cell_centers(xbound, nx), _cell_centers(ybound, ny), indexing='ij')
    sx = inverse[0, 0] * gx + inverse[0, 1] * gy + inverse[0, 3]
    sy = inverse[1, 0] * gx + inverse[1, 1] * gy + inverse[1, 3]
    ix = np.floor((sx - xbound[0]) / xbound[2]).astype(np.int64)
    iy = np.floor((sy - ybound[0]) / ybound[2]).astype(np.int64)
    inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    out = np.full_like(masks, fill)
    out[:, inside] = masks[:, ix[inside], iy[inside]]
    return out


def resample_volumes(volumes: Sequence[np.ndarray], fills: Sequence[int], matrix: np.ndarray,
                     grid: OccupancyGrid) -> List[np.ndarray]:
    """Move voxel volumes of one grid by a transform of the grid frame.

    Args:
        volumes (Sequence[np.ndarray]): Arrays of shape ``grid.shape`` (X, Y, Z), any dtype.
        fills (Sequence[int]): Value per volume for voxels that map outside the grid.
        matrix (np.ndarray): (4, 4) transform from the old to the new grid frame.
        grid (OccupancyGrid): The grid (voxel centres, size and bounds).

    Returns:
        list[np.ndarray]: Resampled (X, Y, Z) arrays, in the order of ``volumes``.
    """
    inverse = np.linalg.inv(np.asarray(matrix, dtype=np.float64))
    nx, ny, _ = grid.shape
    gx, gy = np.meshgrid(grid.centers(0), grid.centers(1), indexing='ij')
    plane = np.stack([gx.ravel(), gy.ravel()], axis=1) @ inverse[:3, :2].T + inverse[:3, 3]
    lower, size, shape = grid.lower, np.array(grid.voxel_size), np.array(grid.shape)
    outs = [np.empty(volume.shape, dtype=volume.dtype) for volume in volumes]
    for k, z in enumerate(grid.centers(2)):
        source = plane + z * inverse[:3, 2]
        index = np.floor((source - lower) / size).astype(np.int64)
        inside = np.all((index >= 0) & (index < shape), axis=1)
        picked = tuple(index[inside].T)
        for volume, fill, out in zip(volumes, fills, outs):
            layer = np.full(nx * ny, fill, dtype=volume.dtype)
            layer[inside] = volume[picked]
            out[:, :, k] = layer.reshape(nx, ny)
    return outs
