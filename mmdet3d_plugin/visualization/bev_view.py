"""Bird's-eye view of a sample in its ego frame: map masks, LiDAR points and annotated boxes.

Axes follow the ego frame (x forward to the right, y left upwards, metres). The map masks of
:func:`~.map_masks.bev_map_masks` are blended into a semi-transparent underlay, the LiDAR points
are coloured by height above the ego origin (the ground), and each box is its rotated footprint
with a tick from its centre to the middle of its front edge.
"""
from typing import Dict, Sequence, Tuple

import numpy as np

from .bev_axes import EGO_LANDSCAPE, BEVAxes, ego_arrow
from .figures import class_handles, save_png
from .nuscenes_access import EgoSample
from .palettes import (DETECTION_CLASSES, MAP_CLASSES, MAP_COLORS, class_color, detection_name,
                       plain_style)

FIG_SIZE = (1300, 1000)  # pixels: a 1000x1000 map panel and a legend column
MAP_ALPHA = 0.55
HEIGHT_RANGE = (-1.0, 4.0)  # metres, ends of the point colour scale


def map_underlay(masks: Dict[str, np.ndarray], alpha: float = MAP_ALPHA) -> np.ndarray:
    """RGB ``(rows, cols, 3)`` float image: each class blended over white in
    :data:`~.palettes.MAP_CLASSES` order (then any other names, in :func:`map_color`) with
    opacity ``alpha``."""
    shape = next(iter(masks.values())).shape
    image = np.ones(shape + (3, ), dtype=np.float64)
    names = [n for n in MAP_CLASSES if n in masks] + [n for n in masks if n not in MAP_CLASSES]
    for name in names:
        mask = np.asarray(masks[name], dtype=bool)
        image[mask] = (1 - alpha) * image[mask] + alpha * np.array(map_color(name))
    return image


def map_color(name: str) -> Tuple[float, float, float]:
    """Matplotlib colour of a map layer (grey for layers outside :data:`MAP_COLORS`)."""
    return tuple(c / 255.0 for c in MAP_COLORS.get(name, (150, 150, 150)))


def map_handles(names: Sequence[str], alpha: float = MAP_ALPHA) -> list:
    """Legend patches of map layers."""
    from matplotlib.patches import Patch
    return [Patch(facecolor=map_color(n), alpha=alpha, label=n) for n in names]


def box_footprint(box) -> np.ndarray:
    """``(4, 2)`` x-y corners of a devkit ``Box``'s bottom face (front two first)."""
    return box.bottom_corners()[:2].T


def draw_map(ax, masks: Dict[str, np.ndarray], bev_range: Sequence[float],
             axes: BEVAxes = EGO_LANDSCAPE, rows_along: str = 'y',
             alpha: float = MAP_ALPHA) -> None:
    """Draw map masks ``{name: (rows, cols)}`` over ``bev_range``: rows along the frame's
    ``rows_along`` axis (``'y'``: :func:`~.map_masks.bev_map_masks`; ``'x'``: the
    ``gt_masks_bev[c, x_idx, y_idx]`` layout), row 0 / column 0 at the axes' minima."""
    image = map_underlay(masks, alpha)
    if rows_along != axes.vertical_axis():
        image = image.transpose(1, 0, 2)
    ax.imshow(image, origin='lower', extent=axes.extent(bev_range), interpolation='nearest',
              zorder=0)


def draw_points(ax, points: np.ndarray, bev_range: Sequence[float],
                axes: BEVAxes = EGO_LANDSCAPE,
                height_range: Sequence[float] = HEIGHT_RANGE):
    """Scatter ``(N, >=3)`` points inside ``bev_range`` coloured by height (``height_range``
    are the ends of the colour scale); returns the scatter (for a colour bar)."""
    x_min, y_min, x_max, y_max = bev_range
    inside = ((points[:, 0] >= x_min) & (points[:, 0] <= x_max) & (points[:, 1] >= y_min)
              & (points[:, 1] <= y_max))
    points = points[inside]
    order = np.argsort(points[:, 2])  # high points on top
    uv = axes.to_plot(points[order, :2])
    return ax.scatter(uv[:, 0], uv[:, 1], c=points[order, 2], s=0.6, cmap='viridis',
                      vmin=height_range[0], vmax=height_range[1], linewidths=0, zorder=1,
                      rasterized=True)


def draw_footprints(ax, footprints: np.ndarray, colors: Sequence,
                    axes: BEVAxes = EGO_LANDSCAPE,
                    linestyle: str = '-', linewidth: float = 1.2, zorder: int = 2) -> None:
    """Draw ``(N, 4, 2)`` box footprints (front two corners first) with a heading tick from
    the centre to the middle of the front edge."""
    from matplotlib.patches import Polygon
    for corners, color in zip(footprints, colors):
        corners = axes.to_plot(corners)
        ax.add_patch(Polygon(corners, closed=True, fill=False, edgecolor=color,
                             linewidth=linewidth, linestyle=linestyle, zorder=zorder))
        centre, front = corners.mean(0), corners[:2].mean(0)
        ax.plot([centre[0], front[0]], [centre[1], front[1]], color=color, linewidth=linewidth,
                linestyle=linestyle, zorder=zorder)


def draw_ego(ax, axes: BEVAxes = EGO_LANDSCAPE) -> None:
    """The ego vehicle: a black arrow head at the origin pointing along the ego's forward."""
    from matplotlib.patches import Polygon
    ax.add_patch(Polygon(axes.to_plot(ego_arrow(axes.forward)),
                         closed=True, facecolor='black', edgecolor='white', linewidth=0.8,
                         zorder=3))


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
    from matplotlib.patches import Patch

    width, height = FIG_SIZE
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    ax = fig.add_axes((60 / width, 50 / height, 920 / width, 920 / height))
    draw_map(ax, masks, bev_range)
    scatter = draw_points(ax, sample.points, bev_range)
    names = [detection_name(box.name) for box in sample.boxes]
    draw_footprints(ax, np.array([box_footprint(b) for b in sample.boxes]).reshape(-1, 4, 2),
                    [class_color(n) for n in names])
    draw_ego(ax)
    EGO_LANDSCAPE.apply(ax, bev_range)
    ax.set_title(f'{sample.scene_name}  sample {sample.token}  ({sample.location})', fontsize=9)
    seen = set(names)
    box_handles = class_handles([n for n in list(DETECTION_CLASSES) + [None] if n in seen])
    fig.legend(handles=box_handles + [Patch(facecolor='black', label='ego')], title='boxes',
               loc='upper left', bbox_to_anchor=(1010 / width, 0.97), fontsize=8,
               title_fontsize=9)
    fig.legend(handles=map_handles(MAP_CLASSES), title='map', loc='upper left',
               bbox_to_anchor=(1010 / width, 0.50), fontsize=8, title_fontsize=9)
    colorbar_ax = fig.add_axes((1020 / width, 0.08, 0.015, 0.2))
    fig.colorbar(scatter, cax=colorbar_ax, label='point height z [m]')
    save_png(fig, out_path, dpi)
    return width, height
