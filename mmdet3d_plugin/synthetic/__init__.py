"""The synthetic driving world: a seeded procedural town (roads, sidewalks, crossings, car park,
buildings, trees), traffic of the ten nuScenes detection classes, an ego vehicle, and a
ray-cast 32-beam LiDAR and the six rendered cameras. Writers in the real dataset formats build
on it."""
from .camera import project_points, render_all, render_camera
from .classes import CLASS_BY_NAME, DETECTION_NAMES, OBJECT_CLASSES, ObjectClass
from .lidar import GROUND, LidarSpec, cast_sweep
from .occupancy import semantic_occupancy, write_nuscenes_occupancy, write_occ3d
from .road_map import RoadMap, build_road_map
from .rig import CAMERA_NAMES, Sensor, build_rig
from .scene import (MINI_SCENES, Agent, Scene, build_scene, make_token,
                    nuscenes_test_scene_names)
from .visibility import camera_mask, lidar_mask, occupancy_ground_truth
from .world import FrameState, SyntheticWorld, WorldConfig

__all__ = [
    'CLASS_BY_NAME', 'DETECTION_NAMES', 'OBJECT_CLASSES', 'ObjectClass', 'GROUND', 'LidarSpec',
    'cast_sweep', 'RoadMap', 'build_road_map', 'MINI_SCENES', 'Agent', 'Scene', 'build_scene',
    'make_token', 'CAMERA_NAMES', 'Sensor', 'build_rig', 'FrameState', 'SyntheticWorld',
    'WorldConfig', 'project_points', 'render_all', 'render_camera', 'semantic_occupancy',
    'write_occ3d', 'write_nuscenes_occupancy', 'lidar_mask', 'camera_mask',
    'occupancy_ground_truth', 'nuscenes_test_scene_names'
]
