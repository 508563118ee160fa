"""Generate the synthetic dataset on disk, atomically and in parallel over scenes.

Everything is written into a temporary sibling folder that is renamed to the destination only
when complete. Scenes are independent (each one's LiDAR noise and camera noise are seeded by
the world seed and the timestamp), so worker processes write whole scenes — every requested
format of a scene at once, sharing each keyframe's LiDAR sweep and camera renders between the
writers (:class:`FrameCache`) — and the parent merges the nuScenes table rows in scene order:
the output is byte-for-byte the same for any number of workers. A world with test scenes
(``WorldConfig.test_scene_names``) also gets ``nuscenes/v1.0-test``: those scenes' sensor data
in the same ``samples/``, ``sweeps/`` and ``maps/`` folders, without annotations or lidarseg,
as nuScenes ships its test split (no other format has a test split).
"""
import multiprocessing
import os
import shutil
import sys
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

from tqdm import tqdm

from ..structures.occupancy_grid import OccupancyGrid
from .frame_cache import FrameCache
from .kitti_writer import write_image_sets, write_kitti_scene
from .nuscenes_writer import NuScenesWriter, sample_data_token, sample_token
from .occupancy import semantic_occupancy, write_nuscenes_occupancy, write_occ3d
from .scene import Scene
from .visibility import occupancy_ground_truth
from .world import FrameState, SyntheticWorld, WorldConfig

#: Formats and their folders under the output: ``nuscenes`` (v1.0-mini layout), ``occ3d``
#: (Occ3D-nuScenes ``gts/``), ``nuscenes-occupancy`` (OpenOccupancy's sparse ``.npy``),
#: ``kitti`` (KITTI 3D object ``training/`` and ``ImageSets/``).
FORMATS = ('nuscenes', 'occ3d', 'nuscenes-occupancy', 'kitti')
#: nuScenes-Occupancy is left out by default: its 512x512x40 grids are ~40 MB per keyframe
#: (~4 GB for the ten mini scenes) and take as long to write as the three others together.
DEFAULT_FORMATS = ('nuscenes', 'occ3d', 'kitti')
#: Table folder of the annotation-free test scenes.
TEST_VERSION = 'v1.0-test'


def write_occupancy_keyframe(world: SyntheticWorld, root: str, fmt: str, scene: Scene,
                             keyframe: int, frame: FrameState,
                             cache: Optional[FrameCache] = None) -> str:
    """Write one keyframe's occupancy ground truth in ``fmt`` (``'occ3d'``: semantics and both
    visibility masks; ``'nuscenes-occupancy'``: semantics) under ``root``; tokens match the
    nuScenes writer's. Returns the file written."""
    if fmt == 'occ3d':
        cache = cache if cache is not None else FrameCache(world)
        gt = occupancy_ground_truth(world, scene, frame, OccupancyGrid.occ3d_nuscenes(),
                                    sweep=cache.lidar_sweep(scene, frame))
        return write_occ3d(root, scene.name, sample_token(scene, keyframe), gt['semantics'],
                           gt['mask_lidar'], gt['mask_camera'])
    if fmt == 'nuscenes-occupancy':
        return write_nuscenes_occupancy(
            root, scene.token, sample_data_token(scene, 'LIDAR_TOP', frame.timestamp),
            semantic_occupancy(world, frame, OccupancyGrid.nuscenes_occupancy()))
    raise ValueError(f"fmt must be 'occ3d' or 'nuscenes-occupancy', got {fmt!r}")


def write_occupancy(world: SyntheticWorld, root: str, fmt: str, progress: bool = True) -> None:
    """Write every keyframe's occupancy ground truth in ``fmt`` under ``root``."""
    for scene in tqdm(world.scenes, desc=f'{fmt} scenes', disable=not progress):
        for k, timestamp in enumerate(scene.keyframe_times()):
            write_occupancy_keyframe(world, root, fmt, scene, k, world.frame(scene, timestamp))


def write_scene(world: SyntheticWorld, out: str, formats: Sequence[str],
                scene_index: int) -> Dict[str, List[dict]]:
    """Write every file of scene ``scene_index`` in ``formats`` under ``out/<format>``.

    Indices past ``world.scenes`` are the test scenes (``world.test_scenes``, in order): their
    nuScenes sensor data only, for the :data:`TEST_VERSION` tables.

    Returns:
        dict: The scene's nuScenes table rows (``{}`` without ``'nuscenes'``), for
        :meth:`NuScenesWriter.finish`.
    """
    cache = FrameCache(world)
    if scene_index >= len(world.scenes):
        writer = NuScenesWriter(world, os.path.join(out, 'nuscenes'), TEST_VERSION,
                                progress=False, cache=cache, annotations=False)
        rows = writer.write_scene(world.test_scenes[scene_index - len(world.scenes)])
        cache.clear()
        return rows
    scene = world.scenes[scene_index]
    rows = {}
    if 'nuscenes' in formats:
        writer = NuScenesWriter(world, os.path.join(out, 'nuscenes'), progress=False, cache=cache)
        rows = writer.write_scene(scene)
    for fmt in ('occ3d', 'nuscenes-occupancy'):
        if fmt in formats:
            for k, timestamp in enumerate(scene.keyframe_times()):
                write_occupancy_keyframe(world, os.path.join(out, fmt), fmt, scene, k,
                                         world.frame(scene, timestamp), cache)
    if 'kitti' in formats:
        write_kitti_scene(world, os.path.join(out, 'kitti'), scene_index, cache)
    cache.clear()
    return rows


_WORKER: dict = {}  # the world, output and formats of a worker process


def _init_worker(config: WorldConfig, out: str, formats: Tuple[str, ...]) -> None:
    import cv2
    cv2.setNumThreads(1)  # one process per core already
    _WORKER.update(world=SyntheticWorld(config), out=out, formats=formats)


def _scene_job(index: int) -> Tuple[int, Dict[str, List[dict]]]:
    return index, write_scene(_WORKER['world'], _WORKER['out'], _WORKER['formats'], index)


def default_workers() -> int:
    """CPU cores this process may use."""
    if hasattr(os, 'sched_getaffinity'):
        return max(len(os.sched_getaffinity(0)), 1)
    return max(os.cpu_count() or 1, 1)


def _write_scenes(world: SyntheticWorld, out: str, formats: Tuple[str, ...], workers: int,
                  progress: bool) -> List[Dict[str, List[dict]]]:
    """Write all scenes, then the test scenes with ``'nuscenes'`` (``workers`` processes, or
    this one for 1); rows in that order (see :func:`write_scene`)."""
    scenes = world.scenes + (world.test_scenes if 'nuscenes' in formats else [])
    num = len(scenes)
    bar = tqdm(total=sum(s.num_keyframes for s in scenes), desc='synthetic world',
               unit='keyframe', disable=not progress, file=sys.stderr)
    rows: Dict[int, Dict[str, List[dict]]] = {}
    with bar:
        if workers <= 1 or num <= 1:
            for index in range(num):
                rows[index] = write_scene(world, out, formats, index)
                bar.update(scenes[index].num_keyframes)
        else:
            # never 'fork': forking a process whose threads (OpenMP, tqdm's monitor, a test
            # runner's) hold locks deadlocks the children -- seen in a full pytest run
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context(
                'forkserver' if 'forkserver' in methods else 'spawn')
            with context.Pool(min(workers, num), _init_worker,
                              (world.config, out, formats)) as pool:
                for index, scene_rows in pool.imap_unordered(_scene_job, range(num)):
                    rows[index] = scene_rows
                    bar.update(scenes[index].num_keyframes)
    return [rows[index] for index in range(num)]


def generate_synthetic(out: str, config: Optional[WorldConfig] = None, formats=DEFAULT_FORMATS,
                       overwrite: bool = False, progress: bool = True,
                       workers: Optional[int] = None) -> str:
    """Write the synthetic world under ``out`` (``out/<format>`` for each format).

    Args:
        out (str): Destination folder; must not exist unless ``overwrite``.
        config (WorldConfig, optional): World sizes; defaults to the ten mini scenes (and no
            test scenes).
        formats (tuple): Formats to write, a subset of :data:`FORMATS`.
        overwrite (bool): Replace an existing ``out``.
        progress (bool): Show a progress bar (stderr) over the keyframes.
        workers (int, optional): Processes writing scenes in parallel; ``None`` = the CPU cores
            available, 1 = this process only. The output does not depend on it.

    Returns:
        str: ``out``.
    """
    formats = tuple(formats)
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise ValueError(f'unknown formats {sorted(unknown)}; expected a non-empty subset of '
                         f'{FORMATS}')
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f'workers must be >= 1, got {workers}')
    out = os.path.abspath(out)
    if os.path.exists(out) and not overwrite:
        raise FileExistsError(f'{out} exists; pass overwrite=True (--overwrite) to replace it')
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{os.path.basename(out)}.tmp-', dir=os.path.dirname(out))
    try:
        world = SyntheticWorld(config)
        scene_rows = _write_scenes(world, tmp, formats, workers, progress)
        if 'nuscenes' in formats:
            num = len(world.scenes)
            NuScenesWriter(world, os.path.join(tmp, 'nuscenes'),
                           progress=False).finish(scene_rows[:num])
            if world.test_scenes:
                NuScenesWriter(world, os.path.join(tmp, 'nuscenes'), TEST_VERSION, progress=False,
                               annotations=False).finish(scene_rows[num:])
        if 'kitti' in formats:
            write_image_sets(world, os.path.join(tmp, 'kitti'))
        with open(os.path.join(tmp, 'GENERATED.txt'), 'w') as f:
            f.write(f'{world.config}\nformats: {list(formats)}\n')
        if os.path.exists(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    return out


def describe_output(out: str, formats: Sequence[str] = FORMATS) -> List[str]:
    """One line per format folder present under ``out``: path, files and size."""
    lines = []
    for fmt in formats:
        folder = os.path.join(out, fmt)
        if not os.path.isdir(folder):
            continue
        files = size = 0
        for directory, _, names in os.walk(folder):
            files += len(names)
            size += sum(os.path.getsize(os.path.join(directory, n)) for n in names)
        lines.append(f'{fmt:<19} {folder}  ({files} files, {size / 2**20:.1f} MiB)')
    return lines
