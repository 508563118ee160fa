"""What only the cameras see in the synthetic world: classes the LiDAR cannot tell apart, and
painted markings that are flat, LiDAR-dark and placed at random."""
import colorsys
import dataclasses

import numpy as np
import pytest
import shapely
from shapely.geometry import Point

from mmdet3d_plugin.synthetic import CLASS_BY_NAME, build_road_map, render_camera
from mmdet3d_plugin.synthetic import road_map as road_map_module
from mmdet3d_plugin.synthetic.classes import APPEARANCE_ONLY_PAIRS
from mmdet3d_plugin.synthetic.nuscenes_map_writer import road_map_to_json
from mmdet3d_plugin.synthetic.world import FrameState

PAINT = ('ped_crossing', 'stop_line', 'road_divider')


def _hue(rgb):
    return colorsys.rgb_to_hsv(*(np.asarray(rgb, dtype=np.float64) / 255.0))[0]


@pytest.mark.parametrize('pair', APPEARANCE_ONLY_PAIRS)
def test_pair_is_one_object_to_the_lidar_and_two_colours_to_the_camera(pair):
    a, b = (CLASS_BY_NAME[name] for name in pair)
    assert a.size == b.size and a.intensity == b.intensity
    assert a.static_attribute == b.static_attribute
    hue_gap = abs((_hue(a.color) - _hue(b.color) + 0.5) % 1.0 - 0.5)
    assert hue_gap > 0.1, (pair, hue_gap)


def _swapped(frame: FrameState, swap: dict) -> FrameState:
    agents = [dataclasses.replace(agent, cls=CLASS_BY_NAME[swap.get(agent.cls.name,
                                                                    agent.cls.name)])
              for agent in frame.agents]
    return dataclasses.replace(frame, agents=agents)


def test_swapping_a_pair_changes_the_images_but_not_the_lidar(tiny_world):
    """Relabel every motorcycle as a bicycle and every truck as a construction vehicle (and
    back): the sweep is bit-identical, the cameras are not."""
    world = tiny_world
    swap = {x: y for a, b in APPEARANCE_ONLY_PAIRS for x, y in ((a, b), (b, a))}
    checked = 0
    for scene in world.scenes:
        frame = world.frame(scene, scene.keyframe_times()[0])
        if not any(agent.cls.name in swap for agent in frame.agents):
            continue
        other = _swapped(frame, swap)
        points, hit = world.lidar_sweep(scene, frame)
        points_swapped, hit_swapped = world.lidar_sweep(scene, other)
        np.testing.assert_array_equal(points, points_swapped)
        np.testing.assert_array_equal(hit, hit_swapped)
        changed = [not np.array_equal(render_camera(world, frame, cam),
                                      render_camera(world, other, cam))
                   for cam in ('CAM_FRONT', 'CAM_BACK')]
        assert any(changed)
        checked += 1
    assert checked >= 1


def test_paint_is_random_and_leaves_the_rest_of_the_map(monkeypatch):
    painted = build_road_map(np.random.default_rng([0, 1000]))
    again = build_road_map(np.random.default_rng([0, 1000]))
    other = build_road_map(np.random.default_rng([1, 1000]))
    monkeypatch.setattr(road_map_module, 'PAINT_PROBABILITY', 1.1)
    full = build_road_map(np.random.default_rng([0, 1000]))
    assert (len(full.layers['ped_crossing']), len(full.layers['stop_line'])) == (36, 18)
    for name in PAINT:  # a strict, non-empty subset of the full paint, deterministic in the seed
        kept, everything = painted.layers[name], full.layers[name]
        assert 0 < len(kept) < len(everything)
        assert all(any(g.equals(f) for f in everything) for g in kept)
        assert [g.wkt for g in kept] == [g.wkt for g in again.layers[name]]
    assert any([g.wkt for g in painted.layers[name]] != [g.wkt for g in other.layers[name]]
               for name in PAINT)
    # buildings, trees, roads and walkways do not depend on the paint
    assert painted.static_boxes == full.static_boxes
    for name in ('drivable_area', 'walkway', 'carpark_area'):
        assert [g.wkt for g in painted.layers[name]] == [g.wkt for g in full.layers[name]]
    # walkers cross only where a crossing is painted; stop lines name only painted crossings
    crossings = shapely.union_all(painted.layers['ped_crossing'])
    flags = [crossings.contains(Point(p.point_at(p.length / 2))) for p in painted.crossing_paths]
    assert flags == painted.crossing_painted and 0 < sum(flags) < len(flags)
    records = road_map_to_json(painted, 'boston-seaport')
    types = {r['stop_line_type'] for r in records['stop_line']}
    assert types == {'PED_CROSSING', 'STOP_SIGN'}
    assert all(bool(r['ped_crossing_tokens']) == (r['stop_line_type'] == 'PED_CROSSING')
               for r in records['stop_line'])


def test_lidar_returns_the_road_intensity_on_paint(tiny_world):
    """Ground returns on crossings, stop lines and dividers have the bare road's intensity."""
    world = tiny_world
    paint = shapely.union_all(world.road_map.layers['ped_crossing']
                              + world.road_map.layers['stop_line']
                              + [d.buffer(0.1) for d in world.road_map.layers['road_divider']])
    on_paint, off_paint = [], []
    for scene in world.scenes:
        frame = world.frame(scene, scene.keyframe_times()[0])
        points, hit = world.lidar_sweep(scene, frame)
        rotation, translation = frame.sensor_pose(world.rig['LIDAR_TOP'])
        ground = points[hit == -1]
        xy = (ground[:, :3].astype(np.float64) @ rotation.T + translation)[:, :2]
        # undo the range fall-off: what is left is the surface's reflectance times the noise
        reflectance = ground[:, 3] / np.exp(-np.linalg.norm(ground[:, :3], axis=1) / 120.0)
        inside = shapely.contains_xy(paint, xy[:, 0], xy[:, 1])
        on_paint.append(reflectance[inside])
        off_paint.append(reflectance[~inside])
    on_paint, off_paint = np.concatenate(on_paint), np.concatenate(off_paint)
    assert len(on_paint) >= 50
    for values in (on_paint, off_paint):  # 12 x U(0.8, 1.2), up to float32 and range noise
        assert values.min() > 12 * 0.8 - 0.1 and values.max() < 12 * 1.2 + 0.1
    assert abs(on_paint.mean() - off_paint.mean()) < 0.3


def test_walkers_cross_only_where_paint_is(tiny_world):
    road_map = tiny_world.road_map
    painted = {id(p) for p, flag in zip(road_map.crossing_paths, road_map.crossing_painted)
               if flag}
    crossing = {id(p) for p in road_map.crossing_paths}
    walkers = [a for scene in tiny_world.scenes for a in scene.agents
               if a.path is not None and id(a.path) in crossing]
    assert walkers and all(id(a.path) in painted for a in walkers)
