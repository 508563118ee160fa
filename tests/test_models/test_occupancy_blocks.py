"""The shared occupancy layer on CPU: voxel lift, 3D encoder / neck, head, detector."""
import copy

import numpy as np
import pytest
import torch
from mmdet3d.structures import Det3DDataSample
from mmengine.config import Config

from mmdet3d_plugin.registry import MODELS
from mmdet3d_plugin.testing import lidar2ego_matrix, make_occupancy_batch, rig_matrices
from mmdet3d_plugin.testing.bev_inputs import resize_matrix

BASE = 'configs/_base_/models/occ-dense-tiny_synthetic.py'
CE_ONLY = dict(loss_ce=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False, ignore_index=255,
                            avg_non_ignore=True))


def _lift_inputs(batch=1, lidar2grid=None):
    cam2img, lidar2cam = rig_matrices()
    aug = resize_matrix(352 / 400, 128 / 225)
    stack = [torch.from_numpy(np.repeat(m[None], batch, 0)) for m in (cam2img, lidar2cam, aug)]
    grid = lidar2ego_matrix() if lidar2grid is None else lidar2grid
    return stack + [torch.from_numpy(np.repeat(grid[None], batch, 0)).float()]


def _voxel_transform(**overrides):
    cfg = copy.deepcopy(Config.fromfile(BASE).model.view_transform)
    cfg.update(overrides)
    return MODELS.build(cfg)


def test_voxel_lift_is_the_bev_lift_with_its_height_kept():
    torch.manual_seed(0)
    voxel = _voxel_transform().eval()
    cfg = copy.deepcopy(Config.fromfile(BASE).model.view_transform)
    cfg.type = 'LSSViewTransform'
    bev = MODELS.build(cfg).eval()
    bev.load_state_dict(voxel.state_dict())
    feats = torch.randn(1, 6, 64, 16, 44)
    with torch.no_grad():
        volume = voxel(feats, *_lift_inputs())
        flat = bev(feats, *_lift_inputs())
    assert voxel.volume_shape == (4, 50, 50)
    assert volume.shape == (1, 16, 4, 50, 50)
    torch.testing.assert_close(volume.flatten(1, 2), flat)
    assert volume.abs().sum() > 0


def test_empty_frustum_gives_an_empty_volume_without_crashing():
    """All depth mass outside the grid: the grid moved 10 km away."""
    voxel = _voxel_transform().eval()
    far = np.eye(4, dtype=np.float32)
    far[0, 3] = 1e4
    with torch.no_grad():
        volume, depth = voxel(torch.randn(1, 6, 64, 16, 44), *_lift_inputs(lidar2grid=far),
                              return_depth=True)
    assert volume.shape == (1, 16, 4, 50, 50) and volume.abs().sum() == 0
    assert depth.shape == (1, 6, 59, 16, 44)


def test_resnet3d_and_fpn3d_shapes_and_errors():
    encoder = MODELS.build(dict(type='OccResNet3D', in_channels=8, stage_channels=(16, 32, 48),
                                stage_blocks=(1, 2, 1), stage_strides=(1, (1, 2, 2), 2)))
    neck = MODELS.build(dict(type='OccFPN3D', in_channels=[16, 32, 48], out_channels=24,
                             num_outs=2))
    feats = encoder(torch.randn(2, 8, 4, 20, 20))
    assert [tuple(f.shape) for f in feats] == [(2, 16, 4, 20, 20), (2, 32, 4, 10, 10),
                                               (2, 48, 2, 5, 5)]
    outs = neck(feats)
    assert [tuple(o.shape) for o in outs] == [(2, 24, 4, 20, 20), (2, 24, 4, 10, 10)]
    outs[0].sum().backward()
    assert all(p.grad is not None for p in encoder.parameters())
    with pytest.raises(ValueError, match=r'\(B, 8, Z, Y, X\)'):
        encoder(torch.randn(2, 7, 4, 20, 20))
    with pytest.raises(ValueError, match='one entry per stage'):
        MODELS.build(dict(type='OccResNet3D', in_channels=8, stage_channels=(16, ),
                          stage_blocks=(1, 1), stage_strides=(1, )))


@pytest.mark.parametrize('upsample', ['trilinear', 'deconv'])
def test_head_logits_on_the_gt_grid_and_masked_targets(upsample):
    head = MODELS.build(dict(type='OccupancyHead', in_channels=8, num_classes=5,
                             grid_shape=(16, 12, 8), upsample=upsample, mask_key='mask_camera',
                             losses=CE_ONLY))
    if upsample == 'deconv':
        head.build_deconv((2, 3, 4))
    latent = torch.randn(2, 8, 2, 3, 4, requires_grad=True)
    logits = head([latent])
    assert logits.shape == (2, 5, 16, 12, 8)
    batch = make_occupancy_batch(grid_shape=(16, 12, 8), num_classes=5, free_label=4)
    samples = batch['data_samples']
    target = head.targets(samples, torch.device('cpu'))
    mask = samples[0].mask_camera
    assert (target[0][~mask] == 255).all()
    assert (target[0][mask] == samples[0].gt_occ[mask].long()).all()
    losses = head.loss([latent], samples)
    assert set(losses) == {'loss_ce'} and torch.isfinite(losses['loss_ce'])
    losses['loss_ce'].backward()
    assert latent.grad.abs().sum() > 0
    labels, probs = head.predict([latent])
    assert labels.dtype == torch.uint8 and labels.shape == (2, 16, 12, 8)
    torch.testing.assert_close(probs.sum(1), torch.ones(2, 16, 12, 8))
    del samples[1].mask_camera
    with pytest.raises(KeyError, match="data sample 1 has no 'mask_camera'"):
        head.targets(samples, torch.device('cpu'))
    samples[0].gt_occ = torch.zeros(3, 3, 3, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r'gt_occ of data sample 0 has shape \(3, 3, 3\)'):
        head.targets(samples, torch.device('cpu'))


def test_head_losses_in_the_latent_layout_equal_the_losses_on_the_gt_grid_view():
    # OccupancyHead.loss scores (B, K, Z, Y, X) logits against targets permuted to (B, Z, Y, X);
    # every loss is a function of the voxel set, so it equals the loss of the (X, Y, Z) view
    losses = dict(
        loss_ce=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False, ignore_index=255,
                     avg_non_ignore=True, class_weight=[1.0, 2.0, 0.5, 1.5, 0.2]),
        loss_lovasz=dict(type='LovaszSoftmaxLoss', ignore_index=255),
        loss_geo_scal=dict(type='GeoScalLoss', free_index=4, ignore_index=255),
        loss_sem_scal=dict(type='SemScalLoss', free_index=4, ignore_index=255))
    head = MODELS.build(dict(type='OccupancyHead', in_channels=8, num_classes=5,
                             grid_shape=(16, 12, 8), mask_key='mask_camera', losses=losses))
    torch.manual_seed(0)
    latent = torch.randn(2, 8, 2, 3, 4)
    samples = make_occupancy_batch(grid_shape=(16, 12, 8), num_classes=5,
                                   free_label=4)['data_samples']
    fast = head.loss([latent], samples)
    logits, target = head([latent]), head.targets(samples, torch.device('cpu'))
    assert logits.shape == (2, 5, 16, 12, 8)
    for name, loss in head.losses.items():
        torch.testing.assert_close(fast[name], loss(logits, target), rtol=1e-5, atol=1e-6)
        assert float(fast[name]) > 0, name


def _tiny_detector(**head):
    cfg = copy.deepcopy(Config.fromfile(BASE).model)
    cfg.occ_head.losses = CE_ONLY
    cfg.occ_head.update(head)
    return MODELS.build(cfg)


def test_detector_loss_and_predict_on_occ3d_sized_output():
    torch.manual_seed(0)
    model = _tiny_detector()
    batch = make_occupancy_batch(batch_size=2)
    model.train()
    losses = model(**model.data_preprocessor(batch, training=True), mode='loss')
    assert set(losses) == {'loss_ce', 'loss_depth'}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(batch, training=False), mode='predict')
    assert results[0].pred_occ.shape == (200, 200, 16) and results[0].pred_occ.dtype == torch.uint8
    assert results[0].pred_occ_probs.shape == (18, 200, 200, 16)
    assert results[0].pred_occ_probs.dtype == torch.float16


def test_detector_survives_a_missing_camera_and_an_all_free_frame():
    model = _tiny_detector().eval()
    batch = make_occupancy_batch(batch_size=1, grid_shape=(200, 200, 16))
    batch['inputs']['img'][0].zero_()  # Missing Camera: every view blank
    batch['data_samples'][0].set_metainfo(dict(camera_missing=True))
    batch['data_samples'][0].gt_occ.fill_(17)
    model.train()
    losses = model(**model.data_preprocessor(batch, training=True), mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    assert float(losses['loss_depth']) == 0.0  # blank views are not depth-supervised


def test_detector_names_a_missing_lidar2occ():
    model = _tiny_detector().eval()
    batch = make_occupancy_batch(batch_size=1)
    metainfo = dict(batch['data_samples'][0].metainfo)
    del metainfo['lidar2occ']
    batch['data_samples'] = [Det3DDataSample(metainfo=metainfo)]
    with pytest.raises(KeyError, match="no metainfo 'lidar2occ'"):
        with torch.no_grad():
            model(**model.data_preprocessor(batch, training=False), mode='predict')


def _tiny_mass_lift(append_mass):
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='LSSVoxelTransform', in_channels=4, out_channels=3, image_size=(32, 64),
        feature_size=(4, 8), xbound=(-20.0, 20.0, 5.0), ybound=(-20.0, 20.0, 5.0),
        zbound=(-2.0, 4.0, 2.0), dbound=(1.0, 21.0, 2.5), append_mass=append_mass)).eval()


def test_voxel_lift_appends_the_summed_depth_probabilities_as_last_channel():
    """The mass channel against a direct sum over a tiny frustum (2 x 6 x 8 x 4 x 8 points)."""
    from mmdet3d_plugin.models.view_transforms import frustum_to_lidar
    plain, mass_lift = _tiny_mass_lift(False), _tiny_mass_lift(True)
    assert (plain.volume_channels, mass_lift.volume_channels) == (3, 4)
    assert mass_lift.out_channels == 3 and mass_lift.bev_channels == 4 * 3
    cam2img, lidar2cam = rig_matrices()
    aug = resize_matrix(64 / 400, 32 / 225)
    shifted = np.eye(4, dtype=np.float32)
    shifted[:3, 3] = [3.0, -4.0, 0.5]
    mats = [torch.from_numpy(np.repeat(m[None], 2, 0)) for m in (cam2img, lidar2cam, aug)]
    mats.append(torch.from_numpy(np.stack([np.eye(4, dtype=np.float32), shifted])))
    feats = torch.randn(2, 6, 4, 4, 8)
    with torch.no_grad():
        volume, depth = mass_lift(feats, *mats, return_depth=True)
        reference = plain(feats, *mats)
    assert volume.shape == (2, 4, 3, 8, 8)
    assert torch.equal(volume[:, :3], reference)  # the context channels are untouched
    points = frustum_to_lidar(mass_lift.frustum, *mats)  # (B, N, D, h, w, 3) x, y, z
    lows, steps = torch.tensor([-20.0, -20.0, -2.0]), torch.tensor([5.0, 5.0, 2.0])
    cells = torch.floor((points - lows) / steps).long()  # (x, y, z)
    expected = torch.zeros(2, 3, 8, 8, dtype=torch.float64)
    for index in np.ndindex(*points.shape[:-1]):
        x, y, z = cells[index].tolist()
        if 0 <= x < 8 and 0 <= y < 8 and 0 <= z < 3:
            expected[index[0], z, y, x] += float(depth[index])
    assert (expected > 0).sum() > 20 and expected.max() > 1.0  # several points per voxel
    torch.testing.assert_close(volume[:, 3].double(), expected, rtol=1e-5, atol=1e-6)


def test_dense_detector_latent_probe_with_the_mass_channel():
    cfg = copy.deepcopy(Config.fromfile(BASE).model)
    cfg.view_transform.append_mass = True
    cfg.occ_encoder.in_channels = 17  # the mass as a 17th feature
    cfg.occ_head.update(upsample='deconv', losses=CE_ONLY)
    model = MODELS.build(cfg).eval()  # builds the deconv from the _latent_shape probe
    assert model.view_transform.volume_channels == 17
    batch = make_occupancy_batch(batch_size=1)
    with torch.no_grad():
        logits = model(**model.data_preprocessor(batch, training=False), mode='tensor')
    assert logits.shape == (1, 18, 200, 200, 16)
