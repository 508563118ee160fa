"""Lovász-softmax loss on per-voxel occupancy logits (Berman et al., CVPR 2018).

The loss itself is mmdet3d's ``mmdet3d.models.losses.lovasz_loss.lovasz_softmax`` (mmdet3d 1.4,
"directly borrowed from mmsegmentation", the same code as mmseg 1.2.2's). mmdet3d's own
``LovaszLoss`` module is not used as is because it expects (B, C, H, W) score maps and its
flattening (``valid.nonzero().squeeze()``) breaks when a single voxel is valid and returns an
empty tensor instead of a scalar when none is; this wrapper flattens (B, K, X, Y, Z) logits to
the ``(M, K)`` probabilities of the valid voxels itself and handles the empty case.
"""
from typing import List, Optional, Sequence, Union

import torch
from mmdet3d.models.losses.lovasz_loss import lovasz_softmax
from torch import Tensor, nn

from mmdet3d_plugin.registry import MODELS
from .occupancy_loss_utils import check_occupancy_inputs, flatten_valid_voxels


@MODELS.register_module()
class LovaszSoftmaxLoss(nn.Module):
    """Lovász-softmax (a convex surrogate of the mean IoU) over occupancy voxels.

    The softmax over the ``K`` classes of every valid voxel (label not ``ignore_index``, mask
    True) is fed to mmdet3d's ``lovasz_softmax``; with ``classes='present'`` only the classes
    that occur among the valid labels are averaged (Berman et al.'s default), so a class absent
    from the batch contributes nothing.

    Args:
        classes: ``'present'``, ``'all'`` or a list of class ids to average over.
        per_sample: compute the loss per sample and average over the samples that have a valid
            voxel (default: one loss over all voxels of the batch, as the occupancy methods do).
        class_weight: optional ``K`` weights multiplying each class's term.
        ignore_index: label of unsupervised voxels (255: nuScenes-Occupancy noise / Occ3D
            padding), or None.
        loss_weight: factor on the loss.
    """

    def __init__(self,
                 classes: Union[str, Sequence[int]] = 'present',
                 per_sample: bool = False,
                 class_weight: Optional[Sequence[float]] = None,
                 ignore_index: Optional[int] = 255,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        ids = isinstance(classes, (list, tuple)) and all(isinstance(c, int) for c in classes)
        if not (ids or classes in ('present', 'all')):
            raise ValueError(f"LovaszSoftmaxLoss: `classes` must be 'present', 'all' or a list of "
                             f'class ids, got {classes!r}')
        self.classes: Union[str, List[int]] = classes if isinstance(classes, str) else list(classes)
        self.per_sample = per_sample
        self.class_weight = None if class_weight is None else [float(w) for w in class_weight]
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight

    def forward(self, logits: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            logits: ``(B, K, X, Y, Z)`` class logits.
            target: ``(B, X, Y, Z)`` integer labels (``ignore_index`` = unsupervised).
            mask: optional ``(B, X, Y, Z)`` bool, True where the voxel is supervised (e.g.
                ``mask_camera``).

        Returns:
            Tensor: scalar; ``0 * logits.sum()`` (zero, differentiable) without valid voxels.

        Raises:
            ValueError: bad shapes / dtypes or labels outside ``[0, K)``; ``class_weight`` not
                of length ``K``.
        """
        check_occupancy_inputs('LovaszSoftmaxLoss', logits, target, mask)
        if self.class_weight is not None and len(self.class_weight) != logits.shape[1]:
            raise ValueError(f'LovaszSoftmaxLoss: `class_weight` has {len(self.class_weight)} '
                             f'entries but `logits` has K={logits.shape[1]} classes')
        if self.per_sample:
            masks = [None] * logits.shape[0] if mask is None else mask
            losses = [self._loss(lg[None], tg[None], None if m is None else m[None])
                      for lg, tg, m in zip(logits, target, masks)]
            losses = [loss for loss in losses if loss is not None]
            loss = torch.stack(losses).mean() if losses else None
        else:
            loss = self._loss(logits, target, mask)
        if loss is None:
            return logits.sum() * 0.0
        return self.loss_weight * loss

    def _loss(self, logits: Tensor, target: Tensor, mask: Optional[Tensor]) -> Optional[Tensor]:
        """Lovász-softmax of one group of voxels, None when none of them is valid."""
        flat_logits, labels = flatten_valid_voxels('LovaszSoftmaxLoss', logits, target, mask,
                                                   self.ignore_index)
        if labels.numel() == 0:
            return None
        class_weight = None if self.class_weight is None \
            else flat_logits.new_tensor(self.class_weight)
        # (M, K) probabilities: mmdet3d's flatten_probs passes 2-D input through unchanged.
        return lovasz_softmax(flat_logits.softmax(dim=-1), labels, classes=self.classes,
                              per_sample=False, class_weight=class_weight, ignore_index=None)
