"""MetaBEV's decoder pieces: modality masking, M²oE routing, per-task outputs, modality drop."""
import pytest
import torch

from mmdet3d_plugin.metabev import (BEVEvolvingDecoder, CrossModalDeformableAttention,
                                    MultiTaskMoEFFN, cross_modal_attention)
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


def test_attention_over_absent_maps_is_zero_and_sums_to_one_over_present_maps(monkeypatch):
    """Run ``forward`` and read the weights it hands to the deformable sampling."""
    torch.manual_seed(0)
    attn = CrossModalDeformableAttention(8, 2, 2, 3).eval()
    torch.nn.init.normal_(attn.attention_weights.weight)  # non-uniform attention
    torch.nn.init.normal_(attn.sampling_offsets.weight, std=0.5)
    recorded = []
    sample = cross_modal_attention.deformable_sample

    def spy(value, shapes, locations, weights):
        recorded.append(weights.detach().clone())
        return sample(value, shapes, locations, weights)

    monkeypatch.setattr(cross_modal_attention, 'deformable_sample', spy)
    query, reference = torch.randn(3, 5, 8), torch.rand(5, 2)
    maps = [torch.randn(3, 8, 4, 4), torch.randn(3, 8, 6, 6)]
    present = torch.tensor([[False, True], [True, True], [False, False]])
    with torch.no_grad():
        out = attn(query, reference, maps, present)
    weights = recorded[0]  # (B, L, heads, M, P)
    assert weights.shape == (3, 5, 2, 2, 3)
    assert weights[0, :, :, 0].abs().max() == 0  # sample 0 has no camera map
    torch.testing.assert_close(weights[:2].sum((-1, -2)), torch.ones(2, 5, 2))
    assert weights[1, :, :, 0].sum() > 0.1  # sample 1 uses both maps
    assert weights[2].abs().max() == 0
    torch.testing.assert_close(out[2], torch.zeros(5, 8))  # nothing to attend to

    # what the weights mean for the output: the absent map's content has no influence
    changed = [torch.randn(3, 8, 4, 4), maps[1]]
    with torch.no_grad():
        out_changed = attn(query, reference, changed, present)
    torch.testing.assert_close(out_changed[0], out[0])
    torch.testing.assert_close(out_changed[2], out[2])
    assert not torch.allclose(out_changed[1], out[1])


def test_zero_offsets_read_a_one_hot_map_back_at_the_query_cell():
    """With zero sampling offsets each query samples its own cell: reference ``(x, y)`` of the
    decoder's query grid (row = y, column = x) matches the value map's layout."""
    decoder = _decoder()
    attn = decoder.layers[0].cross_attn
    for layer in (attn.sampling_offsets, attn.attention_weights):
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    for layer in (attn.value_proj, attn.output_proj):
        layer.weight.data.copy_(torch.eye(16))
        torch.nn.init.zeros_(layer.bias)
    rows, cols = decoder.bev_shape
    row, col = 3, 9
    value = torch.zeros(1, 16, rows, cols)
    value[0, :, row, col] = 1.0
    query = torch.zeros(1, rows * cols, 16)
    with torch.no_grad():
        out = attn(query, decoder.reference, [value, value], torch.ones(1, 2, dtype=torch.bool))
    hot = out[0].sum(-1).reshape(rows, cols)
    expected = torch.zeros(rows, cols)
    expected[row, col] = 16.0
    torch.testing.assert_close(hot, expected, atol=1e-5, rtol=0)


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
