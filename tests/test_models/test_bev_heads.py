"""BEV grid transform orientation, map-segmentation head and its loss, conv fuser."""
import math

import pytest
import torch
import torch.nn.functional as F

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


@pytest.mark.parametrize('cell', [(30, 150), (150, 30), (0, 199)])
def test_one_hot_bev_cell_is_read_back_at_its_own_cell(cell):
    """An identity grid transform (same bounds in and out, sampling at the cell centres) puts
    input ``[c, y=j, x=i]`` (mmdet3d layout) at output ``[c, i, j]`` (GT layout: x index i,
    y index j, 0.5 m cells from -50 m) and nowhere else."""
    i, j = cell
    transform = BEVGridTransform((-50, 50, 0.5), (-50, 50, 0.5), (-50, 50, 0.5), (-50, 50, 0.5))
    feats = torch.zeros(1, 1, 200, 200)
    feats[0, 0, j, i] = 1.0
    out = transform(feats)
    expected = torch.zeros(1, 1, 200, 200)
    expected[0, 0, i, j] = 1.0
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)

    # the map head reads the same cell: a head whose conv tower passes channel 0 through
    head = BEVMapSegHead(in_channels=1, input_xbound=(-50, 50, 0.5),
                         input_ybound=(-50, 50, 0.5), classes=('a', ), hidden_channels=1)
    head.tower = torch.nn.Identity()
    logits = head(feats)
    assert logits.shape == (1, 1, 200, 200)
    assert divmod(int(logits.flatten().argmax()), 200) == (i, j)


def test_one_hot_cell_of_a_coarser_map_peaks_at_the_same_metric_location():
    """Input at 0.8 m from -51.2 m: cell (x 70, y 20) has its centre at x = 5.2 m, y = -34.8 m,
    which lies in output cell x floor((5.2 + 50) / 0.5) = 110, y floor((-34.8 + 50) / 0.5) = 30."""
    transform = BEVGridTransform((-51.2, 51.2, 0.8), (-51.2, 51.2, 0.8), (-50, 50, 0.5),
                                 (-50, 50, 0.5))
    feats = torch.zeros(1, 1, 128, 128)
    feats[0, 0, 20, 70] = 1.0
    out = transform(feats)[0, 0]
    assert divmod(int(out.flatten().argmax()), 200) == (110, 30)


def test_focal_loss_matches_hand_computed_values():
    logits = torch.tensor([0.0, 2.0])
    targets = torch.tensor([1.0, 0.0])
    p = torch.sigmoid(logits)
    expected = (-(1 - p[0])**2 * torch.log(p[0]) - p[1]**2 * torch.log(1 - p[1])) / 2
    assert sigmoid_focal_loss(logits, targets).item() == pytest.approx(expected.item(), rel=1e-6)


def _head_with_fixed_logits(logits, loss='focal', loss_weight=1.0):
    """A map head whose forward returns ``logits`` ((B, 2, 2, 2), classes 'a' and 'b')."""
    head = BEVMapSegHead(in_channels=1, input_xbound=(0, 1, 0.5), input_ybound=(0, 1, 0.5),
                         output_xbound=(0, 1, 0.5), output_ybound=(0, 1, 0.5),
                         classes=('a', 'b'), hidden_channels=1, loss=loss,
                         loss_weight=loss_weight)
    head.forward = lambda feats: logits
    return head


def _samples(masks):
    samples = []
    for mask in masks:
        sample = Det3DDataSample()
        sample.gt_masks_bev = mask
        samples.append(sample)
    return samples


def test_map_loss_is_the_sum_of_per_class_mean_focal_losses_as_bevfusion():
    """BEVFusion: ``sum_c mean_{b,x,y} FL(x[:, c], t[:, c])``, gamma 2, no alpha term."""
    logits = torch.zeros(1, 2, 2, 2)
    logits[0, 0] = torch.tensor([[0.0, 2.0], [-1.0, 3.0]])
    logits[0, 1] = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
    targets = torch.zeros(2, 2, 2, dtype=torch.uint8)
    targets[0] = torch.tensor([[1, 0], [0, 1]])
    targets[1] = torch.tensor([[1, 1], [0, 0]])

    def focal(x, t):  # one element, written out: -(1 - p_t)^2 log p_t
        p = 1 / (1 + math.exp(-x))
        p_t = p if t else 1 - p
        return -(1 - p_t)**2 * math.log(p_t)

    expected = {}
    for index, name in enumerate(('a', 'b')):
        values = [focal(float(logits[0, index, i, j]), int(targets[index, i, j]))
                  for i in range(2) for j in range(2)]
        expected[f'loss_map_{name}'] = 3.0 * sum(values) / 4
    losses = _head_with_fixed_logits(logits, loss_weight=3.0).loss(None, _samples([targets]))
    assert set(losses) == set(expected)
    for key, value in expected.items():
        assert losses[key].item() == pytest.approx(value, rel=1e-6), key
    # the total mmengine optimises is the sum over classes, not their mean
    total = sum(losses.values()).item()
    assert total == pytest.approx(sum(expected.values()), rel=1e-6)

    bce = _head_with_fixed_logits(logits, loss='bce').loss(None, _samples([targets]))
    for index, name in enumerate(('a', 'b')):
        value = F.binary_cross_entropy_with_logits(logits[:, index], targets[None, index].float())
        assert bce[f'loss_map_{name}'].item() == pytest.approx(value.item(), rel=1e-6)


def test_map_head_loss_and_predict_shapes_and_missing_gt_message():
    head = BEVMapSegHead(in_channels=8, input_xbound=(-51.2, 51.2, 0.8),
                         input_ybound=(-51.2, 51.2, 0.8), hidden_channels=8)
    feats = torch.randn(2, 8, 128, 128)
    samples = [Det3DDataSample() for _ in range(2)]
    for sample in samples:
        sample.gt_masks_bev = torch.randint(0, 2, (6, 200, 200))
    losses = head.loss(feats, samples)
    assert set(losses) == {f'loss_map_{name}' for name in head.classes}
    assert all(value > 0 for value in losses.values())
    probs = head.predict(feats)
    assert probs.shape == (2, 6, 200, 200) and 0 <= probs.min() and probs.max() <= 1
    with pytest.raises(KeyError, match="no 'gt_masks_bev'.*LoadBEVMapGT"):
        head.loss(feats, [Det3DDataSample(), Det3DDataSample()])
    samples[0].gt_masks_bev = torch.zeros(6, 100, 100)
    with pytest.raises(ValueError, match=r'expected \(6, 200, 200\)'):
        head.loss(feats, samples)


def test_map_head_reduce_channels_projects_before_resampling_as_the_same_function():
    """The 1x1 projection before the resampling computes what it would after it."""
    torch.manual_seed(0)
    head = BEVMapSegHead(in_channels=8, input_xbound=(-51.2, 51.2, 1.6),
                         input_ybound=(-51.2, 51.2, 1.6), hidden_channels=4, reduce_channels=3)
    head.tower = torch.nn.Identity()
    feats = torch.randn(2, 8, 64, 64)
    after = torch.nn.functional.conv2d(head.transform(feats), head.reduce.weight,
                                       head.reduce.bias)
    torch.testing.assert_close(head(feats), after, atol=1e-5, rtol=1e-5)
    assert head(feats).shape == (2, 3, 200, 200)
    with pytest.raises(ValueError, match='reduce_channels must be a positive int'):
        BEVMapSegHead(in_channels=8, input_xbound=(-51.2, 51.2, 1.6),
                      input_ybound=(-51.2, 51.2, 1.6), reduce_channels=0)


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
