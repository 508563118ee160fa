"""Two-panel BEV of one sample: ground truth (left) and a model's predictions (right).

Both panels are in the sample's LiDAR frame, turned so that the ego's forward direction is
**up** and its left on the left, the driver's view (nuScenes' ``LIDAR_TOP``: y up, x to the
right; a frame with x forward: x up, y to the left; :mod:`.bev_axes`). Map masks use the
``gt_masks_bev`` / ``masks_bev`` layout ``(C, X, Y)`` (``[class, x_idx, y_idx]``, pixel
``(i, j)`` centred at ``(x_min + (i + 0.5) dx, y_min + (j + 0.5) dy)``, see ``LoadBEVMapGT``). Left: GT map masks, LiDAR points coloured by height, GT boxes
in their class colour. Right: predicted map masks (probabilities thresholded by the caller) and
predicted boxes; a model without a map head says so.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from .bev_axes import forward_up
from .bev_view import draw_ego, draw_footprints, draw_map, draw_points, map_handles
from .box_geometry import footprints
from .figures import class_handles, save_png
from .palettes import DETECTION_CLASSES, class_color, plain_style

FIG_SIZE = (1820, 860)  # pixels: two 720x720 panels and a legend column
LEGEND_X = 1610  # pixels, left edge of the legend column
#: Point colour scale in the LiDAR frame (nuScenes' LIDAR_TOP is ~1.84 m above the ground).
HEIGHT_RANGE = (-2.0, 3.0)


@dataclass
class BEVLayer:
    """What one panel shows.

    Attributes:
        corners (np.ndarray): ``(N, 8, 3)`` box corners (devkit order) in the panel's frame.
        names (list): ``N`` class names (``None`` = other).
        masks (np.ndarray, optional): ``(C, X, Y)`` bool map masks; None = no map.
        mask_classes (sequence, optional): ``C`` map class names.
    """
    corners: np.ndarray
    names: List[Optional[str]]
    masks: Optional[np.ndarray] = None
    mask_classes: Optional[Sequence[str]] = None


def _mask_dict(layer: BEVLayer, where: str) -> Optional[dict]:
    if layer.masks is None:
        return None
    classes = list(layer.mask_classes or [])
    if layer.masks.ndim != 3 or len(classes) != len(layer.masks):
        raise ValueError(f'{where} map masks must be (C, X, Y) with C = {len(classes)} '
                         f'classes {classes}, got shape {tuple(layer.masks.shape)}')
    return {name: layer.masks[k] for k, name in enumerate(classes)}


def _draw_boxes(ax, layer: BEVLayer, axes) -> None:
    draw_footprints(ax, footprints(layer.corners), [class_color(n) for n in layer.names], axes)


@plain_style()
def render_prediction_bev(points: Optional[np.ndarray], gt: BEVLayer, pred: BEVLayer,
                          out_path: str, bev_range: Sequence[float] = (-50.0, -50.0, 50.0, 50.0),
                          title: str = '', score_note: str = '', dpi: int = 100,
                          forward: str = '+x') -> tuple:
    """Write the GT / prediction BEV panels to ``out_path`` (PNG, atomic).

    Args:
        points (np.ndarray, optional): ``(P, >=3)`` LiDAR points (left panel).
        gt (BEVLayer): Ground truth boxes and map masks.
        pred (BEVLayer): Predicted boxes and thresholded map masks (``masks=None``: the model
            has no map head).
        out_path (str): PNG to write.
        bev_range (sequence): ``(x_min, y_min, x_max, y_max)`` of the masks and panels, metres.
        title (str): Figure title.
        score_note (str): Thresholds, shown in the right panel's title.
        dpi (int): Figure dots per inch (the pixel size is :data:`FIG_SIZE` regardless).
        forward (str): The ego's forward direction in the LiDAR frame (``'+x'``, ``'+y'``,
            ``'-x'``, ``'-y'``; :func:`~.bev_axes.forward_axis_of` of the ``lidar2ego``);
            drawn up.

    Returns:
        tuple: ``(width, height)`` of the PNG in pixels.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    axes = forward_up(forward)
    width, height = FIG_SIZE
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    shown_maps: List[str] = []
    scatter = None
    panels = ((gt, 'ground truth: map, boxes, LiDAR points', 'GT'),
              (pred, f'prediction ({score_note})' if score_note else 'prediction', 'predicted'))
    for i, (layer, name, where) in enumerate(panels):
        ax = fig.add_axes(((70 + i * 790) / width, 70 / height, 720 / width, 720 / height))
        masks = _mask_dict(layer, where)
        if masks is not None:
            draw_map(ax, masks, bev_range, axes, rows_along='x')
            shown_maps += [n for n in masks if n not in shown_maps]
        if i == 0 and points is not None and len(points):
            scatter = draw_points(ax, np.asarray(points), bev_range, axes,
                                  height_range=HEIGHT_RANGE)
        _draw_boxes(ax, layer, axes)
        draw_ego(ax, axes)
        axes.apply(ax, bev_range)
        if masks is None:
            note = 'no map head' if i == 1 else 'no map GT'
            ax.text(0.02, 0.98, note, transform=ax.transAxes, va='top', ha='left', fontsize=9,
                    bbox=dict(facecolor='white', alpha=0.8, linewidth=0))
        ax.set_title(f'{name}  ({len(layer.names)} boxes)', fontsize=9)
    seen = set(gt.names) | set(pred.names)
    names = [n for n in DETECTION_CLASSES if n in seen]
    names += sorted(n for n in seen if n is not None and n not in names)
    names += [None] if None in seen else []
    fig.legend(handles=class_handles(names) + [Patch(facecolor='black', label='ego')],
               title='boxes', loc='upper left', bbox_to_anchor=(LEGEND_X / width, 0.95),
               fontsize=7, title_fontsize=8)
    if shown_maps:
        fig.legend(handles=map_handles(shown_maps), title='map', loc='upper left',
                   bbox_to_anchor=(LEGEND_X / width, 0.45), fontsize=7, title_fontsize=8)
    if scatter is not None:
        colorbar_ax = fig.add_axes(((LEGEND_X + 10) / width, 0.06, 0.01, 0.15))
        fig.colorbar(scatter, cax=colorbar_ax, label='LiDAR z [m]')
    if title:
        fig.suptitle(title, fontsize=9)
    save_png(fig, out_path, dpi)
    return width, height
