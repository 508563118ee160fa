"""Write a :class:`SyntheticWorld` as a nuScenes dataset (``v1.0-mini`` layout by default).

Produces every JSON table, ``samples/`` and ``sweeps/`` LiDAR files (``.pcd.bin``, float32
``[x, y, z, intensity, ring]``), keyframe camera images (``.jpg``), lidarseg labels, the map
expansion JSONs and map masks: ``nuscenes.NuScenes``, ``NuScenesMap``, ``DetectionEval`` and
mmdet3d's converters read it as they read the real dataset. Every file is written atomically.
With ``annotations=False`` it writes a split as nuScenes ships ``v1.0-test``: sensor data, poses,
calibration, logs and maps, with empty ``sample_annotation`` and ``instance`` tables and no
lidarseg.
"""
import io
import os
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
from PIL import Image
from shapely import contains_xy
from tqdm import tqdm

from ..utils.atomic_io import write_bytes, write_json
from .frame_cache import FrameCache
from .lidar import GROUND
from .nuscenes_map_writer import write_nuscenes_map
from .nuscenes_tables import (LIDARSEG_INDEX, SURFACE_CLASS, attribute_table, attribute_token,
                              category_table, category_token, sensor_table, sensor_token,
                              visibility_table)
from .rig import CAMERA_NAMES, rotation_to_quaternion, yaw_matrix
from .scene import Scene, make_token
from .world import FrameState, SyntheticWorld

ANNOTATION_RANGE = 80.0  # metres around the ego within which objects are annotated


def sample_token(scene: Scene, keyframe: int) -> str:
    """Token of keyframe ``keyframe`` of ``scene`` (shared by every writer of the world)."""
    return make_token(scene.token, 'sample', keyframe)


def sample_data_token(scene: Scene, channel: str, timestamp: int) -> str:
    """Token of the ``channel`` sample_data record at ``timestamp`` (µs)."""
    return make_token(scene.token, 'sample_data', channel, int(timestamp))


class NuScenesWriter:
    """Writes ``world`` under ``dataroot`` in the nuScenes layout.

    Args:
        world (SyntheticWorld): The world to write.
        dataroot (str): Output folder (``NuScenes(dataroot=...)``).
        version (str): Table folder name, ``'v1.0-mini'`` by default.
        render_fn (callable, optional): ``render_fn(world, frame) -> {camera: (H, W, 3) uint8}``;
            defaults to :func:`mmdet3d_plugin.synthetic.camera.render_all` (through ``cache``).
        progress (bool): Show a tqdm bar per scene.
        cache (FrameCache, optional): Keyframe sweeps and images shared with other writers.
        annotations (bool): Write boxes (``sample_annotation``, ``instance``) and lidarseg;
            ``False`` for an annotation-free test split (both tables empty, no lidarseg).
    """

    def __init__(self, world: SyntheticWorld, dataroot: str, version: str = 'v1.0-mini',
                 render_fn: Optional[Callable] = None, progress: bool = True,
                 cache: Optional[FrameCache] = None, annotations: bool = True):
        self.world, self.dataroot, self.version = world, dataroot, version
        self.annotations = annotations
        self.cache = cache if cache is not None else FrameCache(world)
        self.render_fn = render_fn
        self.progress = progress
        self.tables: Dict[str, List[dict]] = defaultdict(list)
        road_map = world.road_map
        self._surfaces = [(SURFACE_CLASS[name], road_map.union(layers)) for name, layers in (
            ('carpark', ('carpark_area', )), ('road', ('drivable_area', 'ped_crossing')),
            ('walkway', ('walkway', )))]

    # ------------------------------------------------------------------ top level
    def write(self) -> None:
        """Write the whole dataset (tables last, so a dataset is complete once they exist)."""
        scenes = tqdm(self.world.scenes, desc='nuScenes scenes', disable=not self.progress)
        for scene in scenes:
            self._write_scene(scene)
            self.cache.clear()
        self.finish()

    def write_scene(self, scene: Scene) -> Dict[str, List[dict]]:
        """Write the files of one scene and return its table rows (``{table: rows}``), for
        :meth:`finish` in another writer of the same world (scenes can be written in parallel).
        """
        self.tables.clear()
        self._write_scene(scene)
        rows = dict(self.tables)
        self.tables.clear()
        return rows

    def finish(self, scene_rows: Sequence[Dict[str, List[dict]]] = ()) -> None:
        """Add the rows of scenes written by :meth:`write_scene` (in scene order), then write the
        fixed tables, the maps and every table."""
        for rows in scene_rows:
            for name, table in rows.items():
                self.tables[name].extend(table)
        self.tables['category'] = category_table()
        self.tables['attribute'] = attribute_table()
        self.tables['visibility'] = visibility_table()
        self.tables['sensor'] = sensor_table()
        for name in ('sample_annotation', 'instance'):  # empty lists in a test split
            self.tables.setdefault(name, [])
        self._write_maps()
        table_dir = os.path.join(self.dataroot, self.version)
        for name, rows in self.tables.items():
            write_json(os.path.join(table_dir, f'{name}.json'), rows)

    # ------------------------------------------------------------------ per scene
    def _write_scene(self, scene: Scene) -> None:
        log_token = make_token(scene.token, 'log')
        log_name = f'n015-synthetic-{scene.name}'
        self.tables['log'].append({'token': log_token, 'logfile': log_name, 'vehicle': 'n015',
                                   'date_captured': '2018-07-24', 'location': scene.location})
        calib = {ch: self._calibrated_sensor(scene, ch) for ch in ('LIDAR_TOP', ) + CAMERA_NAMES}
        keyframes = scene.keyframe_times()
        sample_tokens = [sample_token(scene, k) for k in range(len(keyframes))]
        for k, (token, ts) in enumerate(zip(sample_tokens, keyframes)):
            self.tables['sample'].append({
                'token': token, 'timestamp': int(ts), 'scene_token': scene.token,
                'prev': sample_tokens[k - 1] if k else '',
                'next': sample_tokens[k + 1] if k + 1 < len(keyframes) else ''})
        self.tables['scene'].append({
            'token': scene.token, 'log_token': log_token, 'nbr_samples': len(keyframes),
            'first_sample_token': sample_tokens[0], 'last_sample_token': sample_tokens[-1],
            'name': scene.name, 'description': 'synthetic driving world'})
        lidar_rows = []
        instance_annotations = defaultdict(list)
        for ts in scene.sweep_times():
            frame = self.world.frame(scene, ts)
            points, hit = self.cache.lidar_sweep(scene, frame)
            key = int(np.searchsorted(keyframes, ts))
            is_key = key < len(keyframes) and keyframes[key] == ts
            key_sample = sample_tokens[min(key, len(keyframes) - 1)]
            folder = 'samples' if is_key else 'sweeps'
            filename = f'{folder}/LIDAR_TOP/{log_name}__LIDAR_TOP__{int(ts)}.pcd.bin'
            write_bytes(os.path.join(self.dataroot, filename), points.astype(np.float32).tobytes())
            row = self._sample_data(scene, 'LIDAR_TOP', frame, key_sample, calib, filename,
                                    is_key, 'pcd', 0, 0)
            lidar_rows.append(row)
            if is_key:
                self._write_cameras(scene, frame, key_sample, calib, log_name)
            if is_key and self.annotations:
                self._write_lidarseg(row['token'], frame, points, hit)
                for agent_idx, ann in self._annotations(frame, hit, key_sample):
                    instance_annotations[agent_idx].append(ann)
        _link(lidar_rows)
        self._write_instances(scene, instance_annotations)

    def _calibrated_sensor(self, scene: Scene, channel: str) -> str:
        sensor = self.world.rig[channel]
        token = make_token(scene.token, 'calibrated_sensor', channel)
        self.tables['calibrated_sensor'].append({
            'token': token, 'sensor_token': sensor_token(channel),
            'translation': sensor.translation.tolist(),
            'rotation': list(rotation_to_quaternion(sensor.rotation)),
            'camera_intrinsic': sensor.intrinsic.tolist() if sensor.intrinsic is not None else []})
        return token

    def _sample_data(self, scene, channel, frame: FrameState, sample_tok, calib, filename,
                     is_key, fileformat, width, height) -> dict:
        token = sample_data_token(scene, channel, frame.timestamp)
        ego_token = make_token(scene.token, 'ego_pose', channel, frame.timestamp)
        self.tables['ego_pose'].append({
            'token': ego_token, 'timestamp': frame.timestamp,
            'rotation': list(rotation_to_quaternion(frame.ego_rotation)),
            'translation': frame.ego_translation.tolist()})
        row = {'token': token, 'sample_token': sample_tok, 'ego_pose_token': ego_token,
               'calibrated_sensor_token': calib[channel], 'timestamp': frame.timestamp,
               'fileformat': fileformat, 'is_key_frame': bool(is_key), 'height': height,
               'width': width, 'filename': filename, 'prev': '', 'next': ''}
        self.tables['sample_data'].append(row)
        return row

    def _write_cameras(self, scene, frame, sample_tok, calib, log_name) -> None:
        images = (self.render_fn(self.world, frame) if self.render_fn is not None else
                  self.cache.images(scene, frame))
        for channel in CAMERA_NAMES:
            image = images[channel]
            filename = f'samples/{channel}/{log_name}__{channel}__{frame.timestamp}.jpg'
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format='JPEG', quality=92)
            write_bytes(os.path.join(self.dataroot, filename), buffer.getvalue())
            self._sample_data(scene, channel, frame, sample_tok, calib, filename, True, 'jpg',
                              image.shape[1], image.shape[0])

    # ------------------------------------------------------------------ labels
    def _point_labels(self, frame: FrameState, points: np.ndarray, hit: np.ndarray) -> np.ndarray:
        """lidarseg class index per point ``(N,)`` uint8."""
        labels = np.full(len(hit), LIDARSEG_INDEX['flat.terrain'], dtype=np.uint8)
        agent = (hit >= 0) & (hit < frame.num_agents)
        agent_class = np.array([LIDARSEG_INDEX[a.cls.category] for a in frame.agents] or [0])
        labels[agent] = agent_class[hit[agent]]
        static = hit >= frame.num_agents
        kinds = np.array([LIDARSEG_INDEX[SURFACE_CLASS[k]] for k in frame.static_kinds])
        labels[static] = kinds[hit[static] - frame.num_agents]
        ground = hit == GROUND
        if ground.any():
            rotation, translation = frame.sensor_pose(self.world.rig['LIDAR_TOP'])
            xy = (points[ground, :3] @ rotation.T + translation)[:, :2]
            ground_labels = labels[ground]
            for name, area in self._surfaces:  # later surfaces win (road over car park)
                if area is not None:
                    ground_labels[contains_xy(area, xy[:, 0], xy[:, 1])] = LIDARSEG_INDEX[name]
            labels[ground] = ground_labels
        return labels

    def _write_lidarseg(self, sample_data_token, frame, points, hit) -> None:
        filename = f'lidarseg/{self.version}/{sample_data_token}_lidarseg.bin'
        write_bytes(os.path.join(self.dataroot, filename),
                    self._point_labels(frame, points, hit).tobytes())
        # as in nuScenes-lidarseg, a lidarseg record's token is its sample_data token
        self.tables['lidarseg'].append({'token': sample_data_token,
                                        'sample_data_token': sample_data_token,
                                        'filename': filename})

    def _annotations(self, frame: FrameState, hit: np.ndarray, sample_tok: str):
        """Yield ``(agent index, sample_annotation row)`` for agents near the ego."""
        counts = np.bincount(hit[(hit >= 0) & (hit < frame.num_agents)],
                             minlength=frame.num_agents)
        for idx, agent in enumerate(frame.agents):
            box = frame.boxes[idx]
            if np.hypot(*(box[:2] - frame.ego_translation[:2])) > ANNOTATION_RANGE:
                continue
            attribute = agent.cls.attribute if agent.moving else agent.cls.static_attribute
            num = int(counts[idx])
            yield idx, {
                'token': make_token(sample_tok, 'annotation', agent.token),
                'sample_token': sample_tok, 'instance_token': agent.token,
                'visibility_token': _visibility(num),
                'attribute_tokens': [attribute_token(attribute)] if attribute else [],
                'translation': box[:3].tolist(), 'size': [box[4], box[3], box[5]],
                'rotation': list(rotation_to_quaternion(yaw_matrix(box[6]))),
                'prev': '', 'next': '', 'num_lidar_pts': num, 'num_radar_pts': 0}

    def _write_instances(self, scene: Scene, annotations: Dict[int, List[dict]]) -> None:
        for idx in sorted(annotations):
            rows = annotations[idx]
            _link(rows)
            agent = scene.agents[idx]
            self.tables['sample_annotation'].extend(rows)
            self.tables['instance'].append({
                'token': agent.token, 'category_token': category_token(agent.cls.category),
                'nbr_annotations': len(rows), 'first_annotation_token': rows[0]['token'],
                'last_annotation_token': rows[-1]['token']})

    # ------------------------------------------------------------------ maps
    def _write_maps(self) -> None:
        by_location = defaultdict(list)
        for log in self.tables['log']:
            by_location[log['location']].append(log['token'])
        for location, log_tokens in sorted(by_location.items()):
            write_nuscenes_map(self.dataroot, self.world.road_map, location)
            token = make_token('map', location)
            filename = f'maps/{token}.png'
            mask = _drivable_mask_png(self.world)
            write_bytes(os.path.join(self.dataroot, filename), mask)
            self.tables['map'].append({'token': token, 'log_tokens': log_tokens,
                                       'category': 'semantic_prior', 'filename': filename})


def _link(rows: List[dict]) -> None:
    """Fill ``prev``/``next`` of consecutive rows."""
    for a, b in zip(rows[:-1], rows[1:]):
        a['next'], b['prev'] = b['token'], a['token']


def _visibility(num_lidar_pts: int) -> str:
    """Visibility token from the LiDAR return count (the synthetic world's proxy for the
    fraction of the object visible in the cameras)."""
    return '4' if num_lidar_pts >= 20 else '3' if num_lidar_pts >= 8 else (
        '2' if num_lidar_pts >= 1 else '1')


def _drivable_mask_png(world: SyntheticWorld, resolution: float = 1.0) -> bytes:
    """The map's semantic prior: drivable area at ``resolution`` m/pixel as PNG bytes."""
    size = int(world.road_map.size / resolution)
    xs = (np.arange(size) + 0.5) * resolution
    gx, gy = np.meshgrid(xs, xs[::-1])
    mask = contains_xy(world.road_map.layers['drivable_area'][0], gx, gy)
    buffer = io.BytesIO()
    Image.fromarray((mask * 255).astype(np.uint8)).save(buffer, format='PNG')
    return buffer.getvalue()


def write_nuscenes(world: SyntheticWorld, dataroot: str, version: str = 'v1.0-mini',
                   render_fn: Optional[Callable] = None, progress: bool = True,
                   cache: Optional[FrameCache] = None) -> None:
    """Write ``world`` as a nuScenes dataset under ``dataroot`` (see :class:`NuScenesWriter`)."""
    NuScenesWriter(world, dataroot, version, render_fn, progress, cache).write()
