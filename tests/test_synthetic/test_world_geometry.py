"""Synthetic world core: map consistency, collision-free deterministic traffic, exact LiDAR."""
import numpy as np
import pytest
from shapely.geometry import Point, Polygon

from mmdet3d_plugin.synthetic import (GROUND, MINI_SCENES, LidarSpec, build_road_map, build_scene,
                                      cast_sweep)
from mmdet3d_plugin.synthetic.lidar import _azimuth_bins, _cast


@pytest.fixture(scope='module')
def road_map():
    return build_road_map(np.random.default_rng(0))


def footprint(box):
    x, y, _, length, width, _, yaw = box
    c, s = np.cos(yaw), np.sin(yaw)
    corners = [(dx * length / 2, dy * width / 2) for dx, dy in ((1, 1), (1, -1), (-1, -1), (-1, 1))]
    return Polygon([(x + c * u - s * v, y + s * u + c * v) for u, v in corners])


def static_box_array(road_map):
    return np.array([list(b.center) + list(b.size) + [b.yaw] for b in road_map.static_boxes])


def test_map_layers_are_consistent(road_map):
    drivable = road_map.layers['drivable_area'][0]
    walkway = road_map.layers['walkway'][0]
    assert drivable.intersection(walkway).area < 1e-6
    for lane in road_map.lanes:
        assert drivable.buffer(1e-6).contains(Point(lane.point_at(lane.length / 2)))
    for crossing in road_map.layers['ped_crossing']:
        assert crossing.difference(drivable).area < 1e-6
    for path in road_map.sidewalk_paths:
        assert walkway.buffer(1e-6).contains(Point(path.point_at(path.length / 3)))
    assert road_map.layers['carpark_area'] and road_map.static_boxes


def test_scenes_are_deterministic(road_map):
    a = build_scene(MINI_SCENES[2], 2, road_map, seed=7)
    b = build_scene(MINI_SCENES[2], 2, road_map, seed=7)
    c = build_scene(MINI_SCENES[2], 2, road_map, seed=8)
    boxes = lambda scene: np.array([agent.box_at(1.0) for agent in scene.agents])  # noqa: E731
    np.testing.assert_array_equal(boxes(a), boxes(b))
    assert [x.token for x in a.agents] == [x.token for x in b.agents]
    assert len(boxes(a)) != len(boxes(c)) or not np.array_equal(boxes(a), boxes(c))


@pytest.mark.parametrize('index', range(0, 10, 3))
def test_traffic_is_collision_free(road_map, index):
    scene = build_scene(MINI_SCENES[index], index, road_map, seed=0)
    statics = [footprint(b) for b in static_box_array(road_map)]
    for t in (0.0, 2.0, scene.num_keyframes * 0.5):
        shapes = [footprint(a.box_at(t)) for a in [scene.ego] + scene.agents]
        for i in range(len(shapes)):
            for j in range(i + 1, len(shapes)):
                assert shapes[i].intersection(shapes[j]).area < 1e-6, (t, i, j)
            near = [s for s in statics if s.distance(shapes[i]) < 1.0]
            assert all(s.intersection(shapes[i]).area < 1e-6 for s in near), (t, i)
    names = {a.cls.name for a in scene.agents}
    assert {'car', 'pedestrian'} <= names


def test_sweep_timing_allows_40_sweeps(road_map):
    scene = build_scene(MINI_SCENES[0], 0, road_map, seed=0, num_keyframes=4)
    sweeps = scene.sweep_times()
    assert np.all(np.diff(sweeps) == 50_000)
    first_key = scene.keyframe_times()[0]
    assert np.sum(sweeps < first_key) >= 40
    assert set(scene.keyframe_times()) <= set(sweeps)


def _sensor_pose(scene, t):
    x, y, _, _, _, _, yaw = scene.ego.box_at(t)
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]), np.array([x, y, 1.84])


def test_lidar_points_are_exact(road_map):
    scene = build_scene(MINI_SCENES[0], 0, road_map, seed=0)
    agents = np.array([a.box_at(0.0) for a in scene.agents])
    boxes = np.concatenate([agents, static_box_array(road_map)])
    is_object = np.arange(len(boxes)) < len(agents)
    rotation, translation = _sensor_pose(scene, 0.0)
    points, hit = cast_sweep(LidarSpec(), rotation, translation, boxes, np.full(len(boxes), 50.0),
                             is_object, np.random.default_rng(0))
    assert points.shape[1] == 5 and set(np.unique(points[:, 4])) <= set(range(32))
    world = points[:, :3] @ rotation.T + translation
    ground = hit == GROUND
    assert ground.any() and np.abs(world[ground, 2]).max() < 0.1
    object_hits = np.nonzero(hit >= 0)[0]
    object_hits = object_hits[is_object[hit[object_hits]]]
    assert len(object_hits) > 100
    for idx in object_hits:  # every object point lies inside the box it hit
        x, y, z, length, width, height, yaw = boxes[hit[idx]]
        c, s = np.cos(-yaw), np.sin(-yaw)
        px, py, pz = world[idx] - (x, y, z)
        u, v = c * px - s * py, s * px + c * py
        assert abs(u) <= length / 2 and abs(v) <= width / 2 and abs(pz) <= height / 2


def test_azimuth_binning_equals_brute_force(road_map):
    scene = build_scene(MINI_SCENES[1], 1, road_map, seed=0)
    boxes = np.concatenate([np.array([a.box_at(0.0) for a in scene.agents]),
                            static_box_array(road_map)])
    rotation, origin = _sensor_pose(scene, 0.0)
    spec = LidarSpec(azimuth_steps=360)
    dirs = spec.ray_directions()[0] @ rotation.T
    brute = _cast(origin, dirs, np.zeros(len(dirs), dtype=np.int64), boxes,
                  np.array([0, len(boxes)]), np.arange(len(boxes)), spec.max_range)
    offsets, ids = _azimuth_bins(boxes, rotation, origin, spec.azimuth_steps)
    binned = _cast(origin, dirs, np.tile(np.arange(spec.azimuth_steps), spec.beams), boxes,
                   offsets, ids, spec.max_range)
    np.testing.assert_array_equal(brute[1], binned[1])
    np.testing.assert_allclose(brute[0], binned[0])


def test_occlusion_nearest_box_wins():
    near = [10.0, 0.0, 1.0, 2.0, 2.0, 2.0, 0.0]
    far = [20.0, 0.0, 1.0, 2.0, 2.0, 2.0, 0.0]  # exactly behind the near box
    points, hit = cast_sweep(LidarSpec(beams=8, elevation_deg=(-5.0, 5.0), azimuth_steps=720),
                             np.eye(3), np.array([0.0, 0.0, 1.0]), np.array([near, far]),
                             np.array([50.0, 50.0]), np.array([True, True]),
                             np.random.default_rng(0))
    straight = np.abs(np.arctan2(points[:, 1], points[:, 0])) < np.deg2rad(2.0)
    assert (hit[straight] == 0).all()


def test_rig_matches_nuscenes_geometry():
    from mmdet3d_plugin.synthetic.rig import CAMERA_NAMES, build_rig, rotation_to_quaternion
    rig = build_rig((400, 225))
    assert set(CAMERA_NAMES) | {'LIDAR_TOP'} == set(rig)
    forward = {name: rig[name].rotation @ np.array([0.0, 0.0, 1.0]) for name in CAMERA_NAMES}
    np.testing.assert_allclose(forward['CAM_FRONT'], [1, 0, 0], atol=1e-9)
    np.testing.assert_allclose(forward['CAM_BACK'], [-1, 0, 0], atol=1e-9)
    assert forward['CAM_FRONT_LEFT'][1] > 0 > forward['CAM_FRONT_RIGHT'][1]
    # nuScenes' CAM_FRONT quaternion is about (0.5, -0.5, 0.5, -0.5)
    np.testing.assert_allclose(np.abs(rotation_to_quaternion(rig['CAM_FRONT'].rotation)), 0.5,
                               atol=1e-6)
    assert rig['CAM_FRONT'].intrinsic[0, 0] == pytest.approx(1266.4 / 4)


def test_world_frame_and_sweep_are_consistent(tiny_world):
    world = tiny_world
    scene = world.scenes[1]
    frame = world.frame(scene, scene.keyframe_times()[1])
    assert frame.boxes.shape == (frame.num_agents + len(frame.static_kinds), 7)
    points, hit = world.lidar_sweep(scene, frame)
    again = world.lidar_sweep(scene, world.frame(scene, scene.keyframe_times()[1]))
    np.testing.assert_array_equal(points, again[0])  # deterministic
    rotation, translation = frame.sensor_pose(world.rig['LIDAR_TOP'])
    assert translation[2] == pytest.approx(1.84019)
    ego_xy = frame.ego_translation[:2]
    assert np.hypot(*(translation[:2] - ego_xy)) == pytest.approx(0.985793)
    # the sweep holds returns from the ground, from agents and from static boxes
    assert (hit == GROUND).any()
    assert ((hit >= 0) & (hit < frame.num_agents)).any()
    assert (hit >= frame.num_agents).any()
    assert (hit >= GROUND).all() and (hit < len(frame.boxes)).all()


def test_sweep_with_every_box_out_of_range_hits_only_ground():
    far = np.array([[500.0, 0.0, 1.0, 2.0, 2.0, 2.0, 0.0]])
    points, hit = cast_sweep(LidarSpec(beams=4, azimuth_steps=90), np.eye(3),
                             np.array([0.0, 0.0, 1.8]), far, np.array([50.0]), np.array([True]),
                             np.random.default_rng(0))
    assert len(points) and (hit == GROUND).all()


def test_long_scenes_get_a_larger_map():
    """Up to 40 keyframes the map is the default 300 m; longer scenes (the claim check's 50)
    get one more road per 100 m, and every ego stays clear of its lane's ends."""
    from mmdet3d_plugin.synthetic.scene import EGO_END_CLEARANCE, road_map_size
    from mmdet3d_plugin.synthetic.world import SyntheticWorld, WorldConfig
    assert [road_map_size(k) for k in (1, 10, 40, 41, 50)] == [300.0, 300.0, 300.0, 400.0, 400.0]
    world = SyntheticWorld(WorldConfig(scene_names=MINI_SCENES[:3], num_keyframes=50))
    assert world.road_map.size == 400.0
    assert world.road_map.road_positions == (50.0, 150.0, 250.0, 350.0)
    for scene in world.scenes:
        ego = scene.ego
        travelled = ego.speed * (scene.num_keyframes - 1) * 0.5
        assert ego.s0 >= EGO_END_CLEARANCE
        assert ego.s0 + travelled <= ego.path.length - EGO_END_CLEARANCE
    assert SyntheticWorld(WorldConfig(scene_names=MINI_SCENES[:1])).road_map.size == 300.0


def test_scene_too_long_for_its_map_names_the_size(road_map):
    with pytest.raises(ValueError, match=r'scene scene-0061: 60 keyframes .* road_map_size\(60\)'):
        build_scene('scene-0061', 0, road_map, 0, num_keyframes=60)
