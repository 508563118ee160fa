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
"""
from dataclasses import dataclass, field
from typing import List, Tuple

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


def volume_to_sparse(volume: Tensor) -> SparseConvTensor:
    """Keep the voxels of a dense volume that received lifted mass (``|f|`` summed > 0).

    Args:
        volume: ``(B, C, Z, Y, X)`` floating point volume.

    Returns:
        SparseConvTensor: features ``(N, C)`` (differentiable w.r.t. ``volume``), int32
        indices ``(N, 4)`` ``[b, z, y, x]`` in row-major order, ``spatial_shape (Z, Y, X)``,
        ``batch_size B``. ``N`` may be 0 (see the module docstring).

    Raises:
        ValueError: ``volume`` is not a 5-D floating point tensor with ``B >= 1``.
    """
    if not isinstance(volume, Tensor) or volume.dim() != 5 or not volume.is_floating_point():
        raise ValueError('volume_to_sparse: volume must be a floating point (B, C, Z, Y, X) '
                         f'tensor, got {_describe(volume)}')
    if volume.shape[0] < 1 or volume.shape[1] < 1:
        raise ValueError('volume_to_sparse: volume must have B >= 1 and C >= 1, got '
                         f'{tuple(volume.shape)}')
    active = volume.detach().abs().sum(1) > 0  # (B, Z, Y, X)
    indices = active.nonzero()  # (N, 4) [b, z, y, x], row-major (sorted)
    b, z, y, x = indices.unbind(1)
    features = volume.permute(0, 2, 3, 4, 1)[b, z, y, x]
    return make_sparse_tensor(features, indices.int(), volume.shape[2:], int(volume.shape[0]))


def _describe(value) -> str:
    if isinstance(value, Tensor):
        return f'{tuple(value.shape)} {value.dtype}'
    return type(value).__name__
