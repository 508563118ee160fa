"""Multi-label BEV map-segmentation head (BEVFusion's ``BEVSegmentationHead``)."""
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet3d_plugin.structures.bev_map import BEV_MAP_CLASSES
from mmdet3d_plugin.registry import MODELS
from .bev_grid_transform import BEVGridTransform


def sigmoid_focal_loss(logits: Tensor, targets: Tensor, gamma: float = 2.0,
                       alpha: float = -1.0) -> Tensor:
    """Mean sigmoid focal loss (Lin et al.); ``alpha < 0`` disables the class balancing term.

    Args:
        logits: ``(...)`` raw scores.
        targets: ``(...)`` 0/1 targets of the same shape.
        gamma: Focusing exponent.
        alpha: Weight of the positives (``1 - alpha`` for the negatives); negative: none.

    Returns:
        Tensor: Scalar, the mean over all elements.
    """
    probs = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction='none')
    p_t = probs * targets + (1 - probs) * (1 - targets)
    loss = ce * (1 - p_t)**gamma
    if alpha >= 0:
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    return loss.mean()


@MODELS.register_module()
class BEVMapSegHead(BaseModule):
    """Resample the BEV features to the map grid, two 3x3 convs, one sigmoid logit per class.

    Args:
        in_channels: Channels of the input BEV map.
        input_xbound, input_ybound: ``(min, max, step)`` of the input BEV map (row = y).
        output_xbound, output_ybound: The GT raster's bounds; defaults to ``[-50, 50]`` m at
            0.5 m (200 x 200, ``LoadBEVMapGT``'s default).
        classes: Map layers in channel order (BEVFusion's six by default).
        hidden_channels: Channels of the conv tower.
        reduce_channels: If set, a 1x1 convolution maps the ``in_channels`` input to this many
            channels *before* the resampling (``None``: BEVFusion's head, which resamples all
            ``in_channels``). Bilinear resampling and a 1x1 convolution are both linear and
            act on different axes, so the order does not change what the head can express
            (resample-then-project is the same function); projecting first resamples (and
            back-propagates through the resampling of) ``reduce_channels`` instead of
            ``in_channels`` maps, which is most of the head's cost on CPU.
        loss: ``'focal'`` (sigmoid focal, gamma 2, as BEVFusion) or ``'bce'``.
        loss_weight: Multiplier of each class's loss term (the map loss is their sum).
        gt_key: Data-sample attribute holding the ``(C, X, Y)`` GT masks.
        init_cfg: mmengine init config.
    """

    def __init__(self, in_channels: int, input_xbound: Sequence[float],
                 input_ybound: Sequence[float],
                 output_xbound: Sequence[float] = (-50.0, 50.0, 0.5),
                 output_ybound: Sequence[float] = (-50.0, 50.0, 0.5),
                 classes: Sequence[str] = BEV_MAP_CLASSES, hidden_channels: int = 64,
                 reduce_channels: Optional[int] = None, loss: str = 'focal', loss_weight: float = 1.0, gt_key: str = 'gt_masks_bev',
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if loss not in ('focal', 'bce'):
            raise ValueError(f"BEVMapSegHead: loss must be 'focal' or 'bce', got {loss!r}")
        self.classes = tuple(classes)
        self.loss_type = loss
        self.loss_weight = float(loss_weight)
        self.gt_key = gt_key
        if reduce_channels is not None and reduce_channels < 1:
            raise ValueError('BEVMapSegHead: reduce_channels must be a positive int or None, '
                             f'got {reduce_channels!r}')
        self.reduce = (nn.Conv2d(in_channels, reduce_channels, 1)
                       if reduce_channels is not None else nn.Identity())
        tower_in = in_channels if reduce_channels is None else reduce_channels
        self.transform = BEVGridTransform(input_xbound, input_ybound, output_xbound,
                                          output_ybound)
        self.tower = nn.Sequential(
            nn.Conv2d(tower_in, hidden_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(hidden_channels), nn.ReLU(inplace=True),
            nn.Conv2d(hidden_channels, hidden_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(hidden_channels), nn.ReLU(inplace=True),
            nn.Conv2d(hidden_channels, len(self.classes), 1))

    def forward(self, feats: Tensor) -> Tensor:
        """Resample the BEV features onto the map grid and score every class.

        Args:
            feats: ``(B, C_in, Y_in, X_in)`` BEV features (mmdet3d layout, row = y).

        Returns:
            Tensor: ``(B, num_classes, X_out, Y_out)`` logits (GT layout, first index = x).
        """
        return self.tower(self.transform(self.reduce(feats)))

    def gt_masks(self, data_samples: Sequence) -> Tensor:
        """Stack the GT masks of the batch.

        Args:
            data_samples: ``B`` data samples, each with ``gt_key`` of shape
                ``(num_classes, X_out, Y_out)``.

        Returns:
            Tensor: float ``(B, num_classes, X_out, Y_out)``.

        Raises:
            KeyError: A sample has no ``gt_key``.
            ValueError: A mask has the wrong shape.
        """
        masks = []
        for index, sample in enumerate(data_samples):
            if self.gt_key not in sample:
                raise KeyError(f"BEVMapSegHead: data sample {index} has no '{self.gt_key}'; "
                               'add LoadBEVMapGT to the train pipeline and pack the key')
            mask = torch.as_tensor(sample.get(self.gt_key))
            expected = (len(self.classes), ) + self.transform.output_shape
            if tuple(mask.shape) != expected:
                raise ValueError(f"BEVMapSegHead: '{self.gt_key}' of sample {index} has shape "
                                 f'{tuple(mask.shape)}, expected {expected}')
            masks.append(mask.float())
        return torch.stack(masks)

    def loss(self, feats: Tensor, data_samples: Sequence) -> Dict[str, Tensor]:
        """Map-segmentation loss, one term per class as in BEVFusion.

        Each class's loss is the mean over the batch and the grid of that class's sigmoid focal
        loss (gamma 2, no alpha balancing) or binary cross-entropy; the terms are returned
        separately, each multiplied by ``loss_weight``, and mmengine sums every ``loss*`` key,
        so the map loss is the *sum* over classes (BEVFusion's ``BEVSegmentationHead``), not
        their average.

        Args:
            feats: ``(B, C_in, Y_in, X_in)`` BEV features.
            data_samples: ``B`` data samples holding ``gt_key`` ``(num_classes, X_out, Y_out)``
                0/1 masks.

        Returns:
            dict: ``{'loss_map_<class>': scalar}`` for every class, e.g.
            ``loss_map_drivable_area``.
        """
        logits = self(feats)
        targets = self.gt_masks(data_samples).to(logits.device, logits.dtype)
        losses = {}
        for index, name in enumerate(self.classes):
            if self.loss_type == 'focal':
                loss = sigmoid_focal_loss(logits[:, index], targets[:, index])
            else:
                loss = F.binary_cross_entropy_with_logits(logits[:, index], targets[:, index])
            losses[f'loss_map_{name}'] = loss * self.loss_weight
        return losses

    def predict(self, feats: Tensor) -> Tensor:
        """Per-class map probabilities.

        Args:
            feats: ``(B, C_in, Y_in, X_in)`` BEV features.

        Returns:
            Tensor: ``(B, num_classes, X_out, Y_out)`` probabilities in [0, 1].
        """
        return self(feats).sigmoid()
