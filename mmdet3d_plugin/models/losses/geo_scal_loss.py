"""MonoScene's geometric scene-class affinity loss (Cao & de Charette, CVPR 2022).

MonoScene's ``geo_scal_loss`` (``monoscene/loss/ssc_loss.py``) treats "occupied" as one class
(1 - the free class's softmax probability) and pushes its precision, recall and specificity
over the whole batch towards 1 with a BCE against 1 each. No kept library (mmdet, mmdet3d,
mmseg, mmengine) provides it, so it is written here. Unlike the original, a term whose
denominator has no support is dropped instead of dividing by zero: a frame without occupied
voxels has no precision / recall term, a fully occupied one no specificity term.
"""
from typing import Optional

from torch import Tensor, nn

from mmdet3d_plugin.registry import MODELS
from .occupancy_loss_utils import neg_log, scal_inputs


@MODELS.register_module()
class GeoScalLoss(nn.Module):
    """Occupied-vs-free precision / recall / specificity loss.

    With ``q`` = 1 - p(free) of every valid voxel and ``o`` = 1 where its label is not
    ``free_index``, the loss is ``-log(P) - log(R) - log(S)`` with ``P = sum(q o) / sum(q)``,
    ``R = sum(q o) / sum(o)`` and ``S = sum((1 - q)(1 - o)) / sum(1 - o)``, each term present
    only where its denominator is positive (ratios clamped into ``[1e-7, 1]``).

    Args:
        free_index: label of free space (17 for Occ3D, 0 for nuScenes-Occupancy).
        ignore_index: label of unsupervised voxels, or None.
        loss_weight: factor on the loss.
    """

    def __init__(self, free_index: int = 17, ignore_index: Optional[int] = 255,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.free_index = int(free_index)
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight

    def forward(self, logits: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            logits: ``(B, K, X, Y, Z)`` class logits.
            target: ``(B, X, Y, Z)`` integer labels.
            mask: optional ``(B, X, Y, Z)`` bool, True where supervised (e.g. ``mask_camera``).

        Returns:
            Tensor: scalar; ``0 * logits.sum()`` without valid voxels.

        Raises:
            ValueError: bad shapes / dtypes, labels outside ``[0, K)``, or ``free_index`` not a
                class of ``logits``.
        """
        flat_logits, labels = scal_inputs('GeoScalLoss', logits, target, mask, self.free_index,
                                          self.ignore_index)
        if labels.numel() == 0:
            return logits.sum() * 0.0
        free_prob = flat_logits.softmax(dim=-1)[:, self.free_index]  # (M, )
        occupied_prob = 1.0 - free_prob
        occupied = labels != self.free_index
        num_occupied = int(occupied.sum())
        num_free = labels.numel() - num_occupied
        loss = flat_logits.sum() * 0.0
        if num_occupied > 0:
            intersection = occupied_prob[occupied].sum()
            predicted = occupied_prob.sum()
            if float(predicted.detach()) > 0:
                loss = loss + neg_log(intersection / predicted)
            loss = loss + neg_log(intersection / num_occupied)
        if num_free > 0:
            loss = loss + neg_log(free_prob[~occupied].sum() / num_free)
        return self.loss_weight * loss
