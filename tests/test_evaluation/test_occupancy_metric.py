"""Occupancy IoU: the functional core on hand-built cases, Occ3DMetric and SSCMetric end to end."""
import numpy as np
import pytest
import torch
from mmdet3d.structures import Det3DDataSample

from mmdet3d_plugin.evaluation.metrics import (geometry_iou, mean_iou, per_class_iou,
                                               semantic_confusion_matrix)
from mmdet3d_plugin.registry import METRICS


def test_confusion_matrix_and_iou_by_hand():
    gt = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    confusion = semantic_confusion_matrix(pred, gt, num_classes=3)
    np.testing.assert_array_equal(confusion, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    np.testing.assert_allclose(per_class_iou(confusion), [1 / 3, 2 / 3, 1 / 2], rtol=1e-15)
    assert mean_iou(per_class_iou(confusion), [0, 1]) == pytest.approx(0.5, rel=1e-15)


def test_absent_classes_mask_and_ignore_index():
    gt = np.array([[0, 0, 255], [1, 3, 3]], dtype=np.uint8)
    pred = torch.tensor([[0, 2, 7], [1, 3, 9]])  # 7 sits on an ignored voxel, 9 outside the mask
    mask = np.array([[1, 1, 1], [1, 1, 0]], dtype=np.uint8)
    confusion = semantic_confusion_matrix(pred, gt, num_classes=4, mask=mask, ignore_index=255)
    assert confusion.sum() == 4
    ious = per_class_iou(confusion)
    # class 2 predicted but absent from GT -> 0; class 3: TP 1 of GT 1 -> 1.
    np.testing.assert_allclose(ious, [0.5, 1.0, 0.0, 1.0])
    # Neither in GT nor predicted -> NaN, left out of the mean.
    confusion = semantic_confusion_matrix(np.array([0, 1]), np.array([0, 1]), num_classes=3)
    ious = per_class_iou(confusion)
    assert np.isnan(ious[2])
    assert mean_iou(ious, [1, 2]) == 1.0
    assert np.isnan(mean_iou(ious, [2]))


def test_geometry_iou_is_occupied_vs_free():
    free = 2
    gt = np.array([0, 1, 2, 2, 0])
    pred = np.array([1, 2, 2, 0, 0])
    confusion = semantic_confusion_matrix(pred, gt, num_classes=3)
    # occupied TP: voxels 0, 4; FN: voxel 1; FP: voxel 3 -> 2 / 4.
    assert geometry_iou(confusion, free) == 0.5
    assert np.isnan(geometry_iou(np.diag([0, 0, 5]), free))


def test_empty_evaluation_gives_nan():
    gt = np.zeros((2, 2), dtype=np.int64)
    confusion = semantic_confusion_matrix(gt, gt, 3, mask=np.zeros((2, 2), dtype=bool))
    assert confusion.sum() == 0
    assert np.isnan(per_class_iou(confusion)).all()
    assert np.isnan(mean_iou(per_class_iou(confusion), [0, 1, 2]))


def test_core_rejects_bad_inputs():
    with pytest.raises(ValueError, match=r'pred has shape \(2, 3\) but must match gt.*\(3, 2\)'):
        semantic_confusion_matrix(np.zeros((2, 3), int), np.zeros((3, 2), int), 3)
    with pytest.raises(TypeError, match='argmax'):
        semantic_confusion_matrix(np.zeros(4), np.zeros(4, int), 3)
    with pytest.raises(ValueError, match=r'gt has labels in \[0, 255\]'):
        semantic_confusion_matrix(np.zeros(2, int), np.array([0, 255]), 3)
    with pytest.raises(ValueError, match='mask has shape'):
        semantic_confusion_matrix(np.zeros(2, int), np.zeros(2, int), 3, mask=np.ones(3))


def occ3d_samples():
    """Two samples in the two layouts; expected IoUs worked out in the test below."""
    first = dict(
        pred_occ=np.array([[0, 4, 17], [4, 4, 0]]),
        gt_occ=np.array([[0, 0, 17], [4, 4, 17]], dtype=np.uint8),
        mask_camera=np.array([[1, 1, 1], [1, 1, 0]], dtype=np.uint8))
    second = Det3DDataSample()
    second.pred_occ = torch.tensor([[17, 17, 17], [3, 0, 0]])
    second.eval_ann_info = dict(
        gt_occ=np.array([[4, 17, 17], [255, 0, 0]], dtype=np.uint8),
        mask_camera=np.ones((2, 3), dtype=bool))
    return [first, second]


def test_occ3d_metric_exact_values_through_registry():
    metric = METRICS.build(dict(type='Occ3DMetric'))
    samples = occ3d_samples()
    metric.process(None, samples[:1])
    metric.process(None, samples[1:])
    results = metric.compute_metrics(metric.results)
    # class 0: TP 3, GT 4, pred 3 -> 3/4; class 4: TP 2, GT 3, pred 3 -> 2/4; free: TP 3, GT 3,
    # pred 4 -> 3/4; class 3 only predicted on the ignored (255) voxel -> NaN.
    assert results['IoU_others'] == 75.0
    assert results['IoU_car'] == 50.0
    assert results['IoU_free'] == 75.0
    assert np.isnan(results['IoU_bus'])
    assert results['mIoU'] == 62.5
    assert results['geometry_IoU'] == pytest.approx(600 / 7, rel=1e-14)
    assert len([key for key in results if key.startswith('IoU_')]) == 18


def test_occ3d_gt_as_prediction_scores_100_and_prefix():
    metric = METRICS.build(dict(type='Occ3DMetric'))
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(2):
        gt = rng.integers(0, 18, size=(8, 8, 4)).astype(np.uint8)
        samples.append(dict(pred_occ=gt.copy(), gt_occ=gt,
                            mask_camera=rng.integers(0, 2, size=gt.shape).astype(bool)))
    metric.process(None, samples)
    results = metric.evaluate(size=2)
    assert results['occ3d/mIoU'] == 100.0
    assert results['occ3d/geometry_IoU'] == 100.0


def test_occ3d_metric_without_camera_mask_and_custom_convention():
    metric = METRICS.build(dict(type='Occ3DMetric', num_classes=3, class_names=('a', 'b', 'free'),
                                free_index=2, use_camera_mask=False))
    metric.process(None, [dict(pred_occ=np.array([0, 1, 2]), gt_occ=np.array([0, 0, 2]))])
    results = metric.compute_metrics(metric.results)
    assert results['IoU_a'] == 50.0 and results['IoU_b'] == 0.0 and results['mIoU'] == 25.0


def test_occupancy_metrics_name_the_keys_in_errors():
    metric = METRICS.build(dict(type='Occ3DMetric'))
    bad_shape = dict(pred_occ=np.zeros((2, 2), int), gt_occ=np.zeros((2, 3), int),
                     mask_camera=np.ones((2, 3), bool))
    with pytest.raises(ValueError, match=r"'pred_occ'.*'gt_occ'.*pred has shape \(2, 2\)"):
        metric.process(None, [bad_shape])
    with pytest.raises(KeyError, match=r"no field 'mask_camera'.*\['gt_occ', 'pred_occ'\]"):
        metric.process(None, [dict(pred_occ=np.zeros(2, int), gt_occ=np.zeros(2, int))])
    with pytest.raises(ValueError, match="'mask_camera' has shape"):
        metric.process(None, [dict(bad_shape, pred_occ=np.zeros((2, 3), int),
                                   mask_camera=np.ones(6, bool))])
    with pytest.raises(ValueError, match='class_names has 2 names'):
        METRICS.build(dict(type='SSCMetric', class_names=('free', 'car')))


def test_ssc_metric_exact_values_follow_openoccupancy():
    metric = METRICS.build(dict(type='SSCMetric'))
    gt = np.array([0, 0, 1, 1, 2, 255], dtype=np.uint8)  # 255 = noise (file label 0)
    pred = np.array([0, 1, 1, 0, 2, 16])
    metric.process(None, [dict(pred_occ=pred, gt_occ=gt)])
    results = metric.compute_metrics(metric.results)
    # SC: occupied TP 2 (voxels 2, 4), FP 1 (voxel 1), FN 1 (voxel 3) -> 50 %.
    assert results['SC_IoU'] == 50.0
    assert results['SSC_IoU_barrier'] == pytest.approx(100 / 3, rel=1e-15)
    assert results['SSC_IoU_bicycle'] == 100.0
    assert results['SSC_IoU_free'] == pytest.approx(100 / 3, rel=1e-15)
    assert np.isnan(results['SSC_IoU_vegetation'])  # predicted only on noise
    assert results['SSC_mIoU'] == pytest.approx(200 / 3, rel=1e-15)


def test_ssc_gt_as_prediction_scores_100_and_optional_mask():
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 17, size=(16, 16, 4)).astype(np.uint8)
    gt[rng.random(gt.shape) < 0.1] = 255
    metric = METRICS.build(dict(type='SSCMetric'))
    metric.process(None, [dict(pred_occ=torch.from_numpy(gt.copy()), gt_occ=gt)] * 2)
    results = metric.evaluate(size=2)
    assert results['ssc/SC_IoU'] == 100.0 and results['ssc/SSC_mIoU'] == 100.0

    masked = METRICS.build(dict(type='SSCMetric', mask_key='visible_mask'))
    visible = np.zeros(6, dtype=bool)
    visible[:2] = True
    masked.process(None, [dict(pred_occ=np.array([0, 3, 5, 5, 5, 5]),
                               gt_occ=np.array([0, 3, 0, 0, 1, 2]), visible_mask=visible)])
    results = masked.compute_metrics(masked.results)
    assert results['SC_IoU'] == 100.0 and results['SSC_mIoU'] == 100.0


def test_empty_results_give_nan():
    metric = METRICS.build(dict(type='SSCMetric'))
    results = metric.compute_metrics([])
    assert np.isnan(results['SC_IoU']) and np.isnan(results['SSC_mIoU'])
