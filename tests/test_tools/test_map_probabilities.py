"""Map probability diagnosis (mmdet3d_plugin.analysis.map_probabilities and
tools/analysis_tools/map_probabilities.py): the binned AUROC on hand-built scores, a learned
class above the metric's thresholds vs an under-confident one below them, the input checks,
and the tool on the shared world with a random tiny BEVFusion."""
import json

import numpy as np
import pytest
import torch

from mmdet3d_plugin.analysis.map_probabilities import (binned_auroc, format_summary,
                                                       map_probability_summary)
from mmdet3d_plugin.testing import load_tool


def test_binned_auroc_hand_built():
    low, high = np.full(50, 0.2), np.full(30, 0.7)
    assert binned_auroc(high, low) == 1.0
    assert binned_auroc(low, high) == 0.0
    assert binned_auroc(low, low) == 0.5  # ties count half
    # 3 positives {0.1, 0.5, 0.9} vs 2 negatives {0.3, 0.7}: 0 + 1 + 2 wins of 6 pairs
    assert binned_auroc(np.array([0.1, 0.5, 0.9]), np.array([0.3, 0.7])) == pytest.approx(0.5)
    assert binned_auroc(np.array([0.6, 0.9]), np.array([0.3, 0.7])) == pytest.approx(0.75)
    assert np.isnan(binned_auroc(np.array([]), low))


def two_class_frames():
    """Two 8x8 frames: class 0 positives at p 0.8 (negatives 0.1), class 1 positives at p 0.3
    (negatives 0.1): separable, but under the metric's lowest threshold 0.35."""
    gts, probs = [], []
    for shift in (0, 3):
        gt = torch.zeros(2, 8, 8, dtype=torch.bool)
        gt[0, shift:shift + 4, :4] = True
        gt[1, :2, shift:shift + 2] = True
        gts.append(gt)
        probs.append(torch.where(gt, torch.tensor([0.8, 0.3])[:, None, None], torch.tensor(0.1)))
    return probs, gts


def test_summary_tells_learned_from_under_confident():
    probs, gts = two_class_frames()
    summary = map_probability_summary(probs, gts, ['road', 'line'])
    road, line = summary['road'], summary['line']
    assert road['gt_share'] == pytest.approx(32 / 128)
    assert road['iou_metric'] == pytest.approx(1.0) and road['auroc'] == 1.0
    assert road['positive_q50'] == pytest.approx(0.8) and road['negative_q99'] == pytest.approx(
        0.1)
    # the line class is perfectly ranked but scores IoU 0 at 0.35-0.65; 1.0 from 0.12 up
    assert line['auroc'] == 1.0 and line['iou_metric'] == 0.0
    assert line['iou_wide'] == pytest.approx(1.0) and line['iou_wide_threshold'] == 0.12
    rows = format_summary(summary)
    assert rows[0].startswith('| class | GT %') and len(rows) == 4
    assert '| line | 6.25 | 0.300 |' in rows[3] and rows[3].endswith('| 0.0 | 100.0 (0.12) |')


def test_summary_rejects_mismatched_inputs():
    probs, gts = two_class_frames()
    with pytest.raises(ValueError, match='2 predictions for 1 GT masks'):
        map_probability_summary(probs, gts[:1], ['road', 'line'])
    with pytest.raises(ValueError, match='1 class names for 2 map channels'):
        map_probability_summary(probs, gts, ['road'])
    with pytest.raises(ValueError, match=r'frame 1: prediction \(2, 8, 8\) vs GT \(2, 4, 8\)'):
        map_probability_summary(probs, [gts[0], gts[1][:, :4]], ['road', 'line'])


def test_tool_on_the_shared_world(synthetic_world, tmp_path, capsys):
    from test_visualization.test_prediction_views import (BEVFUSION, point_config_at,
                                                          random_checkpoint)
    cfg = point_config_at(BEVFUSION, synthetic_world.nuscenes)
    config = tmp_path / 'bevfusion.py'
    cfg.dump(str(config))
    checkpoint = random_checkpoint(cfg, tmp_path / 'random.pth')
    out = tmp_path / 'probs.json'
    tool = load_tool('analysis_tools/map_probabilities')
    assert tool.main([str(config), checkpoint, '--samples', '2', '--out', str(out)]) == 0
    printed = capsys.readouterr().out
    assert '2 val samples' in printed and '| drivable_area |' in printed
    record = json.loads(out.read_text())
    assert record['samples'] == 2 and len(record['classes']) == 6
    drivable = record['classes']['drivable_area']
    assert 0 < drivable['gt_share'] < 1 and 0 <= drivable['auroc'] <= 1
    assert tool.main([str(config), str(tmp_path / 'missing.pth')]) == 2
    assert "checkpoint '" in capsys.readouterr().err
