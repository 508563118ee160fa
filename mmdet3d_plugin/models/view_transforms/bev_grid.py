"""Regular metric grids (BEV / voxel) shared by view transforms, encoders and heads."""
from typing import Sequence, Tuple

import torch
from torch import Tensor

from mmdet3d_plugin.structures.grid_bounds import bound_cells, check_bound


class MetricGrid:
    """A 3D grid of cells given by ``xbound``, ``ybound`` and ``zbound`` (each min, max, step).

    Cell ``(z, y, x)`` covers ``[min + i * step, min + (i + 1) * step)`` on each axis.
    """

    def __init__(self, xbound: Sequence[float], ybound: Sequence[float],
                 zbound: Sequence[float]) -> None:
        self.xbound = check_bound(xbound, 'xbound')
        self.ybound = check_bound(ybound, 'ybound')
        self.zbound = check_bound(zbound, 'zbound')
        self.shape = (bound_cells(self.zbound), bound_cells(self.ybound), bound_cells(self.xbound))

    def cell_index(self, points: Tensor) -> Tuple[Tensor, Tensor]:
        """Return the ``(z, y, x)`` cell of each point and whether it lies inside the grid.

        Args:
            points: ``(..., 3)`` x, y, z.

        Returns:
            tuple: ``(..., 3)`` int64 ``[z, y, x]`` indices and the ``(...)`` bool inside-mask.
        """
        lows = points.new_tensor([self.zbound[0], self.ybound[0], self.xbound[0]])
        steps = points.new_tensor([self.zbound[2], self.ybound[2], self.xbound[2]])
        index = torch.floor((points.flip(-1) - lows) / steps).long()
        upper = torch.tensor(self.shape, device=points.device)
        inside = ((index >= 0) & (index < upper)).all(dim=-1)
        return index, inside
