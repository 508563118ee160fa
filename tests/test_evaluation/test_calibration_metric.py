"""Calibration: exact ECE/NLL/Brier/AURC/AUROC on hand-built cases, streaming, the metric."""
import math

import numpy as np
import pytest
import torch

from mmdet3d_plugin.evaluation.metrics import (aurc, brier_score, calibration_statistics,
                                               expected_calibration_error,
                                               merge_calibration_statistics,
                                               misclassification_auroc, negative_log_likelihood,
                                               optimal_aurc, summarize_calibration)
from mmdet3d_plugin.registry import METRICS

# confidences 0.9 (right), 0.9 (wrong), 0.6 (right), 0.7 (right)
PROBS = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
LABELS = np.array([0, 1, 0, 1])


def test_perfect_one_hot_predictions():
    probs, labels = np.eye(3), np.array([0, 1, 2])
    assert expected_calibration_error(probs, labels) == 0.0
    assert negative_log_likelihood(probs, labels) == 0.0
    assert brier_score(probs, labels) == 0.0
    assert aurc(probs, labels) == 0.0
    assert math.isnan(misclassification_auroc(probs, labels))  # no error to detect


def test_uniform_predictions_have_known_nll_and_brier():
    probs, labels = np.full((4, 4), 0.25), np.arange(4)
    assert negative_log_likelihood(probs, labels) == pytest.approx(math.log(4), rel=1e-15)
    assert brier_score(probs, labels) == pytest.approx(0.75, rel=1e-15)
    assert expected_calibration_error(probs, labels) == 0.0  # confidence 1/4, accuracy 1/4
    # Wrong one-hot: NLL is -log(eps), Brier 2.
    assert negative_log_likelihood(np.eye(2), [1, 0], eps=1e-12) == pytest.approx(12 * math.log(10))
    assert brier_score(np.eye(2), [1, 0]) == 2.0


def test_hand_built_values():
    # 5 bins: 0.9, 0.9 -> (0.8, 1] acc 1/2; 0.6 -> (0.4, 0.6]; 0.7 -> (0.6, 0.8].
    assert expected_calibration_error(PROBS, LABELS, num_bins=5) == pytest.approx(
        (2 * 0.4 + 0.4 + 0.3) / 4, rel=1e-14)
    assert negative_log_likelihood(PROBS, LABELS) == pytest.approx(
        -(math.log(0.9) + math.log(0.1) + math.log(0.6) + math.log(0.7)) / 4, rel=1e-14)
    assert brier_score(PROBS, LABELS) == pytest.approx((0.02 + 1.62 + 0.32 + 0.18) / 4, rel=1e-14)
    # Tied group {0.9: 1 right, 1 wrong}: risk 1/2 over 2/4 coverage, then 1/3 and 1/4.
    assert aurc(PROBS, LABELS) == pytest.approx(0.5 * 2 / 4 + 1 / 3 / 4 + 1 / 4 / 4, rel=1e-14)
    # Right confidences {0.9, 0.7, 0.6} vs wrong {0.9}: only the tie scores (1/2).
    assert misclassification_auroc(PROBS, LABELS) == pytest.approx(1 / 6, rel=1e-14)
    assert optimal_aurc(3, 1) == pytest.approx(1 / 16, rel=1e-14)


def test_aurc_and_auroc_match_brute_force():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(60, 5))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = rng.integers(0, 5, size=60)
    confidence, correct = probs.max(1), probs.argmax(1) == labels
    order = np.argsort(-confidence)  # distinct confidences: no ties
    risks = np.cumsum(~correct[order]) / np.arange(1, 61)
    assert aurc(probs, labels) == pytest.approx(risks.mean(), rel=1e-12)
    right, wrong = confidence[correct], confidence[~correct]
    pairs = (right[:, None] > wrong[None]).mean() + 0.5 * (right[:, None] == wrong[None]).mean()
    assert misclassification_auroc(probs, labels) == pytest.approx(pairs, rel=1e-12)


def test_optimal_aurc_closed_form_matches_the_sum_for_large_counts():
    num_correct, num_errors = 40_000, 9_000
    k = np.arange(1, num_correct + num_errors + 1)
    expected = (np.maximum(k - num_correct, 0) / k).mean()
    assert optimal_aurc(num_correct, num_errors) == pytest.approx(expected, rel=1e-10)


def test_valid_mask_and_ignore_index_drop_rows():
    junk = np.array([[0.5, 0.5], [1.0, 0.0]])
    probs = np.concatenate([PROBS, junk])
    labels = np.concatenate([LABELS, [255, 1]])
    valid = np.array([1, 1, 1, 1, 1, 0])
    assert brier_score(probs, labels, valid, ignore_index=255) == brier_score(PROBS, LABELS)
    assert aurc(probs, labels, valid, 255) == aurc(PROBS, LABELS)
    assert math.isnan(negative_log_likelihood(probs, labels, np.zeros(6), 255))


def test_streaming_statistics_equal_the_whole():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(200, 4)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = rng.integers(0, 4, size=200)
    parts = [calibration_statistics(probs[i::3], labels[i::3], num_rank_bins=10**6)
             for i in range(3)]
    summary = summarize_calibration(merge_calibration_statistics(parts))
    assert summary['ECE'] == pytest.approx(expected_calibration_error(probs, labels), rel=1e-12)
    assert summary['NLL'] == pytest.approx(negative_log_likelihood(probs, labels), rel=1e-12)
    assert summary['Brier'] == pytest.approx(brier_score(probs, labels), rel=1e-12)
    assert summary['AURC'] == pytest.approx(aurc(probs, labels), rel=1e-12)
    assert summary['AUROC'] == pytest.approx(misclassification_auroc(probs, labels), rel=1e-12)
    assert summary['num_evaluated'] == 200


def test_rejects_bad_inputs():
    with pytest.raises(ValueError, match='softmax'):
        brier_score(np.ones((2, 3)), np.zeros(2, int))
    with pytest.raises(ValueError, match=r'labels has shape \(3,\) but must be \(N,\)'):
        brier_score(np.eye(2), np.zeros(3, int))
    with pytest.raises(ValueError, match='labels has labels in'):
        brier_score(np.eye(2), np.array([0, 2]))


def test_occ_calibration_metric_through_registry():
    metric = METRICS.build(dict(type='OccCalibrationMetric'))
    rng = np.random.default_rng(2)
    gt = rng.integers(0, 18, size=(6, 6, 2))
    one_hot = np.moveaxis(np.eye(18)[gt], -1, 0)  # (C, X, Y, Z)
    mask = rng.random(gt.shape) < 0.5
    metric.process(None, [dict(pred_occ_probs=torch.from_numpy(one_hot), gt_occ=gt,
                               mask_camera=mask)] * 2)
    results = metric.evaluate(size=2)
    assert results['calib/ECE'] == 0.0 and results['calib/NLL'] == 0.0
    assert results['calib/Brier'] == 0.0 and results['calib/AURC'] == 0.0
    assert results['calib/E-AURC'] == 0.0 and results['calib/accuracy'] == 1.0
    assert results['calib/num_evaluated'] == 2 * mask.sum()


def test_occ_calibration_metric_class_axis_and_values():
    metric = METRICS.build(dict(type='OccCalibrationMetric', class_axis=-1, mask_key=None,
                                num_bins=5, num_rank_bins=100))
    grid_probs = np.concatenate([PROBS, [[0.2, 0.8]]]).reshape(1, 5, 2)  # (X, Y, C)
    metric.process(None, [dict(pred_occ_probs=grid_probs,
                               gt_occ=np.array([[0, 1, 0, 1, 255]]))])
    results = metric.compute_metrics(metric.results)
    assert results['ECE'] == pytest.approx(0.375, rel=1e-14)
    assert results['Brier'] == pytest.approx(0.535, rel=1e-14)
    assert results['AUROC'] == pytest.approx(1 / 6, rel=1e-14)
    assert results['num_evaluated'] == 4
    grid_mismatch = r"'pred_occ_probs' grid \(1, 5\).*'gt_occ' shape \(1, 4\)"
    with pytest.raises(ValueError, match=grid_mismatch):
        metric.process(None, [dict(pred_occ_probs=grid_probs, gt_occ=np.zeros((1, 4), int))])
    empty = metric.compute_metrics([])
    assert empty['num_evaluated'] == 0 and math.isnan(empty['ECE'])
