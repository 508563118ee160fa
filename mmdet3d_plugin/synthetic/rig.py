"""The nuScenes sensor rig (Renault Zoe): LIDAR_TOP and the six cameras.

Mounting positions are nuScenes' calibrated values (metres, ego frame: x forward, y left,
z up); camera yaws are the rig's (front 0°, front-left 55°, back-left 110°, back 180°, ...);
focal lengths are nuScenes' for 1600 x 900 images, scaled to the synthetic image size.
"""
from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np

from ..structures.nuscenes_names import NUSCENES_CAMERAS as CAMERA_NAMES

FULL_IMAGE_SIZE = (1600, 900)  # nuScenes (width, height)

# name: (translation, yaw in degrees, focal length at 1600 x 900)
_CAMERAS = {
    'CAM_FRONT': ((1.70079, 0.01594, 1.51095), 0.0, 1266.4),
    'CAM_FRONT_RIGHT': ((1.55084, -0.49340, 1.49575), -55.0, 1260.8),
    'CAM_FRONT_LEFT': ((1.52387, 0.49463, 1.50932), 55.0, 1272.6),
    'CAM_BACK': ((0.02833, 0.00345, 1.57910), 180.0, 809.2),
    'CAM_BACK_LEFT': ((1.03570, 0.48480, 1.59097), 110.0, 1256.7),
    'CAM_BACK_RIGHT': ((1.01490, -0.48057, 1.56239), -110.0, 1259.5),
}
LIDAR_TRANSLATION = (0.985793, 0.0, 1.84019)
LIDAR_YAW_DEG = -90.0  # nuScenes LIDAR_TOP: x to the right of the car, y forward
#: camera axes (x right, y down, z forward) expressed in a forward-looking ego frame
_CAM_TO_FORWARD = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def yaw_matrix(yaw: float) -> np.ndarray:
    """Rotation about z by ``yaw`` radians, ``(3, 3)``."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class Sensor:
    """A sensor's extrinsics (sensor -> ego) and, for cameras, intrinsics."""
    name: str
    rotation: np.ndarray  # (3, 3) sensor-to-ego
    translation: np.ndarray  # (3,)
    intrinsic: np.ndarray = None  # (3, 3), cameras only
    image_size: Tuple[int, int] = None  # (width, height), cameras only


def build_rig(image_size: Tuple[int, int] = (400, 225)) -> Dict[str, Sensor]:
    """LIDAR_TOP and the six cameras, with intrinsics scaled to ``image_size`` (width, height)."""
    scale = image_size[0] / FULL_IMAGE_SIZE[0]
    rig = {'LIDAR_TOP': Sensor('LIDAR_TOP', yaw_matrix(np.deg2rad(LIDAR_YAW_DEG)),
                               np.array(LIDAR_TRANSLATION))}
    for name in CAMERA_NAMES:
        translation, yaw, focal = _CAMERAS[name]
        intrinsic = np.array([[focal * scale, 0.0, image_size[0] / 2],
                              [0.0, focal * scale, image_size[1] / 2], [0.0, 0.0, 1.0]])
        rig[name] = Sensor(name, yaw_matrix(np.deg2rad(yaw)) @ _CAM_TO_FORWARD,
                           np.array(translation), intrinsic, tuple(image_size))
    return rig


def rotation_to_quaternion(rotation: np.ndarray) -> Tuple[float, float, float, float]:
    """``(3, 3)`` rotation -> nuScenes quaternion ``(w, x, y, z)``."""
    from pyquaternion import Quaternion
    q = Quaternion(matrix=rotation, atol=1e-7)
    return (q.w, q.x, q.y, q.z)
