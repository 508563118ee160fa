"""BEV map segmentation IoU (BEVFusion protocol) as an mmengine metric."""
from typing import Any, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from mmdet3d_plugin.registry import METRICS

from ...structures.bev_map import BEV_MAP_CLASSES
from .bev_map import BEV_MAP_THRESHOLDS, bev_map_counts, bev_map_summary
from .sample_fields import get_array


@METRICS.register_module()
class BEVMapSegMetric(BaseMetric):
    """Multi-label BEV map IoU, max over probability thresholds, mean over classes.

    Follows BEVFusion's ``evaluate_map`` (see :mod:`..bev_map`): TP/FP/FN per class and threshold
    summed over the dataset, ``prob >= threshold``, per-class IoU = max over thresholds, mIoU =
    mean over classes. Only the (3, C, T) counts of each sample are kept.

    Each data sample must carry (dicts or data elements; looked up under ``eval_ann_info`` too):

    * ``masks_bev``: (C, H, W) float probabilities in [0, 1] (after the sigmoid), e.g.
      (6, 200, 200), numpy or tensor;
    * ``gt_masks_bev``: (C, H, W) bool or 0/1 GT masks, same shape.

    Reported (with the prefix ``map/``, giving BEVFusion's names ``map/<class>/iou@max``):
    ``<class>/iou@max``, ``<class>/iou@<threshold:.2f>`` and ``mean/iou@max``, in percent;
    NaN marks a class with an empty union (absent and never predicted).

    Args:
        class_names: The C map layers, in channel order; defaults to BEVFusion's six.
        thresholds: Probability thresholds; defaults to 0.35, 0.40, ..., 0.65.
        pred_key: Data-sample key of the predicted probabilities.
        gt_key: Data-sample key of the GT masks.
        collect_device: ``'cpu'`` or ``'gpu'``.
        prefix: Metric-name prefix; ``None`` uses ``'map'``.
        collect_dir: Folder used for CPU collection.
    """

    default_prefix = 'map'

    def __init__(self,
                 class_names: Sequence[str] = BEV_MAP_CLASSES,
                 thresholds: Sequence[float] = BEV_MAP_THRESHOLDS,
                 pred_key: str = 'masks_bev',
                 gt_key: str = 'gt_masks_bev',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if len(class_names) == 0 or len(thresholds) == 0:
            raise ValueError('BEVMapSegMetric: class_names and thresholds must not be empty')
        self.class_names = tuple(class_names)
        self.thresholds = tuple(float(threshold) for threshold in thresholds)
        self.pred_key = pred_key
        self.gt_key = gt_key

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Append the (3, C, T) ``[TP, FP, FN]`` counts of every data sample to ``self.results``.

        Args:
            data_batch: The batch from the dataloader (unused).
            data_samples: Dicts or data elements carrying ``pred_key`` and ``gt_key``.
        """
        for sample_index, sample in enumerate(data_samples):
            pred_probs = get_array(sample, self.pred_key)
            gt_masks = get_array(sample, self.gt_key)
            if pred_probs.ndim != 3 or pred_probs.shape[0] != len(self.class_names):
                raise ValueError(
                    f'BEVMapSegMetric: data sample {sample_index}: {self.pred_key!r} has shape '
                    f'{pred_probs.shape}, expected (C, H, W) with C = {len(self.class_names)} '
                    f'classes {self.class_names}')
            try:
                counts = bev_map_counts(pred_probs, gt_masks, self.thresholds)
            except (TypeError, ValueError) as error:
                raise type(error)(
                    f'BEVMapSegMetric: data sample {sample_index} (pred {self.pred_key!r}, '
                    f'gt {self.gt_key!r}): {error}') from error
            self.results.append(dict(counts=counts))

    def compute_metrics(self, results: list) -> dict:
        """Per-class IoU at each threshold and at the best one, and their mean (percent)."""
        counts = np.zeros((3, len(self.class_names), len(self.thresholds)), dtype=np.int64)
        for result in results:
            counts += np.asarray(result['counts'], dtype=np.int64)
        ious, best_ious, mean_best_iou = bev_map_summary(counts)
        metrics = {}
        for name, class_ious, best_iou in zip(self.class_names, ious, best_ious):
            metrics[f'{name}/iou@max'] = float(best_iou * 100)
            for threshold, iou in zip(self.thresholds, class_ious):
                metrics[f'{name}/iou@{threshold:.2f}'] = float(iou * 100)
        metrics['mean/iou@max'] = mean_best_iou * 100
        return metrics
