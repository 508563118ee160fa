"""nuScenes ground-truth database for GT-paste (mmdet3d's ``ObjectSample`` / ``DataBaseSampler``).

Written here because the mmdet3d 1.4 wheel does not ship ``tools/dataset_converters/
create_gt_database.py`` (it lives only in the source checkout). This module writes the same
format that ``DataBaseSampler`` reads, for the info files of
:func:`~mmdet3d_plugin.datasets.converters.create_nuscenes_infos`:

* ``<data_root>/<prefix>_gt_database/<sample_idx>_<class>_<gt_idx>.bin``: the points inside each
  annotated box as float32 rows of ``load_dim`` columns (keyframe + sweeps, nuScenes' layout
  ``x, y, z, intensity, time_lag``), with ``x, y, z`` relative to the box's bottom centre
  (translation only, no rotation: ``DataBaseSampler`` adds ``box3d_lidar[:3]`` back);
* ``<data_root>/<prefix>_dbinfos_train.pkl``: ``{class name: [db_info, ...]}`` with, per object,
  ``name``, ``path`` (relative to the data root), ``image_idx`` (the sample index), ``gt_idx``,
  ``box3d_lidar`` (float32 ``(9,)``: bottom-centre LiDAR box ``x, y, z, l, w, h, yaw, vx, vy``),
  ``num_points_in_gt``, ``difficulty`` (0: nuScenes has none), ``group_id`` (unique per
  object) -- the fields mmdet3d's ``create_groundtruth_database`` writes for nuScenes.

Points are read as training reads them: ``LoadPointsFromFile`` + ``LoadSweepsWithRing``
(``keep_ring=False``, ``pad_empty_sweeps``, ``remove_close``) with ``test_mode=True``, so the
nearest ``sweeps_num`` sweeps are taken and the database does not depend on the global RNG.
Objects whose label is not a detection class (``-1``) and objects without a point are skipped
(mmdet3d keeps the latter, with an empty ``.bin`` that Drive3D's checked ``LoadPointsFromFile``
refuses; nothing could be learnt from pasting them). Every file is written to a
temporary name and renamed; the database folder is built beside its final place and renamed
into it, so an interrupted run leaves no half database behind.
"""
import os
import pickle
import shutil
import tempfile
from typing import Dict, List, Optional

import numpy as np
from mmdet3d.structures.ops import box_np_ops
from mmengine.registry import DefaultScope
from tqdm import tqdm

from ...registry import SCOPE
from ...structures.nuscenes_names import NUSCENES_DETECTION_CLASSES
from ...utils.atomic_io import atomic_path


def _database_dataset(data_root: str, info_path: str, sweeps_num: int, load_dim: int):
    """A LiDAR-only ``NuScenesBEVDataset`` whose pipeline loads points and annotations."""
    from ..nuscenes_bev_dataset import NuScenesBEVDataset
    pipeline = [
        dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=load_dim, use_dim=load_dim),
        dict(type='LoadSweepsWithRing', sweeps_num=sweeps_num, load_dim=load_dim,
             keep_ring=False, pad_empty_sweeps=True, remove_close=True, test_mode=True),
        dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    ]
    return NuScenesBEVDataset(
        # absolute: BaseDataset joins a relative ann_file onto data_root
        data_root=data_root, ann_file=os.path.abspath(info_path), pipeline=pipeline,
        metainfo=dict(classes=list(NUSCENES_DETECTION_CLASSES)),
        modality=dict(use_lidar=True, use_camera=False),
        data_prefix=dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP'),
        box_type_3d='LiDAR', test_mode=False, filter_empty_gt=False)


def _write_points(path: str, points: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        points.astype(np.float32).tofile(f)


def create_groundtruth_database(data_root: str, info_path: str, info_prefix: str = 'nuscenes',
                                sweeps_num: int = 10, load_dim: int = 5,
                                out_dir: Optional[str] = None,
                                progress: bool = True) -> Dict[str, str]:
    """Write the GT database of one (training) info file.

    Args:
        data_root (str): nuScenes dataroot (``samples/``, ``sweeps/``).
        info_path (str): The info file (normally ``<prefix>_infos_train.pkl``).
        info_prefix (str): Name prefix of the outputs. Defaults to ``'nuscenes'``.
        sweeps_num (int): LiDAR sweeps merged into each object's points (at most the infos'
            ``max_sweeps``). Defaults to 10, as mmdet3d builds it for nuScenes.
        load_dim (int): Float32 columns per point in the LiDAR files. Defaults to 5.
        out_dir (str, optional): Where the database goes (default ``data_root``): training
            configs set ``DataBaseSampler(data_root=<this>)``.
        progress (bool): Show a progress bar.

    Returns:
        dict: ``{'dbinfos': <pkl path>, 'database': <folder>}``.

    Raises:
        FileNotFoundError: naming ``info_path`` when it does not exist.
    """
    if not os.path.isfile(info_path):
        raise FileNotFoundError(f'create_groundtruth_database: info file not found: {info_path} '
                                '(run tools/create_data.py nuscenes first)')
    out_dir = out_dir or data_root
    folder_name = f'{info_prefix}_gt_database'
    database = os.path.join(out_dir, folder_name)
    dbinfos_path = os.path.join(out_dir, f'{info_prefix}_dbinfos_train.pkl')
    os.makedirs(out_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f'.{folder_name}.', suffix='.tmp', dir=out_dir)
    try:
        with DefaultScope.overwrite_default_scope(SCOPE):  # the pipeline's types are ours
            dataset = _database_dataset(data_root, info_path, sweeps_num, load_dim)
            dbinfos = _collect(dataset, staging, folder_name, progress)
        if os.path.isdir(database):
            shutil.rmtree(database)
        os.replace(staging, database)
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging)
    with atomic_path(dbinfos_path) as tmp, open(tmp, 'wb') as f:
        pickle.dump(dbinfos, f, protocol=pickle.HIGHEST_PROTOCOL)
    return {'dbinfos': dbinfos_path, 'database': database}


def _collect(dataset, staging: str, folder_name: str, progress: bool) -> Dict[str, List[dict]]:
    """Write every object's points into ``staging``; return the db infos by class name."""
    classes = dataset.metainfo['classes']
    dbinfos: Dict[str, List[dict]] = {}
    group_id = 0
    for index in tqdm(range(len(dataset)), desc='GT database', disable=not progress):
        results = dataset.prepare_data(index)  # box_type_3d set as in training
        boxes = results['gt_bboxes_3d'].numpy()  # (N, 9) bottom centre
        labels = np.asarray(results['gt_labels_3d'])
        if len(boxes) == 0:
            continue
        points = results['points'].numpy()  # (P, load_dim)
        inside = box_np_ops.points_in_rbbox(points[:, :3], boxes[:, :7])  # (P, N)
        sample_idx = results['sample_idx']
        for gt_idx, (box, label) in enumerate(zip(boxes, labels)):
            if label < 0:
                continue
            name = classes[label]
            object_points = points[inside[:, gt_idx]].copy()
            if len(object_points) == 0:
                continue
            object_points[:, :3] -= box[:3]
            filename = f'{sample_idx}_{name}_{gt_idx}.bin'
            _write_points(os.path.join(staging, filename), object_points)
            dbinfos.setdefault(name, []).append({
                'name': name, 'path': f'{folder_name}/{filename}', 'image_idx': sample_idx,
                'gt_idx': gt_idx, 'box3d_lidar': box.astype(np.float32),
                'num_points_in_gt': int(len(object_points)), 'difficulty': 0,
                'group_id': group_id})
            group_id += 1
    return dbinfos
