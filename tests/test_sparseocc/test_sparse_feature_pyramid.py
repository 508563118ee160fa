"""Sparse trilinear upsampling (= dense F.interpolate at the active sites, gradcheck) and the
SparseLatentDiffuser / SparseFeaturePyramid built from the registry, incl. empty volumes."""
import pytest
import torch
import torch.nn.functional as F

from mmdet3d_plugin.ops.sparse import make_sparse_tensor
from mmdet3d_plugin.registry import MODELS
from mmdet3d_plugin.sparseocc import (SparseFeaturePyramid, SparseLatent, SparseLatentDiffuser,
                                      sparse_trilinear_upsample, volume_to_sparse)

CHANNELS = (8, 16, 16)
DIFFUSER = dict(type='SparseLatentDiffuser', in_channels=4, channels=CHANNELS,
                completion_layers=(1, 1, 1), completion_xy_only=(False, False, True))
PYRAMID = dict(type='SparseFeaturePyramid', in_channels=CHANNELS, out_channels=8)


def random_sparse(shape, channels=3, batch_size=2, density=0.5, dtype=torch.float64, seed=0):
    """A sparse tensor with random features on a random subset; sample 1's x < X/2 half empty."""
    gen = torch.Generator().manual_seed(seed)
    dense = torch.randn(batch_size, channels, *shape, generator=gen, dtype=dtype)
    mask = torch.rand(batch_size, 1, *shape, generator=gen) < density
    mask[1, ..., :shape[2] // 2] = False
    return volume_to_sparse(dense * mask)


def random_sites(shape, batch_size=2, density=0.6, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(batch_size, *shape, generator=gen) < density).nonzero().int()


@pytest.mark.parametrize('coarse_shape, fine_shape', [
    ((3, 4, 5), (6, 8, 10)),   # x2
    ((3, 4, 5), (5, 7, 11)),   # non-integer factors
    ((1, 3, 4), (2, 7, 4)),    # a size-1 axis and a factor of 1
])
def test_sparse_trilinear_upsample_equals_dense_interpolate(coarse_shape, fine_shape):
    coarse = random_sparse(coarse_shape)
    sites = random_sites(fine_shape)
    out = sparse_trilinear_upsample(coarse, sites, fine_shape)
    dense = F.interpolate(coarse.dense(), size=fine_shape, mode='trilinear', align_corners=False)
    b, z, y, x = sites.long().unbind(1)
    torch.testing.assert_close(out, dense.permute(0, 2, 3, 4, 1)[b, z, y, x])
    assert (out[b == 1].abs().sum(1) == 0).any()  # sample 1's empty half stays zero


def test_sparse_trilinear_upsample_gradcheck_and_empty_cases():
    coarse = random_sparse((2, 2, 3), channels=2, batch_size=2, density=0.7)
    sites = random_sites((3, 4, 5), density=0.3)
    feats = coarse.features.clone().requires_grad_(True)

    def upsample(features):
        sparse = make_sparse_tensor(features, coarse.indices, coarse.spatial_shape, 2)
        return sparse_trilinear_upsample(sparse, sites, (3, 4, 5))

    assert torch.autograd.gradcheck(upsample, (feats, ))
    empty = make_sparse_tensor(torch.zeros(0, 2), torch.zeros(0, 4, dtype=torch.int32),
                               (2, 2, 3), 2)
    out = sparse_trilinear_upsample(empty, sites, (3, 4, 5))
    assert torch.equal(out, torch.zeros(len(sites), 2))
    assert sparse_trilinear_upsample(coarse, sites[:0], (3, 4, 5)).shape == (0, 2)


BAD_SITES = r'fine_indices must be an integer \(M, 4\)'


@pytest.mark.parametrize('kwargs, match', [
    (dict(fine_indices=torch.zeros(3, 3, dtype=torch.int32)), BAD_SITES),
    (dict(fine_indices=torch.zeros(3, 4)), BAD_SITES),
    (dict(fine_indices=torch.tensor([[2, 0, 0, 0]])), 'fine_indices out of range'),
    (dict(fine_indices=torch.tensor([[0, 0, 0, 5]])), 'fine_indices out of range'),
    (dict(fine_shape=(4, 4)), 'fine_shape must be three positive ints'),
])
def test_sparse_trilinear_upsample_rejects_bad_input(kwargs, match):
    args = dict(coarse=random_sparse((2, 2, 3)), fine_indices=torch.zeros(1, 4, dtype=torch.int32),
                fine_shape=(4, 4, 5))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sparse_trilinear_upsample(**args)


def tiny_volume(seed=0):
    """(2, 4, 6, 8, 8): sample 0 has a lifted blob, sample 1 a single voxel."""
    gen = torch.Generator().manual_seed(seed)
    volume = torch.zeros(2, 4, 6, 8, 8)
    volume[0, :, 1:4, 2:5, 3:6] = torch.randn(4, 3, 3, 3, generator=gen)
    volume[1, :, 5, 7, 0] = 1.0
    return volume.requires_grad_(True)


def test_diffuser_and_pyramid_from_registry_forward_backward():
    encoder = MODELS.build(dict(DIFFUSER, prune_stages=(1, ))).train()
    neck = MODELS.build(PYRAMID).train()
    assert isinstance(encoder, SparseLatentDiffuser) and isinstance(neck, SparseFeaturePyramid)
    volume = tiny_volume()
    latent = encoder(volume)
    assert latent.spatial_shapes == [(6, 8, 8), (3, 4, 4), (2, 2, 2)]
    assert [level.features.shape[1] for level in latent.levels] == list(CHANNELS)
    assert set(latent.levels[0].indices[:, 0].tolist()) == {0, 1}
    assert latent.num_voxels[0] > int((volume.abs().sum(1) > 0).sum())  # completion grew it
    assert len(latent.prune) == 1 and latent.prune[0].features.shape[1] == 1
    assert list(latent.prune[0].spatial_shape) == [3, 4, 4]

    out = neck(latent)
    assert out.num_voxels == latent.num_voxels and out.prune == latent.prune
    for level, ref in zip(out.levels, latent.levels):
        assert level.features.shape[1] == 8 and torch.equal(level.indices, ref.indices)
    target = (latent.prune[0].features.detach() > 0).float()
    loss = sum(level.features.square().mean() for level in out.levels) + \
        F.binary_cross_entropy_with_logits(latent.prune[0].features, target)
    loss.backward()
    assert volume.grad.abs().sum() > 0
    assert encoder.occupancy['1'].weight.grad.abs().sum() > 0
    assert neck.lateral[2].conv.weight.grad.abs().sum() > 0  # coarsest feeds the top-down pass


def test_pruning_through_the_diffuser_keeps_min_ratio():
    encoder = MODELS.build(dict(DIFFUSER, prune_stages=(0, ), min_keep_ratio=0.5)).eval()
    torch.nn.init.constant_(encoder.occupancy['0'].bias, -100.0)  # everything predicted empty
    latent = encoder(tiny_volume())
    before = latent.prune[0].indices[:, 0].bincount(minlength=2)
    after = latent.levels[0].indices[:, 0].bincount(minlength=2)
    assert torch.equal(after, torch.ceil(before / 2).long())


@pytest.mark.parametrize('training', [True, False])
def test_empty_volume_does_not_crash(training):
    encoder = MODELS.build(dict(DIFFUSER, prune_stages=(0, 2))).train(training)
    neck = MODELS.build(PYRAMID).train(training)
    out = neck(encoder(torch.zeros(2, 4, 6, 8, 8)))
    assert out.num_voxels == [0, 0, 0] and len(out.prune) == 2
    assert out.spatial_shapes == [(6, 8, 8), (3, 4, 4), (2, 2, 2)]
    assert out.levels[0].dense().shape == (2, 8, 6, 8, 8)
    if training:
        sum(level.features.sum() for level in out.levels).backward()
        grads = [p.grad for p in neck.parameters() if p.grad is not None]
        assert grads and all(torch.count_nonzero(g) == 0 for g in grads)


def test_bad_input_raises_value_error_naming_the_tensor():
    encoder = MODELS.build(DIFFUSER)
    with pytest.raises(ValueError, match=r'SparseLatentDiffuser: volume must be \(B, 4, Z, Y, X\), '
                                         r'got \(2, 3, 6, 8, 8\)'):
        encoder(torch.zeros(2, 3, 6, 8, 8))
    with pytest.raises(ValueError, match='SparseLatentDiffuser: volume must be'):
        encoder(torch.zeros(4, 6, 8, 8))
    neck = MODELS.build(PYRAMID)
    latent = encoder(tiny_volume())
    with pytest.raises(ValueError, match=r'latent.levels\[1\] features must be \(N, 8\)'):
        MODELS.build(dict(PYRAMID, in_channels=(8, 8, 16)))(latent)
    with pytest.raises(ValueError, match='latent.levels has 2 levels, expected 3'):
        neck(SparseLatent(levels=latent.levels[:2]))
    with pytest.raises(ValueError, match='latent must be a SparseLatent'):
        neck(latent.levels)
    with pytest.raises(ValueError, match='completion_layers'):
        MODELS.build(dict(DIFFUSER, completion_layers=(1, 1)))
    with pytest.raises(ValueError, match='prune_stages'):
        MODELS.build(dict(DIFFUSER, prune_stages=(3, )))


def test_single_voxel_batch_trains():
    """BatchNorm1d cannot take batch statistics of one row; the blocks fall back to running ones."""
    encoder = MODELS.build(DIFFUSER).train()
    neck = MODELS.build(PYRAMID).train()
    volume = torch.zeros(1, 4, 6, 8, 8)
    volume[0, :, 0, 0, 0] = 1.0
    out = neck(encoder(volume.requires_grad_(True)))
    sum(level.features.sum() for level in out.levels).backward()
    assert all(torch.isfinite(level.features).all() for level in out.levels)
    assert volume.grad.abs().sum() > 0
