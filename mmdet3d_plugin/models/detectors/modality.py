"""Which sensor modalities each sample of a batch has: metainfo flags and training-time drop.

A missing modality is an input state, not an error. The data pipeline records it in the
metainfo (``camera_missing`` / ``lidar_missing`` from the corruption transforms); an empty point
cloud or a batch without images means the same. During training a detector may also drop
modalities at random (MetaBEV's switched-modality training).
"""
from typing import Optional, Sequence

import torch
from torch import Tensor

#: Modality order of every ``present`` mask.
MODALITIES = ('camera', 'lidar')


def flagged_present(data_samples: Sequence, device: torch.device) -> Tensor:
    """``(B, 2)`` bool: camera / LiDAR not flagged missing in each sample's metainfo."""
    rows = []
    for sample in data_samples:
        meta = sample.metainfo
        rows.append([not bool(meta.get('camera_missing', False)),
                     not bool(meta.get('lidar_missing', False))])
    return torch.tensor(rows, dtype=torch.bool, device=device).reshape(-1, len(MODALITIES))


def draw_modality_drop(present: Tensor, drop_prob: Sequence[float],
                       generator: Optional[torch.Generator] = None) -> Tensor:
    """Drop modalities at random, never leaving a sample with none of those it had.

    Args:
        present: ``(B, M)`` bool.
        drop_prob: Probability of dropping each modality, length M. Draws are exclusive: a
            sample loses at most one modality (camera with p_0, else LiDAR with p_1, ...).
        generator: Optional RNG.

    Returns:
        Tensor: ``(B, M)`` bool, ``present`` with the drawn modalities removed.
    """
    probs = torch.tensor([float(p) for p in drop_prob])
    if probs.numel() != present.shape[1] or (probs < 0).any() or probs.sum() > 1:
        raise ValueError(f'modality drop probabilities {list(drop_prob)} must be one per '
                         f'modality {MODALITIES[:present.shape[1]]}, >= 0, summing to <= 1')
    draws = torch.rand(present.shape[0], generator=generator)
    edges = torch.cumsum(probs, 0)
    choice = torch.searchsorted(edges, draws, right=True)  # M means "drop nothing"
    dropped = torch.zeros_like(present)
    rows = (choice < present.shape[1]).nonzero(as_tuple=True)[0]
    dropped[rows.to(present.device), choice[rows].to(present.device)] = True
    result = present & ~dropped
    # a sample whose only modality was drawn keeps it
    keep = ~result.any(dim=1) & present.any(dim=1)
    result[keep] = present[keep]
    return result
