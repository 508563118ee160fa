"""BEVFusion's convolutional fuser: concatenate the modality BEV maps and mix them with a conv."""
from typing import List, Optional, Sequence

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet3d_plugin.registry import MODELS


@MODELS.register_module()
class ConvFuser(BaseModule):
    """``ReLU(BN(Conv3x3(cat(camera BEV, LiDAR BEV))))`` -- the BEVFusion baseline fuser.

    A missing modality is fed as zeros (what a BEVFusion checkpoint sees when a sensor fails):
    the fuser has no other way of knowing it is absent.

    Args:
        in_channels: Channels of each modality's BEV map, in input order.
        out_channels: Channels of the fused map.
        init_cfg: mmengine init config.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = tuple(int(c) for c in in_channels)
        self.out_channels = int(out_channels)
        self.fuse = nn.Sequential(
            nn.Conv2d(sum(self.in_channels), self.out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(self.out_channels), nn.ReLU(inplace=True))

    def forward(self, feats: List[Optional[Tensor]], present: Tensor) -> Tensor:
        """Fuse the modality BEV maps.

        Args:
            feats: One ``(B, C_m, Y, X)`` map per modality (``None`` when no sample has it).
            present: ``(B, M)`` bool, whether sample b has modality m.

        Returns:
            Tensor: ``(B, out_channels, Y, X)``.
        """
        reference = next((f for f in feats if f is not None), None)
        if reference is None:
            raise ValueError('ConvFuser: every modality is None; at least one BEV map must be '
                             'computed (pass zeros for a modality no sample has)')
        batch, _, height, width = reference.shape
        maps = []
        for index, (feat, channels) in enumerate(zip(feats, self.in_channels)):
            if feat is None:
                feat = reference.new_zeros(batch, channels, height, width)
            elif feat.shape[1] != channels:
                raise ValueError(f'ConvFuser: modality {index} has {feat.shape[1]} channels, '
                                 f'in_channels says {channels}')
            maps.append(feat * present[:, index, None, None, None].to(feat.dtype))
        return self.fuse(torch.cat(maps, dim=1))
