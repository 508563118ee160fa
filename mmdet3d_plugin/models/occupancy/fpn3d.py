"""A 3D feature pyramid over voxel volumes (the dense occupancy models' neck)."""
from typing import List, Sequence

import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet3d_plugin.registry import MODELS


@MODELS.register_module()
class OccFPN3D(BaseModule):
    """FPN in 3D: lateral 1x1x1 projections, top-down trilinear upsampling and addition, a
    3x3x3 output conv per level.

    mmdet's FPN is 2D; this is its 3D counterpart for :class:`OccResNet3D` outputs (written
    here for the same reason, see :mod:`.resnet3d`).

    Args:
        in_channels: Channels of each input level, finest first.
        out_channels: Channels of every output level.
        num_outs: Output levels, finest first (``1`` = the finest only, what the occupancy
            head reads).
        norm_cfg: mmcv norm config. Defaults to ``BN3d``.
        init_cfg: mmengine init config.

    Shapes:
        list of ``(B, C_i, Z_i, Y_i, X_i)`` -> list of ``num_outs`` ``(B, out_channels, Z_i,
        Y_i, X_i)``.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, num_outs: int = 1,
                 norm_cfg: dict = None, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not 1 <= num_outs <= len(in_channels):
            raise ValueError(f'OccFPN3D: num_outs must be in [1, {len(in_channels)}], got '
                             f'{num_outs}')
        norm_cfg = norm_cfg or dict(type='BN3d')
        conv_cfg = dict(type='Conv3d')
        self.in_channels = [int(c) for c in in_channels]
        self.out_channels = int(out_channels)
        self.num_outs = int(num_outs)
        self.lateral = nn.ModuleList(
            ConvModule(c, out_channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
            for c in self.in_channels)
        self.output = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, padding=1, conv_cfg=conv_cfg,
                       norm_cfg=norm_cfg) for _ in range(self.num_outs))

    def forward(self, feats: Sequence[Tensor]) -> List[Tensor]:
        """Top-down fusion.

        Args:
            feats: ``len(in_channels)`` volumes, finest first.

        Returns:
            list[Tensor]: ``num_outs`` volumes, finest first.
        """
        if len(feats) != len(self.in_channels):
            raise ValueError(f'OccFPN3D: expected {len(self.in_channels)} levels, got '
                             f'{len(feats)}')
        laterals = [conv(feat) for conv, feat in zip(self.lateral, feats)]
        for index in range(len(laterals) - 1, 0, -1):
            laterals[index - 1] = laterals[index - 1] + F.interpolate(
                laterals[index], size=laterals[index - 1].shape[2:], mode='trilinear',
                align_corners=False)
        return [conv(lateral) for conv, lateral in zip(self.output, laterals[:self.num_outs])]
