"""Sine positional encoding of voxel centres in a 3D grid (DETR's encoding, one block per axis)."""
import math
from typing import Sequence

import torch
from torch import Tensor


def voxel_centres(coords: Tensor, spatial_shape: Sequence[int]) -> Tensor:
    """Normalised voxel centres.

    Every level of a latent covers the same extent, so a voxel ``i`` of an axis of size ``n`` has
    its centre at ``(i + 0.5) / n`` whatever the level's resolution.

    Args:
        coords: ``(..., 3)`` integer ``[z, y, x]`` voxel indices.
        spatial_shape: ``(Z, Y, X)`` of the grid the indices live in.

    Returns:
        Tensor: ``(..., 3)`` float32 ``[z, y, x]`` centres in ``(0, 1)``.
    """
    size = torch.as_tensor([float(s) for s in spatial_shape], device=coords.device)
    return (coords.float() + 0.5) / size


def sine_position_encoding_3d(centres: Tensor, num_channels: int,
                              temperature: float = 10000.0) -> Tensor:
    """DETR sine encoding of normalised ``[z, y, x]`` positions, concatenated as ``(x, y, z)``.

    Each axis gets ``2 * (num_channels // 6)`` channels (interleaved sin / cos of
    ``2 pi * c / temperature ** (2 (j // 2) / F)``, as mmdet's ``SinePositionalEncoding`` with
    ``normalize=True``); channels left over when ``num_channels`` is not a multiple of 6 are
    zero. ``num_channels = 192`` gives SparseOcc's 64 per axis.

    Args:
        centres: ``(..., 3)`` ``[z, y, x]`` positions in ``[0, 1]`` (see :func:`voxel_centres`).
        num_channels: Output width ``C`` (at least 6).
        temperature: Frequency base.

    Returns:
        Tensor: ``(..., C)`` encoding.
    """
    if num_channels < 6:
        raise ValueError(f'sine_position_encoding_3d: num_channels must be >= 6 (2 per axis), '
                         f'got {num_channels}')
    if centres.shape[-1] != 3:
        raise ValueError(f'sine_position_encoding_3d: centres must be (..., 3) [z, y, x], got '
                         f'{tuple(centres.shape)}')
    feats = 2 * (num_channels // 6)
    dim_t = torch.arange(feats, dtype=torch.float32, device=centres.device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode='floor') / feats)
    blocks = []
    for axis in (2, 1, 0):  # x, y, z
        pos = centres[..., axis:axis + 1].float() * (2 * math.pi) / dim_t
        blocks.append(torch.stack((pos[..., 0::2].sin(), pos[..., 1::2].cos()),
                                  dim=-1).flatten(-2))
    out = torch.cat(blocks, dim=-1)
    if out.shape[-1] < num_channels:
        out = torch.cat([out, out.new_zeros(*out.shape[:-1], num_channels - out.shape[-1])], -1)
    return out
