"""The SparseOcc detector: the shared camera occupancy model with a sparse latent."""
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdet3d_plugin.models.detectors import CameraOccupancyDetector
from mmdet3d_plugin.registry import MODELS
from .sparse_latent import SparseLatent


def block_occupancy(gt_occ: Tensor, free_label: int, ignore_index: int,
                    shape_zyx: Sequence[int]) -> Tensor:
    """Whether any GT voxel of each latent cell is occupied.

    Args:
        gt_occ: ``(B, X, Y, Z)`` integer labels.
        free_label: The free label; ``ignore_index`` voxels count as free too.
        shape_zyx: ``(Z', Y', X')`` of the latent grid (the GT grid's extent, coarser;
            adaptive max pooling where the ratio is not whole, e.g. a stride-2 grid of ceil(n/2)).

    Returns:
        Tensor: ``(B, Z', Y', X')`` bool.
    """
    occupied = ((gt_occ != free_label) & (gt_occ != ignore_index)).permute(0, 3, 2, 1)
    pooled = F.adaptive_max_pool3d(occupied[:, None].float(), tuple(int(s) for s in shape_zyx))
    return pooled[:, 0] > 0


@MODELS.register_module()
class SparseOcc(CameraOccupancyDetector):
    """SparseOcc (Tang et al., CVPR 2024): LSS lift -> sparse latent -> Sparse Latent Diffuser ->
    sparse feature pyramid -> sparse Mask2Former head.

    Takes :class:`CameraOccupancyDetector`'s arguments (``occ_encoder`` a
    :class:`SparseLatentDiffuser`, ``occ_neck`` a :class:`SparseFeaturePyramid`, ``occ_head``
    a :class:`SparseMask2FormerOccHead`) and:

    Args:
        free_label: GT label of free voxels (Occ3D 17, nuScenes-Occupancy 0), for the prune
            targets.
        prune_loss_weight: Weight of ``loss_prune``, the binary cross-entropy of the
            diffuser's pruning logits against the GT occupancy of their latent cells (a cell is
            occupied when any GT voxel in it is neither free nor ignored); only when the
            diffuser prunes.

    The lifted volume's channels must be those the diffuser expects (checked at build):
    ``view_transform.append_mass=True`` goes with ``occ_encoder.mass_channel=True``.
    """

    def __init__(self, *args, free_label: int = 17, prune_loss_weight: float = 1.0,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        lifted = getattr(self.view_transform, 'volume_channels', None)
        expected = getattr(self.occ_encoder, 'volume_channels', None)
        if lifted is not None and expected is not None and lifted != expected:
            raise ValueError(
                f'SparseOcc: the view transform lifts {lifted} channels (out_channels '
                f"{self.view_transform.out_channels}, append_mass "
                f"{getattr(self.view_transform, 'append_mass', False)}) but occ_encoder expects "
                f'{expected} (in_channels {self.occ_encoder.in_channels}, mass_channel '
                f"{getattr(self.occ_encoder, 'mass_channel', False)}); set "
                'view_transform.append_mass and occ_encoder.mass_channel together')
        self.free_label = int(free_label)
        self.prune_loss_weight = float(prune_loss_weight)

    def latent_losses(self, feats: SparseLatent, data_samples: Sequence) -> Dict[str, Tensor]:
        """``loss_prune`` over every pruning stage's scored voxels (none without pruning)."""
        if not isinstance(feats, SparseLatent) or not feats.prune:
            return {}
        gt = torch.stack([torch.as_tensor(s.gt_occ) for s in data_samples]).long()
        ignore = int(getattr(self.occ_head, 'ignore_index', 255))
        total: Optional[Tensor] = None
        for logits in feats.prune:
            scores = logits.features[:, 0]
            if scores.numel() == 0:
                term = scores.sum()
            else:
                occupied = block_occupancy(gt.to(scores.device), self.free_label, ignore,
                                           logits.spatial_shape)
                index = logits.indices.long()
                target = occupied[index[:, 0], index[:, 1], index[:, 2], index[:, 3]]
                term = F.binary_cross_entropy_with_logits(scores, target.to(scores.dtype))
            total = term if total is None else total + term
        return {'loss_prune': self.prune_loss_weight * total / len(feats.prune)}
