"""MetaBEV's decoder pieces: modality masking, M²oE routing, per-task outputs, modality drop."""
import pytest
import torch

from mmdet3d_plugin.metabev import BEVEvolvingDecoder, CrossModalDeformableAttention, MultiTaskMoEFFN
from mmdet3d_plugin.models.detectors import draw_modality_drop


def _decoder(**kwargs):
    args = dict(in_channels=[6, 10], embed_dims=16, bev_shape=(12, 12), num_layers=2,
                num_heads=4, num_points=2, ffn_channels=32, moe_layers=(1, ))
    args.update(kwargs)
    torch.manual_seed(0)
    return BEVEvolvingDecoder(**args).eval()


def test_an_absent_modality_has_no_influence_on_the_output():
    decoder = _decoder()
    cam = torch.randn(2, 6, 12, 12)
    present = torch.tensor([[True, False], [True, True]])
    lidar_a, lidar_b = torch.randn(2, 10, 12, 12), torch.randn(2, 10, 12, 12)
    with torch.no_grad():
        out_a = decoder([cam, lidar_a], present)
        out_b = decoder([cam, lidar_b], present)
    assert set(out_a) == {'det', 'seg'} and out_a['det'].shape == (2, 16, 12, 12)
    for task in ('det', 'seg'):
        torch.testing.assert_close(out_a[task][0], out_b[task][0])  # absent LiDAR ignored
        assert not torch.allclose(out_a[task][1], out_b[task][1])  # sample 1's LiDAR is used
    assert not torch.allclose(out_a['det'], out_a['seg'])


def test_a_sample_without_any_modality_gives_finite_query_only_features():
    decoder = _decoder(moe_layers=())
    feats = [torch.randn(1, 6, 12, 12), torch.randn(1, 10, 12, 12)]
    out = decoder(feats, torch.zeros(1, 2, dtype=torch.bool))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 16, 12, 12)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert decoder.meta_bev.grad.abs().sum() > 0


def test_modality_maps_may_have_different_resolutions():
    decoder = _decoder()
    out = decoder([torch.randn(1, 6, 24, 24), torch.randn(1, 10, 6, 6)],
                  torch.ones(1, 2, dtype=torch.bool))
    assert out['seg'].shape == (1, 16, 12, 12)


def test_attention_weights_of_present_maps_sum_to_one():
    attn = CrossModalDeformableAttention(8, 2, 2, 3)
    torch.nn.init.normal_(attn.attention_weights.weight)
    query = torch.randn(1, 5, 8)
    logits = attn.attention_weights(query).view(1, 5, 2, 2, 3)
    present = torch.tensor([[False, True]])
    masked = logits.masked_fill(~present.view(1, 1, 1, 2, 1), torch.finfo(logits.dtype).min)
    weights = masked.flatten(3).softmax(-1).view(1, 5, 2, 2, 3)
    assert weights[..., 0, :].abs().max() == 0
    torch.testing.assert_close(weights.sum((-1, -2)), torch.ones(1, 5, 2))


def test_m2oe_gates_pick_top_k_experts_per_task():
    moe = MultiTaskMoEFFN(8, 16, num_experts=4, top_k=2, tasks=('det', 'seg'))
    tokens = torch.randn(10, 8)
    for task in ('det', 'seg'):
        gates = moe.gates(tokens, task)
        assert ((gates > 0).sum(-1) == 2).all()
        torch.testing.assert_close(gates.sum(-1), torch.ones(10))
    assert not torch.allclose(moe(tokens, 'det'), moe(tokens, 'seg'))
    with pytest.raises(KeyError, match="unknown task 'occ'"):
        moe(tokens, 'occ')
    with pytest.raises(ValueError, match='top_k=5'):
        MultiTaskMoEFFN(8, 16, num_experts=4, top_k=5, tasks=('det', ))


def test_modality_drop_never_leaves_a_sample_without_its_sensors():
    generator = torch.Generator().manual_seed(0)
    present = torch.ones(4000, 2, dtype=torch.bool)
    present[:1000, 0] = False  # LiDAR-only samples keep their LiDAR
    kept = draw_modality_drop(present, (0.25, 0.25), generator)
    assert kept.any(1).all()
    assert kept[:1000, 1].all()
    both = present.all(1)
    camera_dropped = (~kept[both, 0]).float().mean().item()
    lidar_dropped = (~kept[both, 1]).float().mean().item()
    assert camera_dropped == pytest.approx(0.25, abs=0.03)
    assert lidar_dropped == pytest.approx(0.25, abs=0.03)
    with pytest.raises(ValueError, match='summing to <= 1'):
        draw_modality_drop(present, (0.7, 0.7))
