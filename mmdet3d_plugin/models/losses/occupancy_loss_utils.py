"""Input checks and valid-voxel flattening shared by the occupancy losses.

Every occupancy loss takes per-voxel logits ``(B, K, X, Y, Z)``, integer labels ``(B, X, Y, Z)``
(``gt_occ``, uint8 or int64) and an optional bool mask ``(B, X, Y, Z)`` (e.g. Occ3D's
``mask_camera``). A voxel takes part in a loss when its label is not ``ignore_index`` and the
mask (if any) is True there; everything else is dropped before the loss is computed, so the
logits of dropped voxels receive exactly zero gradient.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor


def check_occupancy_inputs(name: str, logits: Tensor, target: Tensor,
                           mask: Optional[Tensor] = None) -> None:
    """Raise a ``ValueError`` naming the tensor when shapes or dtypes do not fit.

    Args:
        name: the loss's name, put in front of the messages.
        logits: ``(B, K, X, Y, Z)`` floating point.
        target: ``(B, X, Y, Z)`` integer labels.
        mask: ``(B, X, Y, Z)`` bool or None.
    """
    if logits.dim() != 5 or not logits.is_floating_point():
        raise ValueError(f'{name}: `logits` must be a floating (B, K, X, Y, Z) tensor, got '
                         f'{tuple(logits.shape)} {logits.dtype}')
    expected = (logits.shape[0], ) + tuple(logits.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(f'{name}: `target` must have shape (B, X, Y, Z) = {expected} to match '
                         f'`logits` {tuple(logits.shape)}, got {tuple(target.shape)}')
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise ValueError(f'{name}: `target` must hold integer labels (uint8 / int64), got '
                         f'{target.dtype}')
    if mask is not None:
        if tuple(mask.shape) != expected:
            raise ValueError(f'{name}: `mask` must have shape (B, X, Y, Z) = {expected} to '
                             f'match `logits` {tuple(logits.shape)}, got {tuple(mask.shape)}')
        if mask.dtype != torch.bool:
            raise ValueError(f'{name}: `mask` must be a bool tensor, got {mask.dtype}')


def flatten_valid_voxels(name: str, logits: Tensor, target: Tensor, mask: Optional[Tensor],
                         ignore_index: Optional[int]) -> Tuple[Tensor, Tensor]:
    """Check the inputs and keep the voxels that take part in the loss.

    Args:
        name: the loss's name, for the error messages.
        logits: ``(B, K, X, Y, Z)``.
        target: ``(B, X, Y, Z)`` integer labels in ``[0, K)`` or ``ignore_index``.
        mask: ``(B, X, Y, Z)`` bool (True = supervised) or None.
        ignore_index: label of unsupervised voxels, or None.

    Returns:
        tuple: the float32 logits ``(M, K)`` and int64 labels ``(M, )`` of the ``M`` valid voxels.

    Raises:
        ValueError: bad shapes / dtypes, or a valid voxel whose label is outside ``[0, K)``.
    """
    check_occupancy_inputs(name, logits, target, mask)
    target = target.long()
    valid = torch.ones_like(target, dtype=torch.bool) if ignore_index is None \
        else target != ignore_index
    if mask is not None:
        valid = valid & mask
    labels = target[valid]
    num_classes = logits.shape[1]
    if labels.numel() and bool(((labels < 0) | (labels >= num_classes)).any()):
        bad = labels[(labels < 0) | (labels >= num_classes)].unique()[:8].tolist()
        raise ValueError(f'{name}: `target` has labels {bad} outside [0, {num_classes}) that are '
                         f'not ignore_index={ignore_index}')
    return logits.movedim(1, -1)[valid].float(), labels


def neg_log(ratio: Tensor, eps: float = 1e-7) -> Tensor:
    """``-log(ratio)``, i.e. ``BCE(ratio, 1)``, with the ratio clamped into ``[eps, 1]``."""
    return -torch.log(ratio.clamp(min=eps, max=1.0))


def scal_inputs(owner: str, logits: Tensor, target: Tensor, mask: Optional[Tensor],
                free_index: int, ignore_index: Optional[int]) -> Tuple[Tensor, Tensor]:
    """Checked ``(M, K)`` logits and ``(M,)`` labels of the valid voxels, for the scene-class
    affinity losses (which also need ``free_index`` to be a class of ``logits``).

    Raises:
        ValueError: as :func:`check_occupancy_inputs`, or ``free_index`` outside ``[0, K)``.
    """
    check_occupancy_inputs(owner, logits, target, mask)
    if not 0 <= free_index < logits.shape[1]:
        raise ValueError(f'{owner}: `free_index`={free_index} is not a class of `logits` with '
                         f'K={logits.shape[1]}')
    return flatten_valid_voxels(owner, logits, target, mask, ignore_index)
