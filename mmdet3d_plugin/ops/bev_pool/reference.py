"""Pure-PyTorch BEV pooling (the LSS "splat"): sum point features into their grid cells.

This is the reference every compiled kernel is tested against, and the fallback used when
the compiled extension is missing. It runs on any device and is differentiable through
autograd (``index_add_`` has a gather as its gradient).
"""
from typing import Sequence

import torch
from torch import Tensor


def linear_cell_index(coords: Tensor, grid_shape: Sequence[int]) -> Tensor:
    """Flatten ``[batch, z, y, x]`` cell coordinates to one index into ``(B, Z, Y, X)``.

    Args:
        coords (Tensor): ``(N, 4)`` integer cell coordinates ``[batch, z, y, x]``.
        grid_shape (Sequence[int]): ``(Z, Y, X)``.

    Returns:
        Tensor: ``(N,)`` int64 index ``((b * Z + z) * Y + y) * X + x``.
    """
    num_z, num_y, num_x = grid_shape
    coords = coords.long()
    return ((coords[:, 0] * num_z + coords[:, 1]) * num_y + coords[:, 2]) * num_x + coords[:, 3]


def bev_pool_reference(feats: Tensor, coords: Tensor, batch_size: int,
                       grid_shape: Sequence[int]) -> Tensor:
    """Sum ``feats`` of points that fall into the same cell (pure PyTorch).

    Args:
        feats (Tensor): ``(N, C)`` point features.
        coords (Tensor): ``(N, 4)`` integer ``[batch, z, y, x]`` of each point's cell, in range.
        batch_size (int): ``B``.
        grid_shape (Sequence[int]): ``(Z, Y, X)``.

    Returns:
        Tensor: ``(B, C, Z, Y, X)`` pooled features; empty cells are zero.
    """
    num_z, num_y, num_x = grid_shape
    channels = feats.shape[1]
    pooled = feats.new_zeros(batch_size * num_z * num_y * num_x, channels)
    pooled = pooled.index_add(0, linear_cell_index(coords, grid_shape), feats)
    return pooled.view(batch_size, num_z, num_y, num_x, channels).permute(0, 4, 1, 2, 3).contiguous()


def bev_pool_scatter_reference(feats: Tensor, coords: Tensor, batch_size: int,
                               grid_shape: Sequence[int]) -> Tensor:
    """Same result as :func:`bev_pool_reference` through ``scatter_add`` (for benchmarks)."""
    num_z, num_y, num_x = grid_shape
    channels = feats.shape[1]
    index = linear_cell_index(coords, grid_shape)[:, None].expand(-1, channels)
    pooled = feats.new_zeros(batch_size * num_z * num_y * num_x, channels)
    pooled = pooled.scatter_add(0, index, feats)
    return pooled.view(batch_size, num_z, num_y, num_x, channels).permute(0, 4, 1, 2, 3).contiguous()


def bev_pool_cumsum_reference(feats: Tensor, coords: Tensor, batch_size: int,
                              grid_shape: Sequence[int]) -> Tensor:
    """Same result through LSS's sort + cumulative-sum trick (for benchmarks)."""
    num_z, num_y, num_x = grid_shape
    channels = feats.shape[1]
    ranks = linear_cell_index(coords, grid_shape)
    ranks, order = ranks.sort()
    summed = feats[order].cumsum(0)
    last = torch.ones_like(ranks, dtype=torch.bool)
    last[:-1] = ranks[1:] != ranks[:-1]
    summed, ranks = summed[last], ranks[last]
    summed = torch.cat((summed[:1], summed[1:] - summed[:-1]))
    pooled = feats.new_zeros(batch_size * num_z * num_y * num_x, channels)
    pooled[ranks] = summed
    return pooled.view(batch_size, num_z, num_y, num_x, channels).permute(0, 4, 1, 2, 3).contiguous()


def bev_pool_depth_reference(depth: Tensor, context: Tensor, pixel_index: Tensor, coords: Tensor,
                             batch_size: int, grid_shape: Sequence[int]) -> Tensor:
    """Depth-weighted LSS splat the way LSS/BEVFusion write it in PyTorch: materialise the
    ``(N, C)`` outer product ``depth[n] * context[pixel_index[n]]``, then pool it.

    Args:
        depth (Tensor): ``(N,)`` weight (depth probability) of each frustum point.
        context (Tensor): ``(P, C)`` image context features, one row per feature pixel.
        pixel_index (Tensor): ``(N,)`` integer row of ``context`` each frustum point lies on.
        coords (Tensor): ``(N, 4)`` integer ``[batch, z, y, x]`` cell of each point, in range.
        batch_size (int): ``B``.
        grid_shape (Sequence[int]): ``(Z, Y, X)``.

    Returns:
        Tensor: ``(B, C, Z, Y, X)``.
    """
    feats = depth[:, None] * context.index_select(0, pixel_index.long())
    return bev_pool_reference(feats, coords, batch_size, grid_shape)
