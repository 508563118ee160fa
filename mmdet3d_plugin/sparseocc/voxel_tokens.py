"""The active voxels of a sparse level as per-sample padded token sequences."""
from dataclasses import dataclass
from typing import Tuple

import torch
from torch import Tensor


@dataclass
class VoxelTokens:
    """Active voxels of one level, sample by sample, padded to the batch's largest count.

    Attributes:
        feats: ``(B, N, C)`` voxel features, zero at padding.
        coords: ``(B, N, 3)`` int64 ``[z, y, x]`` indices, zero at padding.
        valid: ``(B, N)`` bool, False at padding.
        spatial_shape: ``(Z, Y, X)`` of the level.

    ``N >= 1`` always (one padding token when the whole batch has no active voxel), so
    attention never runs over an empty key set.
    """
    feats: Tensor
    coords: Tensor
    valid: Tensor
    spatial_shape: Tuple[int, int, int]

    @property
    def has_tokens(self) -> Tensor:
        """``(B,)`` bool: the sample has at least one active voxel."""
        return self.valid.any(dim=1)


def pad_sparse_level(level, batch_size: int) -> VoxelTokens:
    """Group a ``SparseConvTensor``'s rows by sample, in row order, padded to ``(B, N)``.

    Args:
        level: spconv ``SparseConvTensor`` with ``features (M, C)``, ``indices (M, 4)``
            ``[batch, z, y, x]`` and ``spatial_shape (Z, Y, X)``.
        batch_size: ``B``; rows of samples with no voxel give all-padding rows.

    Returns:
        VoxelTokens: the padded tokens.
    """
    feats, indices = level.features, level.indices.long()
    if indices.shape[0] and int(indices[:, 0].max()) >= batch_size:
        raise ValueError(f'pad_sparse_level: indices[:, 0] (batch) reaches '
                         f'{int(indices[:, 0].max())}, expected < batch size {batch_size}')
    batch = indices[:, 0]
    counts = torch.bincount(batch, minlength=batch_size)
    num = max(int(counts.max()) if counts.numel() else 0, 1)
    order = torch.argsort(batch, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(len(order), device=feats.device) - starts[batch[order]]
    b_sorted = batch[order]
    out_feats = feats.new_zeros(batch_size, num, feats.shape[1])
    out_feats[b_sorted, slot] = feats[order]
    coords = indices.new_zeros(batch_size, num, 3)
    coords[b_sorted, slot] = indices[order, 1:]
    valid = torch.zeros(batch_size, num, dtype=torch.bool, device=feats.device)
    valid[b_sorted, slot] = True
    shape = tuple(int(s) for s in level.spatial_shape)
    return VoxelTokens(out_feats, coords, valid, shape)
