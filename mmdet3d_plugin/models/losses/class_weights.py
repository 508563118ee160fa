"""Class-frequency weights for the weighted cross-entropy of occupancy heads.

MonoScene, OpenOccupancy and SurroundOcc weight their voxel cross-entropy with
``1 / log(count + 0.001)`` of the per-class voxel counts of the training split (raw counts,
e.g. OpenOccupancy's ``nusc_class_frequencies``), so the dominant free class gets the smallest
weight while rare classes are only mildly boosted. The weights are meant for mmdet's
``CrossEntropyLoss(use_sigmoid=False, class_weight=..., ignore_index=255)``, which accepts
(B, K, X, Y, Z) logits directly.
"""
from typing import List, Sequence, Union

import numpy as np
import torch

_MODES = ('inverse_log', 'inverse_sqrt')


def occupancy_class_weights(class_counts: Union[Sequence[float], np.ndarray, torch.Tensor],
                            mode: str = 'inverse_log',
                            normalize: bool = True) -> List[float]:
    """Per-class loss weights from per-class voxel counts.

    Args:
        class_counts: ``(K, )`` voxel counts of every class (free space included) over the
            training split; raw counts, not fractions (the log formula needs counts >= 1).
        mode: ``'inverse_log'``: ``1 / log(count + 0.001)`` (MonoScene / OpenOccupancy /
            SurroundOcc); ``'inverse_sqrt'``: ``1 / sqrt(count / total)``, a stronger
            re-balancing.
        normalize: rescale the weights to mean 1 over the classes (keeps the CE's magnitude
            comparable to the unweighted one); ``False`` gives the papers' raw numbers.

    Returns:
        list: ``K`` positive floats, for ``class_weight=`` of mmdet's ``CrossEntropyLoss``.
        A class with count 0 (never a target, so its weight never enters the CE) gets the
        largest weight of the counted classes.

    Raises:
        ValueError: counts not 1-D, negative, non-finite, all zero, fractional below 1 in
            ``'inverse_log'`` mode, or an unknown ``mode``.
    """
    if mode not in _MODES:
        raise ValueError(f'occupancy_class_weights: `mode` must be one of {_MODES}, got {mode!r}')
    if isinstance(class_counts, torch.Tensor):
        class_counts = class_counts.detach().cpu().numpy()
    counts = np.asarray(class_counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError('occupancy_class_weights: `class_counts` must be a non-empty 1-D '
                         f'sequence of K counts, got shape {counts.shape}')
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError('occupancy_class_weights: `class_counts` must be finite and >= 0, got '
                         f'{counts.tolist()}')
    seen = counts > 0
    if not seen.any():
        raise ValueError('occupancy_class_weights: every entry of `class_counts` is 0')
    if mode == 'inverse_log':
        if (seen & (counts < 1)).any():
            raise ValueError('occupancy_class_weights: `class_counts` has values in (0, 1); '
                             "'inverse_log' needs raw voxel counts, not frequencies, got "
                             f'{counts.tolist()}')
        # log(1 + 0.001) > 0, so every counted class gets a finite positive weight
        weights = 1.0 / np.log(counts + 0.001, where=seen, out=np.ones_like(counts))
    else:
        weights = 1.0 / np.sqrt(np.where(seen, counts, 1.0) / counts.sum())
    weights = np.where(seen, weights, weights[seen].max())
    if normalize:
        weights = weights / weights.mean()
    return [float(w) for w in weights]
