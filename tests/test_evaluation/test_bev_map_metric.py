"""BEV map segmentation IoU: hand-built counts, thresholds, GT-as-prediction, registry build."""
import numpy as np
import pytest
import torch

from mmdet3d_plugin.evaluation.metrics import BEV_MAP_THRESHOLDS, bev_map_counts, bev_map_summary
from mmdet3d_plugin.registry import METRICS
from mmdet3d_plugin.structures import BEV_MAP_CLASSES


def test_counts_and_ious_by_hand():
    probs = np.array([[[0.9, 0.5, 0.3, 0.7]], [[0.1, 0.2, 0.6, 0.0]]])
    gt = np.array([[[1, 1, 0, 0]], [[0, 0, 0, 0]]])
    counts = bev_map_counts(probs, gt, thresholds=(0.4, 0.6))
    np.testing.assert_array_equal(counts[:, 0], [[2, 1], [1, 1], [0, 1]])  # TP, FP, FN of class 0
    np.testing.assert_array_equal(counts[:, 1], [[0, 0], [1, 1], [0, 0]])  # 0.6 >= 0.6 counts
    ious, best, mean = bev_map_summary(counts)
    np.testing.assert_allclose(ious, [[2 / 3, 1 / 3], [0, 0]], rtol=1e-15)
    np.testing.assert_allclose(best, [2 / 3, 0], rtol=1e-15)
    assert mean == pytest.approx(1 / 3, rel=1e-15)


def test_absent_never_predicted_class_is_nan_and_left_out():
    probs = np.array([[[0.9, 0.1]], [[0.1, 0.3]]])
    gt = np.array([[[1, 0]], [[0, 0]]], dtype=bool)
    ious, best, mean = bev_map_summary(bev_map_counts(probs, gt))
    assert np.isnan(ious[1]).all() and np.isnan(best[1])
    assert best[0] == 1.0 and mean == 1.0
    # Predicted at low thresholds only: 0 there, NaN above -> best 0.
    probs[1, 0, 1] = 0.5
    ious, best, mean = bev_map_summary(bev_map_counts(probs, gt))
    assert best[1] == 0.0 and mean == 0.5
    assert np.isnan(ious[1, -1])


def test_threshold_is_compared_in_the_prediction_dtype():
    probs = np.full((1, 1, 1), 0.35, dtype=np.float32)  # float32(0.35) < float64(0.35)
    counts = bev_map_counts(probs, np.ones((1, 1, 1)), thresholds=(0.35, ))
    assert counts[0, 0, 0] == 1


def test_core_rejects_bad_inputs():
    with pytest.raises(ValueError, match=r'gt_masks has shape \(1, 2, 2\).*\(1, 2, 3\)'):
        bev_map_counts(np.zeros((1, 2, 3)), np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match='sigmoid'):
        bev_map_counts(np.full((1, 2, 2), 3.0), np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match='binary'):
        bev_map_counts(np.zeros((1, 2, 2)), np.full((1, 2, 2), 2))


def test_metric_through_registry_gt_as_prediction_is_100():
    metric = METRICS.build(dict(type='BEVMapSegMetric'))
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(2):
        gt = rng.random((6, 16, 16)) < 0.3
        samples.append(dict(masks_bev=torch.from_numpy(gt.astype(np.float32)),
                            gt_masks_bev=torch.from_numpy(gt)))
    metric.process(None, samples)
    results = metric.evaluate(size=2)
    assert results['map/mean/iou@max'] == 100.0
    for name in BEV_MAP_CLASSES:
        assert results[f'map/{name}/iou@max'] == 100.0
        assert results[f'map/{name}/iou@0.35'] == 100.0
    assert len(results) == len(BEV_MAP_CLASSES) * (len(BEV_MAP_THRESHOLDS) + 1) + 1


def test_metric_accumulates_over_samples_before_dividing():
    metric = METRICS.build(dict(type='BEVMapSegMetric', class_names=('drivable_area', ),
                                thresholds=(0.5, )))
    metric.process(None, [dict(masks_bev=np.array([[[0.9, 0.9]]]), gt_masks_bev=[[[1, 0]]])])
    metric.process(None, [dict(masks_bev=np.array([[[0.9, 0.9, 0.9]]]),
                               gt_masks_bev=[[[1, 1, 1]]])])
    results = metric.compute_metrics(metric.results)
    # Dataset-level TP 4, FP 1: 80 %, not the mean of the per-sample 50 % and 100 %.
    assert results['drivable_area/iou@max'] == pytest.approx(80.0, rel=1e-15)
    assert results['drivable_area/iou@0.50'] == pytest.approx(80.0, rel=1e-15)
    with pytest.raises(ValueError, match=r"'masks_bev' has shape \(2, 1, 2\), expected"):
        metric.process(None, [dict(masks_bev=np.zeros((2, 1, 2)),
                                   gt_masks_bev=np.zeros((2, 1, 2)))])
