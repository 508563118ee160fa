"""Sensor corruptions: each changes exactly what it should, seeded per sample, built by name."""
import copy
import math

import numpy as np
import pytest
import torch
from mmdet3d.structures import LiDARInstance3DBoxes
from mmdet3d.structures.points import LiDARPoints

from mmdet3d_plugin.datasets.transforms.corruptions import (CORRUPTION_SUITE, beam_keep_mask,
                                                            blend_lens_dirt, build_corruption,
                                                            lens_dirt_mask, sample_identity,
                                                            stable_hash)
from mmdet3d_plugin.registry import TRANSFORMS

NUM_RINGS = 32
NUM_VIEWS = 6
# (x, y, z_bottom, dx, dy, dz, yaw): all within 15 m; background points lie at 30 m.
BOXES = np.array([[10.0, 0.0, -1.5, 4.0, 2.0, 1.6, 0.3],
                  [-8.0, 6.0, -1.5, 2.0, 1.0, 1.8, 1.0],
                  [0.0, -12.0, -1.5, 5.0, 2.5, 2.0, -2.0],
                  [5.0, 9.0, -1.5, 0.8, 0.8, 1.7, 0.0]], dtype=np.float32)
POINTS_PER_BOX = 40
NAMES = ('LimitedField', 'ObstacleOcclusion', 'MissingObjects', 'BeamReduction', 'ViewDrop',
         'ViewNoise', 'MissingCamera', 'MissingLiDAR')


def local_to_lidar(local, box):
    cos, sin = math.cos(box[6]), math.sin(box[6])
    x = local[:, 0] * cos - local[:, 1] * sin + box[0]
    y = local[:, 0] * sin + local[:, 1] * cos + box[1]
    return np.stack([x, y, local[:, 2] + box[2]], axis=1)


def inside_any_box(xyz, boxes=BOXES):
    """Independent numpy point-in-box test, (N, 3) -> (N,) bool."""
    inside = np.zeros(len(xyz), dtype=bool)
    for box in boxes:
        cos, sin = math.cos(box[6]), math.sin(box[6])
        dx, dy = xyz[:, 0] - box[0], xyz[:, 1] - box[1]
        local_x, local_y = dx * cos + dy * sin, -dx * sin + dy * cos
        inside |= ((np.abs(local_x) <= box[3] / 2) & (np.abs(local_y) <= box[4] / 2)
                   & (xyz[:, 2] >= box[2]) & (xyz[:, 2] <= box[2] + box[5]))
    return inside


def make_results(sample_idx=3, token='sample-token-3', image_dtype=np.uint8):
    """Points (x, y, z, intensity, ring): 32 rings x 64 azimuths at 30 m + 40 per box."""
    rng = np.random.default_rng(0)
    rings, azimuths = np.meshgrid(np.arange(NUM_RINGS), np.linspace(-np.pi, np.pi, 64,
                                                                    endpoint=False))
    rings, azimuths = rings.ravel(), azimuths.ravel() + 0.01
    background = np.stack([30 * np.cos(azimuths), 30 * np.sin(azimuths),
                           -2 + 0.2 * rings, rng.uniform(0, 1, rings.size), rings], axis=1)
    parts = [background]
    for box in BOXES:
        local = rng.uniform(-0.45, 0.45, (POINTS_PER_BOX, 3)) * box[3:6]
        local[:, 2] += box[5] / 2
        xyz = local_to_lidar(local, box)
        parts.append(np.concatenate([xyz, rng.uniform(0, 1, (POINTS_PER_BOX, 1)),
                                     rng.integers(0, NUM_RINGS, (POINTS_PER_BOX, 1))], axis=1))
    points = np.concatenate(parts).astype(np.float32)
    images = [rng.integers(1, 256, (24, 32, 3)).astype(image_dtype) for _ in range(NUM_VIEWS)]
    return dict(
        points=LiDARPoints(torch.from_numpy(points), points_dim=5),
        pts_semantic_mask=np.arange(len(points)),
        img=images,
        gt_bboxes_3d=LiDARInstance3DBoxes(torch.from_numpy(BOXES)),
        gt_labels_3d=np.arange(len(BOXES)),
        sample_idx=sample_idx, token=token,
        lidar_points=dict(lidar_path=f'n015-{sample_idx}.pcd.bin', num_pts_feats=5))


def run(config, results=None):
    results = make_results() if results is None else results
    return TRANSFORMS.build(config)(copy.deepcopy(results))


def assert_unchanged(before, after, keys):
    for key in keys:
        if key == 'points':
            assert torch.equal(before['points'].tensor, after['points'].tensor)
        elif key == 'img':
            assert all(np.array_equal(a, b) for a, b in zip(before['img'], after['img']))
        elif key == 'gt_bboxes_3d':
            assert torch.equal(before[key].tensor, after[key].tensor)
        else:
            assert np.array_equal(before[key], after[key]), key


def assert_points_subset(before, after, keep):
    """``after`` holds exactly the rows of ``before`` where ``keep`` is True, masks aligned."""
    assert torch.equal(after['points'].tensor, before['points'].tensor[torch.from_numpy(keep)])
    assert np.array_equal(after['pts_semantic_mask'], before['pts_semantic_mask'][keep])
    assert type(after['points']) is LiDARPoints and after['points'].points_dim == 5
    assert_unchanged(before, after, ['img', 'gt_bboxes_3d', 'gt_labels_3d'])
    assert 'lidar_missing' not in after and 'camera_missing' not in after


def test_suite_table_matches_metabev_and_every_setting_builds_and_runs():
    assert CORRUPTION_SUITE == {
        'limited_field': [180, 120, 90, 60], 'obstacle_occlusion': [None],
        'missing_objects': [0.0, 0.1, 0.3, 0.5, 0.7, 1.0], 'beam_reduction': [32, 16, 8, 4, 1],
        'view_drop': [1, 2, 3, 4, 5, 6], 'view_noise': [1, 2, 3, 4, 5, 6],
        'missing_camera': [None], 'missing_lidar': [None]}
    sample = make_results()
    built = set()
    for name, severities in CORRUPTION_SUITE.items():
        for severity in severities:
            config = build_corruption(name, severity, seed=7)
            transform = TRANSFORMS.build(config)
            assert transform.seed == 7 and type(transform).__name__ == config['type']
            out = transform(copy.deepcopy(sample))
            assert isinstance(out['points'], LiDARPoints) and len(out['img']) == NUM_VIEWS
            built.add(config['type'])
    assert built == set(NAMES)
    assert build_corruption('beam_reduction', 4) == dict(type='BeamReduction', num_beams=4, seed=0)


@pytest.mark.parametrize('name', NAMES)
def test_registered_in_our_scope_without_shadowing_upstream(name):
    from mmcv.transforms import TRANSFORMS as MMCV
    from mmdet.registry import TRANSFORMS as MMDET
    from mmdet3d.registry import TRANSFORMS as MMDET3D
    from mmengine.registry import TRANSFORMS as MMENGINE
    assert TRANSFORMS.module_dict[name].__module__.startswith(
        'mmdet3d_plugin.datasets.transforms.corruptions')
    for upstream in (MMENGINE, MMCV, MMDET, MMDET3D):
        assert name not in upstream.module_dict, f'{name} shadows {upstream.scope}'


def test_build_corruption_rejects_unknown_name_and_severity():
    with pytest.raises(ValueError, match=r"unknown corruption 'fog'.*beam_reduction"):
        build_corruption('fog', 1)
    with pytest.raises(ValueError, match=r"severity 3 .*'beam_reduction'.*\[32, 16, 8, 4, 1\]"):
        build_corruption('beam_reduction', 3)
    with pytest.raises(ValueError, match=r'severity None .*view_drop'):
        build_corruption('view_drop', None)
    with pytest.raises(ValueError, match=r'half_fov_deg'):
        TRANSFORMS.build(dict(type='LimitedField', half_fov_deg=270))
    with pytest.raises(ValueError, match=r'num_beams=5 must divide source_beams=32'):
        TRANSFORMS.build(dict(type='BeamReduction', num_beams=5))


@pytest.mark.parametrize('num_beams, rings', [(16, range(0, 32, 2)), (8, range(1, 32, 4)),
                                              (4, (3, 11, 19, 27)), (1, (15, ))])
def test_beam_reduction_keeps_evenly_spaced_rings(num_beams, rings):
    before = make_results()
    after = run(dict(type='BeamReduction', num_beams=num_beams), before)
    kept = np.unique(after['points'].tensor[:, 4].numpy())
    assert kept.tolist() == list(rings) and len(kept) == num_beams
    assert_points_subset(before, after, np.isin(before['points'].tensor[:, 4].numpy(), rings))
    unchanged = run(dict(type='BeamReduction', num_beams=32), before)
    assert_unchanged(before, unchanged, ['points', 'pts_semantic_mask', 'img'])


def test_beam_reduction_configurable_ring_dim_and_helpful_errors():
    before = make_results()
    moved = before['points'].tensor[:, [0, 1, 2, 4, 3]]
    before['points'] = LiDARPoints(moved, points_dim=5)
    after = run(dict(type='BeamReduction', num_beams=4, ring_dim=3), before)
    assert np.unique(after['points'].tensor[:, 3].numpy()).tolist() == [3, 11, 19, 27]
    no_ring = make_results()
    no_ring['points'] = LiDARPoints(no_ring['points'].tensor[:, :4], points_dim=4)
    with pytest.raises(ValueError, match=r"results\['points'\] has 4 columns.*ring_dim=4"):
        run(dict(type='BeamReduction', num_beams=4), no_ring)
    swept = make_results()
    swept['points'].tensor[:, 4] = 0.05  # what LoadPointsFromMultiSweeps writes (time lag)
    with pytest.raises(ValueError, match=r'ring_dim=4.*before LoadPointsFromMultiSweeps'):
        run(dict(type='BeamReduction', num_beams=4), swept)
    missing = make_results()
    del missing['points']
    with pytest.raises(KeyError, match=r"results\['points'\]"):
        run(dict(type='BeamReduction', num_beams=4), missing)
    assert beam_keep_mask(np.arange(32), 1).nonzero()[0].tolist() == [15]


def test_missing_objects_rate_one_empties_every_box_and_keeps_the_rest():
    before = make_results()
    xyz = before['points'].tensor[:, :3].numpy()
    in_box = inside_any_box(xyz)
    assert in_box.sum() == len(BOXES) * POINTS_PER_BOX
    after = run(dict(type='MissingObjects', drop_rate=1.0), before)
    assert not inside_any_box(after['points'].tensor[:, :3].numpy()).any()
    assert_points_subset(before, after, ~in_box)
    unchanged = run(dict(type='MissingObjects', drop_rate=0.0), before)
    assert_unchanged(before, unchanged, ['points', 'pts_semantic_mask', 'img', 'gt_bboxes_3d'])


def test_missing_objects_removes_whole_objects_and_reads_test_time_boxes():
    before = make_results()
    xyz = before['points'].tensor[:, :3].numpy()
    counts = set()
    for sample_idx in range(12):
        sample = make_results(sample_idx=sample_idx, token=None)
        after = run(dict(type='MissingObjects', drop_rate=0.5), sample)
        kept = after['points'].tensor[:, :3].numpy()
        remaining = [inside_any_box(kept, BOXES[i:i + 1]).sum() for i in range(len(BOXES))]
        assert set(remaining) <= {0, POINTS_PER_BOX}  # an object loses all its points or none
        assert len(after['points']) == len(xyz) - POINTS_PER_BOX * remaining.count(0)
        counts.add(remaining.count(0))
    assert len(counts) > 1  # different samples drop different objects
    test_time = make_results()
    test_time['eval_ann_info'] = dict(gt_bboxes_3d=test_time.pop('gt_bboxes_3d'))
    after = run(dict(type='MissingObjects', drop_rate=1.0), test_time)
    assert len(after['points']) == len(xyz) - len(BOXES) * POINTS_PER_BOX
    del test_time['eval_ann_info']
    with pytest.raises(KeyError, match=r"gt_bboxes_3d.*eval_ann_info"):
        run(dict(type='MissingObjects', drop_rate=1.0), test_time)


@pytest.mark.parametrize('half_fov', [120, 90, 60])
def test_limited_field_keeps_only_the_forward_field(half_fov):
    before = make_results()
    xy = before['points'].tensor[:, :2].numpy().astype(np.float64)
    azimuth = np.degrees(np.arctan2(xy[:, 1], xy[:, 0]))
    after = run(dict(type='LimitedField', half_fov_deg=half_fov), before)
    kept = after['points'].tensor[:, :2].numpy()
    assert np.abs(np.degrees(np.arctan2(kept[:, 1], kept[:, 0]))).max() <= half_fov
    assert_points_subset(before, after, np.abs(azimuth) <= half_fov)
    # nuScenes LIDAR_TOP: lidar2ego turns -90 deg about z, so ego forward is the sensor's +y.
    before['lidar_points']['lidar2ego'] = [[0, 1, 0, 0.9], [-1, 0, 0, 0], [0, 0, 1, 1.8],
                                           [0, 0, 0, 1]]
    after = run(dict(type='LimitedField', half_fov_deg=half_fov), before)
    relative = (azimuth - 90 + 180) % 360 - 180
    assert_points_subset(before, after, np.abs(relative) <= half_fov)
    unchanged = run(dict(type='LimitedField', half_fov_deg=180), before)
    assert_unchanged(before, unchanged, ['points', 'pts_semantic_mask'])


@pytest.mark.parametrize('num_views', [1, 2, 6])
def test_view_drop_blanks_exactly_k_views(num_views):
    before = make_results()
    after = run(dict(type='ViewDrop', num_views=num_views), before)
    blank = [view for view, image in enumerate(after['img']) if not image.any()]
    assert len(blank) == num_views and after['dropped_views'] == blank
    for view in set(range(NUM_VIEWS)) - set(blank):
        assert np.array_equal(after['img'][view], before['img'][view])
    assert all(a.shape == b.shape and a.dtype == b.dtype
               for a, b in zip(after['img'], before['img']))
    assert after['camera_missing'] is (num_views == NUM_VIEWS)
    assert_unchanged(before, after, ['points', 'pts_semantic_mask', 'gt_bboxes_3d'])
    with pytest.raises(ValueError, match=r"num_views=7 but results\['img'\] holds 6"):
        run(dict(type='ViewDrop', num_views=7), before)


@pytest.mark.parametrize('num_views, dtype', [(1, np.uint8), (3, np.float32), (6, np.uint8)])
def test_view_noise_replaces_exactly_k_views(num_views, dtype):
    before = make_results(image_dtype=dtype)
    after = run(dict(type='ViewNoise', num_views=num_views), before)
    changed = [view for view in range(NUM_VIEWS)
               if not np.array_equal(after['img'][view], before['img'][view])]
    assert len(changed) == num_views and after['noised_views'] == changed
    for view in changed:
        image = after['img'][view]
        assert image.dtype == dtype and image.shape == (24, 32, 3)
        assert 0 <= image.min() and image.max() <= 255 and image.std() > 40
    assert 'dropped_views' not in after and 'camera_missing' not in after
    assert_unchanged(before, after, ['points', 'pts_semantic_mask', 'gt_bboxes_3d'])


def test_obstacle_occlusion_covers_the_requested_fraction_of_every_view():
    """The graded blob style (``coverage``, outside the suite)."""
    before = make_results()
    fractions = []
    for coverage in (0.1, 0.2, 0.3, 0.4, 0.5):
        after = run(dict(type='ObstacleOcclusion', coverage=coverage), before)
        for view in range(NUM_VIEWS):
            old, new = before['img'][view], after['img'][view]
            assert new.dtype == old.dtype and new.shape == old.shape
            touched = np.any(new != old, axis=2)
            assert abs(touched.mean() - coverage) <= 0.05, (coverage, touched.mean())
            opaque = np.all(new == np.array([40, 50, 60], dtype=np.uint8), axis=2)
            assert opaque.mean() > 0.25 * coverage  # a solid core, not just a tint
        fractions.append(np.mean([np.any(a != b, axis=2).mean()
                                  for a, b in zip(after['img'], before['img'])]))
        assert_unchanged(before, after, ['points', 'pts_semantic_mask', 'gt_bboxes_3d'])
    assert fractions == sorted(fractions)
    large = make_results()
    large['img'] = [np.full((90, 160, 3), 200, np.float32)]
    out = run(dict(type='ObstacleOcclusion', coverage=0.3), large)['img'][0]
    assert abs(np.any(out != 200, axis=2).mean() - 0.3) <= 0.05


def test_missing_lidar_and_missing_camera_set_the_documented_state():
    before = make_results()
    after = run(dict(type='MissingLiDAR'), before)
    assert type(after['points']) is LiDARPoints and after['points'].tensor.shape == (0, 5)
    assert after['lidar_missing'] is True and len(after['pts_semantic_mask']) == 0
    assert 'camera_missing' not in after
    assert_unchanged(before, after, ['img', 'gt_bboxes_3d', 'gt_labels_3d'])
    after = run(dict(type='MissingCamera'), before)
    assert all(image.shape == (24, 32, 3) and image.dtype == np.uint8 and not image.any()
               for image in after['img'])
    assert after['camera_missing'] is True and after['dropped_views'] == list(range(NUM_VIEWS))
    assert 'lidar_missing' not in after
    assert_unchanged(before, after, ['points', 'pts_semantic_mask', 'gt_bboxes_3d'])
    partial = run(dict(type='ViewDrop', num_views=2), before)
    after = run(dict(type='MissingCamera'), partial)
    assert after['dropped_views'] == list(range(NUM_VIEWS)) and after['camera_missing'] is True


@pytest.mark.parametrize('config', [dict(type='ViewDrop', num_views=2),
                                    dict(type='ViewNoise', num_views=3),
                                    dict(type='MissingObjects', drop_rate=0.5),
                                    dict(type='ObstacleOcclusion', coverage=0.3),
                                    dict(type='ObstacleOcclusion')])
def test_same_seed_and_sample_reproduce_and_other_samples_differ(config):
    def signature(sample_idx, seed=0):
        sample = make_results(sample_idx=sample_idx, token=f'token-{sample_idx}')
        out = run(dict(config, seed=seed), sample)
        return out['points'].tensor.numpy().tobytes() + b''.join(i.tobytes() for i in out['img'])

    assert signature(5) == signature(5)
    assert len({signature(idx) for idx in range(8)}) > 1
    assert len({signature(5, seed) for seed in range(8)}) > 1


def test_sample_identity_prefers_token_and_needs_some_identity():
    assert sample_identity(dict(token='abc', sample_idx=1)) == 'token=abc'
    assert sample_identity(dict(sample_idx=4)) == 'sample_idx=4'
    lidar_only = dict(lidar_points=dict(lidar_path='/data/a/b.bin'))
    assert sample_identity(lidar_only) == 'lidar_path=b.bin'
    assert sample_identity(dict(img_path=['/x/CAM_FRONT.jpg'])) == 'img_path=CAM_FRONT.jpg'
    with pytest.raises(KeyError, match=r"token.*sample_idx"):
        sample_identity(dict(img=[]))


def test_seed_is_pinned_not_salted():
    """Python's ``hash`` of a str changes per process; the pinned values below would not match it.

    These golden values pin the derivation (BLAKE2b of the identity, numpy PCG64), so a sample is
    corrupted identically in every worker, process and future run.
    """
    import hashlib
    digest = hashlib.blake2b(b'token=abc', digest_size=8).digest()
    assert stable_hash('token=abc') == int.from_bytes(digest, 'little') == 8714616673974475261
    images = [np.ones((2, 2, 3), np.uint8)] * NUM_VIEWS
    drop = TRANSFORMS.build(dict(type='ViewDrop', num_views=2, seed=0))
    assert drop(dict(token='abc', img=images))['dropped_views'] == [2, 3]


def test_camera_corruptions_never_write_into_the_input_images():
    for config in (dict(type='ObstacleOcclusion', coverage=0.5), dict(type='ObstacleOcclusion'),
                   dict(type='ViewDrop', num_views=6),
                   dict(type='ViewNoise', num_views=6), dict(type='MissingCamera')):
        results = make_results()
        originals = [image.copy() for image in results['img']]
        inputs = list(results['img'])
        TRANSFORMS.build(config)(results)
        assert all(np.array_equal(a, b) for a, b in zip(inputs, originals)), config['type']


def test_lens_dirt_masks_are_deterministic_distinct_and_mostly_clear():
    first = [lens_dirt_mask(i, mask_seed=3) for i in range(4)]
    lens_dirt_mask.cache_clear()
    again = [lens_dirt_mask(i, mask_seed=3) for i in range(4)]
    for mask, same in zip(first, again):
        assert mask.dtype == np.uint8 and mask.shape == (180, 320, 3)
        assert np.array_equal(mask, same) and not mask.flags.writeable
        dirty = mask.min(axis=2) < 250
        assert 0.02 < dirty.mean() < 0.8 and mask.min() < 100  # dark smudges on a clear lens
    assert len({mask.tobytes() for mask in first}) == 4
    assert not np.array_equal(first[0], lens_dirt_mask(0, mask_seed=4))


def test_lens_dirt_blending_is_the_toolkits_alpha_cubed():
    """out = a * image + (1 - a) * m with a = (m / 255) ** 3, per pixel and channel."""
    image = np.array([[[10, 100, 200], [255, 0, 128]]], dtype=np.uint8)  # (1, 2, 3)
    mask = np.array([[[255, 255, 255], [0, 51, 204]]], dtype=np.uint8)
    out = blend_lens_dirt(image, mask)
    alpha = np.array([0.0, 0.2, 0.8]) ** 3
    expected = alpha * [255, 0, 128] + (1 - alpha) * [0, 51, 204]
    assert out.dtype == np.uint8 and np.array_equal(out[0, 0], image[0, 0])  # white: untouched
    assert np.array_equal(out[0, 1], np.rint(expected).astype(np.uint8))
    as_float = blend_lens_dirt(image.astype(np.float32), mask)
    assert np.allclose(as_float[0, 1], expected, atol=1e-3)
    big = blend_lens_dirt(np.full((36, 64, 3), 90, np.uint8), np.full((9, 16, 3), 255, np.uint8))
    assert big.shape == (36, 64, 3) and (big == 90).all()  # resized to the image


def test_obstacle_occlusion_default_blends_one_mask_per_view():
    before = make_results()
    transform = TRANSFORMS.build(build_corruption('obstacle_occlusion'))
    after = transform(copy.deepcopy(before))
    ids = after['occlusion_masks']
    assert len(ids) == NUM_VIEWS and all(0 <= i < 16 for i in ids) and len(set(ids)) > 1
    for view, mask_id in enumerate(ids):
        expected = blend_lens_dirt(before['img'][view], lens_dirt_mask(mask_id, 0))
        assert np.array_equal(after['img'][view], expected)
    assert_unchanged(before, after, ['points', 'pts_semantic_mask', 'gt_bboxes_3d'])
