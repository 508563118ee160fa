"""LSS view transform: frustum geometry against the camera rig, pooling mass, bad input."""
import numpy as np
import pytest
import torch

from mmdet3d_plugin.models.view_transforms import LSSViewTransform, frustum_to_lidar, make_frustum
from mmdet3d_plugin.testing import resize_matrix, rig_matrices


def _rotation_z(angle):
    c, s = np.cos(angle), np.sin(angle)
    matrix = np.eye(4, dtype=np.float32)
    matrix[:2, :2] = [[c, -s], [s, c]]
    matrix[:3, 3] = [1.0, -2.0, 0.3]
    return matrix


@pytest.mark.parametrize('view', range(6))
def test_frustum_point_of_a_projected_lidar_point_is_that_point(view):
    cam2img, lidar2cam = rig_matrices()
    aug = resize_matrix(352 / 400, 128 / 225)
    # a point 15 m in front of this camera, in the LiDAR frame
    cam_point = np.array([1.0, -0.5, 15.0, 1.0])
    lidar_point = np.linalg.inv(lidar2cam[view]) @ cam_point
    pixel = cam2img[view] @ lidar2cam[view] @ lidar_point
    u, v, d = pixel[0] / pixel[2], pixel[1] / pixel[2], pixel[2]
    u_aug, v_aug, _, _ = aug[view] @ np.array([u, v, d, 1.0])
    frustum = torch.tensor([[[[u_aug, v_aug, d]]]], dtype=torch.float32)  # (1, 1, 1, 3)
    lidar_aug = _rotation_z(0.4)
    out = frustum_to_lidar(frustum, torch.from_numpy(cam2img)[None], torch.from_numpy(lidar2cam)[None],
                           torch.from_numpy(aug)[None], torch.from_numpy(lidar_aug)[None])
    expected = (lidar_aug @ lidar_point)[:3]
    np.testing.assert_allclose(out[0, view, 0, 0, 0].numpy(), expected, atol=2e-3)


def test_make_frustum_uses_pixel_centres_of_feature_cells():
    frustum = make_frustum((16, 32), (2, 4), (1.0, 3.0, 1.0))
    assert frustum.shape == (2, 2, 4, 3)
    np.testing.assert_allclose(frustum[0, 0, :, 0].numpy(), [3.5, 11.5, 19.5, 27.5])
    np.testing.assert_allclose(frustum[0, :, 0, 1].numpy(), [3.5, 11.5])
    np.testing.assert_allclose(frustum[:, 0, 0, 2].numpy(), [1.0, 2.0])


def _view_transform(**kwargs):
    args = dict(in_channels=8, out_channels=1, image_size=(128, 352), feature_size=(16, 44),
                xbound=(-51.2, 51.2, 0.8), ybound=(-51.2, 51.2, 0.8), zbound=(-10, 10, 20),
                dbound=(1.0, 60.0, 1.0))
    args.update(kwargs)
    return LSSViewTransform(**args)


def test_uniform_depth_and_unit_context_pool_the_fraction_of_frustum_inside_the_grid():
    vt = _view_transform()
    torch.nn.init.zeros_(vt.depth_net.weight)
    torch.nn.init.zeros_(vt.depth_net.bias)
    vt.depth_net.bias.data[-1] = 1.0  # context channel = 1, depth logits = 0 (uniform)
    cam2img, lidar2cam = rig_matrices()
    mats = [torch.from_numpy(m)[None] for m in (cam2img, lidar2cam,
                                                resize_matrix(352 / 400, 128 / 225))]
    feats = torch.randn(1, 6, 8, 16, 44)
    bev = vt(feats, *mats, torch.eye(4)[None])
    assert bev.shape == (1, vt.bev_channels, 128, 128) == (1, 1, 128, 128)
    geometry = frustum_to_lidar(vt.frustum, *mats, torch.eye(4)[None])
    _, inside = vt.grid.cell_index(geometry)
    assert bev.sum().item() == pytest.approx(inside.sum().item() / vt.num_depth, rel=1e-4)
    # the camera ring sees all around the car: every direction gets some mass
    assert bev[0, 0, :64].sum() > 0 and bev[0, 0, 64:].sum() > 0
    assert bev[0, 0, :, :64].sum() > 0 and bev[0, 0, :, 64:].sum() > 0


def test_gradients_reach_image_features():
    vt = _view_transform(out_channels=4)
    cam2img, lidar2cam = rig_matrices()
    mats = [torch.from_numpy(m)[None] for m in (cam2img, lidar2cam,
                                                resize_matrix(352 / 400, 128 / 225))]
    feats = torch.randn(1, 6, 8, 16, 44, requires_grad=True)
    vt(feats, *mats, torch.eye(4)[None]).square().sum().backward()
    assert feats.grad.abs().sum() > 0 and vt.depth_net.weight.grad.abs().sum() > 0


def test_bad_shapes_name_the_tensor():
    vt = _view_transform()
    eye = torch.eye(4).expand(1, 6, 4, 4)
    with pytest.raises(ValueError, match=r'image features must be \(B, N, C, 16, 44\)'):
        vt(torch.randn(1, 6, 8, 15, 44), eye, eye, eye, torch.eye(4)[None])
    with pytest.raises(ValueError, match='lidar2cam must be'):
        vt(torch.randn(1, 6, 8, 16, 44), eye, eye[:, :5], eye, torch.eye(4)[None])
    with pytest.raises(ValueError, match='dbound'):
        _view_transform(dbound=(0.0, 60.0, 1.0))


def _depth_inputs(vt, requires_grad=True):
    cam2img, lidar2cam = rig_matrices()
    mats = [torch.from_numpy(m)[None] for m in (cam2img, lidar2cam,
                                                resize_matrix(352 / 400, 128 / 225))]
    feats = torch.randn(1, 6, 8, 16, 44, requires_grad=requires_grad)
    return feats, mats


def test_depth_loss_is_zero_and_finite_without_lidar_returns():
    vt = _view_transform(loss_depth_weight=3.0)
    feats, mats = _depth_inputs(vt)
    bev, depth = vt(feats, *mats, torch.eye(4)[None], return_depth=True)
    assert depth.shape == (1, 6, vt.num_depth, 16, 44)
    torch.testing.assert_close(depth.sum(2), torch.ones(1, 6, 16, 44))
    loss = vt.loss_depth(depth, torch.zeros(1, 6, 16, 44))
    assert loss.item() == 0.0
    loss.backward()  # still in the graph: a batch without returns trains like any other
    assert torch.isfinite(vt.depth_net.weight.grad).all()
    # returns out of the bins (0.2 m, 90 m) or in masked views are not supervised either
    gt = torch.zeros(1, 6, 16, 44)
    gt[0, 0, 0, 0], gt[0, 0, 0, 1], gt[0, 2, 3, 3] = 0.2, 90.0, 10.0
    valid = torch.tensor([[True, True, False, True, True, True]])
    assert vt.loss_depth(depth.detach(), gt, valid).item() == 0.0
    with pytest.raises(ValueError, match=r'gt_depth must be \(1, 6, 16, 44\)'):
        vt.loss_depth(depth, torch.zeros(1, 6, 32, 88))


def test_depth_loss_reaches_the_depth_net_and_prefers_the_lidar_bin():
    torch.manual_seed(0)
    vt = _view_transform(depth_net_channels=8, loss_depth_weight=1.0)
    feats, mats = _depth_inputs(vt)
    _, depth = vt(feats, *mats, torch.eye(4)[None], return_depth=True)
    gt = torch.zeros(1, 6, 16, 44)
    gt[0, :, ::2, ::3] = 12.2  # bin 11
    loss = vt.loss_depth(depth, gt)
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    assert feats.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in vt.depth_net.parameters())
    # one-hot at the LiDAR bin scores ~0; uniform scores BCE(1/D) summed over the D bins
    right = torch.zeros_like(depth.detach())
    right[:, :, 11] = 1.0
    assert vt.loss_depth(right, gt).item() < 1e-3
    uniform = torch.full_like(right, 1.0 / vt.num_depth)
    d = vt.num_depth
    expected = -np.log(1 / d) - (d - 1) * np.log(1 - 1 / d)
    assert vt.loss_depth(uniform, gt).item() == pytest.approx(expected, rel=1e-4)
