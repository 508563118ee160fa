"""Top-down render of an Occ3D ``labels.npz``: all voxels, and the camera-visible subset.

Each column of the grid shows its highest occupied voxel, coloured by its Occ3D class and
darkened with depth below the top of the grid so that height stays readable. The second panel
keeps only voxels with ``mask_camera == 1`` (the voxels Occ3D evaluates); columns with no
visible occupied voxel are grey.
"""
import os
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from .palettes import OCC3D_CLASSES, OCC3D_COLORS, plain_style

#: Occ3D-nuScenes grid ``(x_min, y_min, z_min, x_max, y_max, z_max)`` in the ego frame.
OCC3D_RANGE = (-40.0, -40.0, -1.0, 40.0, 40.0, 5.4)
OCC3D_KEYS = ('semantics', 'mask_camera')
FIG_SIZE = (1600, 740)  # pixels: two 620x620 panels and a legend column
UNSEEN_COLOR = (0.82, 0.82, 0.82)


def occ3d_labels_path(occ3d_root: str, scene_name: str, sample_token: str) -> str:
    """``<occ3d_root>/gts/<scene_name>/<sample_token>/labels.npz`` (Occ3D-nuScenes layout)."""
    return os.path.join(os.path.abspath(occ3d_root), 'gts', scene_name, sample_token,
                        'labels.npz')


def load_occ3d_labels(path: str, free_label: int = len(OCC3D_CLASSES) - 1) -> Dict[str, np.ndarray]:
    """Read an Occ3D ``labels.npz``.

    Args:
        path (str): The file.
        free_label (int): Label of free voxels (all labels must be ``<= free_label``).

    Returns:
        dict: ``semantics`` and ``mask_camera`` as ``(X, Y, Z)`` arrays (plus ``mask_lidar``
        when present).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        KeyError: ``semantics`` or ``mask_camera`` is missing from the file.
        ValueError: The arrays are not 3D, differ in shape or hold labels above ``free_label``.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Occ3D labels {path} not found; expected the Occ3D-nuScenes '
                                f'layout <occ3d-root>/gts/<scene_name>/<sample_token>/labels.npz')
    with np.load(path) as data:
        missing = [k for k in OCC3D_KEYS if k not in data.files]
        if missing:
            raise KeyError(f'{path} lacks {missing}; expected keys {list(OCC3D_KEYS)} '
                           f'(found {data.files})')
        labels = {k: np.asarray(data[k]) for k in data.files}
    shape = labels['semantics'].shape
    if len(shape) != 3 or labels['mask_camera'].shape != shape:
        raise ValueError(f'{path}: semantics and mask_camera must share one (X, Y, Z) shape, '
                         f'got {shape} and {labels["mask_camera"].shape}')
    if labels['semantics'].size and labels['semantics'].max() > free_label:
        raise ValueError(f'{path}: semantics must hold labels 0..{free_label}, got '
                         f'max {labels["semantics"].max()}')
    return labels


def top_down(semantics: np.ndarray, free_label: int = len(OCC3D_CLASSES) - 1,
             visible: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Highest occupied voxel of every column.

    Args:
        semantics (np.ndarray): ``(X, Y, Z)`` labels.
        free_label (int): Label of free voxels.
        visible (np.ndarray, optional): ``(X, Y, Z)`` mask; voxels where it is 0 count as free.

    Returns:
        tuple: ``labels (X, Y)`` (``free_label`` for empty columns) and ``level (X, Y)`` int,
        the z index of that voxel (-1 for empty columns).
    """
    occupied = semantics != free_label
    if visible is not None:
        occupied &= visible.astype(bool)
    depth = semantics.shape[2]
    from_top = np.argmax(occupied[:, :, ::-1], axis=2)
    level = np.where(occupied.any(2), depth - 1 - from_top, -1)
    labels = np.take_along_axis(semantics, np.maximum(level, 0)[..., None], 2)[..., 0]
    return np.where(level >= 0, labels, free_label), level


def colorize(labels: np.ndarray, level: np.ndarray, depth: int) -> np.ndarray:
    """RGB ``(X, Y, 3)`` float image of a top-down projection; empty columns are grey."""
    rgb = OCC3D_COLORS[np.clip(labels, 0, len(OCC3D_COLORS) - 1)] / 255.0
    shade = 0.6 + 0.4 * (np.maximum(level, 0) + 1) / depth
    rgb = rgb * shade[..., None]
    rgb[level < 0] = UNSEEN_COLOR
    return rgb


@plain_style()
def render_occupancy(labels: Dict[str, np.ndarray], out_path: str, title: str = '',
                     grid_range: Sequence[float] = OCC3D_RANGE, dpi: int = 100) -> tuple:
    """Write the two top-down panels and a class legend to ``out_path`` (PNG).

    Args:
        labels (dict): ``semantics`` and ``mask_camera`` ``(X, Y, Z)`` (see
            :func:`load_occ3d_labels`); axis 0 is ego x, axis 1 ego y.
        out_path (str): PNG to write.
        title (str): Figure title.
        grid_range (sequence): ``(x_min, y_min, z_min, x_max, y_max, z_max)`` of the grid.
        dpi (int): Figure dots per inch (the pixel size is :data:`FIG_SIZE` regardless).

    Returns:
        tuple: ``(width, height)`` of the PNG in pixels.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    semantics = labels['semantics']
    x_min, y_min, _, x_max, y_max, _ = grid_range
    width, height = FIG_SIZE
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    panels = (('all voxels (top-down, highest voxel)', None),
              ('camera-visible voxels (mask_camera)', labels['mask_camera']))
    present = set()
    for i, (name, visible) in enumerate(panels):
        top, level = top_down(semantics, visible=visible)
        present.update(np.unique(top[level >= 0]).tolist())
        ax = fig.add_axes(((60 + i * 690) / width, 50 / height, 620 / width, 620 / height))
        ax.imshow(colorize(top, level, semantics.shape[2]).transpose(1, 0, 2), origin='lower',
                  extent=(x_min, x_max, y_min, y_max), interpolation='nearest')
        ax.plot([0], [0], marker=(3, 0, -90), color='black', markersize=9)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel('x (ego forward) [m]')
        ax.set_ylabel('y (ego left) [m]')
    handles = [Patch(facecolor=OCC3D_COLORS[k] / 255.0, edgecolor='black', linewidth=0.3,
                     label=f'{k} {OCC3D_CLASSES[k]}') for k in sorted(present)]
    handles.append(Patch(facecolor=UNSEEN_COLOR, label='empty / not visible'))
    fig.legend(handles=handles, loc='upper left', bbox_to_anchor=(1390 / width, 0.93),
               fontsize=7, title='Occ3D class', title_fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.savefig(out_path, dpi=dpi)
    return width, height
