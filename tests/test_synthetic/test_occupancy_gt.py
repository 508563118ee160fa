"""Occupancy ground truth of the synthetic world: semantics from the known boxes and map,
ray-cast LiDAR/camera visibility, and the Occ3D / nuScenes-Occupancy writers."""
import os
import time

import numpy as np
import pytest
from shapely.geometry import Point

from mmdet3d_plugin.structures import NUSC_OCC_NOISE_INDEX as NUSC_OCC_NOISE
from mmdet3d_plugin.structures import OCC3D_CLASS_NAMES
from mmdet3d_plugin.structures import OCC3D_FREE_INDEX as OCC3D_FREE
from mmdet3d_plugin.structures import OccupancyGrid, densify_nuscenes_occupancy
from mmdet3d_plugin.synthetic.occupancy import (LABELS, semantic_occupancy,
                                                write_nuscenes_occupancy, write_occ3d)
from mmdet3d_plugin.synthetic.visibility import (camera_visibility, lidar_mask,
                                                 lidar_visibility, occupancy_ground_truth)

SMALL_EGO = dict(point_cloud_range=(-24.0, -24.0, -1.0, 24.0, 24.0, 5.4),
                 voxel_size=(0.4, 0.4, 0.4), shape=(120, 120, 16))
SMALL_LIDAR = dict(point_cloud_range=(-20.0, -20.0, -5.0, 20.0, 20.0, 3.0),
                   voxel_size=(0.4, 0.4, 0.4), shape=(100, 100, 20), frame_of='lidar',
                   free_label=0)


@pytest.fixture(scope='module')
def world(tiny_world):
    """The shared in-memory world (its first scene's second keyframe is the test frame)."""
    return tiny_world


@pytest.fixture(scope='module')
def keyframe(world):
    scene = world.scenes[0]
    return scene, world.frame(scene, scene.keyframe_times()[1])


@pytest.fixture(scope='module')
def ego_gt(world, keyframe):
    grid = OccupancyGrid(**SMALL_EGO)
    return grid, occupancy_ground_truth(world, *keyframe, grid)


def grid_pose(world, frame, frame_of):
    if frame_of == 'ego':
        return frame.ego_rotation, frame.ego_translation
    return frame.sensor_pose(world.rig['LIDAR_TOP'])


def local_boxes(world, frame, frame_of):
    """Boxes (M, 7) in the grid frame and their labels (agents, then statics)."""
    rotation, translation = grid_pose(world, frame, frame_of)
    boxes = frame.boxes.copy()
    boxes[:, :3] = (frame.boxes[:, :3] - translation) @ rotation
    boxes[:, 6] -= np.arctan2(rotation[1, 0], rotation[0, 0])
    labels = [LABELS[a.cls.name] for a in frame.agents]
    labels += [LABELS['manmade' if k == 'building' else 'vegetation'] for k in frame.static_kinds]
    return boxes, np.array(labels)


def centers(grid):
    axes = [grid.lower[a] + (np.arange(grid.shape[a]) + 0.5) * grid.voxel_size[a] for a in range(3)]
    return np.stack(np.meshgrid(*axes, indexing='ij'), -1)


def box_distance(points, box):
    """Largest per-axis distance (m) of points (..., 3) outside ``box`` (<= 0 inside)."""
    rel = points - box[:3]
    c, s = np.cos(box[6]), np.sin(box[6])
    local = np.stack([c * rel[..., 0] + s * rel[..., 1], -s * rel[..., 0] + c * rel[..., 1],
                      rel[..., 2]], -1)
    return (np.abs(local) - box[3:6] / 2).max(-1)


def ground_layer(grid, world, frame):
    z = -grid_pose(world, frame, grid.frame_of)[1][2]
    return int(np.floor((z - grid.point_cloud_range[2]) / grid.voxel_size[2]))


def test_grid_conventions_and_labels():
    from mmdet3d_plugin.evaluation.metrics.occ3d_metric import Occ3DMetric
    from mmdet3d_plugin.structures import NUSC_OCC_CLASS_NAMES
    METRIC_NAMES = Occ3DMetric().class_names
    occ3d, nusc = OccupancyGrid.occ3d_nuscenes(), OccupancyGrid.nuscenes_occupancy()
    assert (occ3d.shape, occ3d.voxel_size, occ3d.frame_of, occ3d.free_label) == (
        (200, 200, 16), (0.4, 0.4, 0.4), 'ego', 17)
    assert occ3d.point_cloud_range == (-40.0, -40.0, -1.0, 40.0, 40.0, 5.4)
    assert (nusc.shape, nusc.voxel_size, nusc.frame_of, nusc.free_label) == (
        (512, 512, 40), (0.2, 0.2, 0.2), 'lidar', 0)
    assert nusc.point_cloud_range == (-51.2, -51.2, -5.0, 51.2, 51.2, 3.0)
    assert OCC3D_CLASS_NAMES == METRIC_NAMES and OCC3D_FREE == 17
    assert NUSC_OCC_CLASS_NAMES[1:] == OCC3D_CLASS_NAMES[1:17]  # same labels 1..16
    with pytest.raises(ValueError, match='shape'):
        OccupancyGrid((-40, -40, -1, 40, 40, 5.4), (0.4, 0.4, 0.4), (200, 200, 15))
    with pytest.raises(ValueError, match='frame_of'):
        OccupancyGrid(**dict(SMALL_EGO, frame_of='world'))
    with pytest.raises(ValueError, match='voxel_size'):
        OccupancyGrid(**dict(SMALL_EGO, voxel_size=(0.4, 0.0, 0.4)))


@pytest.mark.parametrize('spec', [SMALL_EGO, SMALL_LIDAR], ids=['ego', 'lidar'])
def test_semantics_match_boxes_and_map(world, keyframe, spec):
    _, frame = keyframe
    grid = OccupancyGrid(**spec)
    semantics = semantic_occupancy(world, frame, grid)
    assert semantics.shape == grid.shape and semantics.dtype == np.uint8
    boxes, labels = local_boxes(world, frame, grid.frame_of)
    ground = ground_layer(grid, world, frame)
    assert 0 <= ground < grid.shape[2] - 1
    index, inside = grid.voxel_of(boxes[:, :3])
    agents = np.arange(frame.num_agents)
    assert inside[agents].sum() >= 5
    for m in agents[inside[agents]]:  # every agent's centre voxel has its class
        assert semantics[tuple(index[m])] == labels[m], frame.agents[m].cls.name
    # above the ground: a voxel is occupied exactly when its centre is in a box (or an agent's
    # centre column); far from every box it is free
    all_centers = centers(grid)
    pts = all_centers[:, :, ground + 1:].reshape(-1, 3)
    above = semantics[:, :, ground + 1:].reshape(-1)
    near = np.zeros(len(pts), dtype=bool)
    for box, label in zip(boxes, labels):
        radius = np.hypot(box[3], box[4]) / 2 + 0.5
        close = np.nonzero(np.hypot(*(pts[:, :2] - box[:2]).T) < radius)[0]
        distance = box_distance(pts[close], box)
        near[close[distance <= 0.5]] = True
        assert (above[close[distance <= -1e-6]] == label).all()
    assert near.any() and (above[~near] == grid.free_label).all()
    assert (semantics[:, :, :ground] == grid.free_label).all()
    # the ground layer follows the map; the ground under the ego is drivable
    assert (semantics[:, :, ground] != grid.free_label).all()
    rotation, translation = grid_pose(world, frame, grid.frame_of)
    ego_voxel = grid.voxel_of((frame.ego_translation - translation) @ rotation)[0][0]
    assert semantics[ego_voxel[0], ego_voxel[1], ground] == LABELS['driveable_surface']
    layers = world.road_map.layers
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, grid.shape[:2], (150, 2)):
        x, y, _ = rotation @ all_centers[i, j, ground] + translation
        point = Point(x, y)
        if any(p.contains(point) for p in layers['drivable_area'] + layers['ped_crossing']):
            expected = 'driveable_surface'
        elif any(p.contains(point) for p in layers['walkway']):
            expected = 'sidewalk'
        elif any(p.contains(point) for p in layers['carpark_area']):
            expected = 'other_flat'
        else:
            expected = 'terrain'
        assert semantics[i, j, ground] == LABELS[expected], (i, j, expected)


def test_lidar_mask_contains_every_return(world, keyframe, ego_gt):
    scene, frame = keyframe
    grid, gt = ego_gt
    mask = gt['mask_lidar']
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    points = world.lidar_sweep(scene, frame)[0][:, :3].astype(np.float64)
    lidar_rotation, lidar_translation = frame.sensor_pose(world.rig['LIDAR_TOP'])
    ego = (points @ lidar_rotation.T + lidar_translation - frame.ego_translation) @ \
        frame.ego_rotation
    index, inside = grid.voxel_of(ego)
    assert inside.sum() > 1000
    assert mask[tuple(index[inside].T)].all()  # every return's voxel is observed
    sensor = grid.voxel_of((lidar_translation - frame.ego_translation) @ frame.ego_rotation)[0][0]
    assert mask[tuple(sensor)]
    np.testing.assert_array_equal(mask, lidar_mask(world, scene, frame, grid))


def interior(grid, semantics, world, frame, margin):
    """Voxels deeper than ``margin`` inside a building, above the ground layer."""
    boxes, labels = local_boxes(world, frame, grid.frame_of)
    pts = centers(grid)
    deep = np.zeros(grid.shape, dtype=bool)
    for box in boxes[labels == LABELS['manmade']]:
        if np.abs(box[:2]).max() < max(grid.point_cloud_range[3:5]) + max(box[3:5]):
            deep |= box_distance(pts, box) < -margin
    deep[:, :, :ground_layer(grid, world, frame) + 1] = False
    assert (semantics[deep] == LABELS['manmade']).all()
    return deep


def test_masks_do_not_see_into_buildings(world, keyframe, ego_gt):
    grid, gt = ego_gt
    deep = interior(grid, gt['semantics'], world, keyframe[1], margin=0.6)
    assert deep.sum() > 100
    assert not gt['mask_camera'][deep].any()
    assert not gt['mask_lidar'][deep].any()
    visible_walls = gt['mask_camera'].astype(bool) & (gt['semantics'] == LABELS['manmade'])
    assert visible_walls.sum() > 50


def test_camera_mask_sees_the_free_space_in_front(world, keyframe, ego_gt):
    grid, gt = ego_gt
    camera = world.rig['CAM_FRONT'].translation
    ahead = camera + np.array([[d, 0.0, 0.0] for d in (0.8, 1.6, 2.4, 3.2)])
    index, inside = grid.voxel_of(ahead)
    assert inside.all()
    assert (gt['semantics'][tuple(index.T)] == grid.free_label).all()
    assert gt['mask_camera'][tuple(index.T)].all()
    assert gt['mask_camera'].mean() > 0.05


def test_ray_traversal_equals_brute_force():
    grid = OccupancyGrid((0.0, 0.0, 0.0, 3.0, 2.0, 1.5), (0.5, 0.5, 0.5), (6, 4, 3))
    lo = centers(grid) - 0.25
    hi = centers(grid) + 0.25
    rng = np.random.default_rng(1)
    for _ in range(300):
        origin = rng.uniform([-1, -1, -1], [4, 3, 2.5])
        end = rng.uniform([-1, -1, -1], [4, 3, 2.5])
        mask = lidar_visibility(origin, end[None], grid).astype(bool)
        d = end - origin  # slab test of the segment against every voxel
        with np.errstate(divide='ignore', invalid='ignore'):
            t_a, t_b = (lo - origin) / d, (hi - origin) / d
        t_in = np.clip(np.minimum(t_a, t_b).max(-1), 0, 1)
        t_out = np.clip(np.maximum(t_a, t_b).min(-1), 0, 1)
        crossed = t_out - t_in > 1e-9 * np.linalg.norm(d)
        assert (crossed <= mask).all()  # every voxel the segment crosses is marked ...
        touched = t_out - t_in >= -1e-9
        assert (mask <= touched).all()  # ... and nothing it does not touch


def test_camera_rays_stop_at_the_first_occupied_voxel():
    grid = OccupancyGrid((0.0, -2.0, -2.0, 10.0, 2.0, 2.0), (1.0, 1.0, 1.0), (10, 4, 4))
    occupied = np.zeros(grid.shape, dtype=bool)
    occupied[5] = True  # a wall at x in [5, 6)
    directions = np.stack([np.ones(50), np.linspace(-0.3, 0.3, 50), np.zeros(50)], 1)
    mask = camera_visibility(np.array([0.5, 0.1, 0.1]), directions, occupied, grid)
    assert mask[:5, 1:3, 2].all() and mask[5, 1:3, 2].all()
    assert not mask[6:].any()
    # a zero direction sees only the camera's own voxel (and terminates)
    still = camera_visibility(np.array([0.5, 0.1, 0.1]), np.zeros((1, 3)), occupied, grid)
    assert still.sum() == 1 and still[0, 2, 2]


def test_writers_round_trip(world, keyframe, ego_gt, tmp_path):
    _, frame = keyframe
    grid, gt = ego_gt
    path = write_occ3d(str(tmp_path), 'scene-0061', 'a' * 32, gt['semantics'],
                       gt['mask_lidar'].astype(bool), gt['mask_camera'])
    assert path == os.path.join(str(tmp_path), 'gts', 'scene-0061', 'a' * 32, 'labels.npz')
    with np.load(path) as data:
        assert sorted(data.files) == ['mask_camera', 'mask_lidar', 'semantics']
        for key in data.files:
            assert data[key].dtype == np.uint8
            np.testing.assert_array_equal(data[key], gt[key])
    nusc_grid = OccupancyGrid(**SMALL_LIDAR)
    dense = semantic_occupancy(world, frame, nusc_grid)
    dense[0, 1, 2] = NUSC_OCC_NOISE
    path = write_nuscenes_occupancy(str(tmp_path), 'b' * 32, 'c' * 32, dense)
    assert path == os.path.join(str(tmp_path), f'scene_{"b" * 32}', 'occupancy', f'{"c" * 32}.npy')
    sparse = np.load(path)
    assert sparse.ndim == 2 and sparse.shape[1] == 4 and sparse.dtype == np.int64
    assert len(sparse) == np.count_nonzero(dense) and [0, 0, 0, 0] not in sparse.tolist()
    assert [2, 1, 0, 0] in sparse.tolist()  # [z, y, x, cls], noise written as 0
    # densify as OpenOccupancy's LoadOccupancy does (voxel -> world -> voxel, 0 -> 255)
    lower, size = np.array(nusc_grid.point_cloud_range[:3]), np.array(nusc_grid.voxel_size)
    xyz = ((sparse[:, [2, 1, 0]] + 0.5) * size + lower - lower) / size
    label = np.where(sparse[:, 3] == 0, 255, sparse[:, 3])
    loaded = np.zeros(nusc_grid.shape, dtype=np.uint8)
    loaded[tuple(xyz.astype(np.int64).T)] = label
    np.testing.assert_array_equal(loaded, dense)
    np.testing.assert_array_equal(densify_nuscenes_occupancy(sparse, nusc_grid.shape), dense)
    files = sorted(os.path.relpath(os.path.join(d, f), tmp_path)
                   for d, _, names in os.walk(tmp_path) for f in names)
    assert files == [os.path.join('gts', 'scene-0061', 'a' * 32, 'labels.npz'),
                     os.path.join(f'scene_{"b" * 32}', 'occupancy', f'{"c" * 32}.npy')]


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    semantics = np.full((4, 4, 2), OCC3D_FREE, dtype=np.uint8)
    ones = np.ones((4, 4, 2), dtype=np.uint8)
    path = write_occ3d(str(tmp_path), 's', 't', semantics, ones, ones)

    def broken(*args, **kwargs):
        raise OSError('disk full')
    monkeypatch.setattr(np.lib.format, 'write_array', broken)  # fails inside the .npz
    with pytest.raises(OSError):
        write_occ3d(str(tmp_path), 's', 't', semantics, ones * 0, ones * 0)
    assert os.listdir(os.path.dirname(path)) == ['labels.npz']
    assert np.load(path)['mask_lidar'].all()  # the earlier file is intact


def test_bad_arguments_are_named(world, keyframe, tmp_path):
    volume = np.zeros((4, 4, 2), dtype=np.uint8)
    with pytest.raises(ValueError, match='mask_camera'):
        write_occ3d(str(tmp_path), 's', 't', volume, volume, volume[:2])
    with pytest.raises(ValueError, match='mask_lidar'):
        write_occ3d(str(tmp_path), 's', 't', volume, volume + 2, volume)
    with pytest.raises(ValueError, match='semantics'):
        write_occ3d(str(tmp_path), 's', 't', volume + 18, volume, volume)
    with pytest.raises(ValueError, match='scene_name'):
        write_occ3d(str(tmp_path), '../s', 't', volume, volume, volume)
    with pytest.raises(ValueError, match='semantics'):
        write_nuscenes_occupancy(str(tmp_path), 's', 't', volume + 17)
    with pytest.raises(TypeError, match='grid'):
        semantic_occupancy(world, keyframe[1], SMALL_EGO)
    with pytest.raises(ValueError, match='frame_of'):
        semantic_occupancy(world, keyframe[1], OccupancyGrid(**SMALL_EGO), frame_of='world')
    assert not os.listdir(tmp_path)


def test_full_occ3d_grid_is_fast(world, keyframe):
    grid = OccupancyGrid.occ3d_nuscenes()
    occupancy_ground_truth(world, *keyframe, grid)  # compiled and cached already; warm up
    start = time.perf_counter()
    gt = occupancy_ground_truth(world, *keyframe, grid)
    elapsed = time.perf_counter() - start
    assert {k: v.shape for k, v in gt.items()} == {k: (200, 200, 16) for k in gt}
    assert elapsed < 10.0, f'{elapsed:.2f} s for one Occ3D keyframe (about 0.4 s expected)'
