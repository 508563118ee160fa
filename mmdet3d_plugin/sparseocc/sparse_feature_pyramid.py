"""SparseOcc's sparse feature pyramid: an FPN over the diffuser's sparse levels.

Lateral SubM 1x1x1 convs bring every level to ``out_channels``; the top-down pass adds the
trilinear interpolation of the coarser merged level at each finer level's *active* voxels
(:func:`sparse_trilinear_upsample`); a SubM 3x3x3 conv follows on every level. Nothing is
densified and the active sets are kept (the official pyramid densifies every level and uses
nearest-parent pooling, see the reference notes; the plan asks for true trilinear sampling).
"""
from typing import List, Optional, Sequence

import torch
from mmengine.model import BaseModule
from spconv.pytorch import SparseConvTensor
from torch import Tensor, nn

from mmdet3d_plugin.registry import MODELS
from .sparse_blocks import DEFAULT_NORM, SparseConvModule
from .sparse_latent import SparseLatent


def sparse_trilinear_upsample(coarse: SparseConvTensor, fine_indices: Tensor,
                              fine_shape: Sequence[int]) -> Tensor:
    """Trilinear interpolation of sparse features at the centres of other voxels.

    Inactive coarse voxels count as zero features, so at every fine site the result equals
    ``F.interpolate(coarse.dense(), size=fine_shape, mode='trilinear', align_corners=False)``
    -- for any scale factor (source coordinate ``(dst + 0.5) * in / out - 0.5`` per axis,
    clamped at 0, the upper neighbour clamped to ``in - 1``). Neighbours are found by binary
    search (``torch.searchsorted``) on the sorted linear keys of the coarse voxels; no dense
    grid is built. Differentiable w.r.t. ``coarse.features``.

    Args:
        coarse: ``N`` voxels, features ``(N, C)``, grid ``(Z_c, Y_c, X_c)``, unique indices.
        fine_indices: ``(M, 4)`` integer ``[b, z, y, x]`` sites on the fine grid.
        fine_shape: ``(Z_f, Y_f, X_f)``.

    Returns:
        Tensor: ``(M, C)`` interpolated features (zeros where no neighbour is active).

    Raises:
        ValueError: naming the argument that has the wrong type, shape or range.
    """
    if not isinstance(coarse, SparseConvTensor):
        raise ValueError('sparse_trilinear_upsample: coarse must be a SparseConvTensor, got '
                         f'{type(coarse).__name__}')
    if not isinstance(fine_indices, Tensor) or fine_indices.dim() != 2 or \
            fine_indices.shape[1] != 4 or fine_indices.is_floating_point():
        shape = tuple(fine_indices.shape) if isinstance(fine_indices, Tensor) else fine_indices
        raise ValueError('sparse_trilinear_upsample: fine_indices must be an integer (M, 4) '
                         f'[b, z, y, x] tensor, got {shape}')
    fine_shape = [int(s) for s in fine_shape]
    if len(fine_shape) != 3 or min(fine_shape) < 1:
        raise ValueError('sparse_trilinear_upsample: fine_shape must be three positive ints '
                         f'(Z, Y, X), got {fine_shape}')
    feats = coarse.features
    num_fine, channels = fine_indices.shape[0], feats.shape[1]
    if num_fine and (fine_indices.amin() < 0 or fine_indices[:, 0].amax() >= coarse.batch_size
                     or (fine_indices[:, 1:].amax(0) >= fine_indices.new_tensor(fine_shape))
                     .any()):
        raise ValueError('sparse_trilinear_upsample: fine_indices out of range: expected batch '
                         f'in [0, {coarse.batch_size}) and (z, y, x) within {fine_shape}')
    if num_fine == 0 or feats.shape[0] == 0:
        return feats.new_zeros((num_fine, channels))

    in_shape = [int(s) for s in coarse.spatial_shape]
    keys, order = torch.sort(_linear_keys(coarse.indices.long(), in_shape))
    fine = fine_indices.to(feats.device).long()
    corners, weights = [], []  # per axis: (lower, upper) indices and weights, each (M, )
    for axis, (size_in, size_out) in enumerate(zip(in_shape, fine_shape)):
        src = ((fine[:, axis + 1].double() + 0.5) * (size_in / size_out) - 0.5).clamp(min=0)
        low = src.floor().long().clamp(max=size_in - 1)
        frac = (src - low.double()).to(feats.dtype)
        corners.append((low, (low + 1).clamp(max=size_in - 1)))
        weights.append((1 - frac, frac))

    out = feats.new_zeros((num_fine, channels))
    batch = fine[:, 0]
    for dz in (0, 1):
        for dy in (0, 1):
            for dx in (0, 1):
                coords = torch.stack([batch, corners[0][dz], corners[1][dy], corners[2][dx]], 1)
                query = _linear_keys(coords, in_shape)
                pos = torch.searchsorted(keys, query).clamp(max=len(keys) - 1)
                weight = weights[0][dz] * weights[1][dy] * weights[2][dx]
                weight = weight * (keys[pos] == query).to(feats.dtype)
                out = out + feats.index_select(0, order[pos]) * weight[:, None]
    return out


def _linear_keys(indices: Tensor, shape: Sequence[int]) -> Tensor:
    """``(N, 4)`` long ``[b, z, y, x]`` -> ``(N, )`` row-major linear index (int64)."""
    z_size, y_size, x_size = shape
    return ((indices[:, 0] * z_size + indices[:, 1]) * y_size + indices[:, 2]) * x_size + \
        indices[:, 3]


@MODELS.register_module()
class SparseFeaturePyramid(BaseModule):
    """Top-down sparse FPN: :class:`SparseLatent` -> :class:`SparseLatent` of one width.

    Args:
        in_channels: ``C_i`` of the input levels, finest first.
        out_channels: ``C`` of every output level.
        norm_cfg: mmcv norm config for ``(N, C)`` features. Defaults to BN1d.
        act_cfg: Activation after the output convs. Defaults to ReLU.
        init_cfg: mmengine init config.

    Shapes:
        levels ``(N_i, C_i)`` on ``(Z_i, Y_i, X_i)`` -> ``(N_i, C)`` on the same voxels;
        ``prune`` is passed through.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int = 192,
                 norm_cfg: Optional[dict] = None, act_cfg: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) < 1 or min(in_channels) < 1 or out_channels < 1:
            raise ValueError(f'SparseFeaturePyramid: in_channels {tuple(in_channels)} must be '
                             f'positive, one per level, and out_channels ({out_channels}) >= 1')
        norm_cfg = DEFAULT_NORM if norm_cfg is None else norm_cfg
        act_cfg = dict(type='ReLU') if act_cfg is None else act_cfg
        self.in_channels = [int(c) for c in in_channels]
        self.out_channels = int(out_channels)
        self.lateral = nn.ModuleList(
            SparseConvModule('SubMConv3d', c, self.out_channels, 1, norm_cfg=norm_cfg,
                             act_cfg=None) for c in self.in_channels)
        self.output = nn.ModuleList(
            SparseConvModule('SubMConv3d', self.out_channels, self.out_channels, 3,
                             indice_key=f'sfp{i}_333', norm_cfg=norm_cfg, act_cfg=act_cfg)
            for i in range(len(self.in_channels)))

    def forward(self, latent: SparseLatent) -> SparseLatent:
        """Run the pyramid.

        Args:
            latent: the diffuser's output, ``len(in_channels)`` levels, finest first.

        Returns:
            SparseLatent: ``out_channels`` features on the input voxels, finest first.
        """
        if not isinstance(latent, SparseLatent):
            raise ValueError('SparseFeaturePyramid: latent must be a SparseLatent, got '
                             f'{type(latent).__name__}')
        if len(latent.levels) != len(self.in_channels):
            raise ValueError(f'SparseFeaturePyramid: latent.levels has {len(latent.levels)} '
                             f'levels, expected {len(self.in_channels)} (in_channels)')
        for i, (level, channels) in enumerate(zip(latent.levels, self.in_channels)):
            shape = tuple(level.features.shape)
            if len(shape) != 2 or shape[1] != channels:
                raise ValueError(f'SparseFeaturePyramid: latent.levels[{i}] features must be '
                                 f'(N, {channels}), got {shape}')
        merged: List[SparseConvTensor] = [lat(x) for lat, x in zip(self.lateral, latent.levels)]
        for i in range(len(merged) - 2, -1, -1):
            fine = merged[i]
            up = sparse_trilinear_upsample(merged[i + 1], fine.indices, fine.spatial_shape)
            merged[i] = fine.replace_feature(fine.features + up)
        outs = [conv(x) for conv, x in zip(self.output, merged)]
        return SparseLatent(levels=outs, prune=list(latent.prune))
