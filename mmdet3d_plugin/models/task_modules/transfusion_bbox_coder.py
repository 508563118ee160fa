"""Box coder of the TransFusion head: LiDAR boxes <-> per-query regression codes.

Code layout ``(10,)``: ``cx, cy`` (BEV centre in feature-map cells, i.e. metres divided by
``voxel_size * out_size_factor`` after subtracting the range origin), ``z`` (gravity centre,
metres), ``log l, log w, log h``, ``sin yaw, cos yaw``, ``vx, vy``. Boxes are mmdet3d LiDAR
boxes ``(x, y, z_bottom, l, w, h, yaw, vx, vy)``. mmdet3d's ``CenterPointBBoxCoder`` decodes
dense maps (top-k over a heatmap) and has no ``encode``; queries need a per-row encode/decode,
hence this small coder.
"""
from typing import Dict, Sequence

import torch
from torch import Tensor

from mmdet3d_plugin.registry import TASK_UTILS

#: Order in which the head's regression outputs are concatenated into a code.
CODE_HEADS = (('center', 2), ('height', 1), ('dim', 3), ('rot', 2), ('vel', 2))


@TASK_UTILS.register_module()
class TransFusionBBoxCoder:
    """Encode LiDAR boxes to query codes and decode head outputs back to boxes.

    Args:
        pc_range: ``(x_min, y_min)`` of the BEV grid in metres.
        voxel_size: ``(x, y)`` voxel size in metres.
        out_size_factor: Stride of the BEV feature map in voxels.
        post_center_range: Optional ``(x_min, y_min, z_min, x_max, y_max, z_max)``; decoded
            boxes whose centre lies outside are flagged by :meth:`in_range`.
        code_size: 10 with velocity, 8 without.
    """

    def __init__(self, pc_range: Sequence[float], voxel_size: Sequence[float],
                 out_size_factor: int, post_center_range: Sequence[float] = None,
                 code_size: int = 10) -> None:
        if code_size not in (8, 10):
            raise ValueError(f'TransFusionBBoxCoder: code_size must be 8 or 10, got {code_size}')
        self.pc_range = [float(v) for v in pc_range[:2]]
        self.voxel_size = [float(v) for v in voxel_size[:2]]
        self.out_size_factor = float(out_size_factor)
        self.post_center_range = (None if post_center_range is None else
                                  [float(v) for v in post_center_range])
        self.code_size = code_size

    def _cell(self, device: torch.device) -> Tensor:
        return torch.tensor(self.voxel_size, device=device) * self.out_size_factor

    def encode(self, boxes: Tensor) -> Tensor:
        """LiDAR boxes ``(K, 7 or 9)`` (bottom centre) -> codes ``(K, code_size)``."""
        codes = boxes.new_zeros((boxes.shape[0], self.code_size))
        origin = boxes.new_tensor(self.pc_range)
        codes[:, 0:2] = (boxes[:, 0:2] - origin) / self._cell(boxes.device)
        codes[:, 2] = boxes[:, 2] + boxes[:, 5] * 0.5
        codes[:, 3:6] = boxes[:, 3:6].clamp(min=1e-5).log()
        codes[:, 6] = torch.sin(boxes[:, 6])
        codes[:, 7] = torch.cos(boxes[:, 6])
        if self.code_size == 10:
            if boxes.shape[1] < 9:
                raise ValueError('TransFusionBBoxCoder.encode: code_size 10 needs boxes with '
                                 f'velocity (K, 9), got {tuple(boxes.shape)}')
            codes[:, 8:10] = boxes[:, 7:9]
        return codes

    def decode_codes(self, codes: Tensor) -> Tensor:
        """Codes ``(..., code_size)`` -> LiDAR boxes ``(..., 7 or 9)`` (bottom centre)."""
        origin = codes.new_tensor(self.pc_range)
        xy = codes[..., 0:2] * self._cell(codes.device) + origin
        dims = codes[..., 3:6].exp()
        z = codes[..., 2:3] - dims[..., 2:3] * 0.5
        yaw = torch.atan2(codes[..., 6:7], codes[..., 7:8])
        parts = [xy, z, dims, yaw]
        if self.code_size == 10:
            parts.append(codes[..., 8:10])
        return torch.cat(parts, dim=-1)

    def head_codes(self, preds: Dict[str, Tensor]) -> Tensor:
        """Concatenate head outputs (each ``(B, c, N)``) into codes ``(B, N, code_size)``."""
        names = [name for name, _ in CODE_HEADS if name != 'vel' or self.code_size == 10]
        missing = [name for name in names if name not in preds]
        if missing:
            raise KeyError(f'TransFusionBBoxCoder: head outputs lack {missing} '
                           f'(have {sorted(preds)})')
        return torch.cat([preds[name] for name in names], dim=1).transpose(1, 2)

    def decode(self, preds: Dict[str, Tensor]) -> Tensor:
        """Head outputs (``center, height, dim, rot[, vel]``, ``(B, c, N)``) -> ``(B, N, 9)``."""
        return self.decode_codes(self.head_codes(preds))

    def in_range(self, boxes: Tensor) -> Tensor:
        """``(..., 7+)`` boxes -> bool mask of centres inside ``post_center_range``."""
        if self.post_center_range is None:
            return torch.ones(boxes.shape[:-1], dtype=torch.bool, device=boxes.device)
        limits = boxes.new_tensor(self.post_center_range)
        return ((boxes[..., :3] >= limits[:3]) & (boxes[..., :3] <= limits[3:])).all(-1)
