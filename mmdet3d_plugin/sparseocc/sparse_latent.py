"""The sparse latent that SparseOcc's encoder, neck and head pass along, and its entry point.

``volume_to_sparse`` turns the dense lifted volume into a spconv tensor of the voxels that
received lifted mass, as the official ``extract_nonzero_features`` (but for any batch size).

Empty inputs. A sample without any active voxel simply has no rows. When *no* sample of the
batch has one the result has zero rows: spconv 2.3.6 builds such a tensor, its SubM convs and
``dense()`` accept it, but its regular (``SparseConv3d``) convs assert ("tensor must not
empty"). The SparseOcc blocks (:mod:`.sparse_blocks`) therefore never hand spconv an empty
tensor: an empty input gives an empty output of the right shape, still connected to the conv's
weights (zero gradients), so a batch without lifted mass trains and predicts without error.
There is no "seed voxel" fallback: the latent stays exactly the set of voxels with mass.

Sparsification by lifted mass (opt-in). The cameras put some mass in a large share of the grid
(44 % of the paper's 128 x 128 x 10 latent). :func:`mass_active_mask` keeps only the voxels
whose lifted depth mass (``LSSVoxelTransform(append_mass=True)``'s last channel) is at least
``min_mass`` and / or among the top ``keep_ratio`` of each sample's voxels with mass;
``volume_to_sparse(volume, active)`` then builds the latent from that set.
"""
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import torch
from spconv.pytorch import SparseConvTensor
from torch import Tensor

from mmdet3d_plugin.ops.sparse import make_sparse_tensor


@dataclass
class SparseLatent:
    """Multi-scale sparse voxel features.

    Attributes:
        levels: One ``SparseConvTensor`` per scale, finest first; features ``(N_i, C_i)``,
            indices ``(N_i, 4)`` ``[batch, z, y, x]``, ``spatial_shape`` ``(Z_i, Y_i, X_i)``.
        prune: Occupancy logits of the voxels each pruning stage scored (features ``(N, 1)``,
            before pruning, on the grid of that stage), for the prune loss; empty when
            pruning is off.
    """

    levels: List[SparseConvTensor]
    prune: List[SparseConvTensor] = field(default_factory=list)

    @property
    def spatial_shapes(self) -> List[Tuple[int, int, int]]:
        """``(Z_i, Y_i, X_i)`` of every level, finest first."""
        return [tuple(int(s) for s in level.spatial_shape) for level in self.levels]

    @property
    def num_voxels(self) -> List[int]:
        """Active voxels of every level (all samples), finest first."""
        return [int(level.features.shape[0]) for level in self.levels]


def volume_to_sparse(volume: Tensor, active: Optional[Tensor] = None) -> SparseConvTensor:
    """Keep the voxels of a dense volume that received lifted mass (``|f|`` summed > 0).

    Args:
        volume: ``(B, C, Z, Y, X)`` floating point volume.
        active: Optional ``(B, Z, Y, X)`` bool mask of the voxels to keep instead (e.g.
            :func:`mass_active_mask`); None (default): the voxels with ``|f|`` summed > 0.

    Returns:
        SparseConvTensor: features ``(N, C)`` (differentiable w.r.t. ``volume``), int32
        indices ``(N, 4)`` ``[b, z, y, x]`` in row-major order, ``spatial_shape (Z, Y, X)``,
        ``batch_size B``. ``N`` may be 0 (see the module docstring).

    Raises:
        ValueError: ``volume`` is not a 5-D floating point tensor with ``B >= 1``, or
            ``active`` is not a bool tensor of its ``(B, Z, Y, X)``.
    """
    if not isinstance(volume, Tensor) or volume.dim() != 5 or not volume.is_floating_point():
        raise ValueError('volume_to_sparse: volume must be a floating point (B, C, Z, Y, X) '
                         f'tensor, got {_describe(volume)}')
    if volume.shape[0] < 1 or volume.shape[1] < 1:
        raise ValueError('volume_to_sparse: volume must have B >= 1 and C >= 1, got '
                         f'{tuple(volume.shape)}')
    if active is None:
        active = volume.detach().abs().sum(1) > 0  # (B, Z, Y, X)
    elif not isinstance(active, Tensor) or active.dtype != torch.bool or \
            tuple(active.shape) != tuple(volume.shape[:1] + volume.shape[2:]):
        raise ValueError('volume_to_sparse: active must be a bool (B, Z, Y, X) = '
                         f'{tuple(volume.shape[:1] + volume.shape[2:])} mask, got '
                         f'{_describe(active)}')
    indices = active.nonzero()  # (N, 4) [b, z, y, x], row-major (sorted)
    b, z, y, x = indices.unbind(1)
    features = volume.permute(0, 2, 3, 4, 1)[b, z, y, x]
    return make_sparse_tensor(features, indices.int(), volume.shape[2:], int(volume.shape[0]))


def mass_active_mask(mass: Tensor, keep_ratio: Optional[float] = None,
                     min_mass: Optional[float] = None) -> Tensor:
    """The voxels to keep by lifted mass: ``mass >= min_mass`` and the top ``keep_ratio``.

    A voxel is kept when its mass is > 0, and ``>= min_mass`` if that is given, and, if
    ``keep_ratio`` is given, it is among the ``max(1, ceil(keep_ratio * n_b))`` largest masses
    of its sample, ``n_b`` being that sample's voxels with mass > 0 (ties broken by the lower
    row-major ``(z, y, x)`` index). Both None: every voxel with mass > 0.

    Args:
        mass: ``(B, Z, Y, X)`` lifted depth mass (>= 0); not differentiated.
        keep_ratio: Share in ``(0, 1]`` of each sample's voxels with mass to keep, or None.
        min_mass: Mass threshold > 0, or None.

    Returns:
        Tensor: ``(B, Z, Y, X)`` bool.

    Raises:
        ValueError: ``mass`` is not a 4-D floating point tensor, ``keep_ratio`` is not in
            ``(0, 1]`` or ``min_mass`` is not > 0.
    """
    if not isinstance(mass, Tensor) or mass.dim() != 4 or not mass.is_floating_point():
        raise ValueError('mass_active_mask: mass must be a floating point (B, Z, Y, X) tensor, '
                         f'got {_describe(mass)}')
    if keep_ratio is not None and not 0.0 < keep_ratio <= 1.0:
        raise ValueError(f'mass_active_mask: keep_ratio must be in (0, 1], got {keep_ratio}')
    if min_mass is not None and not min_mass > 0.0:
        raise ValueError(f'mass_active_mask: min_mass must be > 0, got {min_mass}')
    with torch.no_grad():
        mass = mass.detach()
        active = mass > 0
        if min_mass is not None:
            active &= mass >= min_mass
        if keep_ratio is not None and active.any():
            flat = mass.reshape(mass.shape[0], -1)
            counts = (flat > 0).sum(1)
            quota = torch.ceil(counts.double() * keep_ratio - 1e-6).long().clamp(min=1)
            order = torch.argsort(flat, dim=1, descending=True, stable=True)
            rank = torch.empty_like(order)
            rank.scatter_(1, order, torch.arange(flat.shape[1], device=flat.device)
                          .expand_as(order).contiguous())
            active &= (rank < quota[:, None]).reshape(mass.shape)
    return active


def _describe(value) -> str:
    if isinstance(value, Tensor):
        return f'{tuple(value.shape)} {value.dtype}'
    return type(value).__name__
