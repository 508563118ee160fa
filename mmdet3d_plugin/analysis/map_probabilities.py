"""Where a BEV map head's probabilities sit, class by class.

A class at map IoU 0 can be *unlearned* (GT-positive and GT-negative cells get the same
probability: AUROC ~0.5) or *under-confident* (the two are separable but never reach the
metric's lowest threshold, 0.35 in BEVFusion's protocol). :func:`map_probability_summary`
tells them apart: per class the GT share, quantiles of the probability on positive and negative
cells, the AUROC of positives against negatives, the IoU at the metric's thresholds and the
best IoU over a wide threshold range (with its threshold). IoUs use the metric's own counting
(``bev_map_counts`` summed over frames, then ``bev_map_summary``), so at the metric's thresholds
they equal ``BEVMapSegMetric``'s figures.
"""
from typing import Dict, List, Sequence

import numpy as np
import torch

from mmdet3d_plugin.evaluation.metrics.bev_map import (BEV_MAP_THRESHOLDS, bev_map_summary,
                                                       sum_bev_map_counts)
from mmdet3d_plugin.evaluation.metrics.risk_coverage import auroc_from_counts

#: Thresholds 0.02, 0.04, ..., 0.98 for the "best IoU anywhere" column.
WIDE_THRESHOLDS = tuple(float(t) for t in np.round(np.arange(0.02, 0.99, 0.02), 2))
#: Histogram bins of the AUROC (probabilities are binned to 1 / 1000).
AUROC_BINS = 1000


def binned_auroc(positives: np.ndarray, negatives: np.ndarray, bins: int = AUROC_BINS) -> float:
    """AUROC of ``positives`` against ``negatives`` (scores in [0, 1]), ties counted half.

    The scores are histogrammed into ``bins`` equal-width bins and ranked by
    :func:`~mmdet3d_plugin.evaluation.metrics.risk_coverage.auroc_from_counts`, so the memory
    stays ``O(bins)`` whatever the number of cells; exact when no two different scores share a
    bin.

    Returns:
        float: in [0, 1]; NaN when either set is empty.
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    return auroc_from_counts(np.histogram(np.clip(positives, 0, 1), edges)[0],
                             np.histogram(np.clip(negatives, 0, 1), edges)[0])


def _best_per_class(ious: np.ndarray, thresholds: Sequence[float]):
    """``(best IoU, its first threshold)`` per class of ``(C, T)`` IoUs (NaN where every
    threshold is NaN, as ``bev_map_summary``)."""
    filled = np.nan_to_num(ious, nan=-1.0)
    best = filled.max(axis=1)
    return np.where(best < 0, np.nan, best), np.asarray(thresholds)[filled.argmax(axis=1)]


def map_probability_summary(probs: Sequence[torch.Tensor], gts: Sequence[torch.Tensor],
                            class_names: Sequence[str],
                            quantiles: Sequence[float] = (0.5, 0.9)) -> Dict[str, dict]:
    """Per-class probability statistics of a map head over a set of frames.

    Args:
        probs: Per frame, ``(C, X, Y)`` probabilities in [0, 1].
        gts: Per frame, ``(C, X, Y)`` 0/1 GT masks.
        class_names: ``C`` names.
        quantiles: Quantiles of the probability on GT-positive cells.

    Returns:
        dict: ``{class: {'gt_share', 'positive_q<q>' ..., 'negative_q99', 'max', 'auroc',
        'iou_metric', 'iou_wide', 'iou_wide_threshold'}}``; IoUs in [0, 1] (NaN for a class
        empty in GT and prediction), quantiles NaN for a class without positive cells.

    Raises:
        ValueError: frames and GT differ in number, a frame's shape does not match, or
            ``class_names`` does not have one name per channel.
    """
    if len(probs) != len(gts) or not probs:
        raise ValueError(f'map_probability_summary: {len(probs)} predictions for {len(gts)} '
                         'GT masks (need the same number, at least one)')
    channels = probs[0].shape[0]
    if len(class_names) != channels:
        raise ValueError(f'map_probability_summary: {len(class_names)} class names for '
                         f'{channels} map channels')
    probs = [torch.as_tensor(p).float() for p in probs]
    gts = [torch.as_tensor(g).bool() for g in gts]
    for index, (p, g) in enumerate(zip(probs, gts)):
        if p.shape != g.shape or p.shape[0] != channels:
            raise ValueError(f'map_probability_summary: frame {index}: prediction '
                             f'{tuple(p.shape)} vs GT {tuple(g.shape)}, expected both '
                             f'({channels}, X, Y)')
    # one counting pass over both threshold sets
    thresholds = sorted(set(BEV_MAP_THRESHOLDS) | set(WIDE_THRESHOLDS))
    ious, _, _ = bev_map_summary(sum_bev_map_counts(probs, gts, thresholds))
    metric_iou, _ = _best_per_class(
        ious[:, [thresholds.index(t) for t in BEV_MAP_THRESHOLDS]], BEV_MAP_THRESHOLDS)
    wide_iou, wide_threshold = _best_per_class(
        ious[:, [thresholds.index(t) for t in WIDE_THRESHOLDS]], WIDE_THRESHOLDS)
    summary = {}
    for c, name in enumerate(class_names):
        p = torch.cat([f[c].flatten() for f in probs]).numpy()
        g = torch.cat([f[c].flatten() for f in gts]).numpy()
        positives, negatives = p[g], p[~g]
        row = {'gt_share': float(g.mean())}
        for q in quantiles:
            row[f'positive_q{int(round(q * 100))}'] = (float(np.quantile(positives, q))
                                                       if positives.size else float('nan'))
        row['negative_q99'] = (float(np.quantile(negatives, 0.99)) if negatives.size
                               else float('nan'))
        row.update(max=float(p.max()), auroc=binned_auroc(positives, negatives),
                   iou_metric=float(metric_iou[c]), iou_wide=float(wide_iou[c]),
                   iou_wide_threshold=float(wide_threshold[c]))
        summary[name] = row
    return summary


def format_summary(summary: Dict[str, dict]) -> List[str]:
    """Markdown table rows of :func:`map_probability_summary` (IoUs and shares in %)."""
    keys = [k for k in next(iter(summary.values())) if k.startswith('positive_q')]
    head = ['class', 'GT %'] + [f'p on GT ({k[len("positive_"):]})' for k in keys] + [
        'p off GT (q99)', 'max p', 'AUROC', 'IoU (metric)', 'best IoU (threshold)']
    rows = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]

    def fmt(value, scale=1.0, digits=3):
        return '—' if value != value else f'{value * scale:.{digits}f}'
    for name, row in summary.items():
        cells = [name, fmt(row['gt_share'], 100, 2)] + [fmt(row[k]) for k in keys] + [
            fmt(row['negative_q99']), fmt(row['max']), fmt(row['auroc']),
            fmt(row['iou_metric'], 100, 1),
            f"{fmt(row['iou_wide'], 100, 1)} ({row['iou_wide_threshold']:.2f})"]
        rows.append('| ' + ' | '.join(cells) + ' |')
    return rows
