"""Bird's-eye view of a sample in its ego frame: map masks, LiDAR points and annotated boxes.

Axes follow the ego frame (x forward to the right, y left upwards, metres). The map masks of
:func:`~.map_masks.bev_map_masks` are blended into a semi-transparent underlay, the LiDAR points
are coloured by height above the ego origin (the ground), and each box is its rotated footprint
with a tick from its centre to the middle of its front edge.
"""
from typing import Dict, Sequence

import numpy as np

from .nuscenes_access import EgoSample
from .palettes import (DETECTION_CLASSES, MAP_CLASSES, MAP_COLORS, class_color, detection_name,
                       plain_style)

FIG_SIZE = (1300, 1000)  # pixels: a 1000x1000 map panel and a legend column
MAP_ALPHA = 0.55
HEIGHT_RANGE = (-1.0, 4.0)  # metres, ends of the point colour scale


def map_underlay(masks: Dict[str, np.ndarray], alpha: float = MAP_ALPHA) -> np.ndarray:
    """RGB ``(rows, cols, 3)`` float image: each class blended over white in
    :data:`~.palettes.MAP_CLASSES` order with opacity ``alpha``."""
    shape = next(iter(masks.values())).shape
    image = np.ones(shape + (3, ), dtype=np.float64)
    for name in MAP_CLASSES:
        mask = masks[name]
        color = np.array(MAP_COLORS[name]) / 255.0
        image[mask] = (1 - alpha) * image[mask] + alpha * color
    return image


def box_footprint(box) -> np.ndarray:
    """``(4, 2)`` x-y corners of a devkit ``Box``'s bottom face (front two first)."""
    return box.bottom_corners()[:2].T


@plain_style()
def render_bev(sample: EgoSample, masks: Dict[str, np.ndarray], out_path: str,
               bev_range: Sequence[float] = (-50.0, -50.0, 50.0, 50.0), dpi: int = 100) -> tuple:
    """Write the BEV plot of ``sample`` to ``out_path`` (PNG).

    Args:
        sample (EgoSample): Points and boxes in the ego frame.
        masks (dict): ``{map class: (rows, cols) bool}`` over ``bev_range`` (row 0 at y_min).
        out_path (str): PNG to write.
        bev_range (sequence): ``(x_min, y_min, x_max, y_max)`` in metres.
        dpi (int): Figure dots per inch (the pixel size is :data:`FIG_SIZE` regardless).

    Returns:
        tuple: ``(width, height)`` of the PNG in pixels.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Polygon

    x_min, y_min, x_max, y_max = bev_range
    width, height = FIG_SIZE
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    ax = fig.add_axes((60 / width, 50 / height, 920 / width, 920 / height))
    ax.imshow(map_underlay(masks), origin='lower', extent=(x_min, x_max, y_min, y_max),
              interpolation='nearest', zorder=0)
    points = sample.points
    inside = ((points[:, 0] >= x_min) & (points[:, 0] <= x_max) & (points[:, 1] >= y_min)
              & (points[:, 1] <= y_max))
    points = points[inside]
    order = np.argsort(points[:, 2])  # high points on top
    scatter = ax.scatter(points[order, 0], points[order, 1], c=points[order, 2], s=0.6,
                         cmap='viridis', vmin=HEIGHT_RANGE[0], vmax=HEIGHT_RANGE[1],
                         linewidths=0, zorder=1, rasterized=True)
    seen = set()
    for box in sample.boxes:
        name = detection_name(box.name)
        seen.add(name)
        color = class_color(name)
        corners = box_footprint(box)
        ax.add_patch(Polygon(corners, closed=True, fill=False, edgecolor=color, linewidth=1.2,
                             zorder=2))
        front = corners[:2].mean(0)
        ax.plot([box.center[0], front[0]], [box.center[1], front[1]], color=color,
                linewidth=1.2, zorder=2)
    ax.add_patch(Polygon([[2.5, 0], [-1.5, 1.0], [-1.5, -1.0]], closed=True, facecolor='black',
                         edgecolor='white', linewidth=0.8, zorder=3))
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(y_min, y_max)
    ax.set_aspect('equal')
    ax.set_xlabel('x (ego forward) [m]')
    ax.set_ylabel('y (ego left) [m]')
    ax.set_title(f'{sample.scene_name}  sample {sample.token}  ({sample.location})', fontsize=9)
    box_handles = [Line2D([], [], color=class_color(n), linewidth=2, label=n or 'other')
                   for n in list(DETECTION_CLASSES) + [None] if n in seen]
    map_handles = [Patch(facecolor=np.array(MAP_COLORS[n]) / 255.0, alpha=MAP_ALPHA, label=n)
                   for n in MAP_CLASSES]
    ego_handle = Patch(facecolor='black', label='ego')
    fig.legend(handles=box_handles + [ego_handle], title='boxes', loc='upper left',
               bbox_to_anchor=(1010 / width, 0.97), fontsize=8, title_fontsize=9)
    fig.legend(handles=map_handles, title='map', loc='upper left',
               bbox_to_anchor=(1010 / width, 0.50), fontsize=8, title_fontsize=9)
    colorbar_ax = fig.add_axes((1020 / width, 0.08, 0.015, 0.2))
    fig.colorbar(scatter, cax=colorbar_ax, label='point height z [m]')
    fig.savefig(out_path, dpi=dpi)
    return width, height
