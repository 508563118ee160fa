"""BEV map segmentation IoU for multi-label maps, thresholded at several probabilities.

Follows BEVFusion (mit-han-lab/bevfusion, ``mmdet3d/datasets/nuscenes_dataset.py``
``evaluate_map``): every class is a separate binary map (classes may overlap, e.g. a
ped_crossing lies on the drivable_area); a pixel is predicted positive when
``probability >= threshold`` (the threshold cast to the prediction's dtype, as BEVFusion compares
against a float32 tensor); TP, FP and FN are summed per class and threshold over the whole
dataset; ``IoU[c, t] = TP / (TP + FP + FN)``; a class scores the maximum of its IoUs over the
thresholds (``iou@max``) and the map mIoU is the mean of those maxima over the classes.

One deliberate difference: BEVFusion divides by ``TP + FP + FN + 1e-7``, which makes a perfect
map score slightly below 1 and scores a class that is absent from the GT and never predicted 0.
Here the ratio is exact: a perfect map scores exactly 1, and a zero union is NaN (the class is
skipped by the max over thresholds and by the mean over classes). On real nuScenes every class
occurs, so the reported numbers agree with BEVFusion's to within 1e-7.
"""
from typing import Any, Sequence, Tuple

import numpy as np

from .array_checks import check_shape, to_numpy

#: BEVFusion's probability thresholds 0.35, 0.40, ..., 0.65.
BEV_MAP_THRESHOLDS = (0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65)


def bev_map_counts(pred_probs: Any,
                   gt_masks: Any,
                   thresholds: Sequence[float] = BEV_MAP_THRESHOLDS) -> np.ndarray:
    """TP, FP and FN of one sample per class and threshold.

    Args:
        pred_probs: (C, H, W) per-class probabilities in [0, 1] (after the sigmoid).
        gt_masks: (C, H, W) binary GT masks (bool or 0/1).
        thresholds: (T,) probability thresholds; a pixel is positive when ``prob >= threshold``.

    Returns:
        np.ndarray: (3, C, T) int64 counts stacked as ``[TP, FP, FN]``. Sum them over samples.

    Raises:
        ValueError: On a shape mismatch, probabilities outside [0, 1] or non-binary GT.
    """
    pred_probs = to_numpy(pred_probs, 'pred_probs')
    gt_masks = to_numpy(gt_masks, 'gt_masks')
    if pred_probs.ndim != 3:
        raise ValueError(f'pred_probs must have shape (C, H, W), got {pred_probs.shape}')
    check_shape(gt_masks, pred_probs.shape, 'gt_masks', 'pred_probs')
    if not np.issubdtype(pred_probs.dtype, np.floating):
        raise TypeError(f'pred_probs must hold float probabilities, got dtype {pred_probs.dtype}')
    if pred_probs.size and (pred_probs.min() < 0 or pred_probs.max() > 1):
        raise ValueError(f'pred_probs must lie in [0, 1], got [{pred_probs.min()}, '
                         f'{pred_probs.max()}]; apply a sigmoid to logits first')
    if gt_masks.size and not np.isin(gt_masks, (0, 1)).all():
        raise ValueError('gt_masks must be binary (bool or 0/1), got values '
                         f'{np.unique(gt_masks)[:8].tolist()}')
    thresholds = np.asarray(list(thresholds), dtype=pred_probs.dtype)
    if thresholds.ndim != 1 or thresholds.size == 0:
        raise ValueError(f'thresholds must be a non-empty 1-D sequence, got {thresholds}')
    num_classes = pred_probs.shape[0]
    probs = pred_probs.reshape(num_classes, -1, 1)
    labels = gt_masks.reshape(num_classes, -1, 1).astype(bool)
    positive = probs >= thresholds.reshape(1, 1, -1)
    true_positives = (positive & labels).sum(axis=1)
    false_positives = (positive & ~labels).sum(axis=1)
    false_negatives = (~positive & labels).sum(axis=1)
    return np.stack([true_positives, false_positives, false_negatives]).astype(np.int64)


def bev_map_iou(counts: Any) -> np.ndarray:
    """IoU per class and threshold from summed counts.

    Args:
        counts: (3, C, T) ``[TP, FP, FN]`` as returned by :func:`bev_map_counts` (summed).

    Returns:
        np.ndarray: (C, T) float64 IoU in [0, 1]; NaN where ``TP + FP + FN == 0``.
    """
    counts = to_numpy(counts, 'counts')
    if counts.ndim != 3 or counts.shape[0] != 3:
        raise ValueError(f'counts must have shape (3, C, T) = [TP, FP, FN], got {counts.shape}')
    true_positives, false_positives, false_negatives = counts.astype(np.float64)
    union = true_positives + false_positives + false_negatives
    ious = np.full(union.shape, np.nan)
    nonzero = union > 0
    ious[nonzero] = true_positives[nonzero] / union[nonzero]
    return ious


def sum_bev_map_counts(pred_probs: Sequence[Any], gt_masks: Sequence[Any],
                       thresholds: Sequence[float] = BEV_MAP_THRESHOLDS) -> np.ndarray:
    """:func:`bev_map_counts` summed over frames (what the metric accumulates over a split).

    Args:
        pred_probs: Per frame, (C, H, W) probabilities.
        gt_masks: Per frame, (C, H, W) binary masks.
        thresholds: (T,) probability thresholds.

    Returns:
        np.ndarray: (3, C, T) summed ``[TP, FP, FN]``.

    Raises:
        ValueError: No frames, different numbers of predictions and masks, or a frame that
            :func:`bev_map_counts` rejects (the message names the frame and both shapes).
    """
    if len(pred_probs) != len(gt_masks) or not len(pred_probs):
        raise ValueError(f'{len(pred_probs)} predictions for {len(gt_masks)} GT masks (need '
                         'the same number, at least one)')
    counts = 0
    for index, (prob, gt) in enumerate(zip(pred_probs, gt_masks)):
        try:
            counts = counts + bev_map_counts(prob, gt, thresholds)
        except ValueError as error:
            raise ValueError(f'frame {index}, prediction {tuple(prob.shape)} vs GT '
                             f'{tuple(gt.shape)}: {error}') from error
    return counts


def bev_map_summary(counts: Any) -> Tuple[np.ndarray, np.ndarray, float]:
    """Per-threshold IoUs, per-class best IoU and their mean.

    Args:
        counts: (3, C, T) summed ``[TP, FP, FN]``.

    Returns:
        tuple: ``(ious, best_ious, mean_best_iou)``: (C, T) IoUs; (C,) maximum over thresholds
        (NaN for a class whose union is zero at every threshold); the mean of ``best_ious``
        over the non-NaN classes (NaN if none). All in [0, 1].
    """
    ious = bev_map_iou(counts)
    best_ious = np.full(ious.shape[0], np.nan)
    for class_index, class_ious in enumerate(ious):
        finite = class_ious[~np.isnan(class_ious)]
        if finite.size:
            best_ious[class_index] = finite.max()
    finite_best = best_ious[~np.isnan(best_ious)]
    mean_best_iou = float(finite_best.mean()) if finite_best.size else float('nan')
    return ious, best_ious, mean_best_iou
