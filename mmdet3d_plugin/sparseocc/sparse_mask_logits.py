"""Query mask logits on a sparse latent: lookup, trilinear point sampling, pooling, densifying.

A query's logits live at the finest level's active voxels, ``(Q, N)`` in the padded token order
of :class:`VoxelTokens`; every inactive voxel of the latent grid takes the query's learned
empty-token logit ``(Q,)``. All levels and the GT grid cover the same extent, so the centre of
voxel ``i`` of an axis of size ``n`` is at ``(i + 0.5) / n``.
"""
from typing import Tuple

import torch
from torch import Tensor

from .voxel_tokens import VoxelTokens


def _flat_zyx(coords: Tensor, shape: Tuple[int, int, int]) -> Tensor:
    return (coords[..., 0] * shape[1] + coords[..., 1]) * shape[2] + coords[..., 2]


def latent_index_map(tokens: VoxelTokens) -> Tensor:
    """``(B, Z*Y*X)`` token slot per latent voxel, ``N`` (the empty column) if inactive."""
    batch, num = tokens.valid.shape
    cells = tokens.spatial_shape[0] * tokens.spatial_shape[1] * tokens.spatial_shape[2]
    index = torch.full((batch, cells + 1), num, dtype=torch.long, device=tokens.coords.device)
    flat = _flat_zyx(tokens.coords, tokens.spatial_shape).masked_fill(~tokens.valid, cells)
    slots = torch.arange(num, device=flat.device).expand(batch, num)
    index.scatter_(1, flat, slots)
    return index[:, :cells]


def gt_to_latent_coords(gt_xyz: Tensor, grid_shape: Tuple[int, int, int],
                        latent_shape: Tuple[int, int, int],
                        dtype: torch.dtype = torch.float32) -> Tensor:
    """Continuous latent ``[z, y, x]`` index of GT voxel centres.

    Args:
        gt_xyz: ``(..., 3)`` integer ``[x, y, z]`` GT voxel indices.
        grid_shape: GT ``(X, Y, Z)``.
        latent_shape: Latent ``(Z, Y, X)``.
        dtype: Floating point type of the result.

    Returns:
        Tensor: ``(..., 3)`` ``[z, y, x]``: ``(g + 0.5) * n / N - 0.5`` per axis, the source
        coordinate of ``F.interpolate(..., mode='trilinear', align_corners=False)``.
    """
    gt_zyx = gt_xyz.flip(-1).to(dtype)
    full = torch.as_tensor(grid_shape[::-1], device=gt_xyz.device, dtype=dtype)
    size = torch.as_tensor(latent_shape, device=gt_xyz.device, dtype=dtype)
    return (gt_zyx + 0.5) * size / full - 0.5


def sample_mask_logits(logits: Tensor, empty: Tensor, index_map: Tensor,
                       latent_shape: Tuple[int, int, int], points: Tensor) -> Tensor:
    """Trilinear interpolation of one sample's latent logit volume at continuous points.

    Equal to ``F.grid_sample(volume, grid, mode='bilinear', padding_mode='border',
    align_corners=False)`` on the dense volume (:func:`dense_mask_logits`), without building it:
    each of the 8 corners is looked up in ``index_map``. Coordinates are clamped to the grid
    (border padding), as ``F.interpolate`` does.

    Args:
        logits: ``(Q, N)`` logits at the token slots.
        empty: ``(Q,)`` empty-token logit of each query.
        index_map: ``(Z*Y*X,)`` token slot per latent voxel, ``N`` if inactive.
        latent_shape: ``(Z, Y, X)``.
        points: ``(P, 3)`` shared or ``(Q, P, 3)`` per-query ``[z, y, x]`` continuous indices.

    Returns:
        Tensor: ``(Q, P)`` interpolated logits.
    """
    table = torch.cat([logits, empty[:, None]], dim=1)  # (Q, N + 1)
    if points.dim() == 2:
        points = points[None]
    upper = torch.as_tensor([s - 1 for s in latent_shape], device=points.device,
                            dtype=points.dtype)
    points = torch.minimum(points.clamp(min=0), upper)
    low = points.floor().long()
    frac = points - low
    high = torch.minimum(low + 1, upper.long())
    out = 0
    for corner in range(8):
        bits = [(corner >> (2 - axis)) & 1 for axis in range(3)]
        idx = torch.stack([high[..., a] if bits[a] else low[..., a] for a in range(3)], -1)
        weight = torch.ones_like(frac[..., 0])
        for axis in range(3):
            weight = weight * (frac[..., axis] if bits[axis] else 1 - frac[..., axis])
        slot = index_map[_flat_zyx(idx, latent_shape)]  # (1 | Q, P)
        values = table.gather(1, slot.expand(table.shape[0], -1))
        out = out + values * weight
    return out


def dense_mask_logits(logits: Tensor, empty: Tensor, tokens: VoxelTokens) -> Tensor:
    """``(B, Q, Z, Y, X)`` logit volume from ``(B, Q, N)`` token logits and ``(B, Q)`` empty."""
    batch, queries, _ = logits.shape
    shape = tokens.spatial_shape
    cells = shape[0] * shape[1] * shape[2]
    volume = empty[..., None].expand(batch, queries, cells + 1).clone()
    flat = _flat_zyx(tokens.coords, shape).masked_fill(~tokens.valid, cells)
    volume.scatter_(2, flat[:, None].expand(-1, queries, -1), logits)
    return volume[..., :cells].reshape(batch, queries, *shape)


def pool_mask_logits(logits: Tensor, empty: Tensor, fine: VoxelTokens,
                     coarse: VoxelTokens) -> Tensor:
    """Max of the latent logit volume over each coarse token's cell.

    The coarse voxel ``j`` of an axis covers the fine voxels ``i`` with
    ``floor(i * n_coarse / n_fine) == j`` — the windows of ``F.adaptive_max_pool3d`` when the
    sizes divide. A cell holding any inactive fine voxel includes the empty-token logit.

    Args:
        logits: ``(B, Q, N)`` logits at the fine tokens.
        empty: ``(B, Q)`` empty-token logits.
        fine / coarse: tokens of the mask level and of the attended level.

    Returns:
        Tensor: ``(B, Q, N_coarse)`` pooled logits (arbitrary at coarse padding).
    """
    fshape, cshape = fine.spatial_shape, coarse.spatial_shape
    if any(c > f for c, f in zip(cshape, fshape)):
        raise ValueError(f'pool_mask_logits: the attended level {cshape} is finer than the mask '
                         f'level {fshape} (Z, Y, X)')
    device = logits.device
    batch, queries, _ = logits.shape
    cells = cshape[0] * cshape[1] * cshape[2]
    scale = torch.as_tensor(cshape, device=device)
    parent = fine.coords * scale // torch.as_tensor(fshape, device=device)
    cell = _flat_zyx(parent, cshape).masked_fill(~fine.valid, cells)
    pooled = logits.new_full((batch, queries, cells + 1), float('-inf'))
    pooled.scatter_reduce_(2, cell[:, None].expand(-1, queries, -1), logits, 'amax')
    count = torch.zeros(batch, cells + 1, device=device).scatter_add_(
        1, cell, fine.valid.float())
    sizes = [torch.bincount(torch.arange(f, device=device) * c // f, minlength=c).float()
             for f, c in zip(fshape, cshape)]
    cell_size = (sizes[0][:, None, None] * sizes[1][None, :, None] *
                 sizes[2][None, None, :]).reshape(-1)
    partial = count[:, :cells] < cell_size  # (B, cells): some fine voxel is inactive
    pooled = pooled[..., :cells]
    pooled = torch.where(partial[:, None], torch.maximum(pooled, empty[..., None]), pooled)
    target = _flat_zyx(coarse.coords, cshape)
    return pooled.gather(2, target[:, None].expand(-1, queries, -1))
