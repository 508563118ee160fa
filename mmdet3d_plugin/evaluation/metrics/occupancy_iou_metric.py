"""Shared mmengine plumbing of the semantic-occupancy IoU metrics (not registered itself).

:class:`Occ3DMetric` and :class:`SSCMetric` differ only in their defaults and in the keys they
report; both store one confusion matrix per sample in ``self.results`` (a few KB), so
``collect_results`` gathers them cheaply across ranks and drops the sampler's padding.
"""
from typing import Any, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from .array_checks import as_bool_mask
from .occupancy import non_free_class_ids, per_class_iou, semantic_confusion_matrix
from .sample_fields import get_array


class OccupancyIoUMetric(BaseMetric):
    """Accumulate a semantic confusion matrix over a dataset (base of the occupancy metrics).

    Args:
        num_classes: Number of labels C of the dense grid (free included).
        class_names: C names, index = label.
        free_index: The free (empty) label, or ``None`` if the grid has none.
        ignore_index: GT label skipped everywhere (e.g. 255 noise), or ``None``.
        eval_class_ids: Labels averaged into the mIoU; ``None`` = every label but free.
        pred_key: Data-sample key of the predicted labels, (X, Y, Z) integers.
        gt_key: Data-sample key of the GT labels, (X, Y, Z) integers.
        mask_keys: Data-sample keys of (X, Y, Z) bool/0-1 masks; a voxel is evaluated where
            all of them are true.
        collect_device: ``'cpu'`` or ``'gpu'`` (mmengine ``BaseMetric``).
        prefix: Prefix of the metric names; ``None`` uses ``default_prefix``.
        collect_dir: Folder used by CPU collection (mmengine ``BaseMetric``).
    """

    def __init__(self,
                 num_classes: int,
                 class_names: Sequence[str],
                 free_index: Optional[int],
                 ignore_index: Optional[int],
                 eval_class_ids: Optional[Sequence[int]],
                 pred_key: str,
                 gt_key: str,
                 mask_keys: Sequence[str] = (),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        name = type(self).__name__
        if len(class_names) != num_classes:
            raise ValueError(f'{name}: class_names has {len(class_names)} names but num_classes '
                             f'is {num_classes}')
        if free_index is not None and not 0 <= free_index < num_classes:
            raise ValueError(f'{name}: free_index {free_index} is not in [0, {num_classes})')
        if eval_class_ids is None:
            eval_class_ids = non_free_class_ids(num_classes, free_index)
        eval_class_ids = [int(index) for index in eval_class_ids]
        if not eval_class_ids or any(not 0 <= i < num_classes for i in eval_class_ids):
            raise ValueError(f'{name}: eval_class_ids must be a non-empty list of labels in '
                             f'[0, {num_classes}), got {eval_class_ids}')
        self.num_classes = num_classes
        self.class_names = tuple(class_names)
        self.free_index = free_index
        self.ignore_index = ignore_index
        self.eval_class_ids = eval_class_ids
        self.pred_key = pred_key
        self.gt_key = gt_key
        self.mask_keys = tuple(mask_keys)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Append the (C, C) confusion matrix of every data sample to ``self.results``.

        Args:
            data_batch: The batch from the dataloader (unused).
            data_samples: Dicts or data elements carrying ``pred_key``, ``gt_key`` and every
                ``mask_keys`` entry (also found under ``eval_ann_info``).
        """
        for sample_index, sample in enumerate(data_samples):
            pred = get_array(sample, self.pred_key)
            gt = get_array(sample, self.gt_key)
            mask = None
            for mask_key in self.mask_keys:
                sample_mask = as_bool_mask(get_array(sample, mask_key), gt.shape,
                                           repr(mask_key), repr(self.gt_key))
                mask = sample_mask if mask is None else mask & sample_mask
            try:
                confusion = semantic_confusion_matrix(pred, gt, self.num_classes, mask,
                                                      self.ignore_index)
            except (TypeError, ValueError) as error:
                raise type(error)(
                    f'{type(self).__name__}: data sample {sample_index} (pred {self.pred_key!r}, '
                    f'gt {self.gt_key!r}): {error}') from error
            self.results.append(dict(confusion=confusion))

    def total_confusion(self, results: Sequence[dict]) -> np.ndarray:
        """Sum of the per-sample confusion matrices, (C, C) int64 (zeros if none)."""
        total = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        for result in results:
            total += np.asarray(result['confusion'], dtype=np.int64)
        return total

    def class_iou_percent(self, confusion: np.ndarray, key_format: str) -> dict:
        """``{key_format.format(name): IoU in percent}`` for every class (NaN when empty)."""
        ious = per_class_iou(confusion)
        return {key_format.format(name): float(iou * 100)
                for name, iou in zip(self.class_names, ious)}
