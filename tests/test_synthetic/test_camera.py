"""Camera renderer of the synthetic world: projection, colours, LiDAR consistency, clipping."""
import colorsys

import numpy as np
import pytest
from shapely.geometry import Point

from mmdet3d_plugin.synthetic import (CAMERA_NAMES, CLASS_BY_NAME, OBJECT_CLASSES, Agent,
                                      FrameState, project_points, render_all, render_camera)
from mmdet3d_plugin.synthetic.camera import COLORS, NEAR_PLANE
from mmdet3d_plugin.synthetic.camera_geometry import box_corners, clip_polygon, clip_polygons

CHROMATIC = [c for c in OBJECT_CLASSES if max(c.color) - min(c.color) > 100]  # not the barrier


@pytest.fixture(scope='module')
def world(tiny_world):
    """The shared in-memory world: two scenes of three keyframes."""
    return tiny_world


@pytest.fixture(scope='module')
def frame(world):
    scene = world.scenes[0]
    return world.frame(scene, scene.keyframe_times()[1])


def hue_sat(rgb):
    return colorsys.rgb_to_hsv(*(np.asarray(rgb, dtype=np.float64) / 255.0))[:2]


def has_class_hue(rgb, cls, tol=0.03):
    (hue, sat), (ref_hue, ref_sat) = hue_sat(rgb), hue_sat(cls.color)
    return abs((hue - ref_hue + 0.5) % 1.0 - 0.5) < tol and abs(sat - ref_sat) < 0.15


def patch(image, u, v, r=2):
    """Median colour of the (2r+1)^2 patch at pixel (u, v) (removes the sensor noise)."""
    u, v = int(round(u)), int(round(v))
    return np.median(image[v - r:v + r + 1, u - r:u + r + 1].reshape(-1, 3), axis=0)


def frame_with(frame, agents, statics=()):
    """``frame`` with only the given agents and statics, posed in the ego frame.

    Args:
        agents: ``[(ObjectClass, x, y, yaw)]``, ``statics``: ``[(kind, (x, y, z, l, w, h, yaw))]``.
    """
    rot, trans = frame.ego_rotation, frame.ego_translation
    heading = np.arctan2(rot[1, 0], rot[0, 0])
    world_agents, boxes = [], []
    for k, (cls, x, y, yaw) in enumerate(agents):
        gx, gy, _ = rot @ np.array([x, y, 0.0]) + trans
        world_agents.append(Agent(f'test-{k}', cls, cls.size, pose=(gx, gy, heading + yaw)))
        boxes.append(world_agents[-1].box_at(0.0))
    for _, (x, y, z, length, width, height, yaw) in statics:
        boxes.append(np.r_[rot @ np.array([x, y, z]) + trans, length, width, height,
                           heading + yaw])
    return FrameState(frame.timestamp, rot, trans, world_agents, np.array(boxes).reshape(-1, 7),
                      np.zeros((len(agents), 2)), [kind for kind, _ in statics])


def test_images_have_rig_size_and_are_deterministic(world, frame):
    images = render_all(world, frame)
    assert list(images) == list(CAMERA_NAMES)
    for name, image in images.items():
        width, height = world.rig[name].image_size
        assert image.shape == (height, width, 3) and image.dtype == np.uint8
        assert image.std() > 10  # not blank
    again = render_all(world, world.frame(world.scenes[0], frame.timestamp))
    for name in CAMERA_NAMES:
        np.testing.assert_array_equal(images[name], again[name])
    np.testing.assert_array_equal(render_camera(world, frame, 'CAM_BACK'), images['CAM_BACK'])


def test_project_points_follows_rig_convention(world, frame):
    rotation, translation = frame.sensor_pose(world.rig['CAM_FRONT'])
    ahead = np.array([[0.0, 0.0, 10.0], [1.0, -0.5, 5.0], [0.0, 0.0, -3.0]]) @ rotation.T
    uv, depth = project_points(world, frame, 'CAM_FRONT', ahead + translation)
    k = world.rig['CAM_FRONT'].intrinsic
    np.testing.assert_allclose(depth, [10.0, 5.0, -3.0])
    np.testing.assert_allclose(uv[0], k[:2, 2])
    np.testing.assert_allclose(uv[1], k[:2, 2] + k[0, 0] * np.array([1.0, -0.5]) / 5.0)


def test_front_camera_sees_road_below_and_sky_above(world):
    layers = world.road_map.layers
    marks = layers['ped_crossing'] + layers['stop_line'] + [d.buffer(0.5)
                                                            for d in layers['road_divider']]
    sensor = world.rig['CAM_FRONT']
    width, height = sensor.image_size
    checked = 0
    for scene in world.scenes:
        for timestamp in scene.keyframe_times():
            frame = world.frame(scene, timestamp)
            image = render_camera(world, frame, 'CAM_FRONT')
            rotation, translation = frame.sensor_pose(sensor)
            ray = rotation @ np.linalg.solve(sensor.intrinsic, [width / 2, height - 4, 1.0])
            ground = Point(*(translation + ray * -translation[2] / ray[2])[:2])
            if any(m.contains(ground) for m in marks):
                continue
            assert layers['drivable_area'][0].contains(ground)
            np.testing.assert_allclose(patch(image, width / 2, height - 4),
                                       COLORS['drivable_area'], atol=8)
            red, green, blue = patch(image, width / 2, 3)
            assert blue > red + 40 and blue > green + 20 and blue > 150  # sky
            checked += 1
    assert checked >= 3


@pytest.mark.parametrize('camera', CAMERA_NAMES)
def test_agent_in_front_of_camera_has_its_class_colour(world, frame, camera):
    sensor = world.rig[camera]
    rot, trans = sensor.rotation, sensor.translation  # camera-to-ego
    yaw_cam = np.arctan2((rot @ [0, 0, 1.0])[1], (rot @ [0, 0, 1.0])[0])
    for cls in CHROMATIC:
        x, y = (trans + rot @ np.array([0.0, 0.0, 9.0]))[:2]  # 9 m along the optical axis
        test_frame = frame_with(frame, [(cls, x, y, yaw_cam + 0.4)])
        image = render_camera(world, test_frame, camera)
        uv, depth = project_points(world, test_frame, camera, test_frame.boxes[:1, :3])
        width, height = sensor.image_size
        assert depth[0] > 0 and 0 <= uv[0, 0] < width and 0 <= uv[0, 1] < height
        assert has_class_hue(patch(image, *uv[0]), cls), (camera, cls.name)


def test_near_object_occludes_long_wall_behind_it(world, frame):
    """Painter's order: a pedestrian in front of the far end of a long wall stays visible
    (sorting whole faces by their centroids would paint the wall over it)."""
    pedestrian = CLASS_BY_NAME['pedestrian']
    wall = ('building', (15.0, 10.0, 5.0, 20.0, 2.0, 10.0, 0.0))
    test_frame = frame_with(frame, [(pedestrian, 22.0, 8.0, 0.0)], [wall])
    image = render_camera(world, test_frame, 'CAM_FRONT')
    uv, depth = project_points(world, test_frame, 'CAM_FRONT', test_frame.boxes[:1, :3])
    assert has_class_hue(patch(image, *uv[0], r=1), pedestrian)


def test_lidar_points_project_into_their_box_and_onto_its_colour(world):
    pairs, matched, total = 0, 0, 0
    for scene in world.scenes:
        frame = world.frame(scene, scene.keyframe_times()[1])
        images = render_all(world, frame)
        points, hit = world.lidar_sweep(scene, frame)
        rotation, translation = frame.sensor_pose(world.rig['LIDAR_TOP'])
        points_global = points[:, :3].astype(np.float64) @ rotation.T + translation
        for i in range(frame.num_agents):
            on_box = points_global[hit == i]
            if len(on_box) < 10:
                continue
            for camera in CAMERA_NAMES:
                width, height = world.rig[camera].image_size
                corner_uv, corner_depth = project_points(world, frame, camera,
                                                         box_corners(frame.boxes[i])[0])
                lo, hi = corner_uv.min(0), corner_uv.max(0)
                if corner_depth.min() < 0.5 or (hi < 0).any() or lo[0] >= width or \
                        lo[1] >= height:
                    continue  # the camera does not see the whole box
                uv, depth = project_points(world, frame, camera, on_box)
                assert (depth > 0).all()
                assert ((uv >= lo - 1e-6) & (uv <= hi + 1e-6)).all(), (scene.name, i, camera)
                pairs += 1
                cls = frame.agents[i].cls
                pix = np.round(uv).astype(int)
                inside = (pix >= 0).all(1) & (pix[:, 0] < width) & (pix[:, 1] < height)
                if cls in CHROMATIC:  # LiDAR and camera see almost the same surface
                    colours = images[camera][pix[inside, 1], pix[inside, 0]]
                    matched += sum(has_class_hue(c, cls, tol=0.05) for c in colours)
                    total += int(inside.sum())
    assert pairs >= 5 and total >= 200
    assert matched / total > 0.85


def test_near_plane_clipping():
    square = np.array([[-1.0, 0.0, -2.0], [1.0, 0.0, -2.0], [1.0, 0.0, 2.0], [-1.0, 0.0, 2.0]])
    clipped = clip_polygon(square, NEAR_PLANE)
    assert clipped.shape == (4, 3) and (clipped[:, 2] >= NEAR_PLANE - 1e-12).all()
    np.testing.assert_allclose(sorted(clipped[:, 2]), [NEAR_PLANE, NEAR_PLANE, 2.0, 2.0])
    assert len(clip_polygon(square - [0, 0, 5.0], NEAR_PLANE)) == 0  # behind the camera
    vertices, keep = clip_polygons(square[None], NEAR_PLANE)
    assert np.isfinite(vertices).all() and keep.sum() == 4


def test_box_straddling_the_camera_plane_is_clipped_not_flipped(world, frame):
    """A car beside CAM_FRONT reaching behind it covers only the right image border."""
    car = CLASS_BY_NAME['car']
    x_cam, y_cam, _ = world.rig['CAM_FRONT'].translation
    test_frame = frame_with(frame, [(car, x_cam + 0.5, y_cam - 2.5, 0.0)])  # 2.5 m to the right
    corners = box_corners(test_frame.boxes[0])[0]
    _, depth = project_points(world, test_frame, 'CAM_FRONT', corners)
    assert depth.min() < 0 < depth.max()
    images = render_all(world, test_frame)
    assert all(np.isfinite(image).all() for image in images.values())
    image = images['CAM_FRONT']
    width, height = world.rig['CAM_FRONT'].image_size
    assert has_class_hue(patch(image, width - 4, height / 2), car)
    assert not any(has_class_hue(patch(image, u, v), car)
                   for u in range(4, width // 2, 20) for v in range(4, height - 4, 20))
