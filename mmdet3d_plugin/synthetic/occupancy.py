"""Exact semantic occupancy of the synthetic world and the Occ3D / nuScenes-Occupancy writers.

Labels (the nuScenes-lidarseg 16 classes, shared by both benchmarks):
1 barrier, 2 bicycle, 3 bus, 4 car, 5 construction_vehicle, 6 motorcycle, 7 pedestrian,
8 traffic_cone, 9 trailer, 10 truck, 11 driveable_surface, 12 other_flat, 13 sidewalk,
14 terrain, 15 manmade, 16 vegetation. Occ3D-nuScenes adds 0 ``others`` and 17 ``free``
(Tsinghua-MARS-Lab/Occ3D README); nuScenes-Occupancy files use 0 for *noise*, and its loader
(JeffWang987/OpenOccupancy ``LoadOccupancy``) fills every unlisted voxel with 0 = free and turns
noise into 255. The grid conventions (:class:`~mmdet3d_plugin.structures.OccupancyGrid`, which
carries its convention's free label) and the sparse file layout live in
:mod:`mmdet3d_plugin.structures.occupancy_grid`.

Voxels are labelled at their centres: a voxel belongs to a box when its centre is inside the
box (boundary included). The *ground layer* (the voxel layer containing the ground plane z = 0)
holds the map surface under the voxel centre: ``driveable_surface`` on drivable area and
crossings, ``sidewalk`` on walkways, ``other_flat`` on car parks, ``terrain`` elsewhere.
Agents (by class), buildings (``manmade``) and trees (``vegetation``) fill the voxels above it;
an agent also takes the free voxels of the column through its centre (inside its height) and the
voxel of its centre, so objects thinner than a voxel (cones) never vanish. Everything else is
free. The ego vehicle itself is not in the grid.
"""
import io
import os
import zipfile
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import shapely

from ..structures.occupancy_grid import FRAMES, OccupancyGrid, sparsify_nuscenes_occupancy
from ..structures.occupancy_labels import OCC3D_CLASS_NAMES
from ..structures.occupancy_labels import OCC3D_FREE_INDEX as OCC3D_FREE
from ..utils.atomic_io import atomic_path

#: Semantic label of each class name (1..16 are the same in both benchmarks).
LABELS = {name: index for index, name in enumerate(OCC3D_CLASS_NAMES[:17])}
STATIC_LABELS = {'building': LABELS['manmade'], 'vegetation': LABELS['vegetation']}


def _check_grid_and_frame(grid, frame_of: Optional[str]) -> str:
    if not isinstance(grid, OccupancyGrid):
        raise TypeError(f'grid must be an OccupancyGrid, got {type(grid).__name__}')
    frame_of = grid.frame_of if frame_of is None else frame_of
    if frame_of not in FRAMES:
        raise ValueError(f'frame_of must be one of {FRAMES}, got {frame_of!r}')
    return frame_of


def grid_pose(world, frame, frame_of: str) -> Tuple[np.ndarray, np.ndarray]:
    """Grid-frame-to-global ``(rotation (3, 3), translation (3,))`` of ``frame`` (a
    ``FrameState``) for ``frame_of`` ``'ego'`` or ``'lidar'`` (LIDAR_TOP of ``world.rig``)."""
    if frame_of == 'ego':
        return frame.ego_rotation, frame.ego_translation
    if frame_of == 'lidar':
        return frame.sensor_pose(world.rig['LIDAR_TOP'])
    raise ValueError(f'frame_of must be one of {FRAMES}, got {frame_of!r}')


def _inside(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Whether points ``(..., 3)`` lie in ``box`` ``[x, y, z, l, w, h, yaw]`` (boundary in)."""
    rel = points - box[:3]
    c, s = np.cos(box[6]), np.sin(box[6])
    u = c * rel[..., 0] + s * rel[..., 1]
    v = -s * rel[..., 0] + c * rel[..., 1]
    w = rel[..., 2]
    return (np.abs(u) <= box[3] / 2) & (np.abs(v) <= box[4] / 2) & (np.abs(w) <= box[5] / 2)


def _paint_boxes(labels: np.ndarray, boxes: np.ndarray, box_labels: np.ndarray,
                 grid: OccupancyGrid, z_start: int) -> None:
    """Set ``labels`` ``(X, Y, Z)`` to ``box_labels[m]`` at voxels (layer >= ``z_start``) whose
    centre is in box ``m`` of ``boxes`` ``(M, 7)`` (grid frame); later boxes win."""
    lower, voxel = grid.lower, np.array(grid.voxel_size)
    centers = [grid.centers(axis) for axis in range(3)]
    for box, label in zip(boxes, box_labels):
        c, s = abs(np.cos(box[6])), abs(np.sin(box[6]))
        half = np.array([c * box[3] + s * box[4], s * box[3] + c * box[4], box[5]]) / 2
        first = np.maximum(np.floor((box[:3] - half - lower) / voxel).astype(int), 0)
        last = np.minimum(np.floor((box[:3] + half - lower) / voxel).astype(int),
                          np.array(grid.shape) - 1)
        first[2] = max(first[2], z_start)
        if np.any(first > last):
            continue
        xs, ys, zs = (centers[a][first[a]:last[a] + 1] for a in range(3))
        points = np.stack(np.meshgrid(xs, ys, zs, indexing='ij'), -1)
        block = labels[first[0]:last[0] + 1, first[1]:last[1] + 1, first[2]:last[2] + 1]
        block[_inside(points, box)] = label


def _claim_axes(labels: np.ndarray, boxes: np.ndarray, box_labels: np.ndarray,
                grid: OccupancyGrid, z_start: int) -> None:
    """Give each box the still-free voxels of the column through its centre whose centre height
    is in the box, and the voxel of its centre, so that thin objects (cones) never vanish."""
    index, _ = grid.voxel_of(boxes[:, :3])
    z_centers = grid.centers(2)
    for (ix, iy, iz), box, label in zip(index, boxes, box_labels):
        if not (0 <= ix < grid.shape[0] and 0 <= iy < grid.shape[1]):
            continue
        column = np.abs(z_centers - box[2]) <= box[5] / 2
        if 0 <= iz < grid.shape[2]:
            column[iz] = True
        column[:z_start] = False
        free = column & (labels[ix, iy] == grid.free_label)
        labels[ix, iy, free] = label


def _surface_labels(road_map, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Ground label at global points ``x``, ``y`` ``(N,)`` from the map polygons."""
    labels = np.full(x.shape, LABELS['terrain'], dtype=np.uint8)
    for names, label in ((('carpark_area',), 'other_flat'), (('walkway',), 'sidewalk'),
                         (('drivable_area', 'ped_crossing'), 'driveable_surface')):
        area = road_map.union(names)
        if area is not None:
            labels[shapely.contains_xy(area, x, y)] = LABELS[label]
    return labels


def semantic_occupancy(world, frame, grid: OccupancyGrid,
                       frame_of: Optional[str] = None) -> np.ndarray:
    """Label every voxel of ``grid`` from the known world (see the module docstring).

    Args:
        world (SyntheticWorld): The world (map and rig).
        frame (FrameState): The world's state at one timestamp (``world.frame(...)``).
        grid (OccupancyGrid): Voxel grid; free voxels get ``grid.free_label``.
        frame_of (str, optional): ``'ego'`` or ``'lidar'``; ``None`` uses ``grid.frame_of``.

    Returns:
        np.ndarray: ``(X, Y, Z)`` uint8 labels.
    """
    frame_of = _check_grid_and_frame(grid, frame_of)
    rotation, translation = grid_pose(world, frame, frame_of)
    if abs(rotation[2, 2] - 1.0) > 1e-9:
        raise ValueError(f'the {frame_of} frame must be level (yaw-only rotation)')
    labels = np.full(grid.shape, grid.free_label, dtype=np.uint8)
    ground_z = -translation[2]  # z = 0 in the grid frame (level frames)
    ground = int(np.floor((ground_z - grid.lower[2]) / grid.voxel_size[2]))
    if 0 <= ground < grid.shape[2]:
        gx, gy = np.meshgrid(grid.centers(0), grid.centers(1), indexing='ij')
        global_xy = np.stack([gx.ravel(), gy.ravel()], 1) @ rotation[:2, :2].T + translation[:2]
        labels[:, :, ground] = _surface_labels(world.road_map, global_xy[:, 0],
                                               global_xy[:, 1]).reshape(gx.shape)
    boxes = np.asarray(frame.boxes, dtype=np.float64).reshape(-1, 7)
    if len(boxes):
        local = boxes.copy()
        local[:, :3] = (boxes[:, :3] - translation) @ rotation
        local[:, 6] = boxes[:, 6] - np.arctan2(rotation[1, 0], rotation[0, 0])
        box_labels = np.array([LABELS[a.cls.name] for a in frame.agents]
                              + [STATIC_LABELS[k] for k in frame.static_kinds], dtype=np.uint8)
        order = np.r_[np.arange(frame.num_agents, len(boxes)), np.arange(frame.num_agents)]
        z_start = max(ground + 1, 0)
        _paint_boxes(labels, local[order], box_labels[order], grid, z_start)
        agents = slice(0, frame.num_agents)
        _claim_axes(labels, local[agents], box_labels[agents], grid, z_start)
    return labels


def _check_name(value, name: str) -> str:
    if not isinstance(value, str) or not value or os.sep in value or value in ('.', '..'):
        raise ValueError(f'{name} must be a non-empty file name, got {value!r}')
    return value


def _check_volume(array, name: str, shape=None) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 3 or (shape is not None and array.shape != shape):
        expected = f'{shape}' if shape is not None else '(X, Y, Z)'
        raise ValueError(f'{name} must have shape {expected}, got {array.shape}')
    if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        raise TypeError(f'{name} must hold integers, got dtype {array.dtype}')
    return array


def _atomic_write(path: str, write: Callable) -> str:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it to ``path``."""
    with atomic_path(path) as tmp, open(tmp, 'wb') as file:
        write(file)
    return path


def write_occ3d(root: str, scene_name: str, sample_token: str, semantics: np.ndarray,
                mask_lidar: np.ndarray, mask_camera: np.ndarray) -> str:
    """Write ``<root>/gts/<scene_name>/<sample_token>/labels.npz`` as Occ3D-nuScenes ships it.

    Args:
        root (str): Dataset root (the folder holding ``gts/``).
        scene_name (str): e.g. ``'scene-0061'``.
        sample_token (str): The keyframe's sample token.
        semantics (np.ndarray): ``(X, Y, Z)`` labels 0..17 (17 free).
        mask_lidar (np.ndarray): ``(X, Y, Z)`` bool or 0/1.
        mask_camera (np.ndarray): ``(X, Y, Z)`` bool or 0/1.

    Returns:
        str: The file written (keys ``semantics``, ``mask_lidar``, ``mask_camera``, all uint8).
    """
    semantics = _check_volume(semantics, 'semantics')
    if semantics.size and (semantics.min() < 0 or semantics.max() > OCC3D_FREE):
        raise ValueError(f'semantics must hold Occ3D labels 0..{OCC3D_FREE}, got '
                         f'[{semantics.min()}, {semantics.max()}]')
    masks = {}
    for name, mask in (('mask_lidar', mask_lidar), ('mask_camera', mask_camera)):
        mask = _check_volume(mask, name, semantics.shape)
        if not np.isin(mask, (0, 1)).all():
            raise ValueError(f'{name} must hold only 0 and 1')
        masks[name] = mask.astype(np.uint8)
    path = os.path.join(root, 'gts', _check_name(scene_name, 'scene_name'),
                        _check_name(sample_token, 'sample_token'), 'labels.npz')
    arrays = dict(semantics=semantics.astype(np.uint8), **masks)
    return _atomic_write(path, lambda file: _savez_reproducible(file, arrays))


def _savez_reproducible(file, arrays: Dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` with a fixed member timestamp, so the same arrays always give
    the same bytes (numpy stamps each member with the current time)."""
    with zipfile.ZipFile(file, 'w', compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f'{name}.npy', date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())


def write_nuscenes_occupancy(root: str, scene_token: str, lidar_token: str,
                             semantics: np.ndarray) -> str:
    """Write ``<root>/scene_<scene_token>/occupancy/<lidar_token>.npy`` (nuScenes-Occupancy).

    The file is OpenOccupancy's sparse ``(N, 4)`` int64 ``[z, y, x, cls]`` list of the
    non-free voxels, ``cls`` 1..16, noise (dense 255) written as ``cls`` 0.

    Args:
        root (str): Dataset root (``data/nuScenes-Occupancy``).
        scene_token (str): The scene's token.
        lidar_token (str): The keyframe's LIDAR_TOP sample_data token.
        semantics (np.ndarray): ``(X, Y, Z)`` dense labels: 0 free, 1..16, 255 noise.

    Returns:
        str: The file written.
    """
    sparse = sparsify_nuscenes_occupancy(_check_volume(semantics, 'semantics'))
    path = os.path.join(root, f'scene_{_check_name(scene_token, "scene_token")}', 'occupancy',
                        f'{_check_name(lidar_token, "lidar_token")}.npy')
    return _atomic_write(path, lambda file: np.save(file, sparse))
