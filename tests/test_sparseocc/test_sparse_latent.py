"""SparseOcc latent: volume -> sparse, decomposed kernels vs dense conv3d, completion reach,
pruning, empty inputs."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmdet3d_plugin.ops.sparse import make_sparse_tensor
from mmdet3d_plugin.sparseocc import SparseLatent, prune_voxels, volume_to_sparse
from mmdet3d_plugin.sparseocc.sparse_blocks import SparseConvModule, SparseNormAct, sparse_conv
from mmdet3d_plugin.sparseocc.sparse_latent_diffuser import ContextAggregation, SparseCompletion

SHAPE = (4, 5, 6)  # (Z, Y, X)
KERNELS = [(1, 3, 3), (3, 1, 3), (3, 3, 1), (3, 3, 3)]


def full_grid(batch_size=2, channels=3, shape=SHAPE, seed=0):
    """A random float64 (B, C, Z, Y, X) volume and the sparse tensor of all its voxels."""
    gen = torch.Generator().manual_seed(seed)
    dense = torch.randn(batch_size, channels, *shape, generator=gen, dtype=torch.float64)
    return dense, volume_to_sparse(dense)


def index_set(x):
    return {tuple(row) for row in x.indices.tolist()}


def box(batch, lows, highs):
    ranges = [range(lo, hi + 1) for lo, hi in zip(lows, highs)]
    return {(batch, z, y, x) for z in ranges[0] for y in ranges[1] for x in ranges[2]}


def test_volume_to_sparse_keeps_voxels_with_mass_and_is_differentiable():
    volume = torch.zeros(2, 3, *SHAPE)
    volume[0, 1, 2, 3, 4] = -2.0
    volume[1, :, 0, 0, 0] = torch.tensor([1.0, -1.0, 0.5])
    volume.requires_grad_(True)
    x = volume_to_sparse(volume)
    assert x.indices.dtype == torch.int32 and x.batch_size == 2
    assert list(x.spatial_shape) == list(SHAPE)
    assert x.indices.tolist() == [[0, 2, 3, 4], [1, 0, 0, 0]]
    torch.testing.assert_close(x.features, torch.tensor([[0.0, -2.0, 0.0], [1.0, -1.0, 0.5]]))
    x.features.sum().backward()
    assert volume.grad.sum() == 6 and volume.grad[0, :, 2, 3, 4].tolist() == [1.0, 1.0, 1.0]


def test_volume_to_sparse_empty_sample_and_empty_batch():
    volume = torch.zeros(2, 3, *SHAPE)
    volume[1, 0, 1, 1, 1] = 1.0
    assert volume_to_sparse(volume).indices[:, 0].tolist() == [1]
    empty = volume_to_sparse(torch.zeros(2, 3, *SHAPE))
    assert empty.features.shape == (0, 3) and empty.indices.shape == (0, 4)
    assert empty.dense().shape == (2, 3) + SHAPE


@pytest.mark.parametrize('bad', [torch.zeros(3, *SHAPE), torch.zeros(1, 3, *SHAPE).int(), None])
def test_volume_to_sparse_rejects_bad_volume(bad):
    with pytest.raises(ValueError, match='volume_to_sparse: volume must be a floating point'):
        volume_to_sparse(bad)


@pytest.mark.parametrize('conv_type', ['SubMConv3d', 'SparseConv3d'])
@pytest.mark.parametrize('kernel', KERNELS)
def test_decomposed_kernel_on_full_grid_equals_conv3d(conv_type, kernel):
    """spconv's kernel order is the spatial_shape's (z, y, x): (1, 3, 3) is the ground plane."""
    dense, x = full_grid()
    module = SparseConvModule(conv_type, 3, 4, kernel, norm_cfg=None, act_cfg=None,
                              indice_key='k' if conv_type == 'SubMConv3d' else None).double()
    out = module(x)
    weight = module.conv.weight.permute(0, 4, 1, 2, 3)  # (out, kz, ky, kx, in) -> conv3d's
    ref = F.conv3d(dense, weight, module.conv.bias, padding=tuple(k // 2 for k in kernel))
    assert list(out.spatial_shape) == list(SHAPE)
    assert index_set(out) == index_set(x)  # a regular conv with padding: the full grid again
    torch.testing.assert_close(out.dense(), ref)


def test_strided_down_conv_on_full_grid_equals_conv3d():
    dense, x = full_grid(shape=(5, 6, 7))
    module = SparseConvModule('SparseConv3d', 3, 2, 3, stride=2, padding=1, norm_cfg=None,
                              act_cfg=None).double()
    out = module(x)
    ref = F.conv3d(dense, module.conv.weight.permute(0, 4, 1, 2, 3), module.conv.bias,
                   stride=2, padding=1)
    assert list(out.spatial_shape) == [3, 3, 4]  # ceil(n / 2)
    torch.testing.assert_close(out.dense(), ref)


def test_context_block_and_completion_on_full_grid_equal_dense_reference():
    """The blocks' wiring (residual, two branches, shared SubM indice keys) vs plain conv3d."""
    dense, x = full_grid(channels=2)
    block = ContextAggregation(2, 'test', norm_cfg=None, act_cfg=None).double()

    def conv(layer, volume):
        k = layer.conv.kernel_size
        return F.conv3d(volume, layer.conv.weight.permute(0, 4, 1, 2, 3), layer.conv.bias,
                        padding=tuple(s // 2 for s in k))

    b1, b2 = block.branch1, block.branch2
    ref = dense + conv(b1[1], conv(b1[0], dense)) + conv(b2[1], conv(b2[0], dense))
    torch.testing.assert_close(block(x).dense(), ref)

    completion = SparseCompletion(2, 2, False, norm_cfg=None, act_cfg=None).double()
    ref = dense
    for layer in completion:
        ref = conv(layer, ref)
    assert completion.kernels == ((1, 3, 3), (1, 3, 3), (3, 1, 3), (3, 3, 1))
    torch.testing.assert_close(completion(x).dense(), ref)


@pytest.mark.parametrize('num_layers, xy_only, reach', [
    (2, False, (2, 3, 3)), (2, True, (0, 2, 2)), (0, False, (2, 1, 1))])
def test_completion_grows_active_set_by_kernel_reach(num_layers, xy_only, reach):
    shape = (6, 10, 10)
    centre, corner = (2, 4, 4), (0, 0, 9)
    x = make_sparse_tensor(torch.randn(2, 2), torch.tensor([[0, *centre], [1, *corner]]), shape, 2)
    out = SparseCompletion(2, num_layers, xy_only).train()(x)
    expected = set()
    for batch, site in ((0, centre), (1, corner)):
        lows = [max(c - r, 0) for c, r in zip(site, reach)]
        highs = [min(c + r, s - 1) for c, r, s in zip(site, reach, shape)]
        expected |= box(batch, lows, highs)
    assert index_set(out) == expected
    assert torch.isfinite(out.features).all()


def test_prune_keeps_min_ratio_and_drops_low_logits():
    indices = torch.tensor([[0, 0, 0, i] for i in range(10)] + [[1, 0, 1, i] for i in range(8)])
    x = make_sparse_tensor(torch.randn(18, 2), indices, (1, 2, 10), 2)
    logits = torch.cat([torch.linspace(-5, -1, 10),
                        torch.tensor([3., 2., 1., -1., -2., -3., -4., -5.])])
    kept, keep = prune_voxels(x, logits, threshold=0.5, min_keep_ratio=0.3)
    # sample 0: everything predicted empty -> its ceil(0.3 * 10) = 3 best; sample 1: the 3 > 0.
    assert keep.nonzero()[:, 0].tolist() == [7, 8, 9, 10, 11, 12]
    assert kept.features.shape == (6, 2) and torch.equal(kept.features, x.features[keep])
    _, keep = prune_voxels(x, logits, threshold=0.5, min_keep_ratio=0.5)
    assert keep.nonzero()[:, 0].tolist() == [5, 6, 7, 8, 9, 10, 11, 12, 13]  # 5 and 4 (ceil 4.0)
    _, keep = prune_voxels(x, logits, threshold=0.0, min_keep_ratio=0.0)
    assert keep.all()
    empty = make_sparse_tensor(torch.zeros(0, 2), torch.zeros(0, 4, dtype=torch.int32),
                               (1, 2, 10), 2)
    kept, keep = prune_voxels(empty, torch.zeros(0), 0.5, 0.3)
    assert kept.features.shape == (0, 2) and keep.shape == (0, )


def test_empty_input_gives_empty_output_in_the_graph():
    """spconv's regular convs assert on 0 voxels; our blocks return an empty output instead."""
    x = make_sparse_tensor(torch.zeros(0, 3), torch.zeros(0, 4, dtype=torch.int32), SHAPE, 2)
    down = SparseConvModule('SparseConv3d', 3, 5, 3, stride=2, padding=1).train()
    out = down(x)
    assert out.features.shape == (0, 5) and list(out.spatial_shape) == [2, 3, 3]
    out.features.sum().backward()
    assert torch.count_nonzero(down.conv.weight.grad) == 0
    subm = sparse_conv(SparseConvModule('SubMConv3d', 3, 5, (1, 3, 3)).conv, x)
    assert subm.features.shape == (0, 5) and list(subm.spatial_shape) == list(SHAPE)


def test_norm_act_with_one_voxel_in_training_uses_running_stats():
    post = SparseNormAct(3).train()
    one = torch.randn(1, 3)
    out = post.forward_features(one)
    expected = F.leaky_relu(one / math.sqrt(1 + post.norm.eps), 0.01)
    torch.testing.assert_close(out, expected)


def test_sparse_latent_properties():
    _, x = full_grid(channels=1)
    latent = SparseLatent(levels=[x])
    assert latent.prune == [] and latent.spatial_shapes == [SHAPE]
    assert latent.num_voxels == [2 * 4 * 5 * 6]
