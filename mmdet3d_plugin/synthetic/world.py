"""The synthetic world as one object: map, rig, scenes, and the state of any scene at any time.

``SyntheticWorld(WorldConfig(...))`` is deterministic in its config. ``scenes`` are annotated
(nuScenes v1.0-mini and every other format); ``test_scenes`` (optional) are sensor data only,
the nuScenes v1.0-test split. ``frame()`` gives every
box (agents first, then buildings/trees) in the global frame with the ego and sensor poses;
``lidar_sweep()`` ray-casts LIDAR_TOP for that frame. Writers (nuScenes, Occ3D,
nuScenes-Occupancy, KITTI) and the camera renderer consume these.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from .lidar import LidarSpec, cast_sweep
from .rig import Sensor, build_rig, yaw_matrix
from .road_map import RoadMap, build_road_map
from .scene import MINI_SCENES, Agent, Scene, build_scene, road_map_size

STATIC_INTENSITY = {'building': 45.0, 'vegetation': 20.0}


@dataclass(frozen=True)
class WorldConfig:
    """Sizes of the synthetic world (defaults: the ten nuScenes-mini scenes, reduced images).

    Attributes:
        seed (int): Everything random derives from it.
        scene_names (tuple): Scene names (use real nuScenes names for the devkit's splits).
        num_keyframes (int): 2 Hz keyframes per scene.
        sweeps_per_keyframe (int): LiDAR sweeps per keyframe interval (10 = 20 Hz).
        lidar (LidarSpec): Beam layout of LIDAR_TOP.
        image_size (tuple): Camera image ``(width, height)``.
        test_scene_names (tuple): Scenes of an annotation-free test split, written as nuScenes
            ``v1.0-test`` beside the annotated scenes (name them after real test scenes,
            :func:`~.scene.nuscenes_test_scene_names`, for the devkit's ``test`` split).
    """
    seed: int = 0
    scene_names: Tuple[str, ...] = MINI_SCENES
    num_keyframes: int = 10
    sweeps_per_keyframe: int = 10
    lidar: LidarSpec = field(default_factory=LidarSpec)
    image_size: Tuple[int, int] = (400, 225)
    test_scene_names: Tuple[str, ...] = ()


@dataclass
class FrameState:
    """Everything in the world at one timestamp (global frame, metres, z up).

    Attributes:
        timestamp (int): µs.
        ego_rotation (np.ndarray): ``(3, 3)`` ego-to-global.
        ego_translation (np.ndarray): ``(3,)`` ego position (z = 0, on the ground).
        agents (list): The scene's agents (same order as the first rows of ``boxes``).
        boxes (np.ndarray): ``(A + S, 7)`` ``[x, y, z, l, w, h, yaw]``: A agents then S statics.
        velocities (np.ndarray): ``(A, 2)`` agent velocities (m/s, global).
        static_kinds (list): ``S`` kinds (``'building'`` / ``'vegetation'``).
    """
    timestamp: int
    ego_rotation: np.ndarray
    ego_translation: np.ndarray
    agents: List[Agent]
    boxes: np.ndarray
    velocities: np.ndarray
    static_kinds: List[str]

    @property
    def num_agents(self) -> int:
        return len(self.agents)

    def sensor_pose(self, sensor: Sensor) -> Tuple[np.ndarray, np.ndarray]:
        """Sensor-to-global ``(rotation (3, 3), translation (3,))``."""
        return (self.ego_rotation @ sensor.rotation,
                self.ego_rotation @ sensor.translation + self.ego_translation)


class SyntheticWorld:
    """Deterministic synthetic world built from a :class:`WorldConfig`."""

    def __init__(self, config: Optional[WorldConfig] = None):
        config = config or WorldConfig()
        self.config = config
        # 300 m (roads at 50 / 150 / 250 m) unless the scenes are longer than 40 keyframes
        self.road_map: RoadMap = build_road_map(np.random.default_rng([config.seed, 1000]),
                                                size=road_map_size(config.num_keyframes))
        self.rig: Dict[str, Sensor] = build_rig(config.image_size)
        clash = sorted(set(config.scene_names) & set(config.test_scene_names))
        if clash:
            raise ValueError(f'WorldConfig: scenes {clash} are in both scene_names and '
                             'test_scene_names')
        # test scenes continue the scene index (own seeds, locations, times): the annotated
        # scenes are the same with or without a test split
        names = tuple(config.scene_names) + tuple(config.test_scene_names)
        scenes = [build_scene(name, idx, self.road_map, config.seed, config.num_keyframes,
                              config.sweeps_per_keyframe) for idx, name in enumerate(names)]
        self.scenes: List[Scene] = scenes[:len(config.scene_names)]
        self.test_scenes: List[Scene] = scenes[len(config.scene_names):]
        statics = self.road_map.static_boxes
        self._static_boxes = np.array([list(b.center) + list(b.size) + [b.yaw] for b in statics])
        self._static_kinds = [b.kind for b in statics]
        self._static_intensity = np.array([STATIC_INTENSITY[k] for k in self._static_kinds])

    def frame(self, scene: Scene, timestamp: int) -> FrameState:
        """State of ``scene`` at ``timestamp`` (µs)."""
        t = scene.seconds(timestamp)
        x, y, _, _, _, _, yaw = scene.ego.box_at(t)
        agent_boxes = np.array([a.box_at(t) for a in scene.agents]).reshape(-1, 7)
        velocities = np.array([a.velocity_at(t) for a in scene.agents]).reshape(-1, 2)
        return FrameState(int(timestamp), yaw_matrix(yaw), np.array([x, y, 0.0]), scene.agents,
                          np.concatenate([agent_boxes, self._static_boxes]), velocities,
                          self._static_kinds)

    def lidar_sweep(self, scene: Scene, frame: FrameState) -> Tuple[np.ndarray, np.ndarray]:
        """Ray-cast LIDAR_TOP: ``points (N, 5)`` in the sensor frame ``[x, y, z, intensity,
        ring]`` and ``hit_index (N,)`` into ``frame.boxes`` (-1 = ground)."""
        rotation, translation = frame.sensor_pose(self.rig['LIDAR_TOP'])
        intensity = np.concatenate([[a.cls.intensity for a in frame.agents],
                                    self._static_intensity])
        is_object = np.arange(len(frame.boxes)) < frame.num_agents
        rng = np.random.default_rng([self.config.seed, frame.timestamp % (2**31), 7])
        return cast_sweep(self.config.lidar, rotation, translation, frame.boxes, intensity,
                          is_object, rng)
