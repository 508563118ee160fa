"""Generate the synthetic dataset on disk, atomically: everything is written into a temporary
sibling folder that is renamed to the destination only when complete."""
import os
import shutil
import tempfile
import time
from typing import Optional

from tqdm import tqdm

from .kitti_writer import write_kitti
from .nuscenes_writer import sample_data_token, sample_token, write_nuscenes
from .occupancy import (OccupancyGrid, semantic_occupancy, write_nuscenes_occupancy,
                        write_occ3d)
from .visibility import occupancy_ground_truth
from .world import SyntheticWorld, WorldConfig

#: Formats and their folders under the output: ``nuscenes`` (v1.0-mini layout), ``occ3d``
#: (Occ3D-nuScenes ``gts/``), ``nuscenes-occupancy`` (OpenOccupancy's sparse ``.npy``),
#: ``kitti`` (KITTI 3D object ``training/`` and ``ImageSets/``).
FORMATS = ('nuscenes', 'occ3d', 'nuscenes-occupancy', 'kitti')
DEFAULT_FORMATS = ('nuscenes', )


def write_occupancy(world: SyntheticWorld, root: str, fmt: str, progress: bool = True) -> None:
    """Write every keyframe's occupancy ground truth in ``fmt`` (``'occ3d'`` or
    ``'nuscenes-occupancy'``) under ``root``; tokens match the nuScenes writer's."""
    grid = OccupancyGrid.occ3d_nuscenes() if fmt == 'occ3d' else OccupancyGrid.nuscenes_occupancy()
    for scene in tqdm(world.scenes, desc=f'{fmt} scenes', disable=not progress):
        for k, timestamp in enumerate(scene.keyframe_times()):
            frame = world.frame(scene, timestamp)
            if fmt == 'occ3d':
                gt = occupancy_ground_truth(world, scene, frame, grid)
                write_occ3d(root, scene.name, sample_token(scene, k), gt['semantics'],
                            gt['mask_lidar'], gt['mask_camera'])
            else:
                write_nuscenes_occupancy(root, scene.token,
                                         sample_data_token(scene, 'LIDAR_TOP', timestamp),
                                         semantic_occupancy(world, frame, grid))


def generate_synthetic(out: str, config: Optional[WorldConfig] = None, formats=DEFAULT_FORMATS,
                       overwrite: bool = False, progress: bool = True) -> str:
    """Write the synthetic world under ``out`` (``out/<format>`` for each format).

    Args:
        out (str): Destination folder; must not exist unless ``overwrite``.
        config (WorldConfig, optional): World sizes; defaults to the ten mini scenes.
        formats (tuple): Formats to write, a subset of :data:`FORMATS`.
        overwrite (bool): Replace an existing ``out``.
        progress (bool): Show progress bars.

    Returns:
        str: ``out``.
    """
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f'unknown formats {sorted(unknown)}; expected a subset of {FORMATS}')
    out = os.path.abspath(out)
    if os.path.exists(out) and not overwrite:
        raise FileExistsError(f'{out} exists; pass overwrite=True (--overwrite) to replace it')
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{os.path.basename(out)}.tmp-', dir=os.path.dirname(out))
    try:
        start = time.time()
        world = SyntheticWorld(config)
        if 'nuscenes' in formats:
            write_nuscenes(world, os.path.join(tmp, 'nuscenes'), progress=progress)
        for fmt in ('occ3d', 'nuscenes-occupancy'):
            if fmt in formats:
                write_occupancy(world, os.path.join(tmp, fmt), fmt, progress)
        if 'kitti' in formats:
            write_kitti(world, os.path.join(tmp, 'kitti'), progress=progress)
        with open(os.path.join(tmp, 'GENERATED.txt'), 'w') as f:
            f.write(f'{world.config}\nformats: {list(formats)}\nseconds: {time.time() - start:.1f}\n')
        if os.path.exists(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    return out
