"""MonoScene's semantic scene-class affinity loss (Cao & de Charette, CVPR 2022).

MonoScene's ``sem_scal_loss`` (``monoscene/loss/ssc_loss.py``) pushes every class's precision,
recall and specificity over the whole batch towards 1 (a BCE against 1 each) and averages over
the classes present in the target, free space included. No kept library (mmdet, mmdet3d,
mmseg, mmengine) provides it, so it is written here, vectorised over the classes. A class
absent from the target contributes nothing (as in the original) and a frame without valid
voxels gives 0 instead of the original's division by a zero class count.
"""
from typing import Optional

import torch
from torch import Tensor, nn

from mmdet3d_plugin.registry import MODELS
from .occupancy_loss_utils import neg_log, scal_inputs


@MODELS.register_module()
class SemScalLoss(nn.Module):
    """Per-class precision / recall / specificity loss.

    For class ``c`` with softmax ``p_c`` and indicator ``t_c`` over the valid voxels:
    ``P_c = sum(p_c t_c) / sum(p_c)``, ``R_c = sum(p_c t_c) / sum(t_c)``,
    ``S_c = sum((1 - p_c)(1 - t_c)) / sum(1 - t_c)``; the loss is the mean over the classes
    with ``sum(t_c) > 0`` of ``-log(P_c) - log(R_c) - log(S_c)``, a term dropped where its
    denominator is zero (ratios clamped into ``[1e-7, 1]``).

    Args:
        free_index: label of free space (17 for Occ3D, 0 for nuScenes-Occupancy); free space
            is one of the classes, as in MonoScene, unless ``include_free=False``.
        include_free: also score the free class.
        ignore_index: label of unsupervised voxels, or None.
        loss_weight: factor on the loss.
    """

    def __init__(self, free_index: int = 17, include_free: bool = True,
                 ignore_index: Optional[int] = 255, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.free_index = int(free_index)
        self.include_free = include_free
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight

    def forward(self, logits: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            logits: ``(B, K, X, Y, Z)`` class logits.
            target: ``(B, X, Y, Z)`` integer labels.
            mask: optional ``(B, X, Y, Z)`` bool, True where supervised (e.g. ``mask_camera``).

        Returns:
            Tensor: scalar; ``0 * logits.sum()`` when no scored class is present.

        Raises:
            ValueError: bad shapes / dtypes, labels outside ``[0, K)``, or ``free_index`` not a
                class of ``logits``.
        """
        flat_logits, labels = scal_inputs('SemScalLoss', logits, target, mask, self.free_index,
                                          self.ignore_index)
        num_classes = logits.shape[1]
        num_voxels = labels.numel()
        if num_voxels == 0:
            return logits.sum() * 0.0
        probs = flat_logits.softmax(dim=-1)  # (M, K)
        true_pos = probs.new_zeros(num_classes).index_add_(
            0, labels, probs.gather(1, labels[:, None])[:, 0])  # sum(p_c t_c)
        predicted = probs.sum(dim=0)  # sum(p_c)
        positives = torch.bincount(labels, minlength=num_classes).to(probs.dtype)  # sum(t_c)
        negatives = num_voxels - positives  # sum(1 - t_c)
        true_neg = negatives - (predicted - true_pos)  # sum((1 - p_c)(1 - t_c))
        scored = positives > 0
        if not self.include_free:
            scored[self.free_index] = False
        if not bool(scored.any()):
            return logits.sum() * 0.0
        ones = torch.ones_like(predicted)
        precision = neg_log(true_pos / torch.where(predicted > 0, predicted, ones))
        recall = neg_log(true_pos / torch.where(scored, positives, ones))
        specificity = neg_log(true_neg / torch.where(negatives > 0, negatives, ones))
        per_class = precision * (predicted > 0) + recall + specificity * (negatives > 0)
        return self.loss_weight * per_class[scored].mean()
