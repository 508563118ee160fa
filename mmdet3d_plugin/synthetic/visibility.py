"""Occ3D-style visibility masks by ray casting through the voxel grid (3D DDA, Amanatides & Woo).

* ``mask_lidar``: voxels observed by the LiDAR sweep: every voxel a ray traverses from the
  sensor to its return, and the voxel of the return itself.
* ``mask_camera``: voxels seen by any of the six cameras: rays from each camera centre through
  a grid of pixel centres march until the first occupied (non-free) voxel; that voxel and the
  free voxels before it are visible. Rays that leave the grid see nothing more. Rays are also
  cast to the centre of every occupied voxel in the image (voxels thinner than a pixel row, like
  distant ground, would otherwise fall between the pixel rays).

The traversal is compiled with numba and runs serially (one core; dataset generation runs
scenes in parallel processes). The voxel-centre rays are projected and marched in one kernel and
the pixel rays of each camera model are computed once: semantics and both masks of a full
200x200x16 Occ3D grid take ~0.15 s per keyframe on one idle core of the 2-core machine.
"""
import functools
from typing import Dict, Optional, Tuple

import numba
import numpy as np

from ..structures.occupancy_grid import OccupancyGrid
from .occupancy import _check_grid_and_frame, grid_pose, semantic_occupancy
from .rig import CAMERA_NAMES


@numba.njit(cache=True)
def _march(ox, oy, oz, dx, dy, dz, t_end, nx, ny, nz, occupied, stop, mask):  # pragma: no cover
    """Mark the voxels of ``mask`` ``(nx, ny, nz)`` that the ray ``o + t d``, ``0 <= t <=
    t_end`` crosses (index coordinates: voxel ``i`` spans ``[i, i + 1)``). With ``stop`` the ray
    ends at (and marks) the first voxel where ``occupied`` is true."""
    t0, t1 = 0.0, t_end
    for o, d, n in ((ox, dx, nx), (oy, dy, ny), (oz, dz, nz)):
        if abs(d) < 1e-12:
            if o < 0.0 or o >= n:
                return
        else:
            ta, tb = -o / d, (n - o) / d
            if ta > tb:
                ta, tb = tb, ta
            t0, t1 = max(t0, ta), min(t1, tb)
    if t0 > t1:
        return
    ix = min(max(int(np.floor(ox + t0 * dx)), 0), nx - 1)
    iy = min(max(int(np.floor(oy + t0 * dy)), 0), ny - 1)
    iz = min(max(int(np.floor(oz + t0 * dz)), 0), nz - 1)
    sx, sy, sz = int(np.sign(dx)), int(np.sign(dy)), int(np.sign(dz))
    # t at which the ray crosses the next voxel boundary per axis, and the t per voxel
    tx = (ix + (sx > 0) - ox) / dx if sx != 0 else np.inf
    ty = (iy + (sy > 0) - oy) / dy if sy != 0 else np.inf
    tz = (iz + (sz > 0) - oz) / dz if sz != 0 else np.inf
    ddx = abs(1.0 / dx) if sx != 0 else np.inf
    ddy = abs(1.0 / dy) if sy != 0 else np.inf
    ddz = abs(1.0 / dz) if sz != 0 else np.inf
    while True:
        mask[ix, iy, iz] = 1
        if (stop and occupied[ix, iy, iz]) or (sx == 0 and sy == 0 and sz == 0):
            return
        if tx <= ty and tx <= tz:
            if tx > t1:
                return
            ix += sx
            tx += ddx
            if ix < 0 or ix >= nx:
                return
        elif ty <= tz:
            if ty > t1:
                return
            iy += sy
            ty += ddy
            if iy < 0 or iy >= ny:
                return
        else:
            if tz > t1:
                return
            iz += sz
            tz += ddz
            if iz < 0 or iz >= nz:
                return


@numba.njit(cache=True)
def _lidar_kernel(origin, points, mask):  # pragma: no cover
    """Rays from ``origin`` ``(3,)`` to each of ``points`` ``(N, 3)`` (index coordinates)."""
    nx, ny, nz = mask.shape
    occupied = np.zeros((1, 1, 1), dtype=np.bool_)
    for n in range(points.shape[0]):
        _march(origin[0], origin[1], origin[2], points[n, 0] - origin[0],
               points[n, 1] - origin[1], points[n, 2] - origin[2], 1.0, nx, ny, nz, occupied,
               False, mask)
        ix, iy, iz = int(np.floor(points[n, 0])), int(np.floor(points[n, 1])), int(
            np.floor(points[n, 2]))
        if 0 <= ix < nx and 0 <= iy < ny and 0 <= iz < nz:
            mask[ix, iy, iz] = 1  # the return's voxel, even at a boundary round-off


@numba.njit(cache=True)
def _camera_kernel(origin, directions, occupied, mask):  # pragma: no cover
    """Rays ``(R, 3)`` from ``origin`` ``(3,)`` until the first occupied voxel."""
    nx, ny, nz = mask.shape
    for r in range(directions.shape[0]):
        _march(origin[0], origin[1], origin[2], directions[r, 0], directions[r, 1],
               directions[r, 2], np.inf, nx, ny, nz, occupied, True, mask)


@numba.njit(cache=True)
def _voxel_ray_kernel(origin, voxels, lower, voxel, to_camera, intrinsic, width, height,
                      occupied, mask):  # pragma: no cover
    """Rays from ``origin`` ``(3,)`` (grid frame, metres) to the centres of ``voxels`` ``(N, 3)``
    (indices) that project into the image (``to_camera`` ``(3, 3)`` rotates grid-frame vectors
    into the camera, ``intrinsic`` ``(3, 3)``), each until the first occupied voxel."""
    nx, ny, nz = mask.shape
    ox = (origin[0] - lower[0]) / voxel[0]
    oy = (origin[1] - lower[1]) / voxel[1]
    oz = (origin[2] - lower[2]) / voxel[2]
    for n in range(voxels.shape[0]):
        rx = lower[0] + (voxels[n, 0] + 0.5) * voxel[0] - origin[0]
        ry = lower[1] + (voxels[n, 1] + 0.5) * voxel[1] - origin[1]
        rz = lower[2] + (voxels[n, 2] + 0.5) * voxel[2] - origin[2]
        cx = to_camera[0, 0] * rx + to_camera[0, 1] * ry + to_camera[0, 2] * rz
        cy = to_camera[1, 0] * rx + to_camera[1, 1] * ry + to_camera[1, 2] * rz
        cz = to_camera[2, 0] * rx + to_camera[2, 1] * ry + to_camera[2, 2] * rz
        if not cz > 1e-6:
            continue
        w = intrinsic[2, 0] * cx + intrinsic[2, 1] * cy + intrinsic[2, 2] * cz
        u = (intrinsic[0, 0] * cx + intrinsic[0, 1] * cy + intrinsic[0, 2] * cz) / w
        v = (intrinsic[1, 0] * cx + intrinsic[1, 1] * cy + intrinsic[1, 2] * cz) / w
        if not (u >= 0 and u < width and v >= 0 and v < height):
            continue
        _march(ox, oy, oz, rx / voxel[0], ry / voxel[1], rz / voxel[2], np.inf, nx, ny, nz,
               occupied, True, mask)


def _to_index(points: np.ndarray, grid: OccupancyGrid) -> np.ndarray:
    return (np.asarray(points, dtype=np.float64) - grid.lower) / np.array(grid.voxel_size)


def lidar_visibility(origin: np.ndarray, points: np.ndarray, grid: OccupancyGrid) -> np.ndarray:
    """Voxels observed by LiDAR rays (all inputs in the grid frame, metres).

    Args:
        origin (np.ndarray): ``(3,)`` sensor position.
        points (np.ndarray): ``(N, 3)`` returns.
        grid (OccupancyGrid): The voxel grid.

    Returns:
        np.ndarray: ``(X, Y, Z)`` uint8 0/1.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f'points must have shape (N, 3), got {points.shape}')
    mask = np.zeros(grid.shape, dtype=np.uint8)
    _lidar_kernel(_to_index(np.reshape(origin, 3), grid),
                  np.ascontiguousarray(_to_index(points, grid)), mask)
    return mask


def camera_visibility(origin: np.ndarray, directions: np.ndarray, occupied: np.ndarray,
                      grid: OccupancyGrid, out: Optional[np.ndarray] = None) -> np.ndarray:
    """Voxels seen along the rays of one camera (grid frame): each ray marks the free voxels it
    crosses and the first occupied voxel, where it stops.

    Args:
        origin (np.ndarray): ``(3,)`` camera centre.
        directions (np.ndarray): ``(R, 3)`` ray directions (any length).
        occupied (np.ndarray): ``(X, Y, Z)`` bool, true at non-free voxels.
        grid (OccupancyGrid): The voxel grid.
        out (np.ndarray, optional): ``(X, Y, Z)`` uint8 mask to add the visible voxels to.

    Returns:
        np.ndarray: ``(X, Y, Z)`` uint8 0/1 (``out`` when given).
    """
    directions = np.asarray(directions, dtype=np.float64)
    if directions.ndim != 2 or directions.shape[1] != 3:
        raise ValueError(f'directions must have shape (R, 3), got {directions.shape}')
    occupied = np.asarray(occupied, dtype=np.bool_)
    if occupied.shape != grid.shape:
        raise ValueError(f'occupied must have shape {grid.shape}, got {occupied.shape}')
    if out is None:
        out = np.zeros(grid.shape, dtype=np.uint8)
    elif out.shape != grid.shape or out.dtype != np.uint8:
        raise ValueError(f'out must be uint8 of shape {grid.shape}, got {out.dtype} {out.shape}')
    _camera_kernel(_to_index(np.reshape(origin, 3), grid),
                   np.ascontiguousarray(directions / grid.voxel_size),
                   np.ascontiguousarray(occupied), out)
    return out


def pixel_rays(intrinsic: np.ndarray, image_size: Tuple[int, int], pixel_step: float) -> np.ndarray:
    """Camera-frame ray directions ``(R, 3)`` through pixel centres every ``pixel_step`` pixels
    (cached per camera model: treat the result as read-only)."""
    if pixel_step <= 0:
        raise ValueError(f'pixel_step must be positive, got {pixel_step}')
    intrinsic = np.asarray(intrinsic, dtype=np.float64)
    return _pixel_rays(intrinsic.tobytes(), tuple(int(v) for v in image_size), float(pixel_step))


@functools.lru_cache(maxsize=16)
def _pixel_rays(intrinsic_bytes: bytes, image_size: Tuple[int, int],
                pixel_step: float) -> np.ndarray:
    intrinsic = np.frombuffer(intrinsic_bytes, dtype=np.float64).reshape(3, 3)
    width, height = image_size
    u, v = np.meshgrid(np.arange(pixel_step / 2, width, pixel_step),
                       np.arange(pixel_step / 2, height, pixel_step), indexing='xy')
    pixels = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], 1)
    rays = pixels @ np.linalg.inv(intrinsic).T
    rays.setflags(write=False)
    return rays


def lidar_mask(world, scene, frame, grid: OccupancyGrid, frame_of: Optional[str] = None,
               sweep: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> np.ndarray:
    """``mask_lidar`` ``(X, Y, Z)`` uint8 from the LIDAR_TOP sweep of ``frame``.

    Args:
        world (SyntheticWorld): The world.
        scene (Scene): The frame's scene.
        frame (FrameState): The world's state at the keyframe.
        grid (OccupancyGrid): The voxel grid.
        frame_of (str, optional): ``'ego'`` or ``'lidar'``; ``None`` uses ``grid.frame_of``.
        sweep (tuple, optional): ``world.lidar_sweep(scene, frame)`` if already cast.

    Returns:
        np.ndarray: ``(X, Y, Z)`` uint8, 1 where a ray passed or returned.
    """
    frame_of = _check_grid_and_frame(grid, frame_of)
    points = (sweep if sweep is not None else world.lidar_sweep(scene, frame))[0]
    rotation, translation = grid_pose(world, frame, frame_of)
    lidar_rotation, lidar_translation = frame.sensor_pose(world.rig['LIDAR_TOP'])
    to_grid = rotation.T @ lidar_rotation
    origin = rotation.T @ (lidar_translation - translation)
    return lidar_visibility(origin, points[:, :3].astype(np.float64) @ to_grid.T + origin, grid)


def camera_mask(world, frame, semantics: np.ndarray, grid: OccupancyGrid,
                frame_of: Optional[str] = None, pixel_step: float = 1.0,
                voxel_rays: bool = True) -> np.ndarray:
    """``mask_camera`` ``(X, Y, Z)`` uint8: voxels seen by any of the six cameras.

    Args:
        world (SyntheticWorld): The world (its rig gives intrinsics and image size).
        frame (FrameState): The world's state at the keyframe.
        semantics (np.ndarray): ``(X, Y, Z)`` labels; occupied where ``!= grid.free_label``.
        grid (OccupancyGrid): The voxel grid.
        frame_of (str, optional): ``'ego'`` or ``'lidar'``; ``None`` uses ``grid.frame_of``.
        pixel_step (float): Distance in pixels between the pixel rays (1 = every pixel centre).
        voxel_rays (bool): Also cast a ray from each camera to the centre of every occupied voxel
            in its image, so that voxels thinner than a pixel row (distant ground) are not
            missed between the pixel rays.

    Returns:
        np.ndarray: ``(X, Y, Z)`` uint8, 1 where a camera sees the voxel.
    """
    frame_of = _check_grid_and_frame(grid, frame_of)
    semantics = np.asarray(semantics)
    if semantics.shape != grid.shape:
        raise ValueError(f'semantics must have shape {grid.shape}, got {semantics.shape}')
    occupied = np.ascontiguousarray(semantics != grid.free_label)
    voxels = np.argwhere(occupied) if voxel_rays else np.zeros((0, 3), dtype=np.int64)
    lower, voxel = grid.lower, np.array(grid.voxel_size)
    rotation, translation = grid_pose(world, frame, frame_of)
    mask = np.zeros(grid.shape, dtype=np.uint8)
    for name in CAMERA_NAMES:
        sensor = world.rig[name]
        cam_rotation, cam_translation = frame.sensor_pose(sensor)
        to_grid = rotation.T @ cam_rotation
        origin = rotation.T @ (cam_translation - translation)
        rays = pixel_rays(sensor.intrinsic, sensor.image_size, pixel_step) @ to_grid.T
        camera_visibility(origin, rays, occupied, grid, out=mask)
        width, height = sensor.image_size
        _voxel_ray_kernel(origin, voxels, lower, voxel, np.ascontiguousarray(to_grid.T),
                          np.asarray(sensor.intrinsic, dtype=np.float64), float(width),
                          float(height), occupied, mask)
    return mask


def occupancy_ground_truth(world, scene, frame, grid: OccupancyGrid,
                           frame_of: Optional[str] = None, pixel_step: float = 1.0,
                           voxel_rays: bool = True,
                           sweep: Optional[Tuple[np.ndarray, np.ndarray]] = None
                           ) -> Dict[str, np.ndarray]:
    """Semantics and both masks of one keyframe (arguments as in :func:`semantic_occupancy`,
    :func:`lidar_mask` and :func:`camera_mask`; ``sweep`` is the keyframe's
    ``world.lidar_sweep`` when another writer has cast it already).

    Returns:
        dict: ``semantics``, ``mask_lidar``, ``mask_camera``, each ``(X, Y, Z)`` uint8.
    """
    semantics = semantic_occupancy(world, frame, grid, frame_of)
    return dict(semantics=semantics,
                mask_lidar=lidar_mask(world, scene, frame, grid, frame_of, sweep),
                mask_camera=camera_mask(world, frame, semantics, grid, frame_of, pixel_step,
                                        voxel_rays))
