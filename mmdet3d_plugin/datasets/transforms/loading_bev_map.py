"""BEV map-segmentation ground truth rasterised from the nuScenes map expansion: ``LoadBEVMapGT``.

Convention (BEVFusion, mit-han-lab/bevfusion ``mmdet3d/datasets/pipelines/loading.py``
``LoadBEVSegmentation``): the raster lives in the sample's LiDAR frame. The map patch is centred
on the LiDAR, ``patch_angle`` is the global yaw (degrees) of the LiDAR +x axis, the devkit's
``NuScenesMap.get_map_mask`` returns (L, H_y, W_x) and is transposed, so
``gt_masks_bev[c, i, j]`` is the pixel at LiDAR ``x`` index ``i`` and ``y`` index ``j``; class
``divider`` is ``road_divider`` + ``lane_divider`` (``drivable_area*`` is ``road_segment`` +
``lane``); every other class is the layer of its name.

One deliberate refinement: pixel ``(i, j)`` is centred exactly at
``(x_min + (i + 0.5) * dx, y_min + (j + 0.5) * dy)``, the BEV feature-grid convention. The
devkit fills pixels whose *integer* coordinates lie in a polygon, so BEVFusion's patch (centred
on the LiDAR origin) puts pixel centres at ``x_min + i * dx``, half a pixel (0.25 m) off; the
patch here is shifted by half a pixel to remove that offset.

Placement: before ``GlobalAugmentAll`` (which resamples the raster), or after it: then the map
is rasterised exactly in the augmented frame given by ``results['lidar_aug_matrix']``, as
BEVFusion does.
"""
import functools
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from mmdet3d_plugin.structures.bev_map import BEV_MAP_CLASSES
from mmdet3d_plugin.registry import TRANSFORMS
from mmdet3d_plugin.structures.grid_bounds import bound_cells, check_bound

#: Classes made of several map layers (BEVFusion's mapping).
LAYER_GROUPS = {'divider': ('road_divider', 'lane_divider'),
                'drivable_area*': ('road_segment', 'lane')}


def lidar2global_of(results: Dict, owner: str) -> np.ndarray:
    """(4, 4) LiDAR-to-global transform ``ego2global @ lidar2ego`` of a sample."""
    lidar2ego = (results.get('lidar_points') or {}).get('lidar2ego', results.get('lidar2ego'))
    if lidar2ego is None or results.get('ego2global') is None:
        raise KeyError(f"{owner} needs results['ego2global'] and results['lidar_points']"
                       f"['lidar2ego'] (4x4); got keys {sorted(results)}")
    return np.asarray(results['ego2global'], np.float64) @ np.asarray(lidar2ego, np.float64)


@TRANSFORMS.register_module()
class LoadBEVMapGT(BaseTransform):
    """Rasterise map-segmentation GT with ``nuscenes.map_expansion.map_api.NuScenesMap``.

    Args:
        data_root (str): nuScenes dataroot; maps are read from
            ``<data_root>/maps/expansion/<location>.json`` and cached per location.
        classes (Sequence[str]): Map classes, one output channel each. Defaults to
            BEVFusion's six, ``mmdet3d_plugin.structures.BEV_MAP_CLASSES``.
        xbound (Sequence[float]): ``(x_min, x_max, dx)`` in the LiDAR frame, metres. Defaults to
            (-50, 50, 0.5).
        ybound (Sequence[float]): ``(y_min, y_max, dy)``. Defaults to (-50, 50, 0.5).
    """

    def __init__(self, data_root: str, classes: Sequence[str] = BEV_MAP_CLASSES,
                 xbound: Sequence[float] = (-50.0, 50.0, 0.5),
                 ybound: Sequence[float] = (-50.0, 50.0, 0.5)) -> None:
        if not isinstance(data_root, str) or not data_root:
            raise ValueError(f'LoadBEVMapGT: data_root must be a folder path, got {data_root!r}')
        classes = tuple(classes)
        if not classes or len(set(classes)) != len(classes):
            raise ValueError(f'LoadBEVMapGT: classes must be distinct names, got {classes!r}')
        self.data_root = data_root
        self.classes = classes
        self.xbound = check_bound(xbound, 'LoadBEVMapGT: xbound')
        self.ybound = check_bound(ybound, 'LoadBEVMapGT: ybound')
        self._maps: Dict[str, object] = {}

    def __getstate__(self) -> Dict:
        """Pickle without the loaded maps (workers reload them lazily; the cached methods do
        not pickle)."""
        return dict(self.__dict__, _maps={})

    def layers_of(self, name: str) -> Tuple[str, ...]:
        """Map layers making up class ``name``."""
        return LAYER_GROUPS.get(name, (name, ))

    def get_map(self, location: str):
        """The ``NuScenesMap`` of ``location``, loaded once and cached."""
        if location not in self._maps:
            from nuscenes.map_expansion.map_api import NuScenesMap, locations
            if location not in locations:
                raise ValueError(f"LoadBEVMapGT: results['location'] is {location!r}; "
                                 f'NuScenesMap only knows {locations}')
            path = osp.join(self.data_root, 'maps', 'expansion', f'{location}.json')
            if not osp.isfile(path):
                raise FileNotFoundError(f'LoadBEVMapGT: map expansion file not found: {path}')
            nusc_map = NuScenesMap(dataroot=self.data_root, map_name=location)
            known = set(nusc_map.non_geometric_layers)
            unknown = sorted({layer for name in self.classes for layer in self.layers_of(name)}
                             - known)
            if unknown:
                raise ValueError(f'LoadBEVMapGT: map layers {unknown} (from classes '
                                 f'{list(self.classes)}) are not in {path}; known: {sorted(known)}')
            # the devkit rebuilds every polygon/line from its nodes on each call; shapely
            # geometries are immutable, so build each once per map (~20% faster per sample)
            nusc_map.extract_polygon = functools.lru_cache(maxsize=None)(nusc_map.extract_polygon)
            nusc_map.extract_line = functools.lru_cache(maxsize=None)(nusc_map.extract_line)
            self._maps[location] = nusc_map
        return self._maps[location]

    def rasterise(self, location: str, raster2global: np.ndarray) -> np.ndarray:
        """Rasterise the map in a raster frame.

        Args:
            location (str): Map location.
            raster2global (np.ndarray): (4, 4) transform from the raster frame to global whose
                xy part is a rotation times a positive scale (no reflection).

        Returns:
            np.ndarray: (C, X, Y) uint8 masks, ``C = len(classes)``.
        """
        linear = raster2global[:2, :2]
        scale = float(np.sqrt(abs(np.linalg.det(linear))))
        if np.linalg.det(linear) <= 0 or not np.allclose(linear.T @ linear,
                                                         scale ** 2 * np.eye(2), atol=1e-6):
            raise ValueError('LoadBEVMapGT: the raster frame must map to global by a rotation '
                             'and a positive scale in xy')
        (x_min, x_max, dx), (y_min, y_max, dy) = self.xbound, self.ybound
        nx, ny = bound_cells(self.xbound), bound_cells(self.ybound)
        center = raster2global @ np.array([(x_min + x_max + dx) / 2, (y_min + y_max + dy) / 2,
                                           0.0, 1.0])
        patch_box = (center[0], center[1], (y_max - y_min) * scale, (x_max - x_min) * scale)
        patch_angle = float(np.degrees(np.arctan2(linear[1, 0], linear[0, 0])))
        layer_names: List[str] = sorted({layer for name in self.classes
                                         for layer in self.layers_of(name)})
        masks = self.get_map(location).get_map_mask(
            patch_box=patch_box, patch_angle=patch_angle, layer_names=layer_names,
            canvas_size=(ny, nx)).transpose(0, 2, 1).astype(bool)
        labels = np.zeros((len(self.classes), nx, ny), dtype=np.uint8)
        for k, name in enumerate(self.classes):
            for layer in self.layers_of(name):
                labels[k][masks[layer_names.index(layer)]] = 1
        return labels

    def transform(self, results: Dict) -> Dict:
        """Rasterise the map around the sample.

        Args:
            results (dict): Needs ``location``, ``ego2global`` (4, 4) and
                ``lidar_points['lidar2ego']`` (4, 4); uses ``lidar_aug_matrix`` (4, 4) when an
                augmentation ran before.

        Returns:
            dict: ``results`` with ``gt_masks_bev`` (C, X, Y) uint8 (6, 200, 200 by default).
        """
        if not results.get('location'):
            raise KeyError("LoadBEVMapGT needs results['location'] (the map name of the sample's "
                           f'log; create the infos with create_nuscenes_infos); got keys '
                           f'{sorted(results)}')
        raster2global = lidar2global_of(results, 'LoadBEVMapGT')
        flip_y = False
        aug = results.get('lidar_aug_matrix')
        if aug is not None:
            raster2global = raster2global @ np.linalg.inv(np.asarray(aug, np.float64))
            flip_y = np.linalg.det(raster2global[:2, :2]) < 0
        if not flip_y:
            results['gt_masks_bev'] = self.rasterise(results['location'], raster2global)
            return results
        # A reflection: rasterise the y-mirrored patch and mirror the raster back.
        mirrored = LoadBEVMapGT(self.data_root, self.classes, self.xbound,
                                (-self.ybound[1], -self.ybound[0], self.ybound[2]))
        mirrored._maps = self._maps
        masks = mirrored.rasterise(results['location'],
                                   raster2global @ np.diag([1.0, -1.0, 1.0, 1.0]))
        results['gt_masks_bev'] = np.ascontiguousarray(masks[:, :, ::-1])
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(data_root={self.data_root!r}, classes={self.classes}, '
                f'xbound={self.xbound}, ybound={self.ybound})')
