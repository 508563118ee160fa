"""Occupancy ground-truth loaders: ``LoadOcc3DGT`` and ``LoadNuScenesOccupancyGT``.

Conventions (``mmdet3d_plugin.structures.OccupancyGrid``):

* Occ3D-nuScenes: ``<occ3d_root>/gts/<scene_name>/<sample_token>/labels.npz`` with ``semantics``
  (200, 200, 16) uint8 labels 0..17 (17 free), ``mask_lidar`` and ``mask_camera`` (0/1); 0.4 m
  voxels over [-40, -40, -1, 40, 40, 5.4] in the ego frame; arrays indexed ``[x, y, z]``.
* nuScenes-Occupancy (OpenOccupancy): ``<occ_root>/scene_<scene_token>/occupancy/
  <lidar_token>.npy``, a sparse (N, 4) ``[z, y, x, cls]`` list on 512x512x40 (0.2 m over
  [-51.2, -51.2, -5, 51.2, 51.2, 3], LiDAR frame) where ``cls == 0`` marks noise. OpenOccupancy's
  ``LoadOccupancy`` makes it dense: unlisted voxels 0 (free), 1..16 semantic, noise 255.
"""
import io
import os.path as osp
from typing import Dict, Optional, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.fileio import get

from mmdet3d_plugin.registry import TRANSFORMS
from mmdet3d_plugin.structures.occupancy_grid import OccupancyGrid, densify_nuscenes_occupancy
from mmdet3d_plugin.structures.occupancy_labels import OCC3D_FREE_INDEX as OCC3D_FREE

#: Named grid conventions accepted wherever a transform takes ``grid``.
GRID_CONVENTIONS = {
    'occ3d-nuscenes': OccupancyGrid.occ3d_nuscenes,
    'nuscenes-occupancy': OccupancyGrid.nuscenes_occupancy,
}
OCC3D_KEYS = ('semantics', 'mask_lidar', 'mask_camera')


def occupancy_grid(grid: Union[str, dict, OccupancyGrid]) -> OccupancyGrid:
    """Return the :class:`OccupancyGrid` of a convention.

    Args:
        grid (str | dict | OccupancyGrid): ``'occ3d-nuscenes'``, ``'nuscenes-occupancy'``, the
            keyword arguments of ``OccupancyGrid`` (``point_cloud_range``, ``voxel_size``,
            ``shape``, ``frame_of``, ``free_label``) or a grid.

    Returns:
        OccupancyGrid: The grid (shape (X, Y, Z), frame ``'ego'`` or ``'lidar'``).
    """
    if isinstance(grid, OccupancyGrid):
        return grid
    if isinstance(grid, str):
        if grid not in GRID_CONVENTIONS:
            raise ValueError(f'unknown occupancy grid convention {grid!r}; expected one of '
                             f'{sorted(GRID_CONVENTIONS)} or a dict of OccupancyGrid arguments')
        return GRID_CONVENTIONS[grid]()
    if isinstance(grid, dict):
        return OccupancyGrid(**grid)
    raise TypeError(f'grid must be a convention name, a dict or an OccupancyGrid, got '
                    f'{type(grid).__name__}')


def _read(path: str, backend_args: Optional[dict], owner: str) -> bytes:
    try:
        return get(path, backend_args=backend_args)
    except FileNotFoundError as error:
        raise FileNotFoundError(f'{owner}: occupancy file not found: {path}') from error


@TRANSFORMS.register_module()
class LoadOcc3DGT(BaseTransform):
    """Load Occ3D-nuScenes occupancy ground truth.

    Args:
        occ3d_root (str): Folder holding ``gts/`` (e.g. ``data/occ3d``); ``results['occ3d_path']``
            is relative to it.
        grid (str | dict | OccupancyGrid): Expected grid; the loaded arrays must have its shape.
            Defaults to ``'occ3d-nuscenes'`` (200, 200, 16).
        backend_args (dict, optional): mmengine file backend arguments. Defaults to None.
    """

    def __init__(self, occ3d_root: str, grid: Union[str, dict, OccupancyGrid] = 'occ3d-nuscenes',
                 backend_args: Optional[dict] = None) -> None:
        if not isinstance(occ3d_root, str) or not occ3d_root:
            raise ValueError(f'LoadOcc3DGT: occ3d_root must be a folder path, got {occ3d_root!r}')
        self.occ3d_root = occ3d_root
        self.grid = occupancy_grid(grid)
        self.backend_args = backend_args

    def transform(self, results: Dict) -> Dict:
        """Read ``labels.npz``.

        Args:
            results (dict): Needs ``occ3d_path`` (relative to ``occ3d_root``).

        Returns:
            dict: ``results`` with ``gt_occ`` (X, Y, Z) uint8 labels 0..17 (17 free),
            ``mask_camera`` and ``mask_lidar`` (X, Y, Z) bool.

        Raises:
            KeyError: naming ``occ3d_path`` when it is missing, or the file and the array it
                lacks. FileNotFoundError: naming the file. ValueError: naming the file when a
                shape or a label is wrong.
        """
        if not results.get('occ3d_path'):
            raise KeyError("LoadOcc3DGT needs results['occ3d_path'] (Occ3D gts/<scene>/<sample>/"
                           'labels.npz relative to occ3d_root; create the infos with '
                           f'create_nuscenes_infos); got keys {sorted(results)}')
        path = osp.join(self.occ3d_root, results['occ3d_path'])
        with np.load(io.BytesIO(_read(path, self.backend_args, 'LoadOcc3DGT'))) as npz:
            missing = [key for key in OCC3D_KEYS if key not in npz.files]
            if missing:
                raise KeyError(f'LoadOcc3DGT: {path} lacks the array(s) {missing} (has '
                               f'{npz.files})')
            arrays = {key: npz[key] for key in OCC3D_KEYS}
        for key, array in arrays.items():
            if array.shape != self.grid.shape:
                raise ValueError(f'LoadOcc3DGT: {path}: {key} has shape {array.shape}, expected '
                                 f'{self.grid.shape}')
        for key, array in arrays.items():
            if array.dtype.kind not in 'uib':
                raise ValueError(f'LoadOcc3DGT: {path}: {key} must be an integer or bool array '
                                 f'(Occ3D stores uint8), got dtype {array.dtype}')
        semantics = arrays['semantics']
        if semantics.size and (semantics.min() < 0 or semantics.max() > OCC3D_FREE):
            raise ValueError(f'LoadOcc3DGT: {path}: semantics must hold labels 0..{OCC3D_FREE}')
        results['gt_occ'] = semantics.astype(np.uint8)
        results['mask_camera'] = arrays['mask_camera'].astype(bool)
        results['mask_lidar'] = arrays['mask_lidar'].astype(bool)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(occ3d_root={self.occ3d_root!r}, shape={self.grid.shape})'


@TRANSFORMS.register_module()
class LoadNuScenesOccupancyGT(BaseTransform):
    """Load nuScenes-Occupancy ground truth as OpenOccupancy's ``LoadOccupancy`` does.

    Args:
        occ_root (str): nuScenes-Occupancy folder; ``results['occ_path']`` is relative to it.
            Without ``occ_path`` the path ``scene_<scene_token>/occupancy/<lidar_token>.npy``
            is built from ``results['scene_token']`` and ``results['lidar_token']``.
        grid (str | dict | OccupancyGrid): Grid convention giving the dense shape. Defaults to
            ``'nuscenes-occupancy'`` (512, 512, 40).
        backend_args (dict, optional): mmengine file backend arguments. Defaults to None.
    """

    def __init__(self, occ_root: str,
                 grid: Union[str, dict, OccupancyGrid] = 'nuscenes-occupancy',
                 backend_args: Optional[dict] = None) -> None:
        if not isinstance(occ_root, str) or not occ_root:
            raise ValueError(f'LoadNuScenesOccupancyGT: occ_root must be a folder path, got '
                             f'{occ_root!r}')
        self.occ_root = occ_root
        self.grid = occupancy_grid(grid)
        self.backend_args = backend_args

    def _relative_path(self, results: Dict) -> str:
        if results.get('occ_path'):
            return results['occ_path']
        if results.get('scene_token') and results.get('lidar_token'):
            return f"scene_{results['scene_token']}/occupancy/{results['lidar_token']}.npy"
        raise KeyError("LoadNuScenesOccupancyGT needs results['occ_path'] (or 'scene_token' and "
                       f"'lidar_token'); got keys {sorted(results)}")

    def transform(self, results: Dict) -> Dict:
        """Read the sparse list and densify it.

        Args:
            results (dict): Needs ``occ_path`` (or ``scene_token`` and ``lidar_token``).

        Returns:
            dict: ``results`` with ``gt_occ`` (X, Y, Z) uint8: 0 free, 1..16 semantic, 255 noise.

        Raises:
            KeyError: naming the missing keys. FileNotFoundError / ValueError: naming the file.
        """
        path = osp.join(self.occ_root, self._relative_path(results))
        sparse = np.load(io.BytesIO(_read(path, self.backend_args, 'LoadNuScenesOccupancyGT')))
        if sparse.ndim != 2 or sparse.shape[1] != 4:
            raise ValueError(f'LoadNuScenesOccupancyGT: {path} must hold an (N, 4) [z, y, x, cls] '
                             f'array, got shape {sparse.shape}')
        if sparse.dtype.kind not in 'ui':
            raise ValueError(f'LoadNuScenesOccupancyGT: {path} must hold integer [z, y, x, cls] '
                             f'rows, got dtype {sparse.dtype}')
        cls = sparse[:, 3]
        if len(cls) and (cls.min() < 0 or cls.max() > 16):
            raise ValueError(f'LoadNuScenesOccupancyGT: {path}: cls must be 0 (noise) or 1..16, '
                             f'got [{cls.min()}, {cls.max()}]')
        try:
            dense = densify_nuscenes_occupancy(sparse, self.grid.shape)
        except ValueError as error:
            raise ValueError(f'LoadNuScenesOccupancyGT: {path}: {error}') from error
        results['gt_occ'] = dense
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(occ_root={self.occ_root!r}, shape={self.grid.shape})'
