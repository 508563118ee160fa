"""A dense 3D ResNet over voxel volumes: the 3D encoder of the dense occupancy models.

Written here because no kept library offers one for ``(B, C, Z, Y, X)`` voxel features:
mmdet's ResNet is 2D, mmdet3d's 3D encoders are sparse (``SparseEncoder``), mmaction2's
``ResNet3d`` (video) is not a dependency and expects a temporal stem. Blocks are mmcv
``ConvModule`` with ``Conv3d`` / ``BN3d``, as in the occupancy codebases (MonoScene,
OpenOccupancy's C-CONet, SurroundOcc).
"""
from typing import List, Sequence, Tuple, Union

from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet3d_plugin.registry import MODELS

Stride = Union[int, Sequence[int]]


def _triple(value: Stride, name: str) -> Tuple[int, int, int]:
    values = (value, ) * 3 if isinstance(value, int) else tuple(int(v) for v in value)
    if len(values) != 3 or min(values) < 1:
        raise ValueError(f'{name} must be a positive int or (z, y, x), got {value!r}')
    return values


class BasicBlock3D(BaseModule):
    """Two 3x3x3 conv-BN layers with a residual connection (ResNet's basic block in 3D).

    Args:
        in_channels: ``C_in``.
        out_channels: ``C_out``.
        stride: ``(z, y, x)`` stride of the first conv (and of the shortcut projection).
        norm_cfg: mmcv norm config (``BN3d``).

    Shapes:
        ``(B, C_in, Z, Y, X)`` -> ``(B, C_out, Z / s_z, Y / s_y, X / s_x)`` (rounded up).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: Stride = 1,
                 norm_cfg: dict = None) -> None:
        super().__init__()
        norm_cfg = norm_cfg or dict(type='BN3d')
        conv_cfg = dict(type='Conv3d')
        stride = _triple(stride, 'stride')
        self.conv1 = ConvModule(in_channels, out_channels, 3, stride=stride, padding=1,
                                conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.conv2 = ConvModule(out_channels, out_channels, 3, padding=1, conv_cfg=conv_cfg,
                                norm_cfg=norm_cfg, act_cfg=None)
        self.shortcut = None
        if in_channels != out_channels or stride != (1, 1, 1):
            self.shortcut = ConvModule(in_channels, out_channels, 1, stride=stride,
                                       conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=None)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        return self.relu(self.conv2(self.conv1(x)) + identity)


@MODELS.register_module()
class OccResNet3D(BaseModule):
    """Stages of 3D basic blocks over a voxel volume.

    Args:
        in_channels: ``C`` of the input volume (the view transform's ``out_channels``).
        stage_channels: Output channels of each stage.
        stage_blocks: Basic blocks per stage.
        stage_strides: Stride of each stage's first block, an int or ``(z, y, x)``; e.g.
            ``(1, (1, 2, 2))`` keeps a thin height axis while halving the ground plane.
        out_indices: Stages whose outputs are returned (finest first).
        norm_cfg: mmcv norm config. Defaults to ``BN3d``.
        init_cfg: mmengine init config.

    Shapes:
        ``(B, C, Z, Y, X)`` -> list of ``(B, stage_channels[i], Z_i, Y_i, X_i)``.
    """

    def __init__(self, in_channels: int, stage_channels: Sequence[int] = (32, 64, 128),
                 stage_blocks: Sequence[int] = (1, 1, 1),
                 stage_strides: Sequence[Stride] = (1, 2, 2),
                 out_indices: Sequence[int] = (0, 1, 2), norm_cfg: dict = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not len(stage_channels) == len(stage_blocks) == len(stage_strides):
            raise ValueError(f'OccResNet3D: stage_channels {tuple(stage_channels)}, stage_blocks '
                             f'{tuple(stage_blocks)} and stage_strides {tuple(stage_strides)} '
                             'must have one entry per stage')
        if not out_indices or any(not 0 <= i < len(stage_channels) for i in out_indices):
            raise ValueError(f'OccResNet3D: out_indices {tuple(out_indices)} must index the '
                             f'{len(stage_channels)} stages')
        self.in_channels = int(in_channels)
        self.out_indices = tuple(int(i) for i in out_indices)
        self.stage_strides = tuple(_triple(s, 'stage_strides') for s in stage_strides)
        stages, channels = [], self.in_channels
        for out_channels, blocks, stride in zip(stage_channels, stage_blocks, self.stage_strides):
            layers = [BasicBlock3D(channels, out_channels, stride, norm_cfg)]
            layers += [BasicBlock3D(out_channels, out_channels, 1, norm_cfg)
                       for _ in range(int(blocks) - 1)]
            stages.append(nn.Sequential(*layers))
            channels = out_channels
        self.stages = nn.ModuleList(stages)
        self.out_channels = [int(stage_channels[i]) for i in self.out_indices]

    def forward(self, volume: Tensor) -> List[Tensor]:
        """Run the stages.

        Args:
            volume: ``(B, C, Z, Y, X)``.

        Returns:
            list[Tensor]: the outputs of ``out_indices``, finest first.
        """
        if volume.dim() != 5 or volume.shape[1] != self.in_channels:
            raise ValueError(f'OccResNet3D: the volume must be (B, {self.in_channels}, Z, Y, X), '
                             f'got {tuple(volume.shape)}')
        outs = []
        for index, stage in enumerate(self.stages):
            volume = stage(volume)
            if index in self.out_indices:
                outs.append(volume)
        return outs
