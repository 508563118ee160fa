"""Fixed nuScenes tables (category with lidarseg indices, attribute, visibility, sensor) and the
mapping from the synthetic world's surfaces to nuScenes lidarseg classes."""
from typing import Dict, List

from .rig import CAMERA_NAMES
from .scene import make_token

#: nuScenes lidarseg classes in index order (category.json 'index').
LIDARSEG_CLASSES = (
    'noise', 'animal', 'human.pedestrian.adult', 'human.pedestrian.child',
    'human.pedestrian.construction_worker', 'human.pedestrian.personal_mobility',
    'human.pedestrian.police_officer', 'human.pedestrian.stroller',
    'human.pedestrian.wheelchair', 'movable_object.barrier', 'movable_object.debris',
    'movable_object.pushable_pullable', 'movable_object.trafficcone',
    'static_object.bicycle_rack', 'vehicle.bicycle', 'vehicle.bus.bendy', 'vehicle.bus.rigid',
    'vehicle.car', 'vehicle.construction', 'vehicle.emergency.ambulance',
    'vehicle.emergency.police', 'vehicle.motorcycle', 'vehicle.trailer', 'vehicle.truck',
    'flat.driveable_surface', 'flat.other', 'flat.sidewalk', 'flat.terrain', 'static.manmade',
    'static.other', 'static.vegetation', 'vehicle.ego')
LIDARSEG_INDEX: Dict[str, int] = {name: i for i, name in enumerate(LIDARSEG_CLASSES)}
#: lidarseg class of each non-object surface of the synthetic world
SURFACE_CLASS = {
    'road': 'flat.driveable_surface', 'carpark': 'flat.other', 'walkway': 'flat.sidewalk',
    'terrain': 'flat.terrain', 'building': 'static.manmade', 'vegetation': 'static.vegetation',
}
ATTRIBUTES = ('vehicle.moving', 'vehicle.stopped', 'vehicle.parked', 'cycle.with_rider',
              'cycle.without_rider', 'pedestrian.sitting_lying_down', 'pedestrian.standing',
              'pedestrian.moving')
VISIBILITY_LEVELS = (('1', 'v0-40'), ('2', 'v40-60'), ('3', 'v60-80'), ('4', 'v80-100'))
SENSOR_CHANNELS = ('LIDAR_TOP', ) + CAMERA_NAMES


def category_table() -> List[dict]:
    return [{'token': category_token(name), 'name': name, 'description': name, 'index': idx}
            for idx, name in enumerate(LIDARSEG_CLASSES)]


def category_token(name: str) -> str:
    return make_token('category', name)


def attribute_table() -> List[dict]:
    return [{'token': attribute_token(name), 'name': name, 'description': name}
            for name in ATTRIBUTES]


def attribute_token(name: str) -> str:
    return make_token('attribute', name)


def visibility_table() -> List[dict]:
    return [{'token': token, 'level': level, 'description': f'visibility of whole object is '
             f'between {level[1:].replace("-", " and ")} %'} for token, level in VISIBILITY_LEVELS]


def sensor_table() -> List[dict]:
    return [{'token': sensor_token(ch), 'channel': ch,
             'modality': 'lidar' if ch.startswith('LIDAR') else 'camera'}
            for ch in SENSOR_CHANNELS]


def sensor_token(channel: str) -> str:
    return make_token('sensor', channel)
