"""Calibration of class probabilities: ECE, NLL, Brier score, AURC, E-AURC and AUROC.

Inputs are probabilities ``(N, C)`` (rows on the simplex) and labels ``(N,)``, with an optional
valid mask and ignored label, e.g. the voxels of an occupancy grid inside the camera mask.

* **ECE** (Guo et al., "On calibration of modern neural networks", ICML 2017): top-label
  confidence ``max_c p_c`` in ``num_bins`` equal-width bins ``(lo, hi]`` over [0, 1] (the first
  bin also holds 0); ``ECE = sum_b n_b / N * |accuracy_b - mean_confidence_b|``.
* **NLL**: ``mean(-log(max(p_label, eps)))``.
* **Brier score** (multi-class, Brier 1950): ``mean(sum_c (p_c - onehot_c)^2)``, in [0, 2].
* **AURC**, **E-AURC**, **AUROC**: see :mod:`.risk_coverage`; the prediction is the argmax and
  its confidence the top-label probability.

Everything but AURC/E-AURC/AUROC streams exactly through per-bin sums. For those three,
:func:`calibration_statistics` keeps a fine confidence histogram (``num_rank_bins`` equal-width
bins), so predictions in the same bin count as tied; :func:`aurc` and
:func:`misclassification_auroc` give the exact values from the arrays.
"""
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from .array_checks import as_bool_mask, check_integer_labels, check_label_range, to_numpy
from .risk_coverage import (aurc_from_counts, auroc_from_counts, group_by_confidence,
                            optimal_aurc)

#: Allowed deviation of a probability row's sum from 1.
PROBABILITY_SUM_TOLERANCE = 1e-3

#: Keys of the summable statistics returned by :func:`calibration_statistics`.
STATISTIC_KEYS = ('num_evaluated', 'num_correct', 'nll_sum', 'brier_sum', 'bin_counts',
                  'bin_confidence_sums', 'bin_correct_counts', 'rank_correct_counts',
                  'rank_error_counts')


def select_valid(probs: Any,
                 labels: Any,
                 valid_mask: Optional[Any] = None,
                 ignore_index: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Check the inputs and keep the evaluated rows.

    Args:
        probs: (N, C) class probabilities, each row summing to 1.
        labels: (N,) integer labels in ``[0, C)`` (``ignore_index`` allowed).
        valid_mask: Optional (N,) bool or 0/1; rows where it is false are dropped.
        ignore_index: Optional label whose rows are dropped (e.g. 255).

    Returns:
        tuple: ``(probs, labels)`` of the kept rows, (M, C) and (M,) int64.

    Raises:
        ValueError: On wrong shapes, labels out of range or rows that are not probabilities.
    """
    probs = to_numpy(probs, 'probs')
    labels = to_numpy(labels, 'labels')
    if probs.ndim != 2:
        raise ValueError(f'probs must have shape (N, C), got {probs.shape}')
    if labels.shape != probs.shape[:1]:
        raise ValueError(f'labels has shape {labels.shape} but must be (N,) = '
                         f'{probs.shape[:1]} to match probs with shape {probs.shape}')
    check_integer_labels(labels, 'labels')
    keep = as_bool_mask(valid_mask, labels.shape, 'valid_mask', 'labels')
    if ignore_index is not None:
        not_ignored = labels != ignore_index
        keep = not_ignored if keep is None else keep & not_ignored
    if keep is not None:
        probs, labels = probs[keep], labels[keep]
    labels = labels.astype(np.int64)
    check_label_range(labels, probs.shape[1], 'labels')
    if probs.size:
        if not np.isfinite(probs).all() or probs.min() < 0:
            raise ValueError('probs must be finite and non-negative; apply a softmax to logits')
        row_sums = probs.sum(axis=1, dtype=np.float64)
        worst = float(np.abs(row_sums - 1).max())
        if worst > PROBABILITY_SUM_TOLERANCE:
            raise ValueError(f'rows of probs must sum to 1 (worst deviation {worst:.3g}); '
                             'apply a softmax to logits')
    return probs, labels


def _bin_index(confidences: np.ndarray, num_bins: int) -> np.ndarray:
    """Bin of each confidence among ``num_bins`` equal-width bins ``(lo, hi]`` over [0, 1]."""
    inner_edges = np.linspace(0.0, 1.0, num_bins + 1)[1:-1]
    return np.searchsorted(inner_edges, confidences, side='left')


def calibration_statistics(probs: Any,
                           labels: Any,
                           valid_mask: Optional[Any] = None,
                           ignore_index: Optional[int] = None,
                           num_bins: int = 15,
                           num_rank_bins: int = 1000,
                           eps: float = 1e-12) -> Dict[str, np.ndarray]:
    """Summable statistics of one batch of predictions (stream them with :func:`merge_...`).

    Args:
        probs: (N, C) class probabilities.
        labels: (N,) integer labels.
        valid_mask: Optional (N,) bool mask of evaluated rows.
        ignore_index: Optional ignored label.
        num_bins: ECE bins B.
        num_rank_bins: Confidence bins R for AURC / AUROC.
        eps: Floor of the label probability inside the NLL's logarithm.

    Returns:
        dict: ``num_evaluated``, ``num_correct`` (int64 scalars), ``nll_sum``, ``brier_sum``
        (float64 scalars), ``bin_counts`` / ``bin_correct_counts`` (B,) int64,
        ``bin_confidence_sums`` (B,) float64, ``rank_correct_counts`` / ``rank_error_counts``
        (R,) int64.
    """
    if num_bins < 1 or num_rank_bins < 1:
        raise ValueError(f'num_bins ({num_bins}) and num_rank_bins ({num_rank_bins}) must be >= 1')
    probs, labels = select_valid(probs, labels, valid_mask, ignore_index)
    confidences = probs.max(axis=1).astype(np.float64)
    correct = probs.argmax(axis=1) == labels
    label_probs = probs[np.arange(labels.size), labels].astype(np.float64)
    squared_norms = np.square(probs).sum(axis=1, dtype=np.float64)
    ece_bins = _bin_index(confidences, num_bins)
    rank_bins = _bin_index(confidences, num_rank_bins)
    return dict(
        num_evaluated=np.int64(labels.size),
        num_correct=np.int64(correct.sum()),
        nll_sum=np.float64(-np.log(np.maximum(label_probs, eps)).sum()),
        brier_sum=np.float64((squared_norms - 2 * label_probs + 1).sum()),
        bin_counts=np.bincount(ece_bins, minlength=num_bins).astype(np.int64),
        bin_confidence_sums=np.bincount(ece_bins, weights=confidences, minlength=num_bins),
        bin_correct_counts=np.bincount(ece_bins[correct], minlength=num_bins).astype(np.int64),
        rank_correct_counts=np.bincount(rank_bins[correct],
                                        minlength=num_rank_bins).astype(np.int64),
        rank_error_counts=np.bincount(rank_bins[~correct],
                                      minlength=num_rank_bins).astype(np.int64))


def merge_calibration_statistics(
        statistics: Sequence[Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
    """Sum the statistics of several batches/samples (all with the same bin counts)."""
    if len(statistics) == 0:
        raise ValueError('no calibration statistics to merge')
    return {key: np.sum([item[key] for item in statistics], axis=0) for key in STATISTIC_KEYS}


def ece_from_bins(bin_counts: Any, bin_confidence_sums: Any, bin_correct_counts: Any) -> float:
    """ECE from per-bin counts, confidence sums and correct counts (each (B,)); NaN if empty."""
    bin_counts = to_numpy(bin_counts, 'bin_counts').astype(np.float64)
    total = bin_counts.sum()
    if total == 0:
        return float('nan')
    gaps = np.abs(to_numpy(bin_confidence_sums, 'bin_confidence_sums') -
                  to_numpy(bin_correct_counts, 'bin_correct_counts'))
    return float(gaps.sum() / total)


def summarize_calibration(statistics: Dict[str, np.ndarray]) -> Dict[str, float]:
    """Metrics from (merged) statistics.

    Returns:
        dict: ``ECE``, ``NLL``, ``Brier``, ``AURC``, ``E-AURC``, ``AUROC``, ``accuracy``
        (fractions, NaN when nothing was evaluated) and ``num_evaluated``.
    """
    count = int(statistics['num_evaluated'])
    num_correct = int(statistics['num_correct'])
    nan = float('nan')
    aurc_value = aurc_from_counts(statistics['rank_correct_counts'],
                                  statistics['rank_error_counts'])
    return {
        'ECE': ece_from_bins(statistics['bin_counts'], statistics['bin_confidence_sums'],
                             statistics['bin_correct_counts']),
        'NLL': float(statistics['nll_sum']) / count if count else nan,
        'Brier': float(statistics['brier_sum']) / count if count else nan,
        'AURC': aurc_value,
        'E-AURC': aurc_value - optimal_aurc(num_correct, count - num_correct) if count else nan,
        'AUROC': auroc_from_counts(statistics['rank_correct_counts'],
                                   statistics['rank_error_counts']),
        'accuracy': num_correct / count if count else nan,
        'num_evaluated': count,
    }


def expected_calibration_error(probs: Any,
                               labels: Any,
                               num_bins: int = 15,
                               valid_mask: Optional[Any] = None,
                               ignore_index: Optional[int] = None) -> float:
    """Top-label ECE with ``num_bins`` equal-width bins; args as :func:`select_valid`."""
    stats = calibration_statistics(probs, labels, valid_mask, ignore_index, num_bins, 1)
    return ece_from_bins(stats['bin_counts'], stats['bin_confidence_sums'],
                         stats['bin_correct_counts'])


def negative_log_likelihood(probs: Any,
                            labels: Any,
                            valid_mask: Optional[Any] = None,
                            ignore_index: Optional[int] = None,
                            eps: float = 1e-12) -> float:
    """Mean ``-log(max(p_label, eps))`` over the evaluated rows; NaN if none."""
    stats = calibration_statistics(probs, labels, valid_mask, ignore_index, 1, 1, eps)
    count = int(stats['num_evaluated'])
    return float(stats['nll_sum']) / count if count else float('nan')


def brier_score(probs: Any,
                labels: Any,
                valid_mask: Optional[Any] = None,
                ignore_index: Optional[int] = None) -> float:
    """Mean over rows of ``sum_c (p_c - onehot_c)^2`` (in [0, 2]); NaN if no row is evaluated."""
    stats = calibration_statistics(probs, labels, valid_mask, ignore_index, 1, 1)
    count = int(stats['num_evaluated'])
    return float(stats['brier_sum']) / count if count else float('nan')


def confidence_and_correctness(probs: Any,
                               labels: Any,
                               valid_mask: Optional[Any] = None,
                               ignore_index: Optional[int] = None
                               ) -> Tuple[np.ndarray, np.ndarray]:
    """Top-label confidence (M,) float64 and correctness (M,) bool of the evaluated rows."""
    probs, labels = select_valid(probs, labels, valid_mask, ignore_index)
    return probs.max(axis=1).astype(np.float64), probs.argmax(axis=1) == labels


def aurc(probs: Any,
         labels: Any,
         valid_mask: Optional[Any] = None,
         ignore_index: Optional[int] = None) -> float:
    """Exact AURC (ties grouped) of the argmax predictions ranked by top-label confidence."""
    return aurc_from_counts(*group_by_confidence(
        *confidence_and_correctness(probs, labels, valid_mask, ignore_index)))


def misclassification_auroc(probs: Any,
                            labels: Any,
                            valid_mask: Optional[Any] = None,
                            ignore_index: Optional[int] = None) -> float:
    """Exact AUROC of telling correct from wrong argmax predictions by confidence."""
    return auroc_from_counts(*group_by_confidence(
        *confidence_and_correctness(probs, labels, valid_mask, ignore_index)))
