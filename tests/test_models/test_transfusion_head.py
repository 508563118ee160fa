"""TransFusion head: box coder, match costs and Hungarian assignment on hand-built cases,
heatmap query initialisation, losses (empty GT included), predict, a short overfit, and the
configs that use it."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
from mmengine.config import Config
from mmengine.structures import InstanceData
from torch import nn

from mmdet3d_plugin.models.heads.transfusion_layers import select_proposals
from mmdet3d_plugin.models.heads.transfusion_targets import heatmap_targets
from mmdet3d_plugin.registry import MODELS, TASK_UTILS
from mmdet3d_plugin.testing import make_batch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PC_RANGE = [-25.6, -25.6, -5.0, 25.6, 25.6, 3.0]
VOXEL = [0.8, 0.8, 1.0]  # x out_size_factor 2 -> 1.6 m cells, a 32 x 32 map
ASSIGNER = dict(type='HungarianAssigner3D',
                cls_cost=dict(type='mmdet.FocalLossCost', gamma=2.0, alpha=0.25, weight=0.15),
                reg_cost=dict(type='BBoxBEVL1Cost', weight=0.25),
                iou_cost=dict(type='IoU3DCost', weight=0.25))
CAR = [4.5, 1.9, 1.6]


def _boxes(rows):
    """``(K, 9)`` LiDAR boxes from ``(x, y, yaw)`` rows (car size, z -1.8, velocity 1, 0)."""
    boxes = torch.zeros((len(rows), 9))
    for i, (x, y, yaw) in enumerate(rows):
        boxes[i] = torch.tensor([x, y, -1.8] + CAR + [yaw, 1.0, 0.0])
    return boxes


def _coder():
    return TASK_UTILS.build(dict(type='TransFusionBBoxCoder', pc_range=PC_RANGE[:2],
                                 voxel_size=VOXEL[:2], out_size_factor=2))


def _head(num_proposals=20, hidden=32, in_channels=8):
    layer = dict(self_attn_cfg=dict(embed_dims=hidden, num_heads=4),
                 cross_attn_cfg=dict(embed_dims=hidden, num_heads=4),
                 ffn_cfg=dict(embed_dims=hidden, feedforward_channels=2 * hidden, num_fcs=2,
                              ffn_drop=0.0))
    head = MODELS.build(dict(
        type='TransFusionHead', in_channels=in_channels, num_classes=3,
        num_proposals=num_proposals, hidden_channel=hidden, decoder_layer=layer,
        num_decoder_layers=2, auxiliary=True,
        bbox_coder=dict(type='TransFusionBBoxCoder', pc_range=PC_RANGE[:2],
                        voxel_size=VOXEL[:2], out_size_factor=2),
        train_cfg=dict(point_cloud_range=PC_RANGE, voxel_size=VOXEL, out_size_factor=2,
                       code_weights=[1.0] * 8 + [0.2, 0.2], assigner=ASSIGNER)))
    head.init_weights()
    return head


def _samples(box_sets, labels_sets):
    samples = []
    for boxes, labels in zip(box_sets, labels_sets):
        sample = Det3DDataSample(metainfo=dict(box_type_3d=LiDARInstance3DBoxes))
        sample.gt_instances_3d = InstanceData(
            bboxes_3d=LiDARInstance3DBoxes(boxes, box_dim=9),
            labels_3d=torch.as_tensor(labels, dtype=torch.long))
        samples.append(sample)
    return samples


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope='module', autouse=True)
def _one_thread():
    """Tiny tensors: one intra-op thread is ~20x faster than two on the shared 2-core box."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------- coder, costs, assigner
def test_coder_round_trip_and_code_layout():
    coder = _coder()
    boxes = _boxes([(3.2, -8.0, 0.3), (-20.0, 11.5, -2.9)])
    codes = coder.encode(boxes)
    assert codes.shape == (2, 10)
    # centre in 1.6 m cells from the range origin, gravity-centre z, log sizes, sin/cos, velocity
    assert torch.allclose(codes[0, :3], torch.tensor([(3.2 + 25.6) / 1.6, (-8.0 + 25.6) / 1.6,
                                                      -1.8 + 0.8]))
    assert torch.allclose(codes[0, 3:8], torch.tensor(
        [math.log(4.5), math.log(1.9), math.log(1.6), math.sin(0.3), math.cos(0.3)]))
    assert torch.allclose(coder.decode_codes(codes), boxes, atol=1e-5)
    heads = dict(center=codes.T[None, 0:2], height=codes.T[None, 2:3], dim=codes.T[None, 3:6],
                 rot=codes.T[None, 6:8], vel=codes.T[None, 8:10])
    assert torch.allclose(coder.decode(heads)[0], boxes, atol=1e-5)


def test_costs_match_hand_values_and_assigner_picks_the_matching_pairs():
    assigner = TASK_UTILS.build(ASSIGNER)
    preds = _boxes([(0.0, 0.0, 0.0), (10.0, 10.0, 0.0), (-20.0, 5.0, 1.0)])
    gts = _boxes([(10.0, 10.0, 0.0), (0.8, 0.0, 0.0)])
    labels = torch.tensor([1, 0])
    logits = torch.tensor([[2.0, -1.0, -1.0], [-1.0, 0.5, -1.0], [0.0, 0.0, 0.0]])
    cost, ious = assigner.cost_matrix(preds, logits, gts, labels, PC_RANGE)
    # IoU: identical boxes 1; a car shifted 0.8 m along its length: (4.5 - 0.8) / (4.5 + 0.8)
    assert ious[1, 0] == pytest.approx(1.0, abs=1e-4)
    assert ious[0, 1] == pytest.approx(3.7 / 5.3, abs=1e-4)
    assert ious[2].abs().max() < 1e-6

    def focal(logit, alpha=0.25, gamma=2.0):
        p = 1 / (1 + math.exp(-logit))
        return (-math.log(p) * alpha * (1 - p) ** gamma +
                math.log(1 - p) * (1 - alpha) * p ** gamma)

    l1 = 0.8 / 51.2  # |dx| normalised by the 51.2 m range
    expected_01 = 0.15 * focal(2.0) + 0.25 * l1 - 0.25 * 3.7 / 5.3
    expected_10 = 0.15 * focal(0.5) + 0.0 - 0.25 * 1.0
    expected_20 = 0.15 * focal(0.0) + 0.25 * (30.0 + 5.0) / 51.2
    assert cost[0, 1] == pytest.approx(expected_01, abs=1e-4)
    assert cost[1, 0] == pytest.approx(expected_10, abs=1e-4)
    assert cost[2, 0] == pytest.approx(expected_20, abs=1e-4)
    default_cost, _ = TASK_UTILS.build(dict(type='HungarianAssigner3D')).cost_matrix(
        preds, logits, gts, labels, PC_RANGE)
    assert torch.allclose(default_cost, cost)  # the defaults are TransFusion's weights
    result = assigner.assign(preds, logits, gts, labels, PC_RANGE)
    assert result.gt_inds.tolist() == [2, 1, 0]  # 1-based GT index, 0 background
    assert result.labels.tolist() == [0, 1, -1]
    assert result.max_overlaps[1] == pytest.approx(1.0, abs=1e-4)


def test_assigner_without_gt_leaves_every_query_background():
    assigner = TASK_UTILS.build(ASSIGNER)
    result = assigner.assign(_boxes([(0, 0, 0), (1, 1, 0)]), torch.zeros(2, 3),
                             torch.zeros((0, 9)), torch.zeros(0, dtype=torch.long), PC_RANGE)
    assert result.num_gts == 0 and result.gt_inds.tolist() == [0, 0]


# ---------------------------------------------------------------------- query initialisation
def test_heatmap_targets_and_query_init_pick_the_gt_peaks():
    boxes = _boxes([(3.3, -8.1, 0.0), (-12.3, 16.5, 0.0)])
    labels = torch.tensor([2, 0])
    target = heatmap_targets(boxes, labels, 3, (32, 32), PC_RANGE, [1.6, 1.6])
    cells = [(10, 18), (26, 8)]  # (row y, column x): floor((coordinate + 25.6) / 1.6)
    assert target[2][cells[0]] == 1 and target[0][cells[1]] == 1
    assert int(target.eq(1).sum()) == 2
    cls, index = select_proposals(target[None], 2)
    assert sorted(zip(cls[0].tolist(), index[0].tolist())) == sorted(
        [(2, cells[0][0] * 32 + cells[0][1]), (0, cells[1][0] * 32 + cells[1][1])])

    class FixedHeatmap(nn.Module):
        def forward(self, feat):
            return torch.logit(target.clamp(1e-4, 1 - 1e-4))[None].expand(feat.shape[0], -1,
                                                                          -1, -1)

    head = _head(num_proposals=4)
    head.heatmap_head = FixedHeatmap()
    head.eval()
    out = head([torch.randn(1, 8, 32, 32)])
    assert set(zip(out['query_labels'][0, :2].tolist(), out['query_index'][0, :2].tolist())) \
        == set(zip(cls[0].tolist(), index[0].tolist()))
    score = out['query_heatmap_score'][0]
    assert score[2, 0] == pytest.approx(1.0, abs=1e-3) or score[0, 0] == pytest.approx(1.0,
                                                                                       abs=1e-3)


# ---------------------------------------------------------------------- loss and predict
def test_loss_keys_finite_backward_and_empty_gt():
    head = _head()
    feat = torch.randn(2, 8, 32, 32, requires_grad=True)
    samples = _samples([_boxes([(3.2, -8.0, 0.3), (-12.0, 16.0, 1.0)]), torch.zeros((0, 9))],
                       [[2, 0], []])
    losses = head.loss([feat], samples)
    assert {'loss_heatmap', 'loss_cls', 'loss_bbox', 'matched_ious', 'd0.loss_cls',
            'd0.loss_bbox'} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert feat.grad is not None and feat.grad.abs().sum() > 0
    empty = head.loss([torch.randn(2, 8, 32, 32)], _samples([torch.zeros((0, 9))] * 2, [[], []]))
    assert all(torch.isfinite(v) for v in empty.values())
    assert float(empty['loss_bbox']) == 0 and float(empty['loss_cls']) > 0


def test_loss_and_predict_under_autocast():
    """``--amp`` (bfloat16 autocast on CPU): matching runs in float32, losses stay finite."""
    head = _head()
    samples = _samples([_boxes([(3.2, -8.0, 0.3)])], [[1]])
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = head.loss([torch.randn(1, 8, 32, 32)], samples)
        head.eval()
        results = head.predict([torch.randn(1, 8, 32, 32)], samples)
    assert all(torch.isfinite(v.float()) for v in losses.values())
    assert results[0].bboxes_3d.tensor.shape == (20, 9)


def test_grid_mismatch_is_named():
    with pytest.raises(ValueError, match='point_cloud_range'):
        _head().loss([torch.randn(1, 8, 16, 16)], _samples([_boxes([(0, 0, 0)])], [[0]]))


def test_predict_returns_every_proposal_ranked():
    head = _head(num_proposals=20).eval()
    samples = _samples([torch.zeros((0, 9))] * 2, [[], []])
    with torch.no_grad():
        results = head.predict([torch.randn(2, 8, 32, 32)], samples)
    assert len(results) == 2
    for result in results:
        assert isinstance(result.bboxes_3d, LiDARInstance3DBoxes)
        assert result.bboxes_3d.tensor.shape == (20, 9)
        assert result.scores_3d.shape == result.labels_3d.shape == (20, )
        assert result.labels_3d.dtype == torch.long and result.labels_3d.max() < 3
        assert torch.all(result.scores_3d[:-1] >= result.scores_3d[1:])
    head.test_cfg['score_threshold'] = float(results[0].scores_3d[4])
    with torch.no_grad():
        kept = head.predict([torch.randn(2, 8, 32, 32)], samples)
    assert all(r.scores_3d.min() >= head.test_cfg['score_threshold'] for r in kept
               if len(r.scores_3d))


@pytest.mark.slow
def test_overfits_one_sample():
    """30 Adam steps on one fixed BEV map with two cars: loss drops, matched IoU rises."""
    head = _head(num_proposals=10, hidden=32)
    feat = torch.randn(1, 8, 32, 32)
    samples = _samples([_boxes([(3.2, -8.0, 0.3), (-12.0, 16.0, 1.0)])], [[2, 0]])
    optim = torch.optim.Adam(head.parameters(), lr=3e-3)
    totals, ious = [], []
    for _ in range(30):
        losses = head.loss([feat], samples)
        total = sum(v for k, v in losses.items() if 'loss' in k)
        optim.zero_grad()
        total.backward()
        optim.step()
        totals.append(float(total.detach()))
        ious.append(float(losses['matched_ious']))
    assert np.mean(totals[-3:]) < 0.5 * np.mean(totals[:3]), totals
    assert max(ious[-5:]) > ious[0], ious


# ---------------------------------------------------------------------- configs
def _config(path):
    return Config.fromfile(osp.join(REPO, path))


def test_paper_configs_use_the_transfusion_head_with_bevfusions_settings():
    paper = _config('configs/bevfusion/bevfusion_lidar-cam_swint-voxel0075_second_secfpn_'
                    '8xb4-cyclic-20e_nus-3d-map.py')
    head_cfg = paper.model.bbox_head
    assert head_cfg.type == 'TransFusionHead' and head_cfg.num_proposals == 200
    assert head_cfg.hidden_channel == 128 and head_cfg.num_decoder_layers == 1
    costs = paper.model.train_cfg.pts.assigner
    assert (costs.cls_cost.weight, costs.reg_cost.weight, costs.iou_cost.weight) == (
        0.15, 0.25, 0.25)
    head = MODELS.build(dict(head_cfg, train_cfg=paper.model.train_cfg.pts,
                             test_cfg=paper.model.test_cfg.pts))  # no forward at full size
    assert head.bbox_coder.out_size_factor == 8 and head.test_cfg['score_threshold'] is None
    names = [paper.class_names[i] for i in head.skip_nms_classes]
    assert names == ['pedestrian', 'traffic_cone']
    metabev = _config('configs/metabev/metabev_lidar-cam_swint-voxel0075_bev-evolving-m2oe_'
                      '8xb4-cyclic-20e_nus-3d-map.py')
    assert metabev.model.bbox_head == head_cfg


CENTERHEAD_STAGE1 = 'bevfusion_lidar_voxel0075_second_secfpn_centerhead_8xb4-cyclic-20e_nus-3d-map'
CENTERHEAD_TWINS = {  # CenterHead option -> its TransFusion twin
    f'bevfusion/{CENTERHEAD_STAGE1}':
    'bevfusion/bevfusion_lidar_voxel0075_second_secfpn_8xb4-cyclic-20e_nus-3d-map',
    'bevfusion/bevfusion_lidar-cam_swint-voxel0075_second_secfpn_centerhead_8xb4-cyclic-20e_'
    'nus-3d-map': 'bevfusion/bevfusion_lidar-cam_swint-voxel0075_second_secfpn_8xb4-cyclic-20e_'
    'nus-3d-map',
    'metabev/metabev_lidar-cam_swint-voxel0075_bev-evolving-m2oe_centerhead_8xb4-cyclic-20e_'
    'nus-3d-map': 'metabev/metabev_lidar-cam_swint-voxel0075_bev-evolving-m2oe_8xb4-cyclic-20e_'
    'nus-3d-map',
}


@pytest.mark.parametrize('option', sorted(CENTERHEAD_TWINS), ids=osp.basename)
def test_centerhead_option_differs_from_its_twin_only_in_the_head(option):
    cfg = _config(f'configs/{option}.py').to_dict()
    twin = _config(f'configs/{CENTERHEAD_TWINS[option]}.py').to_dict()
    head = cfg['model']['bbox_head']
    assert head['type'] == 'CenterHead' and 'num_proposals' not in head
    assert cfg['model']['test_cfg']['pts']['nms_type'] == 'rotate'
    flat = [name for task in head['tasks'] for name in task['class_names']]
    assert flat == cfg['class_names']  # CenterHead needs the dataset's label order
    if twin.get('load_from'):  # stage 2 loads the CenterHead stage 1
        assert cfg.pop('load_from') == f'work_dirs/{CENTERHEAD_STAGE1}/epoch_20.pth'
        twin.pop('load_from')
    for model in (cfg['model'], twin['model']):
        for key in ('bbox_head', 'train_cfg', 'test_cfg'):
            model.pop(key)
    cfg.pop('centerhead')
    assert cfg == twin


@pytest.mark.slow
def test_tiny_synthetic_transfusion_config_runs_loss_and_predict():
    cfg = _config('configs/metabev/metabev_lidar-cam_tiny-transfusion_1xb2-cpu_synthetic.py')
    names = [cfg.class_names[i] for i in cfg.model.bbox_head.skip_nms_classes]
    assert names == ['pedestrian', 'traffic_cone']
    model = MODELS.build(cfg.model)
    model.init_weights()
    batch = make_batch(batch_size=2, num_boxes=(3, 0), num_points=2000)
    model.train()
    losses = model(**model.data_preprocessor(batch, training=True), mode='loss')
    assert {'loss_heatmap', 'loss_cls', 'loss_bbox'} <= set(losses)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(batch, training=False), mode='predict')
    assert results[0].pred_instances_3d.bboxes_3d.tensor.shape == (100, 9)
