"""Calibration of semantic-occupancy probabilities (ECE, NLL, Brier, AURC, AUROC) as a metric."""
from typing import Any, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from mmdet3d_plugin.registry import METRICS

from .array_checks import as_bool_mask
from .calibration import calibration_statistics, merge_calibration_statistics, summarize_calibration
from .sample_fields import get_array


@METRICS.register_module()
class OccCalibrationMetric(BaseMetric):
    """Voxel-level calibration and misclassification detection of occupancy probabilities.

    Every evaluated voxel is one prediction (argmax class, top-label confidence); see
    :mod:`..calibration` for the definitions. ``process`` keeps only per-sample sums and
    histograms (``num_bins`` ECE bins, ``num_rank_bins`` confidence bins, about 16 KB per sample
    for 1000 rank bins), so ECE, NLL, Brier and accuracy are exact and AURC / AUROC treat
    confidences within one rank bin (width ``1 / num_rank_bins``) as tied.

    Each data sample must carry (dicts or data elements; looked up under ``eval_ann_info`` too):

    * ``pred_occ_probs``: class probabilities (softmax output), class axis ``class_axis``, e.g.
      (C, X, Y, Z) = (18, 200, 200, 16), float numpy or tensor;
    * ``gt_occ``: (X, Y, Z) integer labels;
    * ``mask_camera`` (when ``mask_key`` is set, the default): (X, Y, Z) bool/0-1 region.

    Reported (with the prefix ``calib/``), as fractions, not percent: ``ECE``, ``NLL``, ``Brier``,
    ``AURC``, ``E-AURC``, ``AUROC``, ``accuracy``, and the count ``num_evaluated``.

    Args:
        num_bins: Equal-width ECE bins (15).
        num_rank_bins: Confidence bins for AURC / AUROC (1000).
        class_axis: Axis of the classes in the probability array (0).
        ignore_index: GT label skipped (255), or ``None``.
        eps: Floor of the label probability in the NLL.
        probs_key: Data-sample key of the probabilities.
        gt_key: Data-sample key of the GT labels.
        mask_key: Data-sample key of the evaluated region (Occ3D ``mask_camera``), or ``None``.
        collect_device: ``'cpu'`` or ``'gpu'``.
        prefix: Metric-name prefix; ``None`` uses ``'calib'``.
        collect_dir: Folder used for CPU collection.
    """

    default_prefix = 'calib'

    def __init__(self,
                 num_bins: int = 15,
                 num_rank_bins: int = 1000,
                 class_axis: int = 0,
                 ignore_index: Optional[int] = 255,
                 eps: float = 1e-12,
                 probs_key: str = 'pred_occ_probs',
                 gt_key: str = 'gt_occ',
                 mask_key: Optional[str] = 'mask_camera',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if num_bins < 1 or num_rank_bins < 1:
            raise ValueError(f'OccCalibrationMetric: num_bins ({num_bins}) and num_rank_bins '
                             f'({num_rank_bins}) must be >= 1')
        self.num_bins = num_bins
        self.num_rank_bins = num_rank_bins
        self.class_axis = class_axis
        self.ignore_index = ignore_index
        self.eps = eps
        self.probs_key = probs_key
        self.gt_key = gt_key
        self.mask_key = mask_key

    def _flatten(self, probs: np.ndarray, gt: np.ndarray, sample_index: int) -> np.ndarray:
        """Move the class axis last and flatten to (N, C), checking the grid against ``gt``."""
        if probs.ndim != gt.ndim + 1:
            raise ValueError(
                f'OccCalibrationMetric: data sample {sample_index}: {self.probs_key!r} has shape '
                f'{probs.shape}, expected {gt.ndim + 1} dims (classes on axis {self.class_axis} '
                f'of a grid shaped like {self.gt_key!r} {gt.shape})')
        probs = np.moveaxis(probs, self.class_axis, -1)
        if probs.shape[:-1] != gt.shape:
            raise ValueError(
                f'OccCalibrationMetric: data sample {sample_index}: {self.probs_key!r} grid '
                f'{probs.shape[:-1]} (class axis {self.class_axis} removed) does not match '
                f'{self.gt_key!r} shape {gt.shape}')
        return probs.reshape(-1, probs.shape[-1])

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Append the calibration statistics of every data sample to ``self.results``.

        Args:
            data_batch: The batch from the dataloader (unused).
            data_samples: Dicts or data elements carrying ``probs_key``, ``gt_key`` and
                ``mask_key`` (when set).
        """
        for sample_index, sample in enumerate(data_samples):
            gt = get_array(sample, self.gt_key)
            probs = self._flatten(get_array(sample, self.probs_key), gt, sample_index)
            mask = None
            if self.mask_key is not None:
                mask = as_bool_mask(get_array(sample, self.mask_key), gt.shape,
                                    repr(self.mask_key), repr(self.gt_key)).reshape(-1)
            try:
                statistics = calibration_statistics(probs, gt.reshape(-1), mask,
                                                    self.ignore_index, self.num_bins,
                                                    self.num_rank_bins, self.eps)
            except (TypeError, ValueError) as error:
                raise type(error)(
                    f'OccCalibrationMetric: data sample {sample_index} (probs '
                    f'{self.probs_key!r}, gt {self.gt_key!r}): {error}') from error
            self.results.append(statistics)

    def compute_metrics(self, results: list) -> dict:
        """ECE, NLL, Brier, AURC, E-AURC, AUROC and accuracy over all evaluated voxels."""
        if not results:
            results = [calibration_statistics(np.zeros((0, 1)), np.zeros(0, dtype=np.int64),
                                              num_bins=self.num_bins,
                                              num_rank_bins=self.num_rank_bins)]
        return summarize_calibration(merge_calibration_statistics(results))
