"""Colours of the dataset views: detection classes, BEV map layers and Occ3D classes (RGB 0-255).

Detection classes use matplotlib's ``tab10`` hues in mmdet3d's nuScenes class order, except
``barrier`` in black (``tab10``'s grey vanishes on grey concrete and asphalt); nuScenes
categories outside the ten detection classes are drawn in :data:`OTHER_COLOR`. The Occ3D
palette is the one common to the public occupancy visualisation scripts (SurroundOcc-style
``colors`` arrays), so renders look familiar.
"""
from contextlib import contextmanager
from typing import Dict, Iterator, Optional, Tuple

import numpy as np

from ..structures.nuscenes_names import NUSCENES_DETECTION_CLASSES
from ..structures.occupancy_labels import OCC3D_CLASS_NAMES

RGB = Tuple[int, int, int]

#: mmdet3d's nuScenes detection class order (``NuScenesDataset.METAINFO['classes']``).
DETECTION_CLASSES = NUSCENES_DETECTION_CLASSES
DETECTION_COLORS: Dict[str, RGB] = {
    'car': (31, 119, 180), 'truck': (255, 127, 14), 'trailer': (140, 86, 75),
    'bus': (44, 160, 44), 'construction_vehicle': (188, 189, 34), 'bicycle': (148, 103, 189),
    'motorcycle': (23, 190, 207), 'pedestrian': (214, 39, 40), 'traffic_cone': (227, 119, 194),
    'barrier': (0, 0, 0)}
OTHER_COLOR: RGB = (127, 127, 127)

#: Colour of each BEV map class (:data:`~mmdet3d_plugin.structures.BEV_MAP_CLASSES`), in
#: drawing order: later layers are painted over earlier ones, so areas come first and the thin
#: layers (stop lines, dividers) last.
MAP_COLORS: Dict[str, RGB] = {
    'drivable_area': (166, 206, 227), 'carpark_area': (253, 191, 111),
    'walkway': (178, 223, 138), 'ped_crossing': (251, 154, 153), 'stop_line': (227, 26, 28),
    'divider': (106, 61, 154)}
#: The BEV map classes in drawing order (the same names as ``BEV_MAP_CLASSES``, reordered).
MAP_CLASSES = tuple(MAP_COLORS)

#: Occ3D-nuScenes labels (index = label, 17 = free).
OCC3D_CLASSES = OCC3D_CLASS_NAMES
OCC3D_COLORS = np.array([
    (0, 0, 0), (255, 120, 50), (255, 192, 203), (255, 255, 0), (0, 150, 245), (0, 255, 255),
    (200, 180, 0), (255, 0, 0), (255, 240, 150), (135, 60, 0), (160, 32, 240), (255, 0, 255),
    (139, 137, 137), (75, 0, 75), (150, 240, 80), (230, 230, 250), (0, 175, 0),
    (255, 255, 255)], dtype=np.uint8)


def detection_name(category: str) -> Optional[str]:
    """The detection class of a nuScenes category name (``'vehicle.car'`` -> ``'car'``) by the
    devkit's own mapping, or ``None`` for categories outside the ten classes."""
    from nuscenes.eval.detection.utils import category_to_detection_name
    return category_to_detection_name(category)


def class_color(name: Optional[str]) -> Tuple[float, float, float]:
    """Matplotlib colour (RGB in [0, 1]) of a detection class (``None`` -> other)."""
    rgb = DETECTION_COLORS.get(name, OTHER_COLOR) if name is not None else OTHER_COLOR
    return tuple(c / 255.0 for c in rgb)


@contextmanager
def plain_style() -> Iterator[None]:
    """Matplotlib's default style for the duration of a render.

    Importing ``nuscenes.map_expansion.map_api`` switches the global style to
    ``seaborn-v0_8-whitegrid`` (grid lines over every image); the views reset it locally.
    """
    import matplotlib.style
    with matplotlib.style.context('default'):
        yield
