"""Write the PNG views of one sample of a nuScenes-layout dataset (``tools/browse_dataset.py``).

``cameras.png``: the six cameras with projected box wireframes; ``bev.png``: map masks, LiDAR
points and boxes in the ego frame; ``occupancy.png`` (with an Occ3D root): the sample's
``labels.npz`` seen from above, all voxels and the camera-visible ones.
"""
import os
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

from .bev_view import render_bev
from .camera_view import render_cameras
from .map_masks import bev_map_masks
from .nuscenes_access import (load_ego_sample, load_map, open_nuscenes, resolve_sample_token,
                              sample_location)
from .occupancy_view import OCC3D_RANGE, load_occ3d_labels, occ3d_labels_path, render_occupancy


@dataclass(frozen=True)
class BrowseOptions:
    """What to draw and how.

    Attributes:
        bev_range (tuple): ``(x_min, y_min, x_max, y_max)`` of the BEV in the ego frame, metres.
        map_resolution (float): Metres per pixel of the BEV map masks.
        occ_range (tuple): ``(x_min, y_min, z_min, x_max, y_max, z_max)`` of the Occ3D grid.
        max_camera_width (int): Largest width of one camera panel in pixels.
    """
    bev_range: Sequence[float] = (-50.0, -50.0, 50.0, 50.0)
    map_resolution: float = 0.5
    occ_range: Sequence[float] = OCC3D_RANGE
    max_camera_width: int = 800


def browse_sample(dataroot: str, version: str, out_dir: str, sample_index: Optional[int] = None,
                  sample_token: Optional[str] = None, occ3d_root: Optional[str] = None,
                  options: Optional[BrowseOptions] = None) -> Dict[str, str]:
    """Render the views of one sample.

    Args:
        dataroot (str): nuScenes dataset folder.
        version (str): Table folder, e.g. ``'v1.0-mini'``.
        out_dir (str): Folder for the PNGs (created if needed).
        sample_index (int, optional): Index into ``sample.json`` (default 0).
        sample_token (str, optional): Sample token; wins over ``sample_index``.
        occ3d_root (str, optional): Occ3D-nuScenes root (holding ``gts/``); adds
            ``occupancy.png``.
        options (BrowseOptions, optional): Ranges and sizes; defaults as documented there.

    Returns:
        dict: ``{'cameras' | 'bev' | 'occupancy': absolute path of the PNG written}``.

    Raises:
        FileNotFoundError: Missing dataroot, version tables, map expansion or labels.npz.
        IndexError: ``sample_index`` out of range.
        KeyError: Unknown ``sample_token`` or a labels.npz without the Occ3D keys.
    """
    options = options or BrowseOptions()
    nusc = open_nuscenes(dataroot, version)
    token = resolve_sample_token(nusc, sample_index, sample_token)
    labels_path = None
    if occ3d_root is not None:  # check before the slow part, so bad input fails at once
        scene = nusc.get('scene', nusc.get('sample', token)['scene_token'])
        labels_path = occ3d_labels_path(occ3d_root, scene['name'], token)
        labels = load_occ3d_labels(labels_path)
    nusc_map = load_map(dataroot, sample_location(nusc, token))
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    written = {}
    written['cameras'] = os.path.join(out_dir, 'cameras.png')
    render_cameras(nusc, token, written['cameras'], max_panel_width=options.max_camera_width)
    sample = load_ego_sample(nusc, token)
    masks = bev_map_masks(nusc_map, sample.ego_translation, sample.ego_yaw, options.bev_range,
                          options.map_resolution)
    written['bev'] = os.path.join(out_dir, 'bev.png')
    render_bev(sample, masks, written['bev'], options.bev_range)
    if labels_path is not None:
        written['occupancy'] = os.path.join(out_dir, 'occupancy.png')
        render_occupancy(labels, written['occupancy'],
                         title=f'Occ3D {sample.scene_name} / {token}', grid_range=options.occ_range)
    return written
