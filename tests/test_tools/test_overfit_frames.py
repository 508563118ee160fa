"""The few-frame overfitting check (mmdet3d_plugin.analysis.overfit, tools/analysis_tools/
overfit_frames.py)."""
import json
import os
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from mmdet3d_plugin.analysis.overfit import deterministic_pipeline, map_iou_per_class
from mmdet3d_plugin.testing import load_tool

REPO = Path(__file__).resolve().parents[2]
LIDAR_CONFIG = REPO / 'configs/bevfusion/bevfusion_lidar_tiny_1xb2-cpu_synthetic.py'


def test_deterministic_pipeline_switches_off_every_random_augmentation():
    pipeline = Config.fromfile(str(LIDAR_CONFIG)).train_dataloader.dataset.pipeline
    out = deterministic_pipeline(pipeline)
    kinds = [t['type'] for t in out]
    assert 'FastPointShuffle' not in kinds and 'FastPointShuffle' in [t['type'] for t in pipeline]
    assert len(out) == len(pipeline) - 1
    aug = out[kinds.index('GlobalAugmentAll')]
    assert aug['rot_range'] == [0.0, 0.0] and aug['scale_ratio_range'] == [1.0, 1.0]
    assert aug['flip_ratio_bev_horizontal'] == aug['flip_ratio_bev_vertical'] == 0.0
    assert out[kinds.index('LoadSweepsWithRing')]['test_mode'] is True  # the nearest sweeps
    image = out[kinds.index('ImageAug3D')]
    assert image['is_train'] is False and image['rand_flip'] is False
    # the middle of the training range (0.86, 1.0)
    assert image['resize_lim'] == pytest.approx((0.93, 0.93))
    # the input is untouched
    assert [t['type'] for t in pipeline].count('FastPointShuffle') == 1
    assert pipeline[kinds.index('GlobalAugmentAll')]['rot_range'] != [0.0, 0.0]


def test_map_iou_per_class_sums_over_frames_and_takes_the_best_threshold():
    gt = torch.zeros(2, 4, 4)
    gt[0, :2] = 1  # class 0: 8 cells
    prob = torch.zeros(2, 4, 4)
    prob[0, :2] = 0.5  # exact at thresholds < 0.5
    prob[0, 2] = 0.38  # 4 false positives at threshold 0.35 only
    prob[1, 0, 0] = 0.9  # class 1 has no GT: IoU 0
    ious = map_iou_per_class([prob, prob], [gt, gt])
    assert ious[0].item() == pytest.approx(1.0)  # best threshold 0.40 or 0.45
    assert ious[1].item() == 0.0
    half = prob.clone()
    half[0, 1] = 0.0  # the second frame finds only half: 8 + 4 of 16 over both frames
    assert map_iou_per_class([prob, half], [gt, gt])[0].item() == pytest.approx(12 / 16)
    with pytest.raises(ValueError, match='prediction'):
        map_iou_per_class([prob], [gt[:1]])


@pytest.mark.slow
def test_lidar_model_memorises_two_frames(synthetic_world, tmp_path, monkeypatch):
    """20 steps on 2 frames of the shared world: the detection loss collapses (the check can
    tell a learning model from a broken one) and the tool writes its records."""
    (tmp_path / 'data').mkdir()
    os.symlink(synthetic_world.out, tmp_path / 'data' / 'synthetic')
    monkeypatch.chdir(tmp_path)
    tool = load_tool('analysis_tools/overfit_frames')
    out = tmp_path / 'overfit.json'
    assert tool.main([str(LIDAR_CONFIG), '--frames', '2', '--iters', '20', '--eval-every', '20',
                      '--out', str(out)]) == 0
    records = json.loads(out.read_text())['records']
    assert [r['iter'] for r in records] == [1, 20]
    first, last = records[0]['losses'], records[-1]['losses']
    for key in ('task0.loss_heatmap', 'task1.loss_heatmap'):
        assert last[key] < first[key] / 20, (key, first[key], last[key])
    scored = records[-1]
    assert set(scored['map_iou']) == {'drivable_area', 'ped_crossing', 'walkway', 'stop_line',
                                      'carpark_area', 'divider'}
    assert all(0.0 <= v <= 1.0 for v in scored['map_iou'].values())
    assert len(scored['boxes']) == 2
    assert tool.main([str(tmp_path / 'missing.py')]) == 2
