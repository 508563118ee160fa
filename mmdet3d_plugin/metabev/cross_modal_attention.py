"""Deformable attention over several BEV maps whose presence varies per sample."""
import math
from typing import List

import torch
from mmcv.ops.multi_scale_deform_attn import (MultiScaleDeformableAttnFunction,
                                              multi_scale_deformable_attn_pytorch)
from torch import Tensor, nn


def deformable_sample(value: Tensor, spatial_shapes: Tensor, locations: Tensor,
                      weights: Tensor) -> Tensor:
    """mmcv's multi-scale deformable attention: CUDA kernel on GPU, pure PyTorch on CPU.

    Args:
        value: ``(B, K, heads, C / heads)`` keys of all maps, concatenated.
        spatial_shapes: ``(M, 2)`` int64 ``(H_m, W_m)`` of each map.
        locations: ``(B, L, heads, M, P, 2)`` normalised ``(x, y)`` in [0, 1].
        weights: ``(B, L, heads, M, P)``.

    Returns:
        Tensor: ``(B, L, C)``.
    """
    if value.is_cuda:
        sizes = spatial_shapes.prod(1)
        start = torch.cat([sizes.new_zeros(1), sizes.cumsum(0)[:-1]])
        return MultiScaleDeformableAttnFunction.apply(value, spatial_shapes, start, locations,
                                                      weights, 64)
    return multi_scale_deformable_attn_pytorch(value, spatial_shapes, locations, weights)


class CrossModalDeformableAttention(nn.Module):
    """Each query samples ``P`` points per head in each of ``M`` BEV maps (modalities) and mixes
    them with one softmax over the maps a sample *has*; absent maps get zero weight, so a query
    aggregates camera, LiDAR or both features. With ``M = 1`` and the query map as value this is
    deformable self-attention.

    Args:
        embed_dims: ``C``.
        num_heads: Attention heads (``C`` divisible by it).
        num_maps: ``M``.
        num_points: ``P`` sampling points per head and map.
        dropout: Dropout on the output.
    """

    def __init__(self, embed_dims: int, num_heads: int, num_maps: int, num_points: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims={embed_dims} must be divisible by num_heads={num_heads}')
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.num_maps, self.num_points = num_maps, num_points
        self.sampling_offsets = nn.Linear(embed_dims, num_heads * num_maps * num_points * 2)
        self.attention_weights = nn.Linear(embed_dims, num_heads * num_maps * num_points)
        self.value_proj = nn.Linear(embed_dims, embed_dims)
        self.output_proj = nn.Linear(embed_dims, embed_dims)
        self.dropout = nn.Dropout(dropout)
        self.init_weights()

    def init_weights(self) -> None:
        """Offsets start on a ring of radius 1..P cells per head direction (Deformable DETR)."""
        nn.init.zeros_(self.sampling_offsets.weight)
        angles = torch.arange(self.num_heads, dtype=torch.float32) * (2 * math.pi / self.num_heads)
        grid = torch.stack([angles.cos(), angles.sin()], -1)
        grid = grid / grid.abs().max(-1, keepdim=True)[0]
        grid = grid.view(self.num_heads, 1, 1, 2).repeat(1, self.num_maps, self.num_points, 1)
        grid = grid * torch.arange(1, self.num_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.reshape(-1))
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.zeros_(self.value_proj.bias)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)

    def forward(self, query: Tensor, reference: Tensor, maps: List[Tensor],
                present: Tensor) -> Tensor:
        """Attend from ``query`` into ``maps``.

        Args:
            query: ``(B, L, C)`` queries (positional embedding already added).
            reference: ``(L, 2)`` normalised ``(x, y)`` of each query in [0, 1].
            maps: ``M`` value maps ``(B, C, H_m, W_m)`` covering the same metric area.
            present: ``(B, M)`` bool, which maps each sample has.

        Returns:
            Tensor: ``(B, L, C)``; zeros for a sample that has none of the maps.
        """
        batch, length, channels = query.shape
        if len(maps) != self.num_maps or tuple(present.shape) != (batch, self.num_maps):
            raise ValueError(f'CrossModalDeformableAttention: expected {self.num_maps} maps and '
                             f'present ({batch}, {self.num_maps}), got {len(maps)} maps and '
                             f'{tuple(present.shape)}')
        shapes = torch.tensor([m.shape[-2:] for m in maps], dtype=torch.long,
                              device=query.device)
        value = torch.cat([m.flatten(2).transpose(1, 2) for m in maps], dim=1)  # (B, K, C)
        value = self.value_proj(value).view(batch, -1, self.num_heads,
                                            channels // self.num_heads)
        heads, count, points = self.num_heads, self.num_maps, self.num_points
        offsets = self.sampling_offsets(query).view(batch, length, heads, count, points, 2)
        normaliser = shapes.flip(-1).to(query.dtype)  # (M, 2) as (W, H)
        locations = reference.view(1, length, 1, 1, 1, 2) + \
            offsets / normaliser.view(1, 1, 1, count, 1, 2)
        logits = self.attention_weights(query).view(batch, length, heads, count, points)
        absent = ~present.view(batch, 1, 1, count, 1)
        logits = logits.masked_fill(absent, torch.finfo(logits.dtype).min)
        weights = logits.flatten(3).softmax(-1).view(batch, length, heads, count, points)
        weights = weights * present.any(dim=1).view(batch, 1, 1, 1, 1).to(weights.dtype)
        out = deformable_sample(value, shapes, locations, weights.to(value.dtype))
        return self.dropout(self.output_proj(out))
