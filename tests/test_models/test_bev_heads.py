"""BEV grid transform orientation, map-segmentation head, conv fuser."""
import pytest
import torch

from mmdet3d_plugin.models.fusers import ConvFuser
from mmdet3d_plugin.models.heads import BEVGridTransform, BEVMapSegHead, sigmoid_focal_loss
from mmdet3d.structures import Det3DDataSample


def _coordinate_maps(bound, cells):
    centres = bound[0] + (torch.arange(cells) + 0.5) * bound[2]
    ys, xs = torch.meshgrid(centres, centres, indexing='ij')
    return torch.stack([xs, ys])[None]  # (1, 2, Y, X): channel 0 = x, channel 1 = y


def test_grid_transform_maps_mmdet3d_bev_layout_to_the_gt_raster_layout():
    transform = BEVGridTransform((-51.2, 51.2, 0.8), (-51.2, 51.2, 0.8), (-50, 50, 0.5),
                                 (-50, 50, 0.5))
    out = transform(_coordinate_maps((-51.2, 51.2, 0.8), 128))
    assert out.shape == (1, 2, 200, 200)
    centres = -50 + (torch.arange(200) + 0.5) * 0.5
    # output [c, i, j]: i indexes x, j indexes y (LoadBEVMapGT's layout); bilinear sampling of
    # a linear ramp is exact away from the border
    torch.testing.assert_close(out[0, 0, 5:-5, 100], centres[5:-5], atol=1e-4, rtol=0)
    torch.testing.assert_close(out[0, 1, 100, 5:-5], centres[5:-5], atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match=r'\(B, C, 128, 128\)'):
        transform(torch.zeros(1, 2, 64, 64))


def test_focal_loss_matches_hand_computed_values():
    logits = torch.tensor([0.0, 2.0])
    targets = torch.tensor([1.0, 0.0])
    p = torch.sigmoid(logits)
    expected = (-(1 - p[0])**2 * torch.log(p[0]) - p[1]**2 * torch.log(1 - p[1])) / 2
    assert sigmoid_focal_loss(logits, targets).item() == pytest.approx(expected.item(), rel=1e-6)


def test_map_head_loss_and_predict_shapes_and_missing_gt_message():
    head = BEVMapSegHead(in_channels=8, input_xbound=(-51.2, 51.2, 0.8),
                         input_ybound=(-51.2, 51.2, 0.8), hidden_channels=8)
    feats = torch.randn(2, 8, 128, 128)
    samples = [Det3DDataSample() for _ in range(2)]
    for sample in samples:
        sample.gt_masks_bev = torch.randint(0, 2, (6, 200, 200))
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_map'} and losses['loss_map'] > 0
    probs = head.predict(feats)
    assert probs.shape == (2, 6, 200, 200) and 0 <= probs.min() and probs.max() <= 1
    with pytest.raises(KeyError, match="no 'gt_masks_bev'.*LoadBEVMapGT"):
        head.loss(feats, [Det3DDataSample(), Det3DDataSample()])
    samples[0].gt_masks_bev = torch.zeros(6, 100, 100)
    with pytest.raises(ValueError, match=r'expected \(6, 200, 200\)'):
        head.loss(feats, samples)


def test_conv_fuser_sees_zeros_for_an_absent_modality():
    fuser = ConvFuser([3, 5], 4).eval()
    cam, lidar = torch.randn(2, 3, 8, 8), torch.randn(2, 5, 8, 8)
    present = torch.tensor([[True, False], [True, True]])
    out = fuser([cam, lidar], present)
    zeroed = fuser([cam, torch.cat([torch.zeros(1, 5, 8, 8), lidar[1:]])],
                   torch.ones(2, 2, dtype=torch.bool))
    torch.testing.assert_close(out, zeroed)
    with pytest.raises(ValueError, match='modality 1 has 4 channels'):
        fuser([cam, torch.randn(2, 4, 8, 8)], present)
