"""The six cameras of a sample in the nuScenes 2x3 layout with the annotated boxes projected.

Boxes come from the devkit (``NuScenes.get_sample_data``: each annotation moved into the
camera frame at the camera's own timestamp) and are projected with ``view_points`` and the
camera intrinsic. Box edges are clipped at a near plane in 3D first, so a box reaching behind
the camera is drawn only where it is in front of it, never as lines through infinity.
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np

from .figures import class_handles, save_png
from .palettes import DETECTION_CLASSES, class_color, detection_name, plain_style

#: nuScenes' camera layout: front row left to right, then back row.
CAMERA_LAYOUT = (('CAM_FRONT_LEFT', 'CAM_FRONT', 'CAM_FRONT_RIGHT'),
                 ('CAM_BACK_LEFT', 'CAM_BACK', 'CAM_BACK_RIGHT'))
NEAR_PLANE = 0.1  # metres in front of the camera
# Corner pairs of the 12 box edges (devkit corner order: 0-3 front face, 4-7 back face).
BOX_EDGES = ((0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4),
             (0, 4), (1, 5), (2, 6), (3, 7))
LEGEND_HEIGHT = 28  # pixels under the images


def clip_segments(starts: np.ndarray, ends: np.ndarray,
                  near: float = NEAR_PLANE) -> Tuple[np.ndarray, np.ndarray]:
    """Clip 3D segments (camera frame, z forward) to ``z >= near``.

    Args:
        starts (np.ndarray): ``(N, 3)`` segment starts.
        ends (np.ndarray): ``(N, 3)`` segment ends.
        near (float): Near-plane depth in metres.

    Returns:
        tuple: Clipped ``(M, 3)`` starts and ends of the ``M`` segments that reach the plane.
    """
    keep = (starts[:, 2] >= near) | (ends[:, 2] >= near)
    starts, ends = starts[keep].copy(), ends[keep].copy()
    depth = ends[:, 2] - starts[:, 2]
    safe = np.where(np.abs(depth) < 1e-12, 1.0, depth)
    t = ((near - starts[:, 2]) / safe)[:, None]
    cut = starts + t * (ends - starts)
    behind_start, behind_end = starts[:, 2] < near, ends[:, 2] < near
    starts[behind_start] = cut[behind_start]
    ends[behind_end] = cut[behind_end]
    return starts, ends


def corner_segments(corners: np.ndarray, intrinsic: np.ndarray,
                    image_size: Tuple[int, int]) -> np.ndarray:
    """Pixel segments ``(M, 2, 2)`` of a box's camera-frame corners that can be seen.

    Args:
        corners (np.ndarray): ``(8, 3)`` corners in the camera frame (z forward), in the
            devkit's ``Box.corners()`` order (0-3 front face, 2, 3, 7, 6 bottom).
        intrinsic (np.ndarray): ``(3, 3)`` or ``(4, 4)`` camera intrinsic.
        image_size (tuple): ``(width, height)`` in pixels.

    Returns:
        np.ndarray: The 12 edges plus the heading line (bottom centre to bottom front
        centre), clipped at :data:`NEAR_PLANE`; empty ``(0, 2, 2)`` when no clipped segment
        touches the image.
    """
    from nuscenes.utils.geometry_utils import view_points
    corners = np.asarray(corners, dtype=np.float64)
    bottom = corners[[2, 3, 7, 6]].mean(0)
    front = corners[[2, 3]].mean(0)
    index = np.array(BOX_EDGES)
    starts = np.concatenate([corners[index[:, 0]], bottom[None]])
    ends = np.concatenate([corners[index[:, 1]], front[None]])
    starts, ends = clip_segments(starts, ends)
    if not len(starts):
        return np.zeros((0, 2, 2))
    uv = view_points(np.concatenate([starts, ends]).T, np.asarray(intrinsic, np.float64),
                     normalize=True)[:2].T
    segments = np.stack([uv[:len(starts)], uv[len(starts):]], 1)
    width, height = image_size
    low, high = segments.min(1), segments.max(1)
    touches = (high[:, 0] >= 0) & (low[:, 0] <= width) & (high[:, 1] >= 0) & (low[:, 1] <= height)
    return segments if touches.any() else np.zeros((0, 2, 2))


def box_segments(box, intrinsic: np.ndarray, image_size: Tuple[int, int]) -> np.ndarray:
    """:func:`corner_segments` of a camera-frame devkit ``Box``."""
    return corner_segments(box.corners().T, intrinsic, image_size)


def camera_boxes(nusc, sample_token: str) -> Dict[str, dict]:
    """Per camera: image path, size and the visible boxes' pixel segments and classes.

    Args:
        nusc (nuscenes.NuScenes): The dataset.
        sample_token (str): The sample.

    Returns:
        dict: ``{channel: {'path', 'size': (w, h), 'segments': [(M, 2, 2)], 'classes': [str]}}``.
    """
    from nuscenes.utils.geometry_utils import BoxVisibility
    sample = nusc.get('sample', sample_token)
    views = {}
    for channel in (c for row in CAMERA_LAYOUT for c in row):
        record = nusc.get('sample_data', sample['data'][channel])
        size = (int(record['width']), int(record['height']))
        path, boxes, intrinsic = nusc.get_sample_data(record['token'],
                                                      box_vis_level=BoxVisibility.NONE)
        segments: List[np.ndarray] = []
        classes: List[str] = []
        for box in boxes:
            pixels = box_segments(box, intrinsic, size)
            if len(pixels):
                segments.append(pixels)
                classes.append(detection_name(box.name))
        views[channel] = dict(path=path, size=size, segments=segments, classes=classes)
    return views


@plain_style()
def render_cameras(nusc, sample_token: str, out_path: str, max_panel_width: int = 800,
                   dpi: int = 100) -> Tuple[int, int]:
    """Write the 2x3 camera mosaic with projected box wireframes to ``out_path`` (PNG).

    Args:
        nusc (nuscenes.NuScenes): The dataset.
        sample_token (str): The sample.
        out_path (str): PNG to write.
        max_panel_width (int): Panels keep the image's size unless wider than this (then they
            are scaled down, e.g. real nuScenes' 1600x900 to 800x450).
        dpi (int): Figure dots per inch (the output size in pixels does not depend on it).

    Returns:
        tuple: ``(width, height)`` of the PNG in pixels: ``3 * panel_w`` by
        ``2 * panel_h + LEGEND_HEIGHT``.
    """
    views = camera_boxes(nusc, sample_token)
    seen = set()
    for view in views.values():
        view['strokes'] = [dict(segments=segments, color=class_color(name))
                           for segments, name in zip(view['segments'], view['classes'])]
        seen.update(view['classes'])
    names = [n for n in DETECTION_CLASSES if n in seen] + ([None] if None in seen else [])
    return render_camera_mosaic(views, out_path, class_handles(names), max_panel_width, dpi)


def mosaic_layout(names: Sequence[str]) -> Tuple[Tuple[str, ...], ...]:
    """Rows of camera names: nuScenes' 2x3 layout for its six cameras, else rows of three."""
    if set(names) == {c for row in CAMERA_LAYOUT for c in row}:
        return CAMERA_LAYOUT
    names = list(names)
    return tuple(tuple(names[i:i + 3]) for i in range(0, len(names), 3))


def render_camera_mosaic(views: Dict[str, dict], out_path: str, legend_handles: Sequence = (),
                         max_panel_width: int = 800, dpi: int = 100) -> Tuple[int, int]:
    """Write camera images with line overlays in rows of three to ``out_path`` (PNG, atomic).

    Args:
        views (dict): ``{camera: {'path': image file ('' = no image, a black panel),
            'size': (w, h), 'strokes': [dict(segments=(M, 2, 2) pixels, color, linestyle='-',
            linewidth=1.2)]}}``; all views share one size.
        out_path (str): PNG to write.
        legend_handles (sequence): Matplotlib handles for the legend row under the images.
        max_panel_width (int): Panels keep the image's size unless wider than this.
        dpi (int): Figure dots per inch (the output size in pixels does not depend on it).

    Returns:
        tuple: ``(width, height)`` of the PNG: ``3 * panel_w`` (fewer columns for fewer
        cameras) by ``rows * panel_h + LEGEND_HEIGHT``.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.patheffects import withStroke
    from PIL import Image

    layout = mosaic_layout(list(views))
    width, height = next(iter(views.values()))['size']
    scale = min(1.0, max_panel_width / width)
    panel_w, panel_h = int(round(width * scale)), int(round(height * scale))
    columns = max(len(row) for row in layout)
    fig_w, fig_h = columns * panel_w, len(layout) * panel_h + LEGEND_HEIGHT
    fig = Figure(figsize=(fig_w / dpi, fig_h / dpi), dpi=dpi)
    halo = withStroke(linewidth=2.4, foreground='white', alpha=0.45)  # readable on any colour
    for row, channels in enumerate(layout):
        for col, channel in enumerate(channels):
            view = views[channel]
            bottom = (LEGEND_HEIGHT + (len(layout) - 1 - row) * panel_h) / fig_h
            ax = fig.add_axes((col / columns, bottom, 1 / columns, panel_h / fig_h))
            if view['path']:
                with Image.open(view['path']) as picture:
                    ax.imshow(picture.convert('RGB'), interpolation='bilinear',
                              extent=(0, view['size'][0], view['size'][1], 0))
            else:
                ax.imshow(np.zeros((2, 2, 3)), extent=(0, view['size'][0], view['size'][1], 0))
            for stroke in view['strokes']:
                ax.add_collection(LineCollection(
                    stroke['segments'], colors=[stroke['color']],
                    linestyles=stroke.get('linestyle', '-'),
                    linewidths=stroke.get('linewidth', 1.2), path_effects=[halo]))
            ax.set_xlim(0, view['size'][0])
            ax.set_ylim(view['size'][1], 0)
            ax.set_axis_off()
            label = channel if view['path'] else f'{channel} (no image)'
            ax.text(4, 4, label, color='white', fontsize=8, va='top', ha='left',
                    bbox=dict(facecolor='black', alpha=0.6, pad=1.5, linewidth=0))
    if legend_handles:
        fig.legend(handles=list(legend_handles), loc='lower center', ncol=len(legend_handles),
                   fontsize=7, frameon=False, borderaxespad=0.2, handlelength=1.5,
                   columnspacing=1.0)
    save_png(fig, out_path, dpi)
    return fig_w, fig_h
