"""The ten nuScenes detection classes as the synthetic world draws them.

Sizes are nuScenes' mean box sizes (length, width, height in metres); colours are the RGB
used by the camera renderer (distinct per class, so classes are separable from images).

Two pairs of classes are the same to the LiDAR and differ only in the images
(:data:`APPEARANCE_ONLY_PAIRS`): a motorcycle and a bicycle share one size, one surface
intensity and the same traffic behaviour (both ride the lane convoys); a construction vehicle
and a truck share one size and intensity, and both drive the lane convoys and park on the
shoulders. Their colours have clearly different hues, so only a camera can tell them apart.
"""
from dataclasses import dataclass
from typing import Dict, Tuple

from ..structures.nuscenes_names import NUSCENES_DETECTION_CLASSES


@dataclass(frozen=True)
class ObjectClass:
    """One detection class of the synthetic world.

    Attributes:
        name (str): nuScenes detection name (``car``, ``pedestrian``, ...).
        category (str): nuScenes category name (``vehicle.car``, ...).
        size (tuple): Mean ``(length, width, height)`` in metres.
        color (tuple): RGB colour in the camera images.
        motion (str): ``'lane'`` (drives the lanes), ``'walk'`` (sidewalks/crossings) or
            ``'static'`` (stands by the road).
        attribute (str): nuScenes attribute when moving (``''`` for none).
        static_attribute (str): nuScenes attribute when standing still.
        intensity (float): Mean LiDAR intensity of its surface (0-255).
    """
    name: str
    category: str
    size: Tuple[float, float, float]
    color: Tuple[int, int, int]
    motion: str
    attribute: str
    static_attribute: str
    intensity: float


#: nuScenes' mean truck size, shared by the construction vehicle (nuScenes: 6.37 x 2.85 x 3.19)
_TRUCK_SIZE = (6.94, 2.51, 2.84)
#: between nuScenes' motorcycle (2.11 x 0.77 x 1.47) and bicycle (1.70 x 0.60 x 1.28) means
_CYCLE_SIZE = (1.90, 0.69, 1.38)

OBJECT_CLASSES: Tuple[ObjectClass, ...] = (
    ObjectClass('car', 'vehicle.car', (4.63, 1.96, 1.74), (200, 30, 30), 'lane',
                'vehicle.moving', 'vehicle.parked', 60.0),
    ObjectClass('truck', 'vehicle.truck', _TRUCK_SIZE, (0, 150, 150), 'lane',
                'vehicle.moving', 'vehicle.parked', 50.0),
    ObjectClass('construction_vehicle', 'vehicle.construction', _TRUCK_SIZE, (240, 220, 0),
                'lane', 'vehicle.moving', 'vehicle.parked', 50.0),
    ObjectClass('bus', 'vehicle.bus.rigid', (10.5, 2.94, 3.47), (30, 60, 200), 'lane',
                'vehicle.moving', 'vehicle.stopped', 45.0),
    ObjectClass('trailer', 'vehicle.trailer', (12.29, 2.90, 3.87), (120, 60, 160), 'static',
                'vehicle.moving', 'vehicle.parked', 40.0),
    ObjectClass('barrier', 'movable_object.barrier', (0.50, 2.53, 0.98), (250, 250, 250),
                'static', '', '', 110.0),
    ObjectClass('motorcycle', 'vehicle.motorcycle', _CYCLE_SIZE, (20, 110, 230), 'lane',
                'cycle.with_rider', 'cycle.without_rider', 45.0),
    ObjectClass('bicycle', 'vehicle.bicycle', _CYCLE_SIZE, (0, 200, 80), 'lane',
                'cycle.with_rider', 'cycle.without_rider', 45.0),
    ObjectClass('pedestrian', 'human.pedestrian.adult', (0.73, 0.67, 1.77), (255, 120, 200),
                'walk', 'pedestrian.moving', 'pedestrian.standing', 30.0),
    ObjectClass('traffic_cone', 'movable_object.trafficcone', (0.41, 0.41, 1.07), (255, 90, 0),
                'static', '', '', 120.0),
)

CLASS_BY_NAME: Dict[str, ObjectClass] = {c.name: c for c in OBJECT_CLASSES}
#: Class pairs the LiDAR cannot tell apart (same size, intensity, motion); only colour differs.
APPEARANCE_ONLY_PAIRS: Tuple[Tuple[str, str], ...] = (('motorcycle', 'bicycle'),
                                                      ('truck', 'construction_vehicle'))
#: mmdet3d's nuScenes class order (``NuScenesDataset.METAINFO['classes']``).
DETECTION_NAMES = NUSCENES_DETECTION_CLASSES
assert set(DETECTION_NAMES) == set(CLASS_BY_NAME)
