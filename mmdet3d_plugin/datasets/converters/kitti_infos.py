"""KITTI info files in mmdet3d's v2 format, made by mmdet3d's own converter.

mmdet3d ships its dataset converters with the wheel, under ``mmdet3d/.mim/tools/
dataset_converters`` (not an importable package). :func:`create_kitti_infos` loads them from
there and runs what mmdet3d's ``tools/create_data.py kitti`` runs: ``create_kitti_info_file``
(image, calib, velodyne and label info, ``num_points_in_gt`` inside the camera's field of view,
difficulty levels), ``create_reduced_point_cloud`` (``training/velodyne_reduced``: the points in
image_2's field of view, which mmdet3d's KITTI configs read) and ``update_pkl_infos`` to the v2
layout (``metainfo`` + ``data_list`` with ``images``/``lidar_points``/``instances``). The ground
truth database for ObjectSample is not made (``--with-gt-database`` is mmdet3d's own tool).

Unlike mmdet3d's tool, nothing is written in place until it is complete: the infos and the
reduced clouds are built in a temporary folder, each ``.pkl`` is then renamed into ``out_dir``
and the ``velodyne_reduced`` folder replaces the old one, so an interrupted run never leaves a
half-written info file.
"""
import contextlib
import importlib
import importlib.machinery
import importlib.util
import io
import os
import pickle
import shutil
import sys
import tempfile
from typing import Dict

SPLITS = ('train', 'val', 'trainval', 'test')
_PACKAGE = '_mmdet3d_mim_tools'


def mmdet3d_converters():
    """mmdet3d's ``kitti_converter`` and ``update_infos_to_v2`` modules, loaded from the files
    the mmdet3d wheel ships in ``mmdet3d/.mim/tools/dataset_converters``.

    Raises:
        ImportError: naming the folder when this mmdet3d install lacks them.
    """
    import mmdet3d
    tools = os.path.join(os.path.dirname(mmdet3d.__file__), '.mim', 'tools')
    if not os.path.isfile(os.path.join(tools, 'dataset_converters', 'kitti_converter.py')):
        raise ImportError(f'mmdet3d dataset converters not found in {tools}/dataset_converters '
                          '(installed from the mmdet3d wheel they are there; from a source '
                          'checkout, run its tools/create_data.py kitti instead)')
    if _PACKAGE not in sys.modules:
        spec = importlib.machinery.ModuleSpec(_PACKAGE, None, is_package=True)
        spec.submodule_search_locations = [tools]
        sys.modules[_PACKAGE] = importlib.util.module_from_spec(spec)
    converters = f'{_PACKAGE}.dataset_converters'
    return (importlib.import_module(f'{converters}.kitti_converter'),
            importlib.import_module(f'{converters}.update_infos_to_v2'))


def _check_layout(root_path: str) -> None:
    required = [os.path.join('ImageSets', f'{s}.txt') for s in ('train', 'val', 'test')] + [
        os.path.join('training', folder) for folder in ('velodyne', 'image_2', 'calib', 'label_2')]
    missing = [p for p in required if not os.path.exists(os.path.join(root_path, p))]
    if missing:
        raise FileNotFoundError(f'KITTI root {root_path} lacks {missing} (expected the KITTI 3D '
                                'object layout: training/{velodyne,image_2,calib,label_2} and '
                                'ImageSets/{train,val,test}.txt)')


def create_kitti_infos(root_path: str, out_dir: str = None, info_prefix: str = 'kitti',
                       with_reduced: bool = True, verbose: bool = False) -> Dict[str, str]:
    """Write ``<out_dir>/<info_prefix>_infos_{train,val,trainval,test}.pkl`` (mmdet3d v2) and,
    with ``with_reduced``, ``<root_path>/training/velodyne_reduced``.

    Args:
        root_path (str): KITTI root (``training/``, ``ImageSets/``).
        out_dir (str, optional): Where the info files go; defaults to ``root_path``.
        info_prefix (str): File name prefix.
        with_reduced (bool): Also write the reduced point clouds mmdet3d's KITTI configs read.
        verbose (bool): Show mmdet3d's converter messages and progress bars.

    Returns:
        dict: split name -> info file written.
    """
    _check_layout(root_path)
    out_dir = out_dir or root_path
    os.makedirs(out_dir, exist_ok=True)
    kitti_converter, update_infos = mmdet3d_converters()
    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    work = tempfile.mkdtemp(prefix=f'.{info_prefix}_infos.tmp-', dir=out_dir)
    try:
        v1, v2, reduced = (os.path.join(work, name) for name in ('v1', 'v2', 'velodyne_reduced'))
        for folder in (v1, v2, reduced):
            os.makedirs(folder)
        with quiet:
            kitti_converter.create_kitti_info_file(root_path, info_prefix, with_plane=False,
                                                   save_path=v1, relative_path=True)
            if with_reduced:
                for split in ('train', 'val', 'test'):
                    kitti_converter._create_reduced_point_cloud(
                        root_path, os.path.join(v1, f'{info_prefix}_infos_{split}.pkl'),
                        save_path=reduced)
            _update_to_v2(update_infos, [os.path.join(v1, f'{info_prefix}_infos_{split}.pkl')
                                         for split in SPLITS], v2)
        if with_reduced:
            _replace_folder(reduced, os.path.join(root_path, 'training', 'velodyne_reduced'))
        written = {}
        for split in SPLITS:
            name = f'{info_prefix}_infos_{split}.pkl'
            os.replace(os.path.join(v2, name), os.path.join(out_dir, name))
            written[split] = os.path.join(out_dir, name)
        return written
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _update_to_v2(update_infos, pkl_paths, out_dir: str) -> None:
    """mmdet3d's ``update_kitti_infos`` on each v1 file; an empty split (KITTI's ``test.txt``
    of a dataset without ``testing/``), on which it fails, gets the metainfo of the others and
    an empty ``data_list``."""
    empty = []
    for path in pkl_paths:
        with open(path, 'rb') as f:
            if pickle.load(f):
                update_infos.update_kitti_infos(pkl_path=path, out_dir=out_dir)
            else:
                empty.append(path)
    if len(empty) == len(pkl_paths):
        names = [os.path.basename(p) for p in pkl_paths]
        raise ValueError(f'no KITTI frames listed in ImageSets ({names} are all empty)')
    done = next(p for p in pkl_paths if p not in empty)
    with open(os.path.join(out_dir, os.path.basename(done)), 'rb') as f:
        metainfo = pickle.load(f)['metainfo']
    for path in empty:
        with open(os.path.join(out_dir, os.path.basename(path)), 'wb') as f:
            pickle.dump({'metainfo': metainfo, 'data_list': []}, f)


def _replace_folder(new: str, target: str) -> None:
    """Move the complete folder ``new`` to ``target``, replacing what was there."""
    old = None
    if os.path.exists(target):
        old = tempfile.mkdtemp(prefix='.old-', dir=os.path.dirname(target))
        os.replace(target, os.path.join(old, 'folder'))
    shutil.move(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
