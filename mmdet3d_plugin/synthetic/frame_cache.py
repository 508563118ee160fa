"""Keyframe data shared by the writers of one scene: the LiDAR sweep and the camera images of a
keyframe are computed once and reused by the nuScenes, Occ3D and KITTI writers.

The world is deterministic, so a cached result equals a recomputed one; the cache only saves
time. Only keyframes are kept (the nuScenes writer's 20 Hz sweeps between them pass through),
so one scene's keyframes hold a few tens of MB; :meth:`FrameCache.clear` drops them.
"""
from typing import Dict, Tuple

import numpy as np

from .camera import render_all, render_camera
from .rig import CAMERA_NAMES
from .scene import Scene
from .world import FrameState, SyntheticWorld


class FrameCache:
    """Per-keyframe memo of ``world.lidar_sweep`` and the camera renders.

    Args:
        world (SyntheticWorld): The world whose frames are cached.
    """

    def __init__(self, world: SyntheticWorld):
        if not isinstance(world, SyntheticWorld):
            raise TypeError(f'world must be a SyntheticWorld, got {type(world).__name__}')
        self.world = world
        self._sweeps: Dict[Tuple[str, int], Tuple[np.ndarray, np.ndarray]] = {}
        self._images: Dict[Tuple[str, int], Dict[str, np.ndarray]] = {}

    @staticmethod
    def _is_keyframe(scene: Scene, timestamp: int) -> bool:
        return bool(np.any(scene.keyframe_times() == int(timestamp)))

    def lidar_sweep(self, scene: Scene, frame: FrameState) -> Tuple[np.ndarray, np.ndarray]:
        """``world.lidar_sweep(scene, frame)``: ``points (N, 5)`` and ``hit_index (N,)``
        (cached at keyframes; treat the arrays as read-only)."""
        key = (scene.token, int(frame.timestamp))
        if key in self._sweeps:
            return self._sweeps[key]
        sweep = self.world.lidar_sweep(scene, frame)
        if self._is_keyframe(scene, frame.timestamp):
            self._sweeps[key] = sweep
        return sweep

    def images(self, scene: Scene, frame: FrameState) -> Dict[str, np.ndarray]:
        """The six cameras of ``frame`` (``render_all``): ``{name: (H, W, 3) uint8}``."""
        key = (scene.token, int(frame.timestamp))
        images = self._images.get(key)
        if images is None or any(name not in images for name in CAMERA_NAMES):
            images = render_all(self.world, frame)
            if self._is_keyframe(scene, frame.timestamp):
                self._images[key] = images
        return images

    def camera(self, scene: Scene, frame: FrameState, name: str) -> np.ndarray:
        """One camera of ``frame`` (``(H, W, 3)`` uint8), from the six-camera render when it is
        cached, else rendered alone (the same pixels: both draw the same frame geometry)."""
        key = (scene.token, int(frame.timestamp))
        images = self._images.get(key, {})
        if name not in images:
            image = render_camera(self.world, frame, name)
            if self._is_keyframe(scene, frame.timestamp):
                self._images.setdefault(key, {})[name] = image
            return image
        return images[name]

    def clear(self) -> None:
        """Drop everything cached."""
        self._sweeps.clear()
        self._images.clear()
