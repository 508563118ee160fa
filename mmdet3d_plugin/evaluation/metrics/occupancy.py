"""Semantic-occupancy IoU: confusion matrix, per-class IoU, mIoU and geometry (SC) IoU.

Pure numpy; nothing here knows a benchmark. The confusion matrix of a dataset is the sum of the
per-sample matrices, so it streams (and sums across distributed ranks). Both benchmarks accumulate
one matrix over the whole split and take IoUs from it (not a mean of per-sample IoUs).

**Occ3D-nuScenes** (``Metric_mIoU`` in Tsinghua-MARS-Lab/Occ3D
``projects/mmdet3d_plugin/datasets/occ_metrics.py`` and the CVPR 2023 challenge code): 18 labels,
0..16 semantic, 17 = free. Voxels outside ``mask_camera`` are dropped (``use_image_mask=True``),
the 18x18 matrix is accumulated over the split, ``IoU = TP / (TP + FP + FN)`` where 0/0 is NaN,
and ``mIoU = nanmean(IoU[:17])``: free is excluded and a class whose union is zero over the whole
split is NaN and left out of the mean. GT labels outside ``[0, 18)`` (255) are skipped there.

**nuScenes-Occupancy / OpenOccupancy** (JeffWang987/OpenOccupancy:
``datasets/pipelines/loading.py`` ``LoadOccupancy``, ``detectors/occnet.py``
``evaluation_semantic``, ``utils/formating.py``). The files are sparse ``[z, y, x, cls]`` lists
on 512x512x40 in which ``cls == 0`` marks *noise*; the loader rewrites noise to 255 and fills
every voxel not listed with 0, so the dense grid is 0 = free (empty), 1..16 = semantic,
255 = noise. Evaluation drops ``gt == 255`` (noise mask) and then
  * SC: both grids are binarised (``!= free`` -> occupied) and the IoU of the occupied class of
    the 2x2 matrix is reported; that equals :func:`geometry_iou` of the 17x17 matrix below;
  * SSC: a 17x17 matrix (free included, ``max_label=17``); the reported mean is over classes
    1..16. OpenOccupancy's plain ``sum / 16`` becomes NaN as soon as one class is empty; here
    empty classes are NaN and excluded (Occ3D's rule), which equals OpenOccupancy whenever every
    class occurs, as on the real validation split.
Predictions are never masked by their own value: a prediction at a kept voxel must be a valid
class, and "predicted free" counts as a miss (FN) of the GT class.
"""
from typing import Any, Optional, Sequence

import numpy as np

from .array_checks import (as_bool_mask, check_integer_labels, check_label_range, check_shape,
                           to_numpy)


def semantic_confusion_matrix(pred: Any,
                              gt: Any,
                              num_classes: int,
                              mask: Optional[Any] = None,
                              ignore_index: Optional[int] = None) -> np.ndarray:
    """Count (gt, pred) label pairs over the evaluated voxels of one sample.

    A voxel is evaluated when ``mask`` is true there (all voxels without a mask) and its GT label
    is not ``ignore_index``. Sum the matrices of all samples for a dataset.

    Args:
        pred: Predicted labels, integer array/tensor of any shape, e.g. (X, Y, Z) = (200, 200, 16).
        gt: Ground-truth labels, same shape as ``pred``.
        num_classes: Number of labels ``C``; evaluated labels must lie in ``[0, C)``.
        mask: Optional bool or 0/1 array of ``gt``'s shape (e.g. Occ3D ``mask_camera``).
        ignore_index: Optional GT label whose voxels are skipped (e.g. 255).

    Returns:
        np.ndarray: (C, C) int64 matrix, row = GT label, column = predicted label.

    Raises:
        ValueError: On a shape mismatch or a label outside ``[0, C)`` at an evaluated voxel.
        TypeError: If ``pred`` or ``gt`` does not hold integer labels.
    """
    if num_classes < 1:
        raise ValueError(f'num_classes must be positive, got {num_classes}')
    pred = to_numpy(pred, 'pred')
    gt = to_numpy(gt, 'gt')
    check_shape(pred, gt.shape, 'pred', 'gt')
    check_integer_labels(pred, 'pred')
    check_integer_labels(gt, 'gt')
    keep = as_bool_mask(mask, gt.shape, 'mask', 'gt')
    if ignore_index is not None:
        not_ignored = gt != ignore_index
        keep = not_ignored if keep is None else keep & not_ignored
    if keep is None:
        gt_kept, pred_kept = gt.reshape(-1), pred.reshape(-1)
    else:
        gt_kept, pred_kept = gt[keep], pred[keep]
    gt_kept = gt_kept.astype(np.int64)
    pred_kept = pred_kept.astype(np.int64)
    check_label_range(gt_kept, num_classes, 'gt')
    check_label_range(pred_kept, num_classes, 'pred')
    counts = np.bincount(gt_kept * num_classes + pred_kept, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def _check_confusion(confusion: Any) -> np.ndarray:
    confusion = to_numpy(confusion, 'confusion')
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f'confusion must be a square (C, C) matrix, got shape {confusion.shape}')
    return confusion


def per_class_iou(confusion: Any) -> np.ndarray:
    """IoU of every class from a confusion matrix.

    Args:
        confusion: (C, C) counts, row = GT, column = prediction.

    Returns:
        np.ndarray: (C,) float64 ``TP / (TP + FP + FN)`` in [0, 1]; NaN where the union is zero
        (the class is neither in the GT nor predicted).
    """
    confusion = _check_confusion(confusion).astype(np.float64)
    true_positives = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - true_positives
    ious = np.full(confusion.shape[0], np.nan)
    nonzero = union > 0
    ious[nonzero] = true_positives[nonzero] / union[nonzero]
    return ious


def mean_iou(ious: Any, class_ids: Sequence[int]) -> float:
    """Mean of ``ious`` over ``class_ids``, leaving NaN (empty) classes out.

    Args:
        ious: (C,) per-class IoUs, NaN for empty classes.
        class_ids: The classes averaged (e.g. 0..16 for Occ3D, 1..16 for nuScenes-Occupancy).

    Returns:
        float: The mean, or NaN if every listed class is empty.
    """
    ious = to_numpy(ious, 'ious')
    class_ids = np.asarray(list(class_ids), dtype=np.int64)
    if class_ids.size == 0:
        raise ValueError('class_ids is empty: name the classes the mean is taken over')
    check_label_range(class_ids, ious.shape[0], 'class_ids')
    selected = ious[class_ids]
    selected = selected[~np.isnan(selected)]
    return float(selected.mean()) if selected.size else float('nan')


def geometry_iou(confusion: Any, free_index: int) -> float:
    """Occupied-vs-free IoU (scene completion, "SC IoU") from a semantic confusion matrix.

    Every label but ``free_index`` counts as occupied, so this equals the IoU of the occupied class
    after binarising prediction and GT, as OpenOccupancy's SC metric and Occ3D's geometry IoU do.

    Args:
        confusion: (C, C) counts, row = GT, column = prediction.
        free_index: The free (empty) label.

    Returns:
        float: IoU in [0, 1]; NaN if no voxel is occupied in GT or prediction.
    """
    confusion = _check_confusion(confusion)
    check_label_range(np.asarray([free_index]), confusion.shape[0], 'free_index')
    occupied = np.ones(confusion.shape[0], dtype=bool)
    occupied[free_index] = False
    true_positives = float(confusion[np.ix_(occupied, occupied)].sum())
    union = float(confusion.sum() - confusion[free_index, free_index])
    return true_positives / union if union > 0 else float('nan')


def non_free_class_ids(num_classes: int, free_index: Optional[int]) -> list:
    """All labels ``0..num_classes-1`` except ``free_index`` (the default mIoU classes)."""
    return [index for index in range(num_classes) if index != free_index]
