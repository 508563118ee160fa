"""spconv wrapper: dense-equivalence on a full grid, device-aware algorithm, registry, bad input."""
import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer
from spconv.pytorch import ConvAlgo, SparseConvTensor

from mmdet3d_plugin.ops.sparse import (SparseConv3d, SparseInverseConv3d, SubMConv3d,
                                       make_sparse_conv, make_sparse_tensor, select_algo)
from mmdet3d_plugin.registry import MODELS

SHAPE = (4, 5, 6)  # (Z, Y, X)


def full_grid(batch_size=2, channels=3, dtype=torch.float64, device='cpu', seed=0):
    """Every voxel of a (B, C, Z, Y, X) grid as a sparse tensor, plus the dense tensor."""
    gen = torch.Generator().manual_seed(seed)
    dense = torch.randn(batch_size, channels, *SHAPE, generator=gen, dtype=dtype).to(device)
    grid = torch.stack(torch.meshgrid(*[torch.arange(s) for s in SHAPE], indexing='ij'), -1)
    grid = grid.reshape(-1, 3)
    indices = torch.cat([torch.cat([torch.full((len(grid), 1), b), grid], 1)
                         for b in range(batch_size)]).int().to(device)
    feats = dense.permute(0, 2, 3, 4, 1).reshape(-1, channels).clone()
    return dense, feats, indices


def dense_weight(conv):
    """spconv's (out, kz, ky, kx, in) weight as conv3d's (out, in, kz, ky, kx)."""
    return conv.weight.permute(0, 4, 1, 2, 3)


def to_dense_layout(features, batch_size, channels):
    return features.reshape(batch_size, *SHAPE, channels).permute(0, 4, 1, 2, 3)


@pytest.mark.parametrize('kernel_size', [3, (1, 3, 3)])
def test_submconv_equals_dense_conv3d_forward_backward(kernel_size):
    dense, feats, indices = full_grid()
    conv = SubMConv3d(3, 4, kernel_size, bias=True).double()
    feats.requires_grad_(True)
    out = conv(make_sparse_tensor(feats, indices, SHAPE, 2))
    assert conv.algo == ConvAlgo.Native

    dense = dense.clone().requires_grad_(True)
    weight = dense_weight(conv).detach().clone().requires_grad_(True)
    bias = conv.bias.detach().clone().requires_grad_(True)
    ksize = (kernel_size, ) * 3 if isinstance(kernel_size, int) else kernel_size
    ref = F.conv3d(dense, weight, bias, padding=tuple(k // 2 for k in ksize))
    torch.testing.assert_close(to_dense_layout(out.features, 2, 4), ref)

    grad_out = torch.randn_like(ref)
    (to_dense_layout(out.features, 2, 4) * grad_out).sum().backward()
    (ref * grad_out).sum().backward()
    torch.testing.assert_close(to_dense_layout(feats.grad, 2, 3), dense.grad)
    torch.testing.assert_close(conv.weight.grad.permute(0, 4, 1, 2, 3), weight.grad)
    torch.testing.assert_close(conv.bias.grad, bias.grad)


def test_strided_sparse_conv_equals_dense_conv3d():
    dense, feats, indices = full_grid(batch_size=1)
    conv = SparseConv3d(3, 2, 3, stride=2, padding=1, bias=False).double()
    out = conv(make_sparse_tensor(feats, indices, SHAPE, 1)).dense()
    ref = F.conv3d(dense, dense_weight(conv), stride=2, padding=1)
    torch.testing.assert_close(out, ref)


def test_inverse_conv_restores_voxels():
    _, feats, indices = full_grid(batch_size=1, dtype=torch.float32)
    down = SparseConv3d(3, 4, 3, stride=2, padding=1, indice_key='down')
    up = SparseInverseConv3d(4, 3, 3, indice_key='down')
    x = make_sparse_tensor(feats, indices, SHAPE, 1)
    y = up(down(x))
    assert y.features.shape == feats.shape
    assert torch.equal(y.indices, x.indices)


def test_algo_selected_by_device():
    assert select_algo(torch.device('cpu')) == ConvAlgo.Native
    assert select_algo(torch.device('cuda')) == ConvAlgo.MaskImplicitGemm


def test_gpu_algo_environment_override(monkeypatch):
    monkeypatch.setenv('DRIVE3D_SPCONV_GPU_ALGO', 'Native')
    assert select_algo(torch.device('cuda')) == ConvAlgo.Native
    monkeypatch.setenv('DRIVE3D_SPCONV_GPU_ALGO', 'Fastest')
    with pytest.raises(ValueError, match='DRIVE3D_SPCONV_GPU_ALGO'):
        select_algo(torch.device('cuda'))


def test_registry_and_mmcv_builder_use_the_wrapper():
    assert MODELS.get('SubMConv3d') is SubMConv3d
    layer = build_conv_layer(dict(type='SubMConv3d', indice_key='k'), 2, 3, 3)
    assert isinstance(layer, SubMConv3d)
    assert isinstance(make_sparse_conv('SparseConv3d', 2, 3, 3), SparseConv3d)
    with pytest.raises(KeyError, match='unknown conv_type'):
        make_sparse_conv('Conv3d', 2, 3, 3)


def test_mmdet3d_sparse_encoder_runs_on_cpu():
    """A stock mmdet3d SparseEncoder built under our scope uses the wrapper and runs on CPU."""
    encoder = MODELS.build(dict(
        type='SparseEncoder', in_channels=4, sparse_shape=[41, 32, 32], order=('conv', 'norm', 'act'),
        encoder_channels=((8, ), (8, 8), (8, 8), (8, 8)), encoder_paddings=((1, ), (1, 1), (1, 1), ((0, 1, 1), 1, 1)),
        base_channels=8, output_channels=16, block_type='basicblock'))
    gen = torch.Generator().manual_seed(0)
    coords = torch.unique(torch.stack([torch.zeros(300), torch.randint(0, 41, (300,), generator=gen),
                                       torch.randint(0, 32, (300,), generator=gen),
                                       torch.randint(0, 32, (300,), generator=gen)], 1).int(), dim=0)
    bev = encoder(torch.randn(len(coords), 4), coords, 1)
    assert bev.dim() == 4 and bev.shape[0] == 1 and torch.isfinite(bev).all()


@pytest.mark.parametrize('features, indices, shape, batch_size, match', [
    (torch.rand(3, 2).int(), torch.zeros(3, 4, dtype=torch.int32), SHAPE, 1, 'features must be a floating'),
    (torch.rand(3), torch.zeros(3, 4, dtype=torch.int32), SHAPE, 1, r'features must have shape \(N, C\)'),
    (torch.rand(3, 2), torch.zeros(3, 4), SHAPE, 1, 'indices must be an int32/int64'),
    (torch.rand(3, 2), torch.zeros(3, 3, dtype=torch.int32), SHAPE, 1, r'indices must have shape \(N, 4\)'),
    (torch.rand(3, 2), torch.zeros(2, 4, dtype=torch.int32), SHAPE, 1, 'indices has 2 rows but features has 3'),
    (torch.rand(1, 2), torch.tensor([[0, 4, 0, 0]], dtype=torch.int32), SHAPE, 1,
     r'indices\[:, 1\] \(z\) spans \[4, 4\], expected \[0, 3\]'),
    (torch.rand(1, 2), torch.tensor([[2, 0, 0, 0]], dtype=torch.int32), SHAPE, 2, r'indices\[:, 0\] \(batch\)'),
    (torch.rand(1, 2), torch.zeros(1, 4, dtype=torch.int32), (4, 5), 1, 'spatial_shape must be three'),
])
def test_make_sparse_tensor_rejects_bad_input(features, indices, shape, batch_size, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make_sparse_tensor(features, indices, shape, batch_size)


def test_layer_rejects_wrong_channels_and_type():
    conv = SubMConv3d(3, 4, 3)
    x = make_sparse_tensor(torch.rand(2, 5), torch.tensor([[0, 0, 0, 0], [0, 1, 1, 1]]), SHAPE, 1)
    with pytest.raises(ValueError, match=r'SubMConv3d: input features must have shape \(N, 3\), got \(2, 5\)'):
        conv(x)
    with pytest.raises(TypeError, match='must be a spconv SparseConvTensor'):
        conv(torch.rand(2, 3))


@pytest.mark.gpu
def test_submconv_gpu_matches_cpu():
    _, feats, indices = full_grid(dtype=torch.float32)
    conv = SubMConv3d(3, 16, 3)
    cpu = conv(make_sparse_tensor(feats, indices, SHAPE, 2)).features
    conv = conv.cuda()
    gpu = conv(make_sparse_tensor(feats.cuda(), indices.cuda(), SHAPE, 2))
    assert conv.algo == ConvAlgo.MaskImplicitGemm
    torch.testing.assert_close(gpu.features.cpu(), cpu, rtol=1e-3, atol=1e-3)
    assert isinstance(gpu, SparseConvTensor)
