"""nuScenes info files in mmdet3d's v2 format (``metainfo`` + ``data_list``), built with the
nuScenes devkit, with the fields mmdet3d 1.4 drops and occupancy/temporal models need.

Each ``data_list`` entry is what mmdet3d's ``NuScenesDataset`` reads (``lidar_points``,
``lidar_sweeps`` with ``lidar2sensor``, ``images`` with ``cam2img``/``cam2ego``/``lidar2cam``,
``instances`` with gravity-centre LiDAR boxes ``[x, y, z, l, w, h, yaw]``, velocities in the LiDAR
frame, ``num_lidar_pts``, ``bbox_3d_isvalid``, ``pts_semantic_mask_path``), plus:
``scene_token``, ``scene_name``, ``lidar_token``, ``prev``/``next`` sample tokens,
``location``, ``occ3d_path`` (Occ3D ``gts/<scene>/<sample>/labels.npz``) and ``occ_path``
(nuScenes-Occupancy ``scene_<scene>/occupancy/<lidar_token>.npy``), relative to their roots.
"""
import os
import pickle
from typing import Dict, List, Tuple

import numpy as np
from pyquaternion import Quaternion
from tqdm import tqdm

from ...structures.nuscenes_names import NUSCENES_CAMERAS as CAMERAS
from ...structures.nuscenes_names import NUSCENES_DETECTION_CLASSES as CLASSES
from ...utils.atomic_io import atomic_path

#: nuScenes category -> detection class (as nuscenes-devkit's detection challenge maps them)
NAME_MAPPING = {
    'movable_object.barrier': 'barrier', 'vehicle.bicycle': 'bicycle',
    'vehicle.bus.bendy': 'bus', 'vehicle.bus.rigid': 'bus', 'vehicle.car': 'car',
    'vehicle.construction': 'construction_vehicle', 'vehicle.motorcycle': 'motorcycle',
    'human.pedestrian.adult': 'pedestrian', 'human.pedestrian.child': 'pedestrian',
    'human.pedestrian.construction_worker': 'pedestrian',
    'human.pedestrian.police_officer': 'pedestrian', 'movable_object.trafficcone': 'traffic_cone',
    'vehicle.trailer': 'trailer', 'vehicle.truck': 'truck',
}
SPLITS = {'v1.0-mini': ('mini_train', 'mini_val'), 'v1.0-trainval': ('train', 'val'),
          'v1.0-test': ('test', None)}


def _matrix(rotation, translation) -> np.ndarray:
    """4x4 from a nuScenes quaternion ``(w, x, y, z)`` and a translation."""
    mat = np.eye(4)
    mat[:3, :3] = Quaternion(rotation).rotation_matrix
    mat[:3, 3] = translation
    return mat


def _sensor_to_global(nusc, sd_token: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """``(sensor2ego, ego2global, sensor2global, sample_data)`` of a sample_data record."""
    sd = nusc.get('sample_data', sd_token)
    cs = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
    pose = nusc.get('ego_pose', sd['ego_pose_token'])
    s2e = _matrix(cs['rotation'], cs['translation'])
    e2g = _matrix(pose['rotation'], pose['translation'])
    return s2e, e2g, e2g @ s2e, sd


def _sample_info(nusc, sample: dict, index: int, max_sweeps: int, with_annotations: bool) -> dict:
    lidar_token = sample['data']['LIDAR_TOP']
    l2e, e2g, l2g, lidar_sd = _sensor_to_global(nusc, lidar_token)
    g2l = np.linalg.inv(l2g)
    scene = nusc.get('scene', sample['scene_token'])
    log = nusc.get('log', scene['log_token'])
    info = {
        'sample_idx': index, 'token': sample['token'], 'timestamp': sample['timestamp'] / 1e6,
        'ego2global': e2g.tolist(),
        'lidar_points': {'num_pts_feats': 5, 'lidar_path': os.path.basename(lidar_sd['filename']),
                         'lidar2ego': l2e.tolist()},
        'lidar_sweeps': [], 'images': {}, 'instances': [],
        'scene_token': scene['token'], 'scene_name': scene['name'], 'lidar_token': lidar_token,
        'prev': sample['prev'], 'next': sample['next'], 'location': log['location'],
        'occ3d_path': f"gts/{scene['name']}/{sample['token']}/labels.npz",
        'occ_path': f"scene_{scene['token']}/occupancy/{lidar_token}.npy",
    }
    sweep_token = lidar_sd['prev']
    while sweep_token and len(info['lidar_sweeps']) < max_sweeps:
        s2e, s_e2g, s2g, sd = _sensor_to_global(nusc, sweep_token)
        sensor2lidar = g2l @ s2g
        info['lidar_sweeps'].append({
            'lidar_points': {'lidar_path': sd['filename'], 'lidar2ego': s2e.tolist(),
                             'lidar2sensor': np.linalg.inv(sensor2lidar).tolist()},
            'ego2global': s_e2g.tolist(), 'timestamp': sd['timestamp'] / 1e6,
            'sample_data_token': sweep_token})
        sweep_token = sd['prev']
    for cam in CAMERAS:
        c2e, _, c2g, sd = _sensor_to_global(nusc, sample['data'][cam])
        cs = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
        info['images'][cam] = {
            'img_path': os.path.basename(sd['filename']), 'cam2img': cs['camera_intrinsic'],
            'sample_data_token': sd['token'], 'timestamp': sd['timestamp'] / 1e6,
            'cam2ego': c2e.tolist(), 'lidar2cam': (np.linalg.inv(c2g) @ l2g).tolist()}
    if 'lidarseg' in nusc.table_names:
        record = nusc.get('lidarseg', lidar_token)
        info['pts_semantic_mask_path'] = os.path.basename(record['filename'])
    if with_annotations:
        info['instances'] = _instances(nusc, sample, lidar_token, g2l)
    return info


def _instances(nusc, sample: dict, lidar_token: str, g2l: np.ndarray) -> List[dict]:
    _, boxes, _ = nusc.get_sample_data(lidar_token)  # boxes in the LiDAR frame
    instances = []
    for box, ann_token in zip(boxes, sample['anns']):
        ann = nusc.get('sample_annotation', ann_token)
        name = NAME_MAPPING.get(box.name)
        label = CLASSES.index(name) if name in CLASSES else -1
        velocity = np.nan_to_num(nusc.box_velocity(ann_token)[:3])
        velocity = (g2l[:3, :3] @ velocity)[:2]
        instances.append({
            'bbox_3d': [*box.center, box.wlh[1], box.wlh[0], box.wlh[2],
                        box.orientation.yaw_pitch_roll[0]],
            'bbox_label': label, 'bbox_label_3d': label, 'velocity': velocity.tolist(),
            'num_lidar_pts': ann['num_lidar_pts'], 'num_radar_pts': ann['num_radar_pts'],
            'bbox_3d_isvalid': ann['num_lidar_pts'] + ann['num_radar_pts'] > 0,
            'instance_token': ann['instance_token']})
    return instances


def _dump(path: str, obj) -> None:
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def create_nuscenes_infos(root_path: str, out_dir: str, version: str = 'v1.0-mini',
                          info_prefix: str = 'nuscenes', max_sweeps: int = 10,
                          progress: bool = True) -> Dict[str, str]:
    """Write ``<out_dir>/<info_prefix>_infos_{train,val}.pkl`` (``_test`` for v1.0-test).

    Args:
        root_path (str): nuScenes dataroot.
        out_dir (str): Where the info files go.
        version (str): ``v1.0-mini``, ``v1.0-trainval`` or ``v1.0-test``.
        info_prefix (str): File name prefix.
        max_sweeps (int): LiDAR sweeps kept per sample (up to 40 for GSP).
        progress (bool): Show a progress bar.

    Returns:
        dict: split name -> path written.
    """
    metainfo, lists = collect_nuscenes_infos(root_path, version, max_sweeps, progress)
    return dump_infos(out_dir, info_prefix, metainfo, lists)


def dump_infos(out_dir: str, info_prefix: str, metainfo: dict,
               lists: Dict[str, List[dict]]) -> Dict[str, str]:
    """Write ``<out_dir>/<info_prefix>_infos_<split>.pkl`` (``metainfo`` + ``data_list``) for
    each split of ``lists``, each atomically; returns split -> path."""
    written = {}
    for split, data_list in lists.items():
        path = os.path.join(out_dir, f'{info_prefix}_infos_{split}.pkl')
        _dump(path, {'metainfo': metainfo, 'data_list': data_list})
        written[split] = path
    return written


def collect_nuscenes_infos(root_path: str, version: str = 'v1.0-mini', max_sweeps: int = 10,
                           progress: bool = True) -> Tuple[dict, Dict[str, List[dict]]]:
    """The ``metainfo`` and the ``data_list`` of each split (arguments as in
    :func:`create_nuscenes_infos`), without writing anything."""
    from nuscenes import NuScenes
    from nuscenes.utils.splits import create_splits_scenes
    if version not in SPLITS:
        raise ValueError(f'version must be one of {sorted(SPLITS)}, got {version!r}')
    if not 0 <= max_sweeps <= 40:
        raise ValueError(f'max_sweeps must be in [0, 40], got {max_sweeps}')
    table_dir = os.path.join(root_path, version)
    if not os.path.isdir(table_dir):
        raise FileNotFoundError(f'nuScenes tables not found: {table_dir} (expected '
                                f'<root_path>/{version}/*.json)')
    nusc = NuScenes(version=version, dataroot=root_path, verbose=False)
    split_scenes = create_splits_scenes()
    train_split, val_split = SPLITS[version]
    names = {'train': set(split_scenes[train_split]),
             'val': set(split_scenes[val_split]) if val_split else set()}
    test = version == 'v1.0-test'
    lists: Dict[str, List[dict]] = {'test': []} if test else {'train': [], 'val': []}
    for sample in tqdm(nusc.sample, desc='nuScenes infos', disable=not progress):
        scene_name = nusc.get('scene', sample['scene_token'])['name']
        split = 'test' if test else ('train' if scene_name in names['train'] else
                                     'val' if scene_name in names['val'] else None)
        if split is None:
            continue
        lists[split].append(_sample_info(nusc, sample, len(lists[split]), max_sweeps, not test))
    metainfo = {'categories': {name: i for i, name in enumerate(CLASSES)}, 'dataset': 'nuscenes',
                'version': version, 'info_version': '1.1', 'max_sweeps': max_sweeps}
    return metainfo, lists
