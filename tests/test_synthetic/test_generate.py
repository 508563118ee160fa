"""Dataset generation: the same bytes for any number of worker processes, the shared keyframe
data equal to what each writer computes alone, and bad arguments named."""
import os
import shutil

import numpy as np
import pytest
from file_digest import tree_digest

from mmdet3d_plugin.synthetic import LidarSpec, SyntheticWorld, WorldConfig
from mmdet3d_plugin.synthetic.frame_cache import FrameCache
from mmdet3d_plugin.synthetic.generate import (DEFAULT_FORMATS, FORMATS, describe_output,
                                               generate_synthetic)
from mmdet3d_plugin.synthetic.lidar import cast_sweep, count_hits_alone

SCENES = ('scene-0061', 'scene-0103')


def test_output_is_byte_identical_for_one_and_two_workers(tmp_path):
    # what this tests IS generation, so it writes its own worlds, as small as they go: two
    # scenes (one per worker), one keyframe, small images, a coarse LiDAR
    config = WorldConfig(scene_names=SCENES, num_keyframes=1, image_size=(160, 90),
                         lidar=LidarSpec(azimuth_steps=180))
    one = generate_synthetic(str(tmp_path / 'one'), config, FORMATS, progress=False, workers=1)
    two = generate_synthetic(str(tmp_path / 'two'), config, FORMATS, progress=False, workers=2)
    digest_one, digest_two = tree_digest(one), tree_digest(two)
    assert digest_one == digest_two
    folders = {path.split(os.sep)[0] for path in digest_one}
    assert folders == set(FORMATS) | {'GENERATED.txt'}
    # every format holds both scenes' keyframes: 2 scenes x 1 keyframe
    assert sum(p.startswith(os.path.join('occ3d', 'gts')) for p in digest_one) == 2
    assert sum(p.startswith(os.path.join('kitti', 'training', 'label_2')) for p in digest_one) == 2
    assert sum(p.startswith('nuscenes-occupancy') for p in digest_one) == 2
    assert sum(p.startswith(os.path.join('nuscenes', 'samples', 'LIDAR_TOP'))
               for p in digest_one) == 2
    lines = describe_output(one)
    assert [line.split()[0] for line in lines] == list(FORMATS)
    assert all('files' in line and 'MiB' in line for line in lines)
    for out in (one, two):  # ~80 MB each (nuScenes-Occupancy): do not keep them in /tmp
        shutil.rmtree(out)


def test_default_formats_and_bad_arguments(tmp_path):
    assert DEFAULT_FORMATS == ('nuscenes', 'occ3d', 'kitti')
    config = WorldConfig(scene_names=SCENES[:1], num_keyframes=1)
    with pytest.raises(ValueError, match='unknown formats'):
        generate_synthetic(str(tmp_path / 'a'), config, ('nuscenes', 'waymo'))
    with pytest.raises(ValueError, match='workers'):
        generate_synthetic(str(tmp_path / 'b'), config, workers=0)
    assert os.listdir(tmp_path) == []


def test_one_counting_pass_equals_casting_each_box_alone(tiny_world):
    world = tiny_world
    scene = world.scenes[0]
    frame = world.frame(scene, scene.keyframe_times()[0])
    rotation, translation = frame.sensor_pose(world.rig['LIDAR_TOP'])
    counts = count_hits_alone(world.config.lidar, rotation, translation, frame.boxes)
    assert counts.shape == (len(frame.boxes), ) and (counts > 0).sum() >= 20
    for index in range(len(frame.boxes)):
        _, hit = cast_sweep(world.config.lidar, rotation, translation,
                            frame.boxes[index:index + 1], np.zeros(1), np.ones(1, dtype=bool),
                            np.random.default_rng(0))
        assert counts[index] == (hit == 0).sum(), index
    # a box alone gets at least the returns it gets among the others
    _, hit = world.lidar_sweep(scene, frame)
    assert (np.bincount(hit[hit >= 0], minlength=len(counts)) <= counts).all()


def test_frame_cache_returns_what_the_world_computes():
    # small images: all six cameras are rendered twice
    world = SyntheticWorld(WorldConfig(scene_names=SCENES[:1], num_keyframes=2,
                                       image_size=(160, 90)))
    scene = world.scenes[0]
    cache = FrameCache(world)
    keyframe = world.frame(scene, scene.keyframe_times()[1])
    sweep = world.frame(scene, scene.sweep_times()[3])  # between keyframes: not kept
    for frame in (keyframe, sweep):
        points, hit = cache.lidar_sweep(scene, frame)
        expected_points, expected_hit = world.lidar_sweep(scene, frame)
        np.testing.assert_array_equal(points, expected_points)
        np.testing.assert_array_equal(hit, expected_hit)
    assert cache.lidar_sweep(scene, keyframe)[0] is cache.lidar_sweep(scene, keyframe)[0]
    assert cache.lidar_sweep(scene, sweep)[0] is not cache.lidar_sweep(scene, sweep)[0]
    from mmdet3d_plugin.synthetic import render_camera
    alone = cache.camera(scene, keyframe, 'CAM_FRONT')  # rendered alone, then all six
    images = cache.images(scene, keyframe)
    assert len(images) == 6
    np.testing.assert_array_equal(alone, images['CAM_FRONT'])
    np.testing.assert_array_equal(images['CAM_BACK'], render_camera(world, keyframe, 'CAM_BACK'))
    cache.clear()
    with pytest.raises(TypeError, match='SyntheticWorld'):
        FrameCache('world')
