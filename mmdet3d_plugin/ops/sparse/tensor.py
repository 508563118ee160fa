"""Validated construction of ``spconv.pytorch.SparseConvTensor``."""
from typing import Sequence

import torch
from spconv.pytorch import SparseConvTensor
from torch import Tensor

_AXES = ('batch', 'z', 'y', 'x')


def make_sparse_tensor(features: Tensor, indices: Tensor, spatial_shape: Sequence[int],
                       batch_size: int) -> SparseConvTensor:
    """Build a ``SparseConvTensor`` after checking every argument.

    Args:
        features (Tensor): ``(N, C)`` floating point voxel features.
        indices (Tensor): ``(N, 4)`` integer ``[batch, z, y, x]`` voxel coordinates (converted
            to int32, which spconv requires).
        spatial_shape (Sequence[int]): ``(Z, Y, X)`` grid size.
        batch_size (int): ``B``; every ``indices[:, 0]`` must be in ``[0, B)``.

    Returns:
        SparseConvTensor: The validated sparse tensor.

    Raises:
        TypeError / ValueError: naming the argument and what was expected.
    """
    if not isinstance(features, Tensor) or not features.is_floating_point():
        raise TypeError('make_sparse_tensor: features must be a floating point tensor (N, C), '
                        f'got {getattr(features, "dtype", type(features).__name__)}')
    if features.dim() != 2:
        raise ValueError(f'make_sparse_tensor: features must have shape (N, C), '
                         f'got {tuple(features.shape)}')
    if not isinstance(indices, Tensor) or indices.dtype not in (torch.int32, torch.int64):
        raise TypeError('make_sparse_tensor: indices must be an int32/int64 tensor (N, 4), '
                        f'got {getattr(indices, "dtype", type(indices).__name__)}')
    if indices.dim() != 2 or indices.shape[1] != 4:
        raise ValueError('make_sparse_tensor: indices must have shape (N, 4) [batch, z, y, x], '
                         f'got {tuple(indices.shape)}')
    if indices.shape[0] != features.shape[0]:
        raise ValueError(f'make_sparse_tensor: indices has {indices.shape[0]} rows but features '
                         f'has {features.shape[0]}; expected one row per voxel')
    if indices.device != features.device:
        raise ValueError(f'make_sparse_tensor: indices on {indices.device}, features on '
                         f'{features.device}; expected the same device')
    spatial_shape = [int(s) for s in spatial_shape]
    if len(spatial_shape) != 3 or min(spatial_shape) < 1:
        raise ValueError('make_sparse_tensor: spatial_shape must be three positive ints '
                         f'(Z, Y, X), got {spatial_shape}')
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f'make_sparse_tensor: batch_size must be a positive int, got {batch_size!r}')
    if indices.shape[0]:
        limits = [batch_size] + spatial_shape
        for col, (axis, low, high, limit) in enumerate(
                zip(_AXES, indices.amin(0).tolist(), indices.amax(0).tolist(), limits)):
            if low < 0 or high >= limit:
                raise ValueError(f'make_sparse_tensor: indices[:, {col}] ({axis}) spans '
                                 f'[{low}, {high}], expected [0, {limit - 1}]')
    return SparseConvTensor(features, indices.int().contiguous(), spatial_shape, batch_size)


def check_sparse_tensor(x, in_channels: int, layer: str) -> None:
    """Check that ``x`` is a ``SparseConvTensor`` with ``in_channels`` features per voxel."""
    if not isinstance(x, SparseConvTensor):
        raise TypeError(f'{layer}: input must be a spconv SparseConvTensor '
                        f'(see make_sparse_tensor), got {type(x).__name__}')
    feats = x.features
    if feats.dim() != 2 or feats.shape[1] != in_channels:
        raise ValueError(f'{layer}: input features must have shape (N, {in_channels}), '
                         f'got {tuple(feats.shape)}')
    if not feats.is_floating_point():
        raise TypeError(f'{layer}: input features must be floating point, got {feats.dtype}')
