"""BEV map masks around the ego pose, rasterised by the nuScenes map API in the ego frame.

The patch is centred on the ego position and turned by the ego heading, so that
``NuScenesMap.get_map_mask`` returns masks whose columns run along ego x (forward) and rows
along ego y (left): ``mask[row, col]`` covers ``x = x_min + (col + 0.5) * res``,
``y = y_min + (row + 0.5) * res``, i.e. row 0 is the right-most strip (show it with
``origin='lower'``). Divider lines are taken from ``get_map_geom`` (same patch, same transform)
and drawn here with the devkit's 2-pixel ``cv2.polylines``: the devkit's own line rasteriser
iterates over ``MultiLineString`` objects, which Shapely 2 no longer allows.
"""
import math
from typing import Dict, Sequence, Tuple

import cv2
import numpy as np

from .palettes import MAP_CLASSES

POLYGON_LAYERS = ('drivable_area', 'carpark_area', 'walkway', 'ped_crossing', 'stop_line')
DIVIDER_LAYERS = ('road_divider', 'lane_divider')


def _canvas(bev_range: Sequence[float], resolution: float) -> Tuple[int, int]:
    """``(rows, cols)`` = ``(y extent, x extent) / resolution`` of ``bev_range``."""
    x_min, y_min, x_max, y_max = bev_range
    if not (x_max > x_min and y_max > y_min and resolution > 0):
        raise ValueError(f'bev_range must be (x_min, y_min, x_max, y_max) with min < max and '
                         f'resolution > 0, got {tuple(bev_range)} and {resolution}')
    return int(round((y_max - y_min) / resolution)), int(round((x_max - x_min) / resolution))


def _draw_lines(geometry, mask: np.ndarray, offset: Tuple[float, float],
                resolution: float) -> None:
    """Draw a (multi-)line in patch coordinates into ``mask`` (2 px wide, as the devkit)."""
    parts = getattr(geometry, 'geoms', [geometry])
    for part in parts:
        if part.is_empty or not hasattr(part, 'coords'):
            continue
        coords = (np.asarray(part.coords)[:, :2] + offset) / resolution
        cv2.polylines(mask, [coords.astype(np.int32).reshape(-1, 1, 2)], False, 1, 2)


def bev_map_masks(nusc_map, ego_translation: Sequence[float], ego_yaw: float,
                  bev_range: Sequence[float] = (-50.0, -50.0, 50.0, 50.0),
                  resolution: float = 0.5) -> Dict[str, np.ndarray]:
    """Masks of :data:`~.palettes.MAP_CLASSES` in the ego frame.

    Args:
        nusc_map (NuScenesMap): The map of the sample's location.
        ego_translation (sequence): Ego position ``(x, y[, z])`` in the global frame.
        ego_yaw (float): Ego heading in the global frame, radians.
        bev_range (sequence): ``(x_min, y_min, x_max, y_max)`` in the ego frame, metres.
        resolution (float): Metres per pixel.

    Returns:
        dict: ``{class: (rows, cols) bool}`` for each map class (see the module docstring).
    """
    rows, cols = _canvas(bev_range, resolution)
    x_min, y_min, x_max, y_max = bev_range
    # Patch centre in the global frame: the ego frame point at the centre of bev_range.
    cx, cy = (x_min + x_max) / 2, (y_min + y_max) / 2
    cos, sin = math.cos(ego_yaw), math.sin(ego_yaw)
    centre = (ego_translation[0] + cos * cx - sin * cy, ego_translation[1] + sin * cx + cos * cy)
    patch_box = (centre[0], centre[1], y_max - y_min, x_max - x_min)
    patch_angle = math.degrees(ego_yaw)
    polygons = nusc_map.get_map_mask(patch_box, patch_angle, list(POLYGON_LAYERS), (rows, cols))
    masks = {name: polygons[i].astype(bool) for i, name in enumerate(POLYGON_LAYERS)}
    divider = np.zeros((rows, cols), dtype=np.uint8)
    offset = ((x_max - x_min) / 2, (y_max - y_min) / 2)
    for _, geometries in nusc_map.get_map_geom(patch_box, patch_angle, list(DIVIDER_LAYERS)):
        for geometry in geometries:
            _draw_lines(geometry, divider, offset, resolution)
    masks['divider'] = divider.astype(bool)
    return {name: masks[name] for name in MAP_CLASSES}
