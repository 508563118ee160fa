"""Write a :class:`SyntheticWorld` in the KITTI 3D object layout, one frame per keyframe.

``write_kitti(world, root)`` produces what mmdet3d's KITTI converter and evaluation read::

    root/training/velodyne/%06d.bin   float32 (N, 4) x, y, z, reflectance in [0, 1] (full sweep)
    root/training/image_2/%06d.png    CAM_FRONT rendered by ``render_camera``
    root/training/calib/%06d.txt      P0..P3, R0_rect, Tr_velo_to_cam, Tr_imu_to_velo
    root/training/label_2/%06d.txt    KITTI label lines (objects first, then DontCare)
    root/ImageSets/{train,val,trainval,test}.txt

Conventions are KITTI's. Velodyne: x forward, y left, z up at the LIDAR_TOP position (our
LIDAR_TOP is x right, y forward: ``x_velo = y_lidar, y_velo = -x_lidar``). Camera 2 is
CAM_FRONT (x right, y down, z forward, already rectified): ``P0 = P1 = P2 = P3 = [K | 0]``,
``R0_rect = I``, ``Tr_velo_to_cam`` from the rig, ``Tr_imu_to_velo`` with the IMU at the ego
origin (x forward, y left, z up). Labels: dimensions ``h w l`` (l along the heading),
location = bottom centre in camera coordinates, ``rotation_y`` about camera y in [-pi, pi)
(0 = heading along camera x, -pi/2 = heading along camera z), ``alpha = rotation_y -
atan2(x, z)``. Angles, boxes, dimensions and locations have 4 decimals (KITTI's own files
have 2, which would move box faces by up to a centimetre and put LiDAR returns outside their
box; every KITTI reader parses them with ``float``).

Class mapping (:data:`KITTI_CLASS`): car -> Car, truck -> Truck, pedestrian -> Pedestrian,
bicycle and motorcycle -> Cyclist (they always carry a rider while moving; a standing one
would be Misc), bus / trailer / construction_vehicle -> Misc (vehicles KITTI has no class
for), barrier / traffic_cone -> DontCare (KITTI does not annotate road furniture; a DontCare
line marks its image region so detections there are not counted as false positives).

An object is labelled when its centre is in front of the camera, within
``ANNOTATION_RANGE`` of the ego and its projected box overlaps the image. ``truncated`` is
the fraction of the projected 3D box (clipped at the camera's near plane) outside the image;
``occluded`` compares the LiDAR returns on the object with the returns it gets when cast
alone: >= 80 % -> 0 (fully visible), >= 40 % -> 1 (partly), > 0 -> 2 (largely occluded),
no return (hidden, or missed by the beams even alone) -> 3 (unknown; KITTI's evaluation
ignores such objects). ImageSets: val = frames of the scenes of nuScenes' mini_val split,
train = all other frames (the mini_train scenes), trainval = all frames, test is empty (no
held-out ``testing/`` folder is written). Frame ids run scene by scene in ``world.scenes``
order (:func:`kitti_frames`).
"""
import io
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image
from tqdm import tqdm

from .camera import NEAR_PLANE
from .camera_geometry import box_corners
from .frame_cache import FrameCache
from ..utils.atomic_io import write_bytes
from .lidar import count_hits_alone
from .nuscenes_writer import ANNOTATION_RANGE
from .world import FrameState, SyntheticWorld

CAMERA = 'CAM_FRONT'  # KITTI's camera 2 (image_2)
KITTI_CLASS = {
    'car': 'Car', 'truck': 'Truck', 'bus': 'Misc', 'trailer': 'Misc',
    'construction_vehicle': 'Misc', 'pedestrian': 'Pedestrian', 'bicycle': 'Cyclist',
    'motorcycle': 'Cyclist', 'barrier': 'DontCare', 'traffic_cone': 'DontCare',
}
#: nuScenes' mini_val split (``nuscenes.utils.splits.mini_val``); the other scenes train
MINI_VAL_SCENES = ('scene-0103', 'scene-0916')
#: LIDAR_TOP (x right, y forward, z up) -> KITTI velodyne (x forward, y left, z up)
LIDAR_TO_VELO = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
#: visible fraction of LiDAR returns needed for occlusion levels 0 and 1
OCCLUSION_LEVELS = (0.8, 0.4)
# the 12 edges of ``box_corners`` (bottom ring, top ring, verticals)
_EDGES = np.array([[0, 1], [1, 2], [2, 3], [3, 0], [4, 5], [5, 6], [6, 7], [7, 4],
                   [0, 4], [1, 5], [2, 6], [3, 7]])


@dataclass
class KittiObject:
    """One line of a KITTI label file.

    Attributes:
        name (str): KITTI type (``Car``, ``Pedestrian``, ``Cyclist``, ``Truck``, ``Misc``,
            ``DontCare``).
        truncated (float): 0 (inside the image) to 1; -1 for DontCare.
        occluded (int): 0-3; -1 for DontCare.
        alpha (float): Observation angle in [-pi, pi); -10 for DontCare.
        bbox (np.ndarray): ``(4,)`` left, top, right, bottom in image_2 pixels.
        dimensions (np.ndarray): ``(3,)`` height, width, length in metres.
        location (np.ndarray): ``(3,)`` bottom centre in camera coordinates (metres).
        rotation_y (float): Yaw about camera y in [-pi, pi); -10 for DontCare.
        agent (int): Index of the object in ``frame.agents``.
    """
    name: str
    truncated: float
    occluded: int
    alpha: float
    bbox: np.ndarray
    dimensions: np.ndarray
    location: np.ndarray
    rotation_y: float
    agent: int

    def to_line(self) -> str:
        """The label line: 15 space-separated fields (KITTI's devkit order)."""
        if self.name == 'DontCare':
            box = ' '.join(f'{v:.2f}' for v in self.bbox)
            return f'DontCare -1 -1 -10 {box} -1 -1 -1 -1000 -1000 -1000 -10'
        values = [self.alpha, *self.bbox, *self.dimensions, *self.location, self.rotation_y]
        return (f'{self.name} {self.truncated:.2f} {self.occluded:d} ' +
                ' '.join(f'{v:.4f}' for v in values))


@dataclass(frozen=True)
class KittiCalib:
    """KITTI calibration of one frame (the rig is fixed, so every frame has the same one).

    Attributes:
        P2 (np.ndarray): ``(3, 4)`` rectified camera-2 projection ``[K | 0]`` (P0, P1, P3
            are written equal: there is one camera).
        R0_rect (np.ndarray): ``(3, 3)`` rectifying rotation (identity).
        Tr_velo_to_cam (np.ndarray): ``(3, 4)`` velodyne -> camera.
        Tr_imu_to_velo (np.ndarray): ``(3, 4)`` IMU (ego) -> velodyne.
    """
    P2: np.ndarray
    R0_rect: np.ndarray
    Tr_velo_to_cam: np.ndarray
    Tr_imu_to_velo: np.ndarray

    def to_text(self) -> str:
        """The calib file: one ``name: v v ...`` line per matrix, row-major, ``%.12e``."""
        rows = [(f'P{k}', self.P2) for k in range(4)] + [
            ('R0_rect', self.R0_rect), ('Tr_velo_to_cam', self.Tr_velo_to_cam),
            ('Tr_imu_to_velo', self.Tr_imu_to_velo)]
        return ''.join(f'{name}: ' + ' '.join(f'{v:.12e}' for v in np.ravel(m)) + '\n'
                       for name, m in rows)


def kitti_calib(world: SyntheticWorld) -> KittiCalib:
    """The KITTI calibration of ``world``'s rig (CAM_FRONT as camera 2, LIDAR_TOP as velodyne)."""
    lidar, camera = world.rig['LIDAR_TOP'], world.rig[CAMERA]
    velo_to_ego = lidar.rotation @ LIDAR_TO_VELO.T
    velo_to_cam = np.concatenate([camera.rotation.T @ velo_to_ego,
                                  (camera.rotation.T @ (lidar.translation -
                                                        camera.translation))[:, None]], 1)
    imu_to_velo = np.concatenate([velo_to_ego.T, (-velo_to_ego.T @ lidar.translation)[:, None]], 1)

    def clean(matrix: np.ndarray) -> np.ndarray:  # no 6e-17 residues of cos(90 degrees)
        return np.where(np.abs(matrix) < 1e-12, 0.0, matrix)

    return KittiCalib(clean(np.concatenate([camera.intrinsic, np.zeros((3, 1))], 1)), np.eye(3),
                      clean(velo_to_cam), clean(imu_to_velo))


def velodyne_points(points: np.ndarray) -> np.ndarray:
    """LIDAR_TOP sweep ``(N, 5)`` ``[x, y, z, intensity 0-255, ring]`` -> KITTI velodyne
    ``(N, 4)`` float32 ``[x, y, z, reflectance in [0, 1]]``."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] < 4:
        raise ValueError(f'points must be (N, >=4), got shape {points.shape}')
    xyz = points[:, :3].astype(np.float64) @ LIDAR_TO_VELO.T
    reflectance = np.clip(points[:, 3:4] / 255.0, 0.0, 1.0)
    return np.concatenate([xyz, reflectance], 1).astype(np.float32)


def _wrap(angle):
    """Angles to [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


def _image_box(corners_cam: np.ndarray, intrinsic: np.ndarray) -> np.ndarray:
    """Pixel bounding box ``(4,)`` of a camera-frame box ``(8, 3)`` clipped at the near plane
    (the corners in front plus the crossings of the 12 edges), or ``None`` if all is behind."""
    a, b = corners_cam[_EDGES[:, 0]], corners_cam[_EDGES[:, 1]]
    crossing = (a[:, 2] - NEAR_PLANE) * (b[:, 2] - NEAR_PLANE) < 0
    t = (NEAR_PLANE - a[crossing, 2]) / (b[crossing, 2] - a[crossing, 2])
    points = np.concatenate([corners_cam[corners_cam[:, 2] >= NEAR_PLANE],
                             a[crossing] + t[:, None] * (b[crossing] - a[crossing])])
    if len(points) == 0:
        return None
    uvw = points @ intrinsic.T
    uv = uvw[:, :2] / uvw[:, 2:]
    return np.concatenate([uv.min(0), uv.max(0)])


def _visible_fractions(world: SyntheticWorld, frame: FrameState,
                       hit_index: np.ndarray) -> np.ndarray:
    """Per agent of ``frame``, its LiDAR returns in the sweep (``hit_index``) over the returns
    it gets when cast alone (0 if none): ``(A,)`` float."""
    hit_index = np.asarray(hit_index)
    hits = np.bincount(hit_index[(hit_index >= 0) & (hit_index < frame.num_agents)],
                       minlength=frame.num_agents)
    rotation, translation = frame.sensor_pose(world.rig['LIDAR_TOP'])
    alone = count_hits_alone(world.config.lidar, rotation, translation,
                             frame.boxes[:frame.num_agents])
    return np.where(alone > 0, np.minimum(hits / np.maximum(alone, 1), 1.0), 0.0)


def _occlusion_level(fraction: float) -> int:
    """KITTI occlusion level from the visible fraction of LiDAR returns."""
    if fraction >= OCCLUSION_LEVELS[0]:
        return 0
    if fraction >= OCCLUSION_LEVELS[1]:
        return 1
    return 2 if fraction > 0 else 3


def kitti_objects(world: SyntheticWorld, frame: FrameState,
                  hit_index: np.ndarray) -> List[KittiObject]:
    """The KITTI labels of ``frame``: visible objects first, then DontCare regions.

    Args:
        world (SyntheticWorld): The world (rig and LiDAR layout).
        frame (FrameState): A keyframe.
        hit_index (np.ndarray): ``(N,)`` box index of each LiDAR return of the frame's sweep
            (from ``world.lidar_sweep``), used for the occlusion levels.

    Returns:
        list: :class:`KittiObject` per labelled agent.
    """
    camera = world.rig[CAMERA]
    width, height = camera.image_size
    rotation, translation = frame.sensor_pose(camera)
    visible = _visible_fractions(world, frame, hit_index)
    objects, dont_care = [], []
    for idx, agent in enumerate(frame.agents):
        box = frame.boxes[idx]
        if np.hypot(*(box[:2] - frame.ego_translation[:2])) > ANNOTATION_RANGE:
            continue
        centre = (box[:3] - translation) @ rotation
        if centre[2] <= NEAR_PLANE:
            continue
        full = _image_box((box_corners(box)[0] - translation) @ rotation, camera.intrinsic)
        if full is None:
            continue
        bbox = np.clip(full, 0, [width - 1, height - 1, width - 1, height - 1])
        area = (bbox[2] - bbox[0]) * (bbox[3] - bbox[1])
        if bbox[2] <= bbox[0] or bbox[3] <= bbox[1]:
            continue
        name = KITTI_CLASS[agent.cls.name]
        if name == 'Cyclist' and not agent.moving:
            name = 'Misc'
        if name == 'DontCare':
            dont_care.append(KittiObject(name, -1.0, -1, -10.0, bbox, np.full(3, -1.0),
                                         np.full(3, -1000.0), -10.0, idx))
            continue
        bottom = (np.array([box[0], box[1], box[2] - box[5] / 2]) - translation) @ rotation
        heading = np.array([np.cos(box[6]), np.sin(box[6]), 0.0]) @ rotation
        rotation_y = float(_wrap(np.arctan2(-heading[2], heading[0])))
        alpha = float(_wrap(rotation_y - np.arctan2(bottom[0], bottom[2])))
        truncated = float(np.clip(1 - area / ((full[2] - full[0]) * (full[3] - full[1])), 0, 1))
        occluded = _occlusion_level(float(visible[idx]))
        objects.append(KittiObject(name, truncated, occluded, alpha, bbox,
                                   np.array([box[5], box[4], box[3]]), bottom, rotation_y, idx))
    return objects + dont_care


def kitti_frames(world: SyntheticWorld) -> List[Tuple[int, int, int]]:
    """``(frame id, scene index, keyframe timestamp µs)`` of every KITTI frame, scene by scene."""
    frames = []
    for s, scene in enumerate(world.scenes):
        frames += [(len(frames) + k, s, int(ts)) for k, ts in enumerate(scene.keyframe_times())]
    return frames


def kitti_splits(world: SyntheticWorld) -> Dict[str, List[int]]:
    """Frame ids of ``train``, ``val``, ``trainval`` and ``test`` (see the module docstring)."""
    frames = kitti_frames(world)
    val = [f for f, s, _ in frames if world.scenes[s].name in MINI_VAL_SCENES]
    train = [f for f, s, _ in frames if world.scenes[s].name not in MINI_VAL_SCENES]
    return {'train': train, 'val': val, 'trainval': sorted(train + val), 'test': []}


def _write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode())


def _png(image: np.ndarray) -> bytes:
    """``(H, W, 3)`` uint8 -> PNG bytes (zlib level 3: on the noisy renders as small as the
    default level 6 and three times faster)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format='PNG', compress_level=3)
    return buffer.getvalue()


def _id_lines(ids: Sequence[int]) -> str:
    return ''.join(f'{i:06d}\n' for i in ids)


def write_kitti_frame(world: SyntheticWorld, root: str, frame_id: int, frame: FrameState,
                      sweep: Tuple[np.ndarray, np.ndarray], image: np.ndarray,
                      calib_text: Optional[str] = None) -> None:
    """Write the velodyne, image_2, calib and label_2 files of one KITTI frame.

    Args:
        world (SyntheticWorld): The world.
        root (str): Output folder (KITTI's ``data/kitti``).
        frame_id (int): The frame's id (:func:`kitti_frames`).
        frame (FrameState): The keyframe.
        sweep (tuple): Its ``world.lidar_sweep``: ``points (N, 5)``, ``hit_index (N,)``.
        image (np.ndarray): Its CAM_FRONT render ``(H, W, 3)`` uint8.
        calib_text (str, optional): ``kitti_calib(world).to_text()`` (computed when None).
    """
    training = os.path.join(root, 'training')
    points, hit_index = sweep
    name = f'{frame_id:06d}'
    write_bytes(os.path.join(training, 'velodyne', f'{name}.bin'),
                velodyne_points(points).tobytes())
    write_bytes(os.path.join(training, 'image_2', f'{name}.png'), _png(image))
    _write_text(os.path.join(training, 'calib', f'{name}.txt'),
                calib_text if calib_text is not None else kitti_calib(world).to_text())
    labels = kitti_objects(world, frame, hit_index)
    _write_text(os.path.join(training, 'label_2', f'{name}.txt'),
                ''.join(obj.to_line() + '\n' for obj in labels))


def write_image_sets(world: SyntheticWorld, root: str) -> None:
    """Write ``ImageSets/{train,val,test,trainval}.txt`` (trainval last: it marks a complete
    dataset)."""
    splits = kitti_splits(world)
    for split in ('train', 'val', 'test', 'trainval'):
        _write_text(os.path.join(root, 'ImageSets', f'{split}.txt'), _id_lines(splits[split]))


def _check_world_and_root(world, root) -> None:
    if not isinstance(world, SyntheticWorld):
        raise TypeError(f'world must be a SyntheticWorld, got {type(world).__name__}')
    if not isinstance(root, (str, os.PathLike)) or not str(root):
        raise ValueError(f'root must be a non-empty path, got {root!r}')


def write_kitti_scene(world: SyntheticWorld, root: str, scene_index: int,
                      cache: Optional[FrameCache] = None) -> None:
    """Write the KITTI frames of scene ``scene_index`` (no ImageSets; see :func:`write_kitti`).

    Args:
        world (SyntheticWorld): The world.
        root (str): Output folder.
        scene_index (int): Index into ``world.scenes``.
        cache (FrameCache, optional): Keyframe sweeps and images shared with other writers.
    """
    _check_world_and_root(world, root)
    cache = cache if cache is not None else FrameCache(world)
    scene = world.scenes[scene_index]
    calib_text = kitti_calib(world).to_text()
    for frame_id, _, timestamp in (f for f in kitti_frames(world) if f[1] == scene_index):
        frame = world.frame(scene, timestamp)
        write_kitti_frame(world, root, frame_id, frame, cache.lidar_sweep(scene, frame),
                          cache.camera(scene, frame, CAMERA), calib_text)


def write_kitti(world: SyntheticWorld, root: str, progress: bool = True) -> None:
    """Write ``world`` under ``root`` in the KITTI object layout (see the module docstring).

    Every file is written atomically; the ImageSets come last, so a dataset whose
    ``ImageSets/trainval.txt`` exists is complete.

    Args:
        world (SyntheticWorld): The world to write.
        root (str): Output folder (KITTI's ``data/kitti``).
        progress (bool): Show a tqdm bar over the scenes.
    """
    _check_world_and_root(world, root)
    for s in tqdm(range(len(world.scenes)), desc='KITTI scenes', disable=not progress):
        write_kitti_scene(world, root, s)
    write_image_sets(world, root)
