"""SparseMask2FormerOccHead: matching, losses by hand, point sampling = dense interpolation, API."""
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import BaseDataElement

from mmdet3d_plugin.ops.sparse import make_sparse_tensor
from mmdet3d_plugin.registry import MODELS
from mmdet3d_plugin.sparseocc.mask2former_head import SparseMask2FormerOccHead
from mmdet3d_plugin.sparseocc.occ_mask_targets import ValidVoxels, flat_to_xyz
from mmdet3d_plugin.sparseocc.sparse_mask_logits import (dense_mask_logits, gt_to_latent_coords,
                                                         latent_index_map, pool_mask_logits,
                                                         sample_mask_logits)
from mmdet3d_plugin.sparseocc.voxel_tokens import pad_sparse_level

GRID = (16, 16, 8)  # GT (X, Y, Z)
FINE, COARSE = (4, 8, 8), (2, 4, 4)  # latent (Z, Y, X), the GT extent at 1/2 and 1/4
K = 4  # classes, free = 3


def sparse_level(shape, batch_size, channels, ratio, gen, empty_samples=()):
    """Random active voxels of a (Z, Y, X) grid, features requiring grad."""
    active = torch.rand(batch_size, *shape, generator=gen) < ratio
    for b in empty_samples:
        active[b] = False
    idx = active.nonzero().int()
    idx = idx[torch.randperm(len(idx), generator=gen)]  # rows need not be sorted by sample
    feats = torch.randn(len(idx), channels, generator=gen).requires_grad_(True)
    return make_sparse_tensor(feats, idx, shape, batch_size)


def full_level(shape, channels=1):
    grid = torch.stack(torch.meshgrid(*[torch.arange(s) for s in shape], indexing='ij'), -1)
    idx = torch.cat([torch.zeros(grid[..., :1].numel(), 1, dtype=torch.long),
                     grid.reshape(-1, 3)], 1).int()
    return make_sparse_tensor(torch.zeros(len(idx), channels), idx, shape, 1)


def latent(batch_size=2, empty_samples=(), seed=0):
    gen = torch.Generator().manual_seed(seed)
    return SimpleNamespace(levels=[
        sparse_level(FINE, batch_size, 8, 0.3, gen, empty_samples),
        sparse_level(COARSE, batch_size, 8, 0.5, gen, empty_samples)], prune=[])


def samples(batch_size=2, only_free=False, seed=0):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(batch_size):
        sample = BaseDataElement()
        gt = torch.randint(0, K, GRID, generator=gen)
        gt[torch.rand(GRID, generator=gen) < 0.05] = 255
        sample.gt_occ = torch.full(GRID, K - 1) if only_free else gt.to(torch.uint8)
        sample.mask_camera = torch.rand(GRID, generator=gen) > 0.2
        out.append(sample)
    return out


def build_head(**kwargs):
    torch.manual_seed(0)
    cfg = dict(type='SparseMask2FormerOccHead', in_channels=8, num_classes=K, grid_shape=GRID,
               embed_dims=24, num_queries=6, num_heads=2, num_layers=2,
               feedforward_channels=32, attn_levels=(1, 0), mask_key='mask_camera',
               num_points=128)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_hungarian_matching_on_a_hand_built_case():
    """Classes 0 and 2 present; q0 looks like class 2, q1 like class 0, q2 like no object."""
    head = build_head(num_classes=3, num_queries=3, grid_shape=(4, 2, 2))
    target = torch.zeros(4, 2, 2, dtype=torch.long)
    target[2:] = 2
    target[0, 0, 0] = 255  # ignored: not part of any mask
    voxels = ValidVoxels(target, 3, 255)
    assert voxels.classes.tolist() == [0, 2] and len(voxels) == 15
    tokens = pad_sparse_level(full_level((2, 2, 4)), 1)  # latent = GT grid, all active
    right = (tokens.coords[0, :, 2] >= 2).float()  # x >= 2
    logits = torch.stack([6 * right - 3, 3 - 6 * right, torch.full_like(right, -4)])
    cls = torch.tensor([[0., 0., 5., 0.], [5., 0., 0., 0.], [0., 0., 0., 5.]])
    assigned = head.match(cls, logits, torch.full((3, ), -5.), voxels,
                          latent_index_map(tokens)[0], tokens.spatial_shape)
    assert assigned.tolist() == [1, 0, -1]  # index into voxels.classes


def test_losses_on_a_hand_built_case(monkeypatch):
    """CE with no-object weight 0.1, BCE and naive dice on every valid voxel, by hand."""
    head = build_head(num_classes=3, num_queries=3, grid_shape=(4, 2, 2))
    target = torch.zeros(4, 2, 2, dtype=torch.long)
    target[2:] = 2
    target[0, 0, 0] = 255
    voxels = ValidVoxels(target, 3, 255)
    tokens = pad_sparse_level(full_level((2, 2, 4)), 1)
    right = (tokens.coords[0, :, 2] >= 2).float()
    logits = torch.stack([6 * right - 3, 3 * (1 - right) - 1, torch.full_like(right, -4)])
    cls = torch.tensor([[0., 0., 5., 0.], [5., 1., 0., 0.], [0., 0., 1., 2.]])
    empty = torch.full((3, ), -5.)

    def every_voxel(_, logits, empty, voxels, classes, index_map, latent_shape):
        xyz = flat_to_xyz(voxels.flat, (4, 2, 2))
        points = gt_to_latent_coords(xyz, (4, 2, 2), latent_shape)
        targets = (voxels.labels[None] == classes[:, None]).float()
        return points[None].expand(len(classes), -1, -1), targets

    monkeypatch.setattr(SparseMask2FormerOccHead, '_loss_points', every_voxel)
    loss_cls, loss_mask, loss_dice = head._loss_single(
        (cls[None], logits[None], empty[None]), [voxels], latent_index_map(tokens),
        tokens.spatial_shape, num_masks=2.0)

    def ce(row, label):
        return -(row[label] - math.log(sum(math.exp(v) for v in row)))

    weights = {2: 1.0, 0: 1.0, 3: 0.1}  # labels of q0, q1, q2 (no object)
    rows = cls.tolist()
    expected_cls = 2.0 * sum(weights[lab] * ce(rows[q], lab) for q, lab in
                             enumerate((2, 0, 3))) / sum(weights.values())
    # valid voxels: x < 2 (class 0) minus the ignored one = 7, x >= 2 (class 2) = 8
    bce, dice = 0.0, 0.0
    for q, (pos_logit, neg_logit, n_pos, n_neg) in enumerate(((3, -3, 8, 7), (2, -1, 7, 8))):
        sig_pos = 1 / (1 + math.exp(-pos_logit))
        sig_neg = 1 / (1 + math.exp(-neg_logit))
        bce += -n_pos * math.log(sig_pos) - n_neg * math.log(1 - sig_neg)
        dice += 1 - (2 * n_pos * sig_pos + 1) / (n_pos * sig_pos + n_neg * sig_neg + n_pos + 1)
    assert loss_cls.item() == pytest.approx(expected_cls, rel=1e-5)
    assert loss_mask.item() == pytest.approx(5.0 * bce / (2 * 15), rel=1e-5)
    assert loss_dice.item() == pytest.approx(5.0 * dice / 2, rel=1e-5)


@pytest.mark.parametrize('grid', [(16, 16, 8), (7, 10, 5)])
def test_point_sampling_equals_dense_interpolation(grid):
    gen = torch.Generator().manual_seed(1)
    level = sparse_level(FINE, 2, 1, 0.4, gen)
    tokens = pad_sparse_level(level, 2)
    logits = torch.randn(2, 3, tokens.valid.shape[1], generator=gen, dtype=torch.float64)
    empty = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    dense = empty[..., None, None, None].expand(2, 3, *FINE).clone()  # built independently
    for b in range(2):
        for n in torch.nonzero(tokens.valid[b]).squeeze(1).tolist():
            z, y, x = tokens.coords[b, n].tolist()
            dense[b, :, z, y, x] = logits[b, :, n]
    torch.testing.assert_close(dense_mask_logits(logits, empty, tokens), dense)
    up = F.interpolate(dense, size=grid[::-1], mode='trilinear', align_corners=False)
    xyz = torch.stack(torch.meshgrid(*[torch.arange(s) for s in grid], indexing='ij'),
                      -1).reshape(-1, 3)
    points = gt_to_latent_coords(xyz, grid, FINE, torch.float64)
    norm = ((xyz.double() + 0.5) / torch.tensor(grid, dtype=torch.float64)) * 2 - 1
    index_map = latent_index_map(tokens)
    for b in range(2):
        sampled = sample_mask_logits(logits[b], empty[b], index_map[b], FINE, points)
        torch.testing.assert_close(sampled, up[b][:, xyz[:, 2], xyz[:, 1], xyz[:, 0]])
        ref = F.grid_sample(dense[b:b + 1], norm.view(1, 1, 1, -1, 3), mode='bilinear',
                            padding_mode='border', align_corners=False)
        torch.testing.assert_close(sampled, ref.view(3, -1))
    per_query = sample_mask_logits(logits[0], empty[0], index_map[0], FINE,
                                   points[:5][None].expand(3, -1, -1))
    torch.testing.assert_close(per_query, up[0][:, xyz[:5, 2], xyz[:5, 1], xyz[:5, 0]])


def test_attention_mask_pooling_equals_adaptive_max_pool():
    gen = torch.Generator().manual_seed(2)
    fine = pad_sparse_level(sparse_level(FINE, 2, 1, 0.4, gen), 2)
    coarse = pad_sparse_level(sparse_level(COARSE, 2, 1, 0.5, gen), 2)
    logits = torch.randn(2, 3, fine.valid.shape[1], generator=gen)
    empty = torch.randn(2, 3, generator=gen)
    pooled = F.adaptive_max_pool3d(dense_mask_logits(logits, empty, fine), COARSE)
    got = pool_mask_logits(logits, empty, fine, coarse)
    for b in range(2):
        c = coarse.coords[b][coarse.valid[b]]
        torch.testing.assert_close(got[b][:, coarse.valid[b]],
                                   pooled[b][:, c[:, 0], c[:, 1], c[:, 2]])


def test_loss_keys_finite_and_gradients_reach_queries_and_voxels():
    head = build_head()
    feats = latent()
    counts = [torch.bincount(lvl.indices[:, 0].long(), minlength=2) for lvl in feats.levels]
    assert all(c[0] != c[1] for c in counts)  # B = 2 with different token counts
    losses = head.loss(feats, samples())
    names = ('loss_cls', 'loss_mask', 'loss_dice')
    assert set(losses) == {p + n for p in ('', 'd0.', 'd1.') for n in names}
    assert all(torch.isfinite(v) and v.dim() == 0 for v in losses.values())
    sum(losses.values()).backward()
    for param in (head.query_feat.weight, head.query_embed.weight, head.empty_token.weight,
                  feats.levels[0].features, feats.levels[1].features):
        assert param.grad is not None and param.grad.abs().sum() > 0


def test_predict_shapes_probabilities_and_batch_independence():
    head = build_head(attn_levels=(0, 1)).eval()
    feats = latent()
    labels, probs = head.predict(feats)
    assert labels.shape == (2, ) + GRID and labels.dtype == torch.uint8
    assert probs.shape == (2, K) + GRID and probs.dtype == torch.float32
    torch.testing.assert_close(probs.sum(1), torch.ones(2, *GRID))
    assert torch.equal(labels, probs.argmax(1).to(torch.uint8))
    # padding is folded into the attention: a sample alone gives what it gives in the batch
    for b in range(2):
        alone = [make_sparse_tensor(lvl.features[lvl.indices[:, 0] == b],
                                    lvl.indices[lvl.indices[:, 0] == b] * torch.tensor(
                                        [0, 1, 1, 1], dtype=torch.int32),
                                    lvl.spatial_shape, 1) for lvl in feats.levels]
        _, probs_alone = head.predict(SimpleNamespace(levels=alone))
        torch.testing.assert_close(probs_alone[0], probs[b], atol=1e-5, rtol=1e-4)


def test_a_frame_with_only_free_voxels():
    head = build_head()
    losses = head.loss(latent(), samples(only_free=True))
    assert all(torch.isfinite(v) for v in losses.values())
    voxels = ValidVoxels(torch.full(GRID, K - 1), K, 255)
    assert voxels.classes.tolist() == [K - 1]


@pytest.mark.parametrize('batch_size, empty_samples', [(2, (1, )), (1, (0, ))])
def test_samples_without_active_voxels(batch_size, empty_samples):
    """All of the sample's logits come from the empty token: its scores are constant."""
    head = build_head()
    feats = latent(batch_size, empty_samples)
    losses = head.loss(feats, samples(batch_size))
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert head.empty_token.weight.grad.abs().sum() > 0
    labels, probs = head.eval().predict(feats)
    for b in empty_samples:
        torch.testing.assert_close(probs[b], probs[b, :, :1, :1, :1].expand_as(probs[b]))
        assert torch.isfinite(probs[b]).all()


def test_config_errors_name_the_argument():
    with pytest.raises(ValueError, match='attn_levels'):
        build_head(attn_levels=(1, 1))
    with pytest.raises(ValueError, match='class_weight'):
        build_head(loss_cls=dict(type='mmdet.CrossEntropyLoss', class_weight=[1.0] * K))
    with pytest.raises(ValueError, match='attn_levels'):
        build_head(attn_levels=(2, 1)).loss(latent(), samples())
    bad = samples()
    bad[0].gt_occ = torch.zeros(3, 3, 3, dtype=torch.uint8)
    with pytest.raises(ValueError, match='gt_occ'):
        build_head().loss(latent(), bad)
