"""Resample a BEV feature map onto another metric BEV grid (BEVFusion's ``BEVGridTransform``)."""
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdet3d_plugin.structures.grid_bounds import bound_cells, check_bound


class BEVGridTransform(nn.Module):
    """Bilinearly sample an input BEV map at the cell centres of an output grid.

    The input follows mmdet3d's BEV layout, ``(B, C, Y_in, X_in)`` (row = y, column = x) over
    ``input_xbound`` / ``input_ybound``; the output follows the map-segmentation GT layout of
    ``LoadBEVMapGT``, ``(B, C, X_out, Y_out)`` (first spatial index = x). Cells outside the
    input range read zeros.

    Args:
        input_xbound, input_ybound: ``(min, max, step)`` of the input map.
        output_xbound, output_ybound: ``(min, max, step)`` of the output grid, e.g.
            ``(-50, 50, 0.5)``.
    """

    def __init__(self, input_xbound: Sequence[float], input_ybound: Sequence[float],
                 output_xbound: Sequence[float], output_ybound: Sequence[float]) -> None:
        super().__init__()
        in_x = check_bound(input_xbound, 'input_xbound')
        in_y = check_bound(input_ybound, 'input_ybound')
        out_x = check_bound(output_xbound, 'output_xbound')
        out_y = check_bound(output_ybound, 'output_ybound')
        self.input_shape = (bound_cells(in_y), bound_cells(in_x))
        self.output_shape = (bound_cells(out_x), bound_cells(out_y))
        xs = out_x[0] + (torch.arange(self.output_shape[0]) + 0.5) * out_x[2]
        ys = out_y[0] + (torch.arange(self.output_shape[1]) + 0.5) * out_y[2]
        grid_x, grid_y = torch.meshgrid(xs, ys, indexing='ij')  # (X_out, Y_out)
        norm_x = (grid_x - in_x[0]) / (in_x[1] - in_x[0]) * 2 - 1
        norm_y = (grid_y - in_y[0]) / (in_y[1] - in_y[0]) * 2 - 1
        self.register_buffer('grid', torch.stack([norm_x, norm_y], dim=-1)[None].float(),
                             persistent=False)

    def forward(self, feats: Tensor) -> Tensor:
        """``(B, C, Y_in, X_in)`` -> ``(B, C, X_out, Y_out)``."""
        if tuple(feats.shape[-2:]) != self.input_shape:
            raise ValueError(f'BEVGridTransform: input BEV map must be (B, C, '
                             f'{self.input_shape[0]}, {self.input_shape[1]}) for the configured '
                             f'input bounds, got {tuple(feats.shape)}')
        grid = self.grid.to(feats.dtype).expand(feats.shape[0], -1, -1, -1)
        return F.grid_sample(feats, grid, mode='bilinear', padding_mode='zeros',
                             align_corners=False)
