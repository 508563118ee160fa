"""LoadMultiViewImages, ImageAug3D and Pack3DDetBEVInputs on the synthetic world.

Geometry checks: LiDAR points project onto pixels of their own object colour (through
``lidar2img``, then ``img_aug_matrix``), markers painted at projected points land where the
matrix says after resize/crop/flip/rotation, and the composition with ``GlobalAugmentAll``'s
``lidar_aug_matrix`` holds for augmented points.
"""
import copy

import cv2
import numpy as np
import pytest
import torch

from mmdet3d_plugin.synthetic.classes import OBJECT_CLASSES
from mmdet3d_plugin.synthetic.nuscenes_tables import LIDARSEG_CLASSES

CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT')
PREFIX = dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP', img='',
              **{cam: f'samples/{cam}' for cam in CAMERAS})
LOADS = [dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
         dict(type='LoadMultiViewImages'), dict(type='LoadAnnotations3D')]
TRAIN_AUG = dict(type='ImageAug3D', final_dim=(128, 352), resize_lim=(0.8, 1.1),
                 bot_pct_lim=(0.0, 0.22), rot_lim=(-10.0, 10.0), rand_flip=True, is_train=True)


@pytest.fixture(scope='module')
def root(synthetic_world):
    return synthetic_world.nuscenes


def build(spec):
    from mmdet3d.registry import TRANSFORMS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet3d_plugin'):
        return TRANSFORMS.build(spec)


@pytest.fixture(scope='module')
def loaded(root):
    """Results of the first train sample after LOADS (no packing)."""
    from mmdet3d.datasets import NuScenesDataset
    dataset = NuScenesDataset(data_root=str(root), ann_file='nuscenes_infos_train.pkl',
                              data_prefix=PREFIX, pipeline=[], filter_empty_gt=False,
                              modality=dict(use_lidar=True, use_camera=True))
    results = dataset.get_data_info(0)
    results.update(box_type_3d=dataset.box_type_3d, box_mode_3d=dataset.box_mode_3d)
    for spec in LOADS:
        results = build(spec)(results)
    return results


@pytest.fixture(scope='module')
def object_points(root, loaded):
    """LiDAR points on detection objects (lidarseg) and their class colours (RGB)."""
    labels = np.fromfile(root / 'lidarseg/v1.0-mini' / loaded['pts_semantic_mask_path'], np.uint8)
    by_category = {c.category: c.color for c in OBJECT_CLASSES if c.name != 'barrier'}  # grey
    colors = np.array([by_category.get(name, (0, 0, 0)) for name in LIDARSEG_CLASSES], float)
    keep = colors[labels].any(axis=1)
    xyz = loaded['points'].tensor.numpy()[keep, :3].astype(np.float64)
    assert keep.sum() > 1000
    return xyz, colors[labels[keep]]


def project(xyz, lidar2img, img_aug):
    """Pixels (u', v') and depth of (M, 3) LiDAR points in one view: aug @ [u, v, d, 1]."""
    camera = np.c_[xyz, np.ones(len(xyz))] @ np.asarray(lidar2img, np.float64).T
    depth = camera[:, 2]
    uvd = np.c_[camera[:, :2] / np.maximum(depth, 1e-6)[:, None], depth, np.ones(len(depth))]
    return (uvd @ np.asarray(img_aug, np.float64).T)[:, :2], depth


def colour_agreement(results, xyz, colors, img_aug=None):
    """Share of visible object points whose pixel has the hue of their class (cos > 0.97)."""
    agree, total = 0, 0
    height, width = results['img'][0].shape[:2]
    for view, image in enumerate(results['img']):
        aug = results['img_aug_matrix'][view] if img_aug is None else img_aug[view]
        uv, depth = project(xyz, results['lidar2img'][view], aug)
        iu, iv = np.rint(uv[:, 0]).astype(int), np.rint(uv[:, 1]).astype(int)
        ok = (depth > 1.0) & (iu >= 0) & (iu < width) & (iv >= 0) & (iv < height)
        pixels = image[iv[ok], iu[ok], ::-1].astype(np.float64)  # BGR -> RGB
        cos = (pixels * colors[ok]).sum(1) / (
            np.linalg.norm(pixels, axis=1) * np.linalg.norm(colors[ok], axis=1) + 1e-9)
        agree, total = agree + int((cos > 0.97).sum()), total + int(ok.sum())
    assert total > 500
    return agree / total


# ---------------------------------------------------------------------------------- loading
def test_loader_contract(root, loaded):
    results = loaded
    assert results['cam_names'] == list(CAMERAS) and results['num_views'] == 6
    assert len(results['img']) == 6 and len(results['img_path']) == 6
    for camera, path, image in zip(CAMERAS, results['img_path'], results['img']):
        assert f'samples/{camera}/' in path
        assert image.shape == (225, 400, 3) and image.dtype == np.float32
        np.testing.assert_array_equal(image, cv2.imread(path).astype(np.float32))  # BGR
    assert results['img_shape'] == results['ori_shape'] == (225, 400)
    info = results['images']
    for key in ('cam2img', 'lidar2cam', 'lidar2img', 'cam2lidar', 'img_aug_matrix'):
        assert results[key].shape == (6, 4, 4) and results[key].dtype == np.float32, key
    for view, camera in enumerate(CAMERAS):
        k = np.eye(4)
        k[:3, :3] = info[camera]['cam2img']
        np.testing.assert_allclose(results['cam2img'][view], k, atol=1e-4)
        lidar2cam = np.array(info[camera]['lidar2cam'])
        np.testing.assert_allclose(results['lidar2cam'][view], lidar2cam, atol=1e-5)
        np.testing.assert_allclose(results['lidar2img'][view], k @ lidar2cam, rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(results['cam2lidar'][view], np.linalg.inv(lidar2cam),
                                   atol=1e-5)
    np.testing.assert_array_equal(results['img_aug_matrix'], np.tile(np.eye(4), (6, 1, 1)))


def test_loader_camera_order_is_configurable(loaded):
    order = ['CAM_BACK', 'CAM_FRONT']
    results = build(dict(type='LoadMultiViewImages', cameras=order))(copy.deepcopy(loaded))
    assert results['cam_names'] == order and results['num_views'] == 2
    np.testing.assert_array_equal(results['img'][0], loaded['img'][3])
    np.testing.assert_array_equal(results['lidar2img'][1], loaded['lidar2img'][0])
    assert results['img_path'] == [loaded['img_path'][3], loaded['img_path'][0]]


def test_projected_object_points_have_their_class_colour(loaded, object_points):
    assert colour_agreement(loaded, *object_points) > 0.97


# ---------------------------------------------------------------------------------- ImageAug3D
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_augmented_projection_keeps_object_colours(loaded, object_points, seed):
    np.random.seed(seed)
    results = build(TRAIN_AUG)(copy.deepcopy(loaded))
    assert [image.shape for image in results['img']] == [(128, 352, 3)] * 6
    assert results['img'][0].dtype == np.float32 and results['img_shape'] == (128, 352)
    assert colour_agreement(results, *object_points) > 0.95
    # ignoring the augmentation (identity) puts most points on the wrong pixels
    assert colour_agreement(results, *object_points, img_aug=np.tile(np.eye(4), (6, 1, 1))) < 0.7


def test_markers_land_where_the_matrix_says(loaded, object_points):
    """Paint a 3x3 marker at each projected point of the un-augmented image, augment, and find
    each marker's centroid at ``img_aug_matrix @ (u, v, d, 1)`` (any resize/crop/flip/turn)."""
    xyz = object_points[0][::40]
    canvas = copy.deepcopy(loaded)
    expected = []
    for view in range(6):
        uv, depth = project(xyz, loaded['lidar2img'][view], np.eye(4))
        ok = (depth > 1) & (uv[:, 0] > 20) & (uv[:, 0] < 380) & (uv[:, 1] > 20) & (uv[:, 1] < 205)
        image = np.zeros((225, 400, 3), np.float32)
        kept = []
        for u, v in np.rint(uv[ok]).astype(int):  # well separated markers only
            if all(abs(u - a) > 12 or abs(v - b) > 12 for a, b in kept):
                kept.append((u, v))
                image[v - 1:v + 2, u - 1:u + 2] = 255.0
        canvas['img'][view] = image
        expected.append(np.array(kept, float))
    assert sum(len(k) for k in expected) >= 10
    checked = 0
    for seed in range(4):
        np.random.seed(seed)
        results = build(TRAIN_AUG)(copy.deepcopy(canvas))
        for view, kept in enumerate(expected):
            if not len(kept):
                continue
            target = (np.c_[kept, np.ones(len(kept)), np.ones(len(kept))]
                      @ results['img_aug_matrix'][view].astype(np.float64).T)[:, :2]
            weight = results['img'][view][..., 0]
            rows, cols = np.mgrid[:128, :352]
            for u, v in target:
                if not (6 <= u < 346 and 6 <= v < 122):
                    continue
                window = (np.abs(cols - u) <= 4) & (np.abs(rows - v) <= 4)
                mass = weight[window].sum()
                assert mass > 255 * 4, (seed, view, u, v)  # the marker is there
                centroid = np.array([(cols[window] * weight[window]).sum(),
                                     (rows[window] * weight[window]).sum()]) / mass
                assert np.abs(centroid - (u, v)).max() < 0.35, (seed, view, centroid, (u, v))
                checked += 1
        flips = [p['flip'] for p in results['img_aug_params']]
    assert checked >= 20 and any(flips)


def test_test_mode_is_centred_and_deterministic(loaded):
    aug = build(dict(TRAIN_AUG, is_train=False, resize_lim=(0.93, 0.93), bot_pct_lim=(0, 0)))
    first, second = aug(copy.deepcopy(loaded)), aug(copy.deepcopy(loaded))
    np.testing.assert_array_equal(first['img_aug_matrix'], second['img_aug_matrix'])
    # 400 x 225 * 0.93 = 372 x 209: crop x 10 (centred), y 81 (bottom kept), no flip/rotation
    expected = np.eye(4)
    expected[0, 0] = expected[1, 1] = 0.93
    expected[:2, 3] = (-10, -81)
    np.testing.assert_allclose(first['img_aug_matrix'][2], expected, atol=1e-6)
    # bilinear sample of the original at (u + 10, v + 81) / 0.93
    u, v = 100, 50
    np.testing.assert_allclose(first['img'][2][v, u],
                               cv2.getRectSubPix(loaded['img'][2], (1, 1),
                                                 ((u + 10) / 0.93, (v + 81) / 0.93))[0, 0],
                               atol=0.05)


def test_composition_with_global_augmentation(root, loaded):
    """An augmented point q maps to img_aug @ lidar2img @ inv(lidar_aug) @ q, the pixel the
    un-augmented point p had after the image augmentation."""
    np.random.seed(3)
    global_aug = build(dict(type='GlobalAugmentAll', rot_range=(-0.8, 0.8),
                            scale_ratio_range=(0.9, 1.1), translation_std=(0.5, 0.5, 0.1),
                            flip_ratio_bev_horizontal=1.0, flip_ratio_bev_vertical=1.0))
    results = build(TRAIN_AUG)(global_aug(copy.deepcopy(loaded)))
    lidar_aug = results['lidar_aug_matrix'].astype(np.float64)
    assert not np.allclose(lidar_aug, np.eye(4), atol=0.05)
    p = loaded['points'].tensor.numpy()[::97, :3].astype(np.float64)
    q = results['points'].tensor.numpy()[::97, :3].astype(np.float64)
    back = np.c_[q, np.ones(len(q))] @ np.linalg.inv(lidar_aug).T
    for view in range(6):
        model_uv, depth = project(back[:, :3], results['lidar2img'][view],
                                  results['img_aug_matrix'][view])
        direct_uv, _ = project(p, loaded['lidar2img'][view], results['img_aug_matrix'][view])
        ok = depth > 1.0
        assert ok.sum() > 20
        np.testing.assert_allclose(model_uv[ok], direct_uv[ok], atol=0.05)


def test_packing_keeps_views_stacked_and_bev_masks(loaded):
    results = build(TRAIN_AUG)(copy.deepcopy(loaded))
    results['gt_masks_bev'] = np.random.randint(0, 2, (6, 200, 200)).astype(np.uint8)
    results['dropped_views'] = [2]
    pack = build(dict(type='Pack3DDetBEVInputs',
                      keys=['points', 'img', 'gt_bboxes_3d', 'gt_labels_3d', 'gt_masks_bev']))
    packed = pack(copy.deepcopy(results))
    assert packed['inputs']['img'].shape == (6, 3, 128, 352)
    torch.testing.assert_close(packed['inputs']['img'][4],
                               torch.from_numpy(results['img'][4]).permute(2, 0, 1))
    sample = packed['data_samples']
    assert torch.equal(sample.gt_masks_bev, torch.from_numpy(results['gt_masks_bev']))
    meta = sample.metainfo
    for key in ('img_aug_matrix', 'cam2lidar', 'lidar2cam', 'lidar2img', 'cam2img'):
        assert np.asarray(meta[key]).shape == (6, 4, 4), key
    assert meta['dropped_views'] == [2] and meta['num_views'] == 6
    assert 'lidar_aug_matrix' not in meta and 'camera_missing' not in meta  # absent = clean
    from mmdet3d_plugin.datasets.transforms import bev_meta
    defaults = bev_meta(meta)
    np.testing.assert_array_equal(defaults['lidar_aug_matrix'], np.eye(4))
    assert defaults['camera_missing'] is False and defaults['dropped_views'] == [2]
    np.testing.assert_array_equal(defaults['img_aug_matrix'], results['img_aug_matrix'])
