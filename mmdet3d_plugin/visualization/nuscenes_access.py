"""Open a nuScenes-layout dataset with the devkit and read one sample in the ego frame.

Everything goes through ``nuscenes.NuScenes`` and ``NuScenesMap``, so the same code reads the
real dataset and the synthetic world. Bad input fails early with an error that names the path
or key and what was expected.
"""
import os
from dataclasses import dataclass
from typing import List, Optional

import numpy as np


@dataclass
class EgoSample:
    """One keyframe in the ego frame of its LIDAR_TOP sweep (x forward, y left, z up).

    Attributes:
        token (str): Sample token.
        scene_name (str): Name of the sample's scene (e.g. ``'scene-0103'``).
        location (str): Map location of the scene's log (e.g. ``'boston-seaport'``).
        ego_translation (np.ndarray): ``(3,)`` ego position in the global frame.
        ego_yaw (float): Ego heading in the global frame, radians.
        points (np.ndarray): ``(N, 4)`` LiDAR ``[x, y, z, intensity]`` in the ego frame.
        boxes (list): devkit ``Box`` objects in the ego frame; ``box.name`` is the category.
    """
    token: str
    scene_name: str
    location: str
    ego_translation: np.ndarray
    ego_yaw: float
    points: np.ndarray
    boxes: list


def open_nuscenes(dataroot: str, version: str):
    """Load the devkit's ``NuScenes`` after checking the layout.

    Args:
        dataroot (str): Dataset folder (holding ``<version>/``, ``samples/``, ``maps/``).
        version (str): Table folder, e.g. ``'v1.0-mini'``.

    Returns:
        nuscenes.NuScenes: The loaded dataset.

    Raises:
        FileNotFoundError: ``dataroot`` or ``<dataroot>/<version>/sample.json`` is missing.
    """
    dataroot = os.path.abspath(dataroot)
    if not os.path.isdir(dataroot):
        raise FileNotFoundError(
            f'dataroot {dataroot} does not exist; expected a nuScenes folder holding '
            f'<version>/ tables (e.g. {version}/sample.json), samples/ and maps/')
    table_dir = os.path.join(dataroot, version)
    if not os.path.isfile(os.path.join(table_dir, 'sample.json')):
        found = sorted(d for d in os.listdir(dataroot)
                       if os.path.isfile(os.path.join(dataroot, d, 'sample.json')))
        raise FileNotFoundError(
            f'nuScenes version {version!r} not found: expected the tables in {table_dir}/ '
            f'(sample.json, scene.json, ...); versions present in {dataroot}: {found or "none"}')
    from nuscenes import NuScenes
    return NuScenes(version=version, dataroot=dataroot, verbose=False)


def resolve_sample_token(nusc, sample_index: Optional[int] = None,
                         sample_token: Optional[str] = None) -> str:
    """The sample token chosen by index (in ``sample.json`` order) or by token.

    Args:
        nusc (nuscenes.NuScenes): The dataset.
        sample_index (int, optional): Index into ``nusc.sample``; used when no token is given
            (``None`` means 0).
        sample_token (str, optional): A sample token; wins over ``sample_index``.

    Returns:
        str: The sample token.

    Raises:
        IndexError: ``sample_index`` is outside ``[0, len(nusc.sample))``.
        KeyError: ``sample_token`` is not in ``sample.json``.
    """
    table = os.path.join(nusc.table_root, 'sample.json')
    if sample_token is not None:
        try:
            nusc.get('sample', sample_token)
        except KeyError:
            raise KeyError(f'sample token {sample_token!r} not found in {table} '
                           f'({len(nusc.sample)} samples; e.g. {nusc.sample[0]["token"]!r} '
                           f'is index 0)') from None
        return sample_token
    index = 0 if sample_index is None else int(sample_index)
    if not 0 <= index < len(nusc.sample):
        raise IndexError(f'sample index {index} out of range: {table} has {len(nusc.sample)} '
                         f'samples, expected 0 <= index < {len(nusc.sample)}')
    return nusc.sample[index]['token']


def sample_location(nusc, sample_token: str) -> str:
    """Map location of the log that recorded ``sample_token``."""
    scene = nusc.get('scene', nusc.get('sample', sample_token)['scene_token'])
    return nusc.get('log', scene['log_token'])['location']


def load_map(dataroot: str, location: str):
    """``NuScenesMap`` of ``location``.

    Raises:
        FileNotFoundError: ``<dataroot>/maps/expansion/<location>.json`` is missing (the map
            expansion pack is not installed).
    """
    path = os.path.join(os.path.abspath(dataroot), 'maps', 'expansion', f'{location}.json')
    if not os.path.isfile(path):
        raise FileNotFoundError(f'map expansion {path} not found; expected the nuScenes map '
                                f'expansion (v1.3) JSON of location {location!r}')
    from nuscenes.map_expansion.map_api import NuScenesMap
    return NuScenesMap(dataroot=os.path.abspath(dataroot), map_name=location)


def load_ego_sample(nusc, sample_token: str) -> EgoSample:
    """Read the LIDAR_TOP sweep and annotated boxes of a sample into its LiDAR ego frame.

    Args:
        nusc (nuscenes.NuScenes): The dataset.
        sample_token (str): The sample.

    Returns:
        EgoSample: Points and boxes in the ego frame at the LiDAR timestamp.
    """
    from nuscenes.utils.data_classes import LidarPointCloud
    from pyquaternion import Quaternion
    sample = nusc.get('sample', sample_token)
    lidar = nusc.get('sample_data', sample['data']['LIDAR_TOP'])
    calib = nusc.get('calibrated_sensor', lidar['calibrated_sensor_token'])
    pose = nusc.get('ego_pose', lidar['ego_pose_token'])
    cloud = LidarPointCloud.from_file(nusc.get_sample_data_path(lidar['token']))
    cloud.rotate(Quaternion(calib['rotation']).rotation_matrix)
    cloud.translate(np.array(calib['translation']))
    ego_rotation = Quaternion(pose['rotation'])
    boxes: List = []
    for ann_token in sample['anns']:
        box = nusc.get_box(ann_token)
        box.translate(-np.array(pose['translation']))
        box.rotate(ego_rotation.inverse)
        boxes.append(box)
    scene = nusc.get('scene', sample['scene_token'])
    forward = ego_rotation.rotate(np.array([1.0, 0.0, 0.0]))
    return EgoSample(token=sample_token, scene_name=scene['name'],
                     location=nusc.get('log', scene['log_token'])['location'],
                     ego_translation=np.array(pose['translation'], dtype=np.float64),
                     ego_yaw=float(np.arctan2(forward[1], forward[0])),
                     points=cloud.points[:4].T.astype(np.float32), boxes=boxes)
