"""Per-voxel semantic-occupancy classification at the ground truth's resolution."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet3d_plugin.registry import MODELS
from .targets import read_occupancy_targets

UPSAMPLING = ('trilinear', 'deconv')


@MODELS.register_module()
class OccupancyHead(BaseModule):
    """Voxel class logits from a latent volume, upsampled to the occupancy grid.

    The latent ``(B, C, z, y, x)`` (the finest neck level, in the grid's frame and extent) is
    classified into ``num_classes`` logits and brought to the GT grid ``(X, Y, Z)``, either by
    trilinear interpolation of the logits (``upsample='trilinear'``) or by a transposed 3D conv
    of the features before the classifier (``'deconv'``, kernel = stride = the scale factor).
    The training losses are a named set of loss modules, each called as
    ``loss(logits (B, K, X, Y, Z), target (B, X, Y, Z))`` — mmdet's ``CrossEntropyLoss`` with
    class weights, Lovász-softmax, MonoScene's scene-class affinity losses
    (:mod:`mmdet3d_plugin.models.losses`). Voxels outside ``mask_key`` (Occ3D's
    ``mask_camera``) and GT label ``ignore_index`` are left out of every loss: their target is
    set to ``ignore_index``.

    Args:
        in_channels: ``C`` of the latent.
        num_classes: ``K`` labels, free included (Occ3D 18, nuScenes-Occupancy 17).
        grid_shape: ``(X, Y, Z)`` of the GT grid (Occ3D (200, 200, 16)).
        hidden_channels: A 3x3x3 conv-BN-ReLU of this width before the classifier; None: none.
        upsample: ``'trilinear'`` or ``'deconv'``.
        losses: ``{name: loss config}``; every name must contain ``loss``.
        mask_key: Data-sample field of the voxels to supervise (``'mask_camera'``), or None.
        ignore_index: GT label skipped by the losses (255, nuScenes-Occupancy noise).
        norm_cfg: mmcv norm config. Defaults to ``BN3d``.
        init_cfg: mmengine init config.
    """

    def __init__(self, in_channels: int, num_classes: int, grid_shape: Sequence[int],
                 hidden_channels: Optional[int] = None, upsample: str = 'trilinear',
                 losses: Optional[Dict[str, dict]] = None, mask_key: Optional[str] = None,
                 ignore_index: int = 255, norm_cfg: dict = None, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if upsample not in UPSAMPLING:
            raise ValueError(f'OccupancyHead: upsample must be one of {UPSAMPLING}, got '
                             f'{upsample!r}')
        self.grid_shape = tuple(int(v) for v in grid_shape)
        if len(self.grid_shape) != 3 or min(self.grid_shape) < 1:
            raise ValueError(f'OccupancyHead: grid_shape must be (X, Y, Z), got {grid_shape}')
        self.num_classes = int(num_classes)
        self.upsample = upsample
        self.mask_key = mask_key
        self.ignore_index = int(ignore_index)
        norm_cfg = norm_cfg or dict(type='BN3d')
        channels = int(in_channels)
        self.in_channels = channels
        self.hidden = None
        if hidden_channels:
            self.hidden = ConvModule(channels, int(hidden_channels), 3, padding=1,
                                     conv_cfg=dict(type='Conv3d'), norm_cfg=norm_cfg)
            channels = int(hidden_channels)
        self._feature_channels = channels
        self.deconv = None  # built on first use: the scale depends on the latent's shape
        self.classifier = nn.Conv3d(channels, self.num_classes, 1)
        losses = losses or {}
        for name in losses:
            if 'loss' not in name:
                raise ValueError(f"OccupancyHead: loss names must contain 'loss' (mmengine "
                                 f'sums those keys), got {name!r}')
        self.losses = nn.ModuleDict({name: MODELS.build(cfg) for name, cfg in losses.items()})

    def build_deconv(self, latent_shape: Tuple[int, int, int]) -> None:
        """Create the transposed conv for a latent of ``(z, y, x)`` (``upsample='deconv'``).

        Called by the detector at construction time with the view transform's volume shape,
        so the parameters exist before the optimizer is built.
        """
        target = self.grid_shape[::-1]  # (Z, Y, X)
        scale = []
        for size, full in zip(latent_shape, target):
            if full % size:
                raise ValueError(f'OccupancyHead: the GT grid (Z, Y, X) {target} is not a whole '
                                 f'multiple of the latent {tuple(latent_shape)}')
            scale.append(full // size)
        channels = self._feature_channels
        self.deconv = nn.Sequential(
            nn.ConvTranspose3d(channels, channels, tuple(scale), stride=tuple(scale),
                               bias=False),
            nn.BatchNorm3d(channels), nn.ReLU(inplace=True))

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """Voxel logits.

        Args:
            feats: Neck outputs, finest first; ``feats[0]`` ``(B, C, z, y, x)``.

        Returns:
            Tensor: ``(B, K, X, Y, Z)`` logits on the GT grid (a view of :meth:`logits_zyx`).
        """
        return self.logits_zyx(feats).permute(0, 1, 4, 3, 2)  # -> (B, K, X, Y, Z)

    def logits_zyx(self, feats: Sequence[Tensor]) -> Tensor:
        """Voxel logits in the latent's memory layout, ``(B, K, Z, Y, X)`` contiguous.

        The losses take these with the targets permuted to ``(B, Z, Y, X)`` (every loss here is
        a function of the set of voxels, not of their order): the upsampling's backward then
        gets a contiguous gradient instead of copying the ``(B, K, X, Y, Z)`` view's one (a
        fifth of a CPU training step of the tiny synthetic baseline).
        """
        latent = feats[0]
        if latent.dim() != 5 or latent.shape[1] != self.in_channels:
            raise ValueError(f'OccupancyHead: the latent must be (B, {self.in_channels}, z, y, '
                             f'x), got {tuple(latent.shape)}')
        if self.hidden is not None:
            latent = self.hidden(latent)
        target = self.grid_shape[::-1]  # (Z, Y, X)
        if self.upsample == 'deconv':
            if self.deconv is None:
                raise RuntimeError('OccupancyHead: upsample="deconv" needs build_deconv() with '
                                   "the latent's (z, y, x) before use")
            logits = self.classifier(self.deconv(latent))
            if tuple(logits.shape[2:]) != target:
                raise ValueError(f'OccupancyHead: the deconv gives {tuple(logits.shape[2:])}, '
                                 f'the GT grid is (Z, Y, X) {target}')
        else:
            logits = self.classifier(latent)
            if tuple(logits.shape[2:]) != target:
                logits = F.interpolate(logits, size=target, mode='trilinear',
                                       align_corners=False)
        return logits

    def targets(self, data_samples: Sequence, device: torch.device) -> Tensor:
        """``(B, X, Y, Z)`` int64 GT labels, ``ignore_index`` outside ``mask_key``.

        Raises:
            KeyError / ValueError: naming the sample and the field that is missing or of the
                wrong shape.
        """
        return read_occupancy_targets(data_samples, self.grid_shape, self.mask_key,
                                      self.ignore_index, device, type(self).__name__)

    def loss(self, feats: Sequence[Tensor], data_samples: Sequence) -> Dict[str, Tensor]:
        """Every configured loss on the voxel logits.

        Returns:
            dict: ``{name: scalar}`` of :attr:`losses`.
        """
        logits = self.logits_zyx(feats)
        target = self.targets(data_samples, logits.device).permute(0, 3, 2, 1)  # (B, Z, Y, X)
        return {name: loss(logits, target) for name, loss in self.losses.items()}

    @torch.no_grad()
    def predict(self, feats: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        """Labels and class probabilities on the GT grid.

        Returns:
            tuple: ``(B, X, Y, Z)`` uint8 argmax labels and ``(B, K, X, Y, Z)`` float32 softmax
            probabilities.
        """
        probs = self(feats).float().softmax(dim=1)
        return probs.argmax(dim=1).to(torch.uint8), probs

    @property
    def loss_names(self) -> List[str]:
        """Names of the training losses."""
        return list(self.losses)
