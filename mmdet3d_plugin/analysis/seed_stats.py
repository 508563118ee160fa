"""Several seeds of one experiment: mean ± sample standard deviation of every metric.

A claim check trains each model with several seeds and evaluates every checkpoint under the same
settings; this module turns ``{seed: {setting: metrics}}`` into per-setting statistics, values
relative to clean (per seed, then aggregated, so the spread of the ratio is the seeds' spread),
and the table cells ``0.123 ± 0.004``.
"""
import math
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Sequence

#: ``{seed: {setting name: {metric key: value}}}`` of one model.
SeedResults = Mapping[int, Mapping[str, Mapping[str, float]]]


@dataclass(frozen=True)
class SeedStat:
    """Statistics of one metric over seeds.

    Attributes:
        mean (float): Mean over the seeds that have the value.
        std (float): Sample standard deviation (``ddof=1``); 0.0 for a single seed.
        count (int): Seeds that have the value.
    """

    mean: float
    std: float
    count: int

    def format(self, spec: str = '.3f') -> str:
        """``'0.123 ± 0.004 (n=3)'``-style cell; the ``(n=..)`` part only when ``count`` < 2."""
        text = f'{format(self.mean, spec)} ± {format(self.std, spec)}'
        return text if self.count > 1 else f'{format(self.mean, spec)} (n=1)'


def seed_stat(values: Sequence[Optional[float]]) -> Optional[SeedStat]:
    """Mean and sample std of the non-None, finite ``values``; None when none is left."""
    kept = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not kept:
        return None
    mean = sum(kept) / len(kept)
    if len(kept) == 1:
        return SeedStat(mean, 0.0, 1)
    var = sum((v - mean)**2 for v in kept) / (len(kept) - 1)
    return SeedStat(mean, math.sqrt(var), len(kept))


def relative_to_clean(value: Optional[float], clean: Optional[float]) -> Optional[float]:
    """``value / clean`` (1.0 = as clean); None when either is missing or clean is 0."""
    if value is None or clean is None or clean == 0:
        return None
    return value / clean


def aggregate(results: SeedResults, setting: str, key: str,
              relative: bool = False, clean_setting: str = 'clean') -> Optional[SeedStat]:
    """Statistics of metric ``key`` under ``setting`` over the seeds of ``results``.

    Args:
        results: ``{seed: {setting: metrics}}``.
        setting: Setting name, e.g. ``'missing_lidar'``.
        key: Metric key, e.g. ``'map/mean/iou@max'``.
        relative: Each seed's value divided by the same seed's clean value before averaging.
        clean_setting: Name of the clean setting.

    Returns:
        SeedStat or None when no seed has the value.
    """
    values = []
    for per_setting in results.values():
        value = per_setting.get(setting, {}).get(key)
        if relative:
            value = relative_to_clean(value, per_setting.get(clean_setting, {}).get(key))
        values.append(value)
    return seed_stat(values)


def find_key(results: SeedResults, matches) -> Optional[str]:
    """The first metric key (over all seeds and settings) for which ``matches(key)`` holds."""
    for per_setting in results.values():
        for metrics in per_setting.values():
            for key in metrics:
                if matches(key):
                    return key
    return None


def per_class_keys(metrics: Mapping[str, float]) -> Dict[str, Dict[str, list]]:
    """Per-class metric keys of one evaluation, grouped by kind.

    Detection (mmdet3d's ``NuScenesMetric``): ``<prefix>/<class>_AP_dist_<d>`` -- the class AP is
    the mean over the four distance thresholds, as the devkit's mAP. Map segmentation
    (``BEVMapSegMetric``): ``map/<class>/iou@max``.

    Returns:
        dict: ``{'AP': {class: [keys]}, 'IoU': {class: [key]}}``.
    """
    groups: Dict[str, Dict[str, list]] = {'AP': {}, 'IoU': {}}
    for key in metrics:
        last = key.rsplit('/', 1)[-1]
        if '_AP_dist_' in last:
            groups['AP'].setdefault(last.split('_AP_dist_')[0], []).append(key)
        elif key.startswith('map/') and last == 'iou@max' and key.split('/')[1] != 'mean':
            groups['IoU'].setdefault(key.split('/')[1], []).append(key)
    return groups


def class_value(metrics: Mapping[str, float], keys: Sequence[str]) -> Optional[float]:
    """Mean of ``metrics[k]`` over ``keys`` (None when one is missing)."""
    values = [metrics.get(k) for k in keys]
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)
