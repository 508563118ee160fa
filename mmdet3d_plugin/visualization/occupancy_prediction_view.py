"""``pred_occupancy.png``: a model's semantic occupancy beside the ground truth, in 3D and from
above, in the Occ3D palette.

Left column ground truth (``gt_occ``), right column prediction (``pred_occ``); top row a 3D
voxel render (:mod:`.voxel_render`: every occupied voxel a shaded cube, seen from behind and
right of the ego, its forward up and to the right), bottom row the top view (each column's
highest occupied voxel, darker the lower it is, :func:`~.occupancy_view.top_down`) with the ego's
forward up and its left on the left (:mod:`.bev_axes`). The top views keep only the voxels of
``mask_camera`` when the sample carries it (what Occ3D scores); the 3D renders show every voxel.
Labels are coloured by class name, so Occ3D (17 = free) and nuScenes-Occupancy (0 = free)
grids share the palette.
"""
from typing import Optional, Sequence

import numpy as np

from ..structures.occupancy_grid import OccupancyGrid
from ..structures.occupancy_labels import (NUSC_OCC_CLASS_NAMES, NUSC_OCC_FREE_INDEX,
                                           OCC3D_CLASS_NAMES, OCC3D_FREE_INDEX)
from .bev_axes import ego_arrow, forward_up
from .figures import save_png
from .occupancy_view import UNSEEN_COLOR, top_down
from .palettes import OCC3D_COLORS, plain_style
from .voxel_render import ego_forward_grid, render_voxels

FIG_SIZE = (1900, 1080)  # pixels: two 800-px columns (3D render over top view) and a legend
LEGEND_X = 1700
OTHER_RGB = (127, 127, 127)


def grid_class_names(grid: OccupancyGrid, num_labels: int) -> tuple:
    """Label names of a grid: Occ3D's (free 17), nuScenes-Occupancy's (free 0), else
    ``class_<k>`` with ``free`` at ``grid.free_label``."""
    if grid.free_label == OCC3D_FREE_INDEX and num_labels <= len(OCC3D_CLASS_NAMES):
        return OCC3D_CLASS_NAMES
    if grid.free_label == NUSC_OCC_FREE_INDEX and num_labels <= len(NUSC_OCC_CLASS_NAMES):
        return NUSC_OCC_CLASS_NAMES
    return tuple('free' if k == grid.free_label else f'class_{k}'
                 for k in range(max(num_labels, grid.free_label + 1)))


def label_colors(class_names: Sequence[str]) -> np.ndarray:
    """``(K, 3)`` uint8 colour of each label: the Occ3D palette colour of its name (grey for a
    name Occ3D does not have)."""
    return np.array([OCC3D_COLORS[OCC3D_CLASS_NAMES.index(name)] if name in OCC3D_CLASS_NAMES
                     else OTHER_RGB for name in class_names], dtype=np.uint8)


def top_view_rgb(labels: np.ndarray, free_label: int, colors: np.ndarray,
                 visible: Optional[np.ndarray] = None) -> np.ndarray:
    """``(X, Y, 3)`` RGB in [0, 1] of the highest occupied voxel of each column, darker the
    lower it is; empty (or not visible) columns grey."""
    top, level = top_down(labels, free_label=free_label, visible=visible)
    rgb = colors[np.clip(top, 0, len(colors) - 1)] / 255.0
    rgb = rgb * (0.6 + 0.4 * (np.maximum(level, 0) + 1) / labels.shape[2])[..., None]
    rgb[level < 0] = UNSEEN_COLOR
    return rgb


def _ego_voxel(grid: OccupancyGrid, forward: str) -> tuple:
    """The frame origin in voxel units of :func:`ego_forward_grid`'s re-indexed grid."""
    size_x, size_y, _ = grid.shape
    lower = np.asarray(grid.point_cloud_range[:3])
    px, py, pz = (0.0 - lower) / np.asarray(grid.voxel_size)
    return {'+x': (px, py), '-x': (size_x - px, size_y - py), '+y': (py, size_x - px),
            '-y': (size_y - py, px)}[forward] + (pz, )


def _draw_3d(ax, labels, grid, colors, forward, q) -> None:
    image, mark = render_voxels(ego_forward_grid(labels, forward), colors, grid.free_label, q,
                                mark=_ego_voxel(grid, forward))
    ax.imshow(image, interpolation='nearest')
    column, row = mark
    length = 12 * q
    ax.annotate('', xy=(column + 2 * length, row - length), xytext=(column, row),
                arrowprops=dict(arrowstyle='-|>', color='black', linewidth=1.2))
    ax.text(column + 2 * length, row - length - 2 * q, 'ego forward', fontsize=7)
    ax.set_axis_off()


def _draw_top(ax, labels, visible, grid, colors, axes) -> None:
    x_min, y_min, _, x_max, y_max, _ = grid.point_cloud_range
    bev_range = (x_min, y_min, x_max, y_max)
    rgb = top_view_rgb(labels, grid.free_label, colors, visible)
    ax.imshow(rgb if axes.swap else rgb.transpose(1, 0, 2), origin='lower',
              extent=axes.extent(bev_range), interpolation='nearest')
    ax.fill(*axes.to_plot(ego_arrow(axes.forward)).T, facecolor='black', edgecolor='white',
            linewidth=0.8, zorder=3)
    axes.apply(ax, bev_range)
    ax.tick_params(labelsize=7)
    ax.xaxis.label.set_fontsize(8)
    ax.yaxis.label.set_fontsize(8)


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha='center', va='center', fontsize=10, transform=ax.transAxes)
    ax.set_axis_off()


@plain_style()
def render_occupancy_prediction(pred: np.ndarray, out_path: str, grid: OccupancyGrid,
                                gt: Optional[np.ndarray] = None,
                                mask_camera: Optional[np.ndarray] = None, forward: str = '+x',
                                frame: str = 'ego', title: str = '', q: int = 1,
                                dpi: int = 100) -> tuple:
    """Write the GT / prediction occupancy panels to ``out_path`` (PNG, atomic).

    Args:
        pred (np.ndarray): ``(X, Y, Z)`` predicted labels (``pred_occ``).
        out_path (str): PNG to write.
        grid (OccupancyGrid): The grid of both (range, free label, shape).
        gt (np.ndarray, optional): ``(X, Y, Z)`` ground-truth labels; None: a split without.
        mask_camera (np.ndarray, optional): ``(X, Y, Z)`` camera visibility; the top views keep
            its voxels only.
        forward (str): The ego's forward direction in the grid frame (``'+x'`` for ego-frame
            grids; :func:`~.bev_axes.forward_axis_of` of ``lidar2ego`` for LiDAR-frame ones).
        frame (str): The frame's name, for the axis labels.
        title (str): Figure title.
        q (int): Scale of the 3D render (a voxel is ``4q`` pixels wide).
        dpi (int): Figure dots per inch (the pixel size is :data:`FIG_SIZE` regardless).

    Returns:
        tuple: ``(width, height)`` of the PNG in pixels.

    Raises:
        ValueError: ``pred`` / ``gt`` / ``mask_camera`` is not of the grid's shape.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    arrays = {'pred_occ': pred, 'gt_occ': gt, 'mask_camera': mask_camera}
    for name, array in arrays.items():
        if array is not None and np.shape(array) != grid.shape:
            raise ValueError(f'{name} must have the grid shape (X, Y, Z) = {grid.shape}, got '
                             f'{np.shape(array)}')
    pred = np.asarray(pred).astype(np.int64)
    gt = None if gt is None else np.asarray(gt).astype(np.int64)
    visible = None if mask_camera is None else np.asarray(mask_camera).astype(bool)
    num_labels = 1 + max(int(pred.max()), -1 if gt is None else int(gt[gt != 255].max(
        initial=0)), grid.free_label)
    names = grid_class_names(grid, num_labels)
    colors = label_colors(names)
    axes = forward_up(forward, frame)
    width, height = FIG_SIZE
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    where = 'camera-visible voxels (mask_camera)' if visible is not None else 'all voxels'
    present = set()
    for column, (labels, name) in enumerate(((gt, 'ground truth'), (pred, 'prediction'))):
        left = (40 + column * 830) / width
        ax3d = fig.add_axes((left, 590 / height, 800 / width, 440 / height))
        ax_top = fig.add_axes(((160 + column * 830) / width, 60 / height, 480 / width,
                               480 / height))
        if labels is None:
            for ax in (ax3d, ax_top):
                _no_data(ax, 'no ground truth (gt_occ) in this split')
            continue
        labels = np.where(labels == 255, grid.free_label, labels)  # noise: not drawn
        present.update(np.unique(labels[labels != grid.free_label]).tolist())
        _draw_3d(ax3d, labels, grid, colors, forward, q)
        ax3d.set_title(f'{name}: 3D voxels ({int((labels != grid.free_label).sum())} '
                       'occupied)', fontsize=9)
        _draw_top(ax_top, labels, visible, grid, colors, axes)
        ax_top.set_title(f'{name}: top view, {where}', fontsize=9)
    handles = [Patch(facecolor=colors[k] / 255.0, edgecolor='black', linewidth=0.3,
                     label=f'{k} {names[k]}') for k in sorted(present) if k < len(names)]
    handles.append(Patch(facecolor=UNSEEN_COLOR, label='empty / not visible'))
    fig.legend(handles=handles, loc='upper left', bbox_to_anchor=(LEGEND_X / width, 0.95),
               fontsize=7, title='class', title_fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    save_png(fig, out_path, dpi)
    return width, height
