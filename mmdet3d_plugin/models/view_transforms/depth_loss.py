"""LiDAR depth supervision of an LSS depth distribution (BEVDepth, Li et al., 2023).

BEVDepth supervises the softmax depth distribution of every image feature cell that holds a
LiDAR return with a binary cross-entropy against the one-hot bin of that return's depth,
summed over the bins and averaged over the supervised cells. mmdet3d's wheel has no such loss
for a categorical depth distribution (its BEVDepth lives in projects outside the wheel), and
mmdet's ``CrossEntropyLoss(use_sigmoid=True)`` expects logits while the distribution here is
already normalised, so the two functions below do it with ``torch.nn.functional``.
"""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

#: Probabilities are clamped into ``[EPS, 1 - EPS]`` before the logarithms.
EPS = 1e-6


def depth_bin_targets(gt_depth: Tensor, dbound: Sequence[float],
                      num_depth: int) -> Tuple[Tensor, Tensor]:
    """Depth bin of every LiDAR depth and whether the cell is supervised.

    Bin ``k`` is the frustum depth ``d_min + k * step`` (:func:`.frustum.depth_bin_centres`);
    a depth goes to the nearest bin and cells without a return (0) or outside
    ``[d_min - step / 2, d_min + (D - 1/2) step)`` are not supervised.

    Args:
        gt_depth: ``(...)`` metres, 0 = no LiDAR return.
        dbound: ``(d_min, d_max, step)`` of the view transform.
        num_depth: ``D`` bins.

    Returns:
        tuple: ``(...)`` int64 bins (0 where unsupervised) and the ``(...)`` bool mask.
    """
    d_min, _, step = (float(v) for v in dbound)
    bins = torch.round((gt_depth.float() - d_min) / step)
    mask = (gt_depth > 0) & (bins >= 0) & (bins < num_depth)
    return torch.where(mask, bins, torch.zeros_like(bins)).long(), mask


def depth_bce_loss(depth: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """BEVDepth's depth loss.

    Args:
        depth: ``(B, N, D, h, w)`` depth probabilities (softmax over ``D``).
        target: ``(B, N, h, w)`` int64 bins from :func:`depth_bin_targets`.
        mask: ``(B, N, h, w)`` bool, supervised cells.

    Returns:
        Tensor: scalar, the summed-over-bins BCE averaged over supervised cells; ``0 *
        depth.sum()`` (zero, differentiable) when no cell is supervised.
    """
    if not bool(mask.any()):
        return depth.sum() * 0.0
    probs = depth.movedim(2, -1)[mask].float().clamp(EPS, 1.0 - EPS)  # (M, D)
    one_hot = F.one_hot(target[mask], probs.shape[-1]).to(probs.dtype)
    return F.binary_cross_entropy(probs, one_hot, reduction='sum') / probs.shape[0]
