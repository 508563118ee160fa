"""Shared pytest set-up: GPU tests are skipped explicitly (never hidden), modules registered, and
one tiny synthetic world (files and info files of every format) generated once per run.

The shared worlds are read-only: a test that edits, truncates or replaces files of one works
on a private copy (the ``copy_world`` fixture) or makes its bad files in its own ``tmp_path``.
At the end of the run a finaliser checks that no file of a shared world was added, removed or
rewritten, and names the files if one was.
"""
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Mapping, Tuple

import pytest
import torch

if TYPE_CHECKING:
    from mmdet3d_plugin.synthetic import WorldConfig

#: The shared world: one scene of nuScenes' mini_train and one of mini_val (so every info file
#: has both splits), three 2 Hz keyframes each (40 lead sweeps before the first), the default
#: 400 x 225 images. Its sizes as ``WorldConfig`` keyword arguments (the package is imported
#: lazily, after the session's registry set-up).
TINY_WORLD = dict(scene_names=('scene-0061', 'scene-0103'), num_keyframes=3)
#: The same scenes with nuScenes' full 1600 x 900 images, written as KITTI only: KITTI's
#: difficulty levels are in pixels of a ~720 px focal length, and the 400 x 225 images (316 px)
#: shrink every object below them.
KITTI_WORLD = dict(TINY_WORLD, image_size=(1600, 900))
#: nuScenes ``max_sweeps`` of the shared info files.
MAX_SWEEPS = 10


def pytest_collection_modifyitems(config, items):
    """Mark every ``gpu`` test skipped (with a reason) on a machine without CUDA."""
    gpu_visible = torch.cuda.device_count() > 0
    if gpu_visible:
        return
    skip_gpu = pytest.mark.skip(reason='needs a CUDA GPU (marked gpu); none is visible')
    for item in items:
        if 'gpu' in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope='session', autouse=True)
def _register_all_modules():
    from mmdet3d_plugin.utils import register_all_modules
    register_all_modules(init_default_scope=True)


@dataclass(frozen=True)
class WorldFiles:
    """A synthetic world written by ``generate_synthetic`` and its info files (read-only).

    Attributes:
        config (WorldConfig): The world's sizes (``SyntheticWorld(config)`` rebuilds it).
        out (Path): The generation folder: ``GENERATED.txt`` and one folder per format.
        formats (tuple): The formats written (``out/<format>`` each).
        infos (Mapping): Info files, ``{kind: {split: path}}``; kinds ``'nuscenes'`` (in the
            nuScenes root, prefix ``nuscenes``), ``'occ3d'`` (in the Occ3D root, prefix
            ``occ3d``), ``'nuscenes-occupancy'`` (in its root, prefix ``nuscenes_occupancy``),
            ``'kitti'`` (in the KITTI root, prefix ``kitti``); only those of ``formats``.
    """
    config: 'WorldConfig'
    out: Path
    formats: Tuple[str, ...]
    infos: Mapping[str, Mapping[str, Path]]

    @property
    def nuscenes(self) -> Path:
        """nuScenes dataroot (``v1.0-mini/`` tables, samples/, sweeps/, lidarseg/, maps/)."""
        return self.out / 'nuscenes'

    @property
    def occ3d(self) -> Path:
        """Occ3D-nuScenes root (``gts/<scene>/<sample>/labels.npz``)."""
        return self.out / 'occ3d'

    @property
    def nuscenes_occupancy(self) -> Path:
        """nuScenes-Occupancy root (``scene_<token>/occupancy/<lidar token>.npy``)."""
        return self.out / 'nuscenes-occupancy'

    @property
    def kitti(self) -> Path:
        """KITTI root (``training/``, ``ImageSets/``, ``kitti_infos_*.pkl``)."""
        return self.out / 'kitti'


@pytest.fixture
def copy_world(tmp_path):
    """``copy_world(world)``: a private copy of a shared world (``WorldFiles``) in this test's
    ``tmp_path``, for a test that edits or corrupts its files; the copy's ``infos`` point into
    the copy. The info files' sample paths are relative to their roots, but the occupancy
    infos' ``metainfo`` roots (``occ3d_root``, ``occ_root``) still name the original world."""
    def copy(world: WorldFiles) -> WorldFiles:
        out = tmp_path / 'world_copy' / world.out.name
        shutil.copytree(world.out, out)
        infos = {kind: {split: out / path.relative_to(world.out) for split, path in files.items()}
                 for kind, files in world.infos.items()}
        return WorldFiles(world.config, out, world.formats, infos)
    return copy


def _snapshot(root: Path) -> Dict[str, Tuple[int, int]]:
    """``{relative path: (size, mtime_ns)}`` of every file under ``root``."""
    snapshot = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            stat = os.stat(path)
            snapshot[os.path.relpath(path, root)] = (stat.st_size, stat.st_mtime_ns)
    return snapshot


def _check_untouched(world: WorldFiles, before: Dict[str, Tuple[int, int]]) -> None:
    after = _snapshot(world.out)
    changed = sorted(path for path in set(before) | set(after)
                     if before.get(path) != after.get(path))
    assert not changed, (f'a test modified the shared synthetic world {world.out} (use the '
                         f'copy_world fixture for a private copy): {changed[:10]}')


def _as_paths(written: Mapping[str, str]) -> Dict[str, Path]:
    return {split: Path(path) for split, path in written.items()}


@pytest.fixture(scope='session')
def synthetic_world(tmp_path_factory):
    """:data:`TINY_WORLD` as nuScenes, Occ3D and nuScenes-Occupancy files with every info file
    (``WorldFiles``; about 0.3 GB, most of it nuScenes-Occupancy), generated once per run.

    Infos: ``nuscenes_infos_{train,val}.pkl`` in the nuScenes root, ``occ3d_infos_*`` in the
    Occ3D root, ``nuscenes_occupancy_infos_*`` in the nuScenes-Occupancy root, all mmdet3d v2
    with ``max_sweeps`` :data:`MAX_SWEEPS` (train: scene-0061, val: scene-0103).
    """
    from mmdet3d_plugin.datasets.converters import create_nuscenes_infos, create_occupancy_infos
    from mmdet3d_plugin.synthetic import WorldConfig
    from mmdet3d_plugin.synthetic.generate import generate_synthetic
    config = WorldConfig(**TINY_WORLD)
    formats = ('nuscenes', 'occ3d', 'nuscenes-occupancy')
    out = tmp_path_factory.mktemp('shared_world') / 'synthetic'
    generate_synthetic(str(out), config, formats, progress=False, workers=1)
    nuscenes = str(out / 'nuscenes')
    infos = {
        'nuscenes': create_nuscenes_infos(nuscenes, nuscenes, 'v1.0-mini',
                                          max_sweeps=MAX_SWEEPS, progress=False),
        'occ3d': create_occupancy_infos(nuscenes, None, 'v1.0-mini', 'occ3d', MAX_SWEEPS,
                                        occ3d_path=str(out / 'occ3d'), progress=False),
        'nuscenes-occupancy': create_occupancy_infos(
            nuscenes, None, 'v1.0-mini', 'nuscenes_occupancy', MAX_SWEEPS,
            occ_path=str(out / 'nuscenes-occupancy'), progress=False),
    }
    world = WorldFiles(config, out, formats, {k: _as_paths(v) for k, v in infos.items()})
    before = _snapshot(out)
    yield world
    _check_untouched(world, before)


@pytest.fixture(scope='session')
def tiny_world():
    """:data:`TINY_WORLD` in memory, a ``SyntheticWorld``: the world :func:`synthetic_world`
    writes (same scenes, frames and tokens), without writing anything; read-only too."""
    from mmdet3d_plugin.synthetic import SyntheticWorld, WorldConfig
    return SyntheticWorld(WorldConfig(**TINY_WORLD))


@pytest.fixture(scope='session')
def kitti_world(tmp_path_factory):
    """:data:`KITTI_WORLD` as KITTI files with mmdet3d's v2 infos (``kitti_infos_{train,val,
    trainval,test}.pkl`` and ``training/velodyne_reduced``, from ``create_kitti_infos``) in the
    KITTI root (``WorldFiles``), generated once per run. Frames 0-2 (scene-0061) are ``train``,
    3-5 (scene-0103) ``val``."""
    from mmdet3d_plugin.datasets.converters import create_kitti_infos
    from mmdet3d_plugin.synthetic import WorldConfig
    from mmdet3d_plugin.synthetic.generate import generate_synthetic
    config = WorldConfig(**KITTI_WORLD)
    out = tmp_path_factory.mktemp('shared_kitti') / 'synthetic'
    generate_synthetic(str(out), config, ('kitti', ), progress=False, workers=1)
    infos = {'kitti': _as_paths(create_kitti_infos(str(out / 'kitti')))}
    world = WorldFiles(config, out, ('kitti', ), infos)
    before = _snapshot(out)
    yield world
    _check_untouched(world, before)
