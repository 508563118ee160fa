"""Selective prediction: AURC, E-AURC and AUROC of misclassification detection.

All three are computed from *grouped* counts: for each distinct confidence level (or confidence
bin, when streaming), how many predictions at that level were correct and how many wrong.
Predictions that share a level are treated as tied, which makes the results independent of the
order of tied items. Exact values come from grouping by the unique confidences; a streaming
evaluation groups by fine histogram bins (see ``calibration.calibration_statistics``).

* **AURC** (Geifman et al., "Bias-reduced uncertainty estimation for deep neural classifiers",
  ICLR 2019): sort predictions by decreasing confidence; at coverage ``k / N`` the selective risk
  is the error rate of the ``k`` most confident predictions; AURC is the area under that
  risk-coverage curve, ``mean_k risk(k)`` when there are no ties. With ties the curve is only
  defined at the ends of each tied group, and each group contributes ``risk * group_size / N``.
* **E-AURC** = AURC minus the AURC of a perfect ranking with the same accuracy (all correct
  predictions first): ``(E - C * (H_N - H_C)) / N`` for ``C`` correct, ``E`` wrong, ``N = C + E``
  and harmonic numbers ``H``.
* **AUROC** of separating correct from wrong predictions by confidence (Hendrycks & Gimpel,
  ICLR 2017): the probability that a random correct prediction is more confident than a random
  wrong one, ties counting one half. It equals the AUROC of detecting misclassifications with
  the score ``1 - confidence``.
"""
import math
from typing import Any, Tuple

import numpy as np

from .array_checks import check_shape, to_numpy

_EULER_GAMMA = 0.5772156649015329


def _check_counts(correct_counts: Any, error_counts: Any) -> Tuple[np.ndarray, np.ndarray]:
    correct_counts = to_numpy(correct_counts, 'correct_counts').astype(np.float64)
    error_counts = to_numpy(error_counts, 'error_counts').astype(np.float64)
    if correct_counts.ndim != 1:
        raise ValueError(f'correct_counts must be 1-D (G,), got shape {correct_counts.shape}')
    check_shape(error_counts, correct_counts.shape, 'error_counts', 'correct_counts')
    if (correct_counts < 0).any() or (error_counts < 0).any():
        raise ValueError('correct_counts and error_counts must be non-negative')
    return correct_counts, error_counts


def aurc_from_counts(correct_counts: Any, error_counts: Any) -> float:
    """AURC from counts grouped by confidence level.

    Args:
        correct_counts: (G,) correct predictions per level, levels in *increasing* confidence
            (histogram order).
        error_counts: (G,) wrong predictions per level.

    Returns:
        float: AURC in [0, 1]; NaN when there is no prediction.
    """
    correct_counts, error_counts = _check_counts(correct_counts, error_counts)
    group_sizes = (correct_counts + error_counts)[::-1]
    group_errors = error_counts[::-1]
    occupied = group_sizes > 0
    group_sizes, group_errors = group_sizes[occupied], group_errors[occupied]
    total = group_sizes.sum()
    if total == 0:
        return float('nan')
    risks = np.cumsum(group_errors) / np.cumsum(group_sizes)
    return float((risks * group_sizes).sum() / total)


def _harmonic(n: int) -> float:
    """Harmonic number ``H_n = sum_{k=1}^n 1/k`` (``H_0 = 0``), exact to float precision."""
    if n < 1000:
        return float(np.sum(1.0 / np.arange(n, 0, -1, dtype=np.float64))) if n > 0 else 0.0
    inverse = 1.0 / n
    return (math.log(n) + _EULER_GAMMA + inverse / 2 - inverse**2 / 12 + inverse**4 / 120
            - inverse**6 / 252)


def optimal_aurc(num_correct: int, num_errors: int) -> float:
    """AURC of a perfect confidence ranking (all correct predictions before the wrong ones).

    Args:
        num_correct: Number of correct predictions ``C``.
        num_errors: Number of wrong predictions ``E``.

    Returns:
        float: ``(E - C * (H_{C+E} - H_C)) / (C + E)``; NaN when ``C + E == 0``.
    """
    num_correct, num_errors = int(num_correct), int(num_errors)
    total = num_correct + num_errors
    if total == 0:
        return float('nan')
    harmonic_gap = _harmonic(total) - _harmonic(num_correct)
    return (num_errors - num_correct * harmonic_gap) / total


def auroc_from_counts(correct_counts: Any, error_counts: Any) -> float:
    """AUROC of correct-vs-wrong by confidence, from counts grouped by confidence level.

    Args:
        correct_counts: (G,) correct predictions per level, levels in increasing confidence.
        error_counts: (G,) wrong predictions per level.

    Returns:
        float: AUROC in [0, 1] (ties count 1/2); NaN if all predictions are correct or all
        wrong.
    """
    correct_counts, error_counts = _check_counts(correct_counts, error_counts)
    total_correct, total_errors = correct_counts.sum(), error_counts.sum()
    if total_correct == 0 or total_errors == 0:
        return float('nan')
    errors_below = np.cumsum(error_counts) - error_counts
    wins = (correct_counts * (errors_below + 0.5 * error_counts)).sum()
    return float(wins / (total_correct * total_errors))


def group_by_confidence(confidences: Any, correct: Any) -> Tuple[np.ndarray, np.ndarray]:
    """Correct and wrong counts per distinct confidence value, in increasing confidence.

    Args:
        confidences: (N,) confidence of each prediction.
        correct: (N,) bool, whether each prediction is right.

    Returns:
        tuple: ``(correct_counts, error_counts)``, each (G,) int64 for the G distinct values.
    """
    confidences = to_numpy(confidences, 'confidences').reshape(-1)
    correct = to_numpy(correct, 'correct')
    check_shape(correct.reshape(-1), confidences.shape, 'correct', 'confidences')
    correct = correct.reshape(-1).astype(bool)
    _, group_index = np.unique(confidences, return_inverse=True)
    num_groups = int(group_index.max()) + 1 if group_index.size else 0
    correct_counts = np.bincount(group_index[correct], minlength=num_groups)
    error_counts = np.bincount(group_index[~correct], minlength=num_groups)
    return correct_counts.astype(np.int64), error_counts.astype(np.int64)
