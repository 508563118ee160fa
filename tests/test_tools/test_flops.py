"""FLOPs counting (mmdet3d_plugin.analysis.flops, tools/analysis_tools/get_flops.py).

Sparse convs count ``pairs x Cin x Cout x 2``: on a fully occupied grid that is exactly the
equal ``nn.Conv3d`` when no kernel tap reads padding, and the in-bounds taps otherwise; on a
half-empty grid the pairs are checked against an occupancy convolution (independent of
spconv). Dense layers and attention are checked against hand formulas.
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmdet3d_plugin.analysis.flops import SPARSE_OP, FlopCounter, count_flops
from mmdet3d_plugin.analysis.flops_inputs import (FlopsInputs, build_flops_batch,
                                                  lidar_like_points, ring_rig)
from mmdet3d_plugin.ops.sparse import (SparseConv3d, SparseInverseConv3d, SubMConv3d,
                                       make_sparse_tensor)
from mmdet3d_plugin.testing import load_tool

REPO = Path(__file__).resolve().parents[2]
LIDAR_CONFIG = REPO / 'configs' / 'bevfusion' / 'bevfusion_lidar_tiny_1xb2-cpu_synthetic.py'
OCC_CONFIG = REPO / 'configs' / 'occ_baseline' / 'occ-baseline_cam_tiny_1xb2-cpu_synthetic.py'
GRID = (4, 5, 6)  # (Z, Y, X)
CIN, COUT = 3, 4


def sparse_grid(occupied: torch.Tensor, device: str = 'cpu'):
    """A one-sample SparseConvTensor of the True cells of ``occupied`` (Z, Y, X)."""
    zyx = occupied.nonzero().int()
    indices = torch.cat([torch.zeros_like(zyx[:, :1]), zyx], dim=1)
    torch.manual_seed(0)
    return make_sparse_tensor(torch.randn(len(zyx), CIN).to(device), indices.to(device),
                              occupied.shape, 1)


def full_grid():
    return torch.ones(GRID, dtype=torch.bool)


def taps(occupied: torch.Tensor, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Occupied inputs summed over every output window: the regular conv's pairs."""
    ones = torch.ones(1, 1, kernel, kernel, kernel)
    return int(F.conv3d(occupied[None, None].float(), ones, stride=stride, padding=padding).sum())


def subm_taps(occupied: torch.Tensor, kernel: int) -> int:
    """Sub-manifold pairs: occupied neighbours of every occupied voxel."""
    ones = torch.ones(1, 1, kernel, kernel, kernel)
    counts = F.conv3d(occupied[None, None].float(), ones, padding=kernel // 2)[0, 0]
    return int((counts * occupied).sum())


def dense_flops(kernel: int, stride: int = 1, padding: int = 0) -> int:
    conv = nn.Conv3d(CIN, COUT, kernel, stride=stride, padding=padding, bias=False)
    return count_flops(conv, lambda m: m(torch.randn(1, CIN, *GRID))).total


@pytest.mark.parametrize('kernel, stride', [(3, 1), (3, 2), (2, 2), (1, 1)])
def test_sparse_conv_on_a_full_grid_counts_the_equal_conv3d(kernel, stride):
    """No padding: every tap of the dense conv is in bounds, so the counts are equal."""
    report = count_flops(SparseConv3d(CIN, COUT, kernel, stride=stride, bias=False),
                         lambda m: m(sparse_grid(full_grid())))
    assert report.total == dense_flops(kernel, stride) > 0
    assert report.by_op == {SPARSE_OP: report.total}


def test_submanifold_1x1_on_a_full_grid_counts_the_equal_conv3d():
    report = count_flops(SubMConv3d(CIN, COUT, 1), lambda m: m(sparse_grid(full_grid())))
    assert report.total == dense_flops(1) == 2 * 120 * CIN * COUT


@pytest.mark.parametrize('conv, stride', [(SubMConv3d(CIN, COUT, 3), 1),
                                          (SparseConv3d(CIN, COUT, 3, padding=1), 1),
                                          (SparseConv3d(CIN, COUT, 3, stride=2, padding=1), 2)])
def test_padded_sparse_conv_on_a_full_grid_counts_the_in_bounds_taps(conv, stride):
    """With padding the dense conv also counts the taps that read zeros; the sparse conv
    counts exactly the dense conv's in-bounds taps."""
    report = count_flops(conv, lambda m: m(sparse_grid(full_grid())))
    in_bounds = taps(full_grid(), 3, stride, padding=1)
    assert report.total == 2 * in_bounds * CIN * COUT
    padded = dense_flops(3, stride, padding=1)
    outputs = padded // (27 * 2 * CIN * COUT)
    assert padded - report.total == 2 * CIN * COUT * (27 * outputs - in_bounds) > 0


@pytest.mark.parametrize('make_conv, pairs', [
    (lambda: SubMConv3d(CIN, COUT, 3), lambda occ: subm_taps(occ, 3)),
    (lambda: SparseConv3d(CIN, COUT, 3, stride=2, padding=1),
     lambda occ: taps(occ, 3, stride=2, padding=1)),
])
def test_half_empty_grid_counts_in_proportion_to_its_pairs(make_conv, pairs):
    half = torch.rand(GRID, generator=torch.Generator().manual_seed(1)) < 0.5
    conv = make_conv()
    full_report = count_flops(conv, lambda m: m(sparse_grid(full_grid())))
    half_report = count_flops(conv, lambda m: m(sparse_grid(half)))
    assert half_report.sparse_pairs == {'(root)': pairs(half)}
    assert half_report.total == 2 * pairs(half) * CIN * COUT
    assert 0 < half_report.total < full_report.total
    assert half_report.total / full_report.total == pytest.approx(pairs(half) / pairs(full_grid()))
    # spconv's CPU path runs one torch.mm per kernel offset over the same pairs: the dispatcher
    # sees them (set aside, not added)
    assert half_report.replaced == {'(root)': half_report.total}


def test_shared_indice_keys_and_inverse_conv_count_their_rulebooks():
    """Sub-manifold convs reusing a key and an inverse conv reading its SparseConv3d's rulebook
    count the pairs of freshly built rulebooks (layers without keys)."""
    occupied = torch.rand(GRID, generator=torch.Generator().manual_seed(2)) < 0.6
    model = nn.ModuleDict(dict(
        a=SubMConv3d(CIN, CIN, 3, indice_key='s'), b=SubMConv3d(CIN, CIN, 3, indice_key='s'),
        down=SparseConv3d(CIN, COUT, 3, stride=2, padding=1, indice_key='d'),
        up=SparseInverseConv3d(COUT, CIN, 3, indice_key='d')))

    def forward(m):
        return m.up(m.down(m.b(m.a(sparse_grid(occupied)))))
    report = count_flops(model, forward)
    subm, down = subm_taps(occupied, 3), taps(occupied, 3, stride=2, padding=1)
    assert report.sparse_pairs == dict(a=subm, b=subm, down=down, up=down)
    assert report.by_module == dict(a=2 * subm * CIN * CIN, b=2 * subm * CIN * CIN,
                                    down=2 * down * CIN * COUT, up=2 * down * COUT * CIN)
    assert report.replaced == report.by_module
    assert report.by_type() == {'SubMConv3d': 4 * subm * CIN * CIN,
                                'SparseConv3d': 2 * down * CIN * COUT,
                                'SparseInverseConv3d': 2 * down * CIN * COUT}


@pytest.mark.gpu
def test_sparse_convs_on_cuda_count_the_cpu_pairs():
    """On CUDA spconv's GEMMs (implicit GEMM by default) are invisible to the dispatcher:
    nothing is set aside, and the rebuilt native rulebooks give the CPU counts."""
    occupied = torch.rand(GRID, generator=torch.Generator().manual_seed(3)) < 0.5
    model = nn.ModuleDict(dict(a=SubMConv3d(CIN, CIN, 3, indice_key='s'),
                               down=SparseConv3d(CIN, COUT, 3, stride=2, padding=1,
                                                 indice_key='d'),
                               up=SparseInverseConv3d(COUT, CIN, 3, indice_key='d')))

    def forward(m):
        return m.up(m.down(m.a(sparse_grid(occupied, next(m.parameters()).device))))
    cpu = count_flops(model, forward)
    gpu = count_flops(model.cuda(), forward)
    assert gpu.sparse_pairs == cpu.sparse_pairs and gpu.total == cpu.total > 0
    assert gpu.replaced == {}


def test_linear_and_conv2d_match_hand_formulas():
    linear = nn.Linear(16, 32)  # bias additions are not counted
    assert count_flops(linear, lambda m: m(torch.randn(5, 7, 16))).total == 2 * 35 * 16 * 32
    conv = nn.Conv2d(8, 12, 3, stride=2, padding=1, groups=4)  # 8 x 10 -> 4 x 5
    assert count_flops(conv, lambda m: m(torch.randn(2, 8, 8, 10))).total == \
        2 * 2 * (4 * 5) * 9 * (8 // 4) * 12


def attention_flops(batch, length, source, dim):
    """In-projections, Q K^T, softmax(.) V and the out-projection (summed over heads)."""
    return 2 * batch * (dim * dim * (length + 2 * source) + 2 * length * source * dim
                        + length * dim * dim)


@pytest.mark.parametrize('batch_first, need_weights, source, path', [
    # self-attention at inference: the fast path, one op FlopCounterMode has no formula for
    (True, False, 10, {'aten._native_multi_head_attention'}),
    (True, True, 7, {'aten.mm', 'aten.bmm', 'aten.addmm'}),  # attention weights: math path
    # seq-first: F.scaled_dot_product_attention, on CPU an op FlopCounterMode lacks too
    (False, False, 7, {'aten.mm', 'aten._scaled_dot_product_flash_attention_for_cpu',
                       'aten.addmm'}),
])
def test_multihead_attention_counts_its_matmuls(batch_first, need_weights, source, path):
    mha = nn.MultiheadAttention(16, 4, batch_first=batch_first).eval()
    query, key = torch.randn(2, 10, 16), torch.randn(2, source, 16)
    if not batch_first:
        query, key = query.transpose(0, 1), key.transpose(0, 1)
    key = query if source == 10 else key
    report = count_flops(mha, lambda m: m(query, key, key, need_weights=need_weights))
    assert report.total == attention_flops(2, 10, source, 16)
    assert set(report.by_op) == path
    assert set(report.by_module) == {'(root)'}


def test_report_attributes_each_op_to_its_innermost_module():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Sequential(nn.ReLU(), nn.Linear(4, 2)))
    with FlopCounter(model) as counter, torch.no_grad():
        model(torch.randn(1, 3, 2, 4)).sum()  # Linear: 1 x 4 x 2 rows of its last axis (4)
        torch.randn(3, 5) @ torch.randn(5, 2)  # outside the model: the root
    report = counter.report
    conv, linear, outside = 2 * 8 * 3 * 4, 2 * 8 * 4 * 2, 2 * 3 * 5 * 2
    assert report.by_module == {'(root)': outside, '0': conv, '1': 0, '1.0': 0, '1.1': linear}
    assert report.by_top_level() == {'(root)': outside, '0': conv, '1': linear}
    assert report.by_type() == {'Linear': linear, 'Conv2d': conv, 'Sequential': outside,
                                'ReLU': 0}
    assert report.total == conv + linear + outside
    assert 'Conv2d' in report.format_table()
    assert not model._forward_hooks and not model[0]._forward_pre_hooks  # unhooked


def test_a_module_fed_a_no_grad_view_of_a_parameter_is_counted():
    # SparseOcc's head passes query_feat.weight[None].expand(...) to a LayerNorm: under
    # no_grad that view requires grad without a grad_fn, which torch's ModuleTracker rejects
    class Queries(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.proj = nn.Embedding(4, 3), nn.Linear(3, 2)

        def forward(self):
            return self.proj(self.embed.weight[None].expand(2, -1, -1))

    model = Queries()
    report = count_flops(model, lambda m: m())
    assert report.by_module['proj'] == report.total == 2 * 8 * 3 * 2


def test_flops_inputs_helpers():
    cam2img, lidar2cam = ring_rig((128, 352))
    assert cam2img.shape == lidar2cam.shape == (6, 4, 4)
    front = lidar2cam[0] @ torch.tensor([10.0, 0, 0, 1]).numpy()  # 10 m ahead: optical axis
    assert front[:3].tolist() == pytest.approx([0, 0, 10], abs=1e-5)
    points = lidar_like_points(2000, 5, np.random.default_rng(0))
    assert points.shape == (2000, 5) and points[:, 2].min() >= -1.84 - 1e-4
    with pytest.raises(KeyError, match='no input builder for model.type'):
        build_flops_batch(nn.Linear(2, 2), dict(type='Linear'), FlopsInputs())


def test_get_flops_on_the_lidar_tiny_bevfusion(tmp_path, capsys):
    out = tmp_path / 'flops.json'
    tool = load_tool('analysis_tools/get_flops')
    assert tool.main([str(LIDAR_CONFIG), '--num-points', '3000', '--out', str(out)]) == 0
    printed = capsys.readouterr().out
    assert 'GFLOPs' in printed and 'pts_middle_encoder (SparseEncoder)' in printed
    assert ', 3000 points per sample' in printed
    report = json.loads(out.read_text())
    assert report['total'] == sum(report['by_top_level'].values()) == sum(report['by_op'].values())
    assert report['by_op'][SPARSE_OP] == sum(report['by_module'][name]
                                             for name in report['sparse_pairs']) > 0
    assert report['by_top_level']['pts_middle_encoder'] == report['by_op'][SPARSE_OP]
    assert sum(report['replaced'].values()) == report['by_op'][SPARSE_OP]  # CPU: torch.mm
    assert report['inputs']['num_points'] == 3000 and report['params'] > 0
    assert not list(tmp_path.glob('.*.tmp'))


def test_get_flops_on_the_camera_occupancy_baseline(tmp_path, capsys):
    out = tmp_path / 'flops.json'
    assert load_tool('analysis_tools/get_flops').main([str(OCC_CONFIG), '--out', str(out)]) == 0
    assert ', 6 x (3, 128, 352) images per sample' in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report['by_type']['Conv3d'] > 0 and SPARSE_OP not in report['by_op']
    assert report['total'] == sum(report['by_top_level'].values())


def test_get_flops_refuses_unsupported_inputs(tmp_path, capsys):
    tool = load_tool('analysis_tools/get_flops')
    assert tool.main([str(tmp_path / 'missing.py')]) == 2
    config = tmp_path / 'second.py'
    config.write_text("model = dict(type='SECOND', in_channels=4, out_channels=[8], "
                      "layer_nums=[1], layer_strides=[1])\n")
    assert tool.main([str(config)]) == 2
    assert "no input builder for model.type 'SECOND'" in capsys.readouterr().err
    assert tool.main([str(LIDAR_CONFIG), '--shape', '256', '704']) == 2
    assert 'the model has no camera branch' in capsys.readouterr().err
    assert tool.main([str(OCC_CONFIG), '--shape', '256']) == 2
    assert 'differs from model.view_transform.image_size (128, 352)' in capsys.readouterr().err
