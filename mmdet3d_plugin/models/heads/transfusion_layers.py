"""Building blocks of the TransFusion head: learned coordinate encodings and proposal picking."""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn


class PositionEmbeddingLearned(BaseModule):
    """MLP from continuous BEV coordinates to an embedding (TransFusion's encoding).

    mmdet's ``LearnedPositionalEncoding`` is an embedding table over integer grid indices; the
    queries here sit at continuous, per-layer refined centres, so the encoding is a 1x1-conv
    MLP of the coordinates (``Conv1d - BN - ReLU - Conv1d``).

    Args:
        in_channels: Coordinate dimension (2 for BEV ``(x, y)`` in feature cells).
        embed_dims: Output dimension.
    """

    def __init__(self, in_channels: int, embed_dims: int, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.mlp = nn.Sequential(
            ConvModule(in_channels, embed_dims, 1, conv_cfg=dict(type='Conv1d'),
                       norm_cfg=dict(type='BN1d')),
            nn.Conv1d(embed_dims, embed_dims, 1))

    def forward(self, coords: Tensor) -> Tensor:
        """``(B, N, in_channels)`` coordinates -> ``(B, N, embed_dims)`` embeddings."""
        return self.mlp(coords.transpose(1, 2)).transpose(1, 2)


def bev_cell_centers(height: int, width: int, batch: int, device: torch.device) -> Tensor:
    """Centres ``(x + 0.5, y + 0.5)`` of every BEV cell in feature-cell units.

    Returns:
        Tensor: ``(B, H * W, 2)``, row-major like ``feature.flatten(2)`` of a ``(B, C, H, W)``
        map whose rows are ``y`` and columns ``x`` (mmdet3d's BEV layout).
    """
    ys, xs = torch.meshgrid(torch.arange(height, device=device, dtype=torch.float32),
                            torch.arange(width, device=device, dtype=torch.float32),
                            indexing='ij')
    centers = torch.stack([xs, ys], dim=-1).reshape(1, height * width, 2) + 0.5
    return centers.expand(batch, -1, -1)


def select_proposals(heatmap: Tensor, num_proposals: int, kernel_size: int = 3,
                     skip_nms_classes: Sequence[int] = ()) -> Tuple[Tensor, Tensor]:
    """Top-N local maxima of a class heatmap (TransFusion's query initialisation).

    A cell is a candidate for class ``c`` when its probability is the maximum of its
    ``kernel_size`` neighbourhood (borders included, unlike the original which drops them);
    classes in ``skip_nms_classes`` (small objects, e.g. pedestrians and cones) keep every cell.

    Args:
        heatmap: ``(B, C, H, W)`` class probabilities.
        num_proposals: ``N``, number of queries.
        kernel_size: Odd neighbourhood size of the local-max test.
        skip_nms_classes: Class indices without the local-max test.

    Returns:
        tuple: ``labels`` ``(B, N)`` (class of each proposal) and ``index`` ``(B, N)`` (its
        cell in the flattened ``H * W`` map), ordered by decreasing probability.
    """
    batch, classes, height, width = heatmap.shape
    if num_proposals > classes * height * width:
        raise ValueError(f'TransFusionHead: num_proposals={num_proposals} exceeds the '
                         f'{classes} x {height} x {width} heatmap cells')
    local_max = F.max_pool2d(heatmap, kernel_size, stride=1, padding=kernel_size // 2)
    for cls in skip_nms_classes:
        local_max[:, cls] = heatmap[:, cls]
    peaks = heatmap * (heatmap == local_max)
    top = peaks.reshape(batch, -1).topk(num_proposals, dim=1).indices
    return top // (height * width), top % (height * width)
