"""Scenes of the synthetic world: the ego vehicle and the agents around it, as functions of time.

Traffic is collision-free by construction: vehicles on a lane move as a convoy at the lane's
speed with gaps (the ego takes a free slot of its lane), pedestrians walk the inner part of
the sidewalks and the crossings of roads without moving traffic, and parked vehicles, cones and
barriers stand on the side roads away from crossings.
"""
import hashlib
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .classes import CLASS_BY_NAME, ObjectClass
from .road_map import ROAD_SPACING, Lane, RoadMap

#: The ten scenes of nuScenes v1.0-mini (the devkit's split lists use these names).
MINI_SCENES = ('scene-0061', 'scene-0103', 'scene-0553', 'scene-0655', 'scene-0757',
               'scene-0796', 'scene-0916', 'scene-1077', 'scene-1094', 'scene-1100')


def nuscenes_test_scene_names(count: int) -> Tuple[str, ...]:
    """The first ``count`` scenes of nuScenes' test split (the devkit's
    ``create_splits_scenes()['test']``), for :attr:`WorldConfig.test_scene_names`."""
    from nuscenes.utils.splits import create_splits_scenes
    names = create_splits_scenes()['test']
    if not 0 <= count <= len(names):
        raise ValueError(f'count must be in [0, {len(names)}] (nuScenes test scenes), got {count}')
    return tuple(names[:count])


#: The four locations NuScenesMap accepts.
LOCATIONS = ('singapore-onenorth', 'boston-seaport', 'singapore-queenstown',
             'singapore-hollandvillage')
EGO_SIZE = (4.08, 1.73, 1.56)  # Renault Zoe, length/width/height
KEYFRAME_INTERVAL_US = 500_000  # 2 Hz
SWEEP_INTERVAL_US = 50_000  # 20 Hz
EGO_SPEED_RANGE = (6.0, 9.0)  # m/s
EGO_END_CLEARANCE = 60.0  # metres kept between the ego's path and the ends of its lane


def make_token(*parts) -> str:
    """Deterministic 32-hex token (nuScenes token format) from ``parts``."""
    return hashlib.md5('/'.join(map(str, parts)).encode()).hexdigest()


@dataclass
class Agent:
    """An object of the world. Moving agents follow ``path`` from arc length ``s0`` at ``speed``;
    static ones stand at ``pose``.

    Attributes:
        token (str): Instance token.
        cls (ObjectClass): Its class.
        size (tuple): ``(length, width, height)`` in metres.
        path (Lane, optional): Path for moving agents.
        s0 (float): Arc length on ``path`` at the scene start.
        speed (float): m/s along ``path`` (0 for static agents).
        pose (tuple): ``(x, y, yaw)`` for static agents.
    """
    token: str
    cls: ObjectClass
    size: Tuple[float, float, float]
    path: Optional[Lane] = None
    s0: float = 0.0
    speed: float = 0.0
    pose: Tuple[float, float, float] = (0.0, 0.0, 0.0)

    def box_at(self, t: float) -> np.ndarray:
        """Global box ``[x, y, z, l, w, h, yaw]`` at time ``t`` (s); z is the box centre."""
        if self.path is None:
            x, y, yaw = self.pose
        else:
            x, y = self.path.point_at(self.s0 + self.speed * t)
            yaw = self.path.heading
        length, width, height = self.size
        return np.array([x, y, height / 2, length, width, height, yaw])

    def velocity_at(self, t: float) -> np.ndarray:
        """Global ``(vx, vy)`` in m/s."""
        if self.path is None:
            return np.zeros(2)
        yaw = self.path.heading
        return self.speed * np.array([np.cos(yaw), np.sin(yaw)])

    @property
    def moving(self) -> bool:
        return self.speed > 0


@dataclass
class Scene:
    """One scene: ego, agents and timing."""
    name: str
    token: str
    location: str
    ego: Agent
    agents: List[Agent] = field(default_factory=list)
    start_us: int = 0
    num_keyframes: int = 10
    sweeps_per_keyframe: int = 10
    lead_sweeps: int = 40

    def keyframe_times(self) -> np.ndarray:
        """Keyframe timestamps (µs)."""
        return self.start_us + KEYFRAME_INTERVAL_US * np.arange(self.num_keyframes)

    def sweep_times(self) -> np.ndarray:
        """All LiDAR timestamps (µs), keyframes included: ``lead_sweeps`` before the first
        keyframe (so even it can accumulate 40 sweeps), then 20 Hz up to the last keyframe."""
        step = SWEEP_INTERVAL_US
        first = self.start_us - self.lead_sweeps * step
        last = self.keyframe_times()[-1]
        return np.arange(first, last + 1, step)

    def seconds(self, timestamp_us: int) -> float:
        return (int(timestamp_us) - self.start_us) * 1e-6


def _jitter_size(cls: ObjectClass, rng: np.random.Generator) -> Tuple[float, float, float]:
    return tuple(float(v * rng.uniform(0.9, 1.1)) for v in cls.size)


def _convoy(lane: Lane, speed: float, s_range: Tuple[float, float], keep_free: Tuple[float, float],
            names: Sequence[str], weights: Sequence[float], rng,
            first: Sequence[str] = ()) -> List[Agent]:
    """Vehicles on one lane at one speed with gaps; nothing inside ``keep_free`` (arc length).
    The classes in ``first`` are placed first (so every scene has each of them)."""
    agents = []
    required = list(first)
    s = s_range[0] + float(rng.uniform(0, 10))
    while s < s_range[1]:
        name = required.pop(0) if required else str(
            rng.choice(names, p=np.asarray(weights) / np.sum(weights)))
        cls = CLASS_BY_NAME[name]
        size = _jitter_size(cls, rng)
        lo, hi = s - size[0] / 2, s + size[0] / 2
        if hi > keep_free[0] and lo < keep_free[1]:
            s = keep_free[1] + size[0] / 2 + 2.0
            required.insert(0, name)
            continue
        agents.append(Agent('', cls, size,
                            lane, s, speed))
        s += size[0] + float(rng.uniform(6, 25))
    return agents


def road_map_size(num_keyframes: int) -> float:
    """Side of the square map (metres) on which a scene of ``num_keyframes`` fits: 300 m (three
    roads each way) up to 40 keyframes, then one more road per 100 m that the fastest ego
    drives, so the ego never reaches within :data:`EGO_END_CLEARANCE` of a lane's end."""
    duration = num_keyframes * KEYFRAME_INTERVAL_US * 1e-6
    needed = 2 * EGO_END_CLEARANCE + EGO_SPEED_RANGE[1] * duration
    return ROAD_SPACING * max(3, int(np.ceil(needed / ROAD_SPACING)))


def build_scene(name: str, index: int, road_map: RoadMap, seed: int, num_keyframes: int = 10,
                sweeps_per_keyframe: int = 10) -> Scene:
    """Spawn the ego and the agents of scene ``name`` (deterministic in ``seed`` and ``index``)."""
    rng = np.random.default_rng([seed, index])
    token = make_token('scene', seed, name)
    duration = num_keyframes * KEYFRAME_INTERVAL_US * 1e-6
    horizontal = [lane for lane in road_map.lanes if lane.road.startswith('h')]
    ego_lane = horizontal[int(rng.integers(len(horizontal)))]
    ego_speed = float(rng.uniform(*EGO_SPEED_RANGE))
    latest_start = ego_lane.length - EGO_END_CLEARANCE - ego_speed * duration
    if latest_start < EGO_END_CLEARANCE:
        raise ValueError(f'scene {name}: {num_keyframes} keyframes at {ego_speed:.1f} m/s do not '
                         f'fit on a {ego_lane.length:.0f} m lane; build the road map with '
                         f'size >= road_map_size({num_keyframes}) = '
                         f'{road_map_size(num_keyframes):.0f} m')
    ego_s0 = float(rng.uniform(EGO_END_CLEARANCE, latest_start))
    ego = Agent(make_token(token, 'ego'), CLASS_BY_NAME['car'], EGO_SIZE, ego_lane, ego_s0,
                ego_speed)
    reach = (ego_s0 - 70, ego_s0 + ego_speed * duration + 70)
    agents: List[Agent] = []
    # trucks and construction vehicles both drive and park: only their colour tells them apart
    movers = ('car', 'truck', 'construction_vehicle', 'bus', 'motorcycle', 'bicycle')
    weights = (0.5, 0.1, 0.1, 0.1, 0.1, 0.1)
    for lane in (la for la in horizontal if la.road == ego_lane.road):
        same = lane is ego_lane
        speed = ego_speed if same else float(rng.uniform(5, 10))
        # the opposite lane runs the other way: map the reach window to its arc length
        window = reach if same else (lane.length - reach[1], lane.length - reach[0])
        free = (ego_s0 - ego.size[0] / 2 - 4, ego_s0 + ego.size[0] / 2 + 4) if same else (0, 0)
        # the oncoming lane starts with one of each moving class, spread around the ego (from
        # 45 m ahead: the cycles, with the shortest evaluation range, pass closest)
        first = () if same else ('truck', 'motorcycle', 'bicycle', 'bus', 'construction_vehicle',
                                 'car')
        if not same:
            mid = lane.length - (ego_s0 + ego_speed * duration / 2)
            window = (mid - 45.0, window[1])
        agents += _convoy(lane, speed, window, free, movers, weights, rng, first)
    agents += _pedestrians(road_map, ego, reach, duration, rng)
    agents += _static_objects(road_map, ego, reach, rng)
    for k, agent in enumerate(agents):  # unique, order-stable instance tokens
        agent.token = make_token(token, 'instance', k)
    return Scene(name, token, LOCATIONS[index % len(LOCATIONS)], ego, agents,
                 start_us=1_533_151_603_547_590 + index * 1_000_000_000,
                 num_keyframes=num_keyframes, sweeps_per_keyframe=sweeps_per_keyframe)


def _near_ego_path(x: float, y: float, ego: Agent, reach: Tuple[float, float], dist: float) -> bool:
    """Whether (x, y) is within ``dist`` of the ego's route over the scene."""
    lane = ego.path
    heading = np.array([np.cos(lane.heading), np.sin(lane.heading)])
    rel = np.array([x, y]) - np.array(lane.start)
    s = float(rel @ heading)
    lateral = float(abs(rel @ np.array([-heading[1], heading[0]])))
    return reach[0] - dist < s < reach[1] + dist and lateral < dist


def _pedestrians(road_map, ego, reach, duration, rng) -> List[Agent]:
    """Walkers on the sidewalk segments and one walker per painted crossing of the side roads.

    All walkers of one segment share its pace (some segments have only standing people), are
    spaced 6-14 m apart and never walk past the segment's end during the scene.
    """
    cls = CLASS_BY_NAME['pedestrian']
    agents = []
    for path in road_map.sidewalk_paths:
        speed = float(rng.uniform(0.9, 1.6)) if rng.random() > 0.2 else 0.0
        end = path.length - speed * duration
        for s in np.arange(float(rng.uniform(0, 3)), max(end, 0.0), float(rng.uniform(6, 14))):
            x, y = path.point_at(float(s))
            if not _near_ego_path(x, y, ego, reach, 45.0) or rng.random() > 0.35:
                continue
            if speed == 0.0:
                agents.append(Agent('', cls, _jitter_size(cls, rng), pose=(x, y, path.heading)))
            else:
                agents.append(Agent('', cls, _jitter_size(cls, rng), path, float(s), speed))
    for path, painted in zip(road_map.crossing_paths, road_map.crossing_painted):
        x, y = path.point_at(path.length / 2)
        # the draw comes first: the same numbers whatever is painted
        if _near_ego_path(x, y, ego, reach, 45.0) and rng.random() < 0.5 and painted:
            agents.append(Agent('', cls, _jitter_size(cls, rng), path, 0.0,
                                (path.length - 1.0) / duration))
    return agents


def _static_objects(road_map, ego, reach, rng) -> List[Agent]:
    """Parked vehicles, cones and barriers on the parking shoulders of the ego's road, clear of
    the intersections and never overlapping. One of each static class is placed first, near the
    middle of the ego's route, so every scene has each of them in view."""
    agents = []
    names = ['car', 'construction_vehicle', 'trailer', 'traffic_cone', 'barrier', 'truck']
    probs = [0.35, 0.1, 0.1, 0.2, 0.15, 0.1]
    middle = (reach[0] + reach[1]) / 2
    min_clear = road_map.road_width / 2 + road_map.sidewalk_width + 2.5
    shoulders = [la for la in road_map.shoulder_paths if la.road == ego.path.road]
    for side, lane in enumerate(shoulders):
        taken: List[Tuple[float, float]] = []

        def place(name: str, s: float) -> float:
            """Try ``name`` at arc length ``s``; return where the next slot starts."""
            cls = CLASS_BY_NAME[name]
            size = _jitter_size(cls, rng)
            lo, hi = s, s + size[0]
            blocking = [t for t in taken if lo < t[1] + 1.0 and hi > t[0] - 1.0]
            if blocking:
                return max(t[1] for t in blocking) + 1.5
            x, y = lane.point_at((lo + hi) / 2)
            if min(abs(x - p) for p in road_map.road_positions) - size[0] / 2 < min_clear:
                return s + 3.0
            agents.append(Agent('', cls, size, pose=(x, y, lane.heading)))
            taken.append((lo, hi))
            return hi + float(rng.uniform(1.5, 8.0))

        required = [['traffic_cone', 'construction_vehicle'], ['barrier', 'trailer']][side % 2]
        window = _lane_window(lane, ego, reach)
        s = _lane_window(lane, ego, (middle - 20.0, middle + 20.0))[0]
        while required and s < window[1]:
            before = len(agents)
            s = place(required[0], s)
            if len(agents) > before:
                required.pop(0)
        s = window[0]
        while s < window[1]:
            if rng.random() < 0.4:
                s = place(str(rng.choice(names, p=probs)), s)
            else:
                s += float(rng.uniform(3.0, 10.0))
    return agents


def _lane_window(lane: Lane, ego: Agent, reach: Tuple[float, float]) -> Tuple[float, float]:
    """Arc-length window on ``lane`` (parallel to the ego's lane) matching ``reach`` on it."""
    same_direction = np.cos(lane.heading - ego.path.heading) > 0
    if same_direction:
        return max(reach[0], 0.0), min(reach[1], lane.length)
    return max(lane.length - reach[1], 0.0), min(lane.length - reach[0], lane.length)


def _along(ego: Agent, x: float) -> float:
    """Arc length along the ego's (horizontal) lane of global x."""
    lane = ego.path
    return (x - lane.start[0]) * np.cos(lane.heading)
