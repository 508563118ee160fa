"""Multi-view cameras -> 3D voxel volume -> semantic occupancy.

``CameraOccupancyDetector`` is the shared occupancy model: image backbone and neck, an LSS
lift into a voxel volume (:class:`~mmdet3d_plugin.models.view_transforms.LSSVoxelTransform`),
a 3D encoder and neck (dense :class:`~mmdet3d_plugin.models.occupancy.OccResNet3D` /
:class:`~mmdet3d_plugin.models.occupancy.OccFPN3D`, or a method's sparse ones) and an
occupancy head. The same code serves Occ3D (200x200x16 at 0.4 m, camera mask, ego frame) and
nuScenes-Occupancy (512x512x40 at 0.2 m, noise ignored, LiDAR frame) through config only.

Batch contract (``Det3DDataPreprocessor`` output + ``Pack3DDetBEVInputs``):

* ``inputs['imgs']`` ``(B, N, 3, H, W)``;
* metainfo ``cam2img``, ``lidar2cam``, ``img_aug_matrix`` ``(N, 4, 4)`` and ``lidar2occ``
  ``(4, 4)``: original LiDAR frame -> occupancy-grid frame, grid-frame flips included
  (``OccupancyFrame``);
* training: ``gt_occ`` ``(X, Y, Z)`` uint8 and the head's ``mask_key`` field; ``gt_depth``
  ``(N, h, w)`` when the view transform is depth-supervised (who is supervised:
  :mod:`.camera_inputs`).

Outputs (``predict``): ``pred_occ`` ``(X, Y, Z)`` uint8 labels and, unless
``test_cfg.return_probs`` is False, ``pred_occ_probs`` ``(K, X, Y, Z)`` class probabilities
(``test_cfg.probs_dtype``, float16 by default: 23 MB per Occ3D sample instead of 46 MB) — what
``Occ3DMetric`` / ``SSCMetric`` and ``OccCalibrationMetric`` read.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmdet3d.models.detectors import Base3DDetector
from torch import Tensor

from mmdet3d_plugin.registry import MODELS
from .camera_inputs import DepthSupervisionMixin, camera_matrices, stack_meta

PROBS_DTYPES = {'float16': torch.float16, 'float32': torch.float32}


@MODELS.register_module()
class CameraOccupancyDetector(DepthSupervisionMixin, Base3DDetector):
    """Camera-only semantic occupancy.

    Args:
        img_backbone, img_neck: Image backbone and neck (e.g. mmdet ResNet + FPN).
        view_transform: Camera -> voxel lift with ``lift_splat`` semantics
            (``LSSVoxelTransform``), its grid in the occupancy frame.
        occ_encoder: 3D encoder: ``(B, C, Z, Y, X)`` volume -> list of volumes.
        occ_neck: 3D neck: list -> list (finest first), or None.
        occ_head: :class:`~mmdet3d_plugin.models.occupancy.OccupancyHead` or a head with its
            ``loss(feats, data_samples)`` / ``predict(feats)`` API.
        data_preprocessor: ``Det3DDataPreprocessor`` config.
        img_feature_level: Which neck output the view transform lifts.
        train_cfg: Unused (kept for the mmdet3d config layout).
        test_cfg: ``return_probs`` (True) and ``probs_dtype`` (``'float16'``).
        init_cfg: mmengine init config.
    """

    def __init__(self, img_backbone: dict, img_neck: dict, view_transform: dict,
                 occ_encoder: dict, occ_head: dict, occ_neck: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None, img_feature_level: int = 0,
                 train_cfg: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.img_backbone = MODELS.build(img_backbone)
        self.img_neck = MODELS.build(img_neck)
        self.view_transform = MODELS.build(view_transform)
        self.occ_encoder = MODELS.build(occ_encoder)
        self.occ_neck = MODELS.build(occ_neck) if occ_neck is not None else None
        self.occ_head = MODELS.build(occ_head)
        if getattr(self.occ_head, 'upsample', None) == 'deconv':
            self.occ_head.build_deconv(self._latent_shape())
        self.img_feature_level = int(img_feature_level)
        self.train_cfg = train_cfg
        self.test_cfg = {**dict(return_probs=True, probs_dtype='float16'), **(test_cfg or {})}
        if self.test_cfg['probs_dtype'] not in PROBS_DTYPES:
            raise ValueError(f"test_cfg.probs_dtype must be one of {sorted(PROBS_DTYPES)}, got "
                             f"{self.test_cfg['probs_dtype']!r}")
        self._warned_depth = False

    def _latent_shape(self) -> Tuple[int, int, int]:
        """``(z, y, x)`` of the finest neck level for the lifted volume's shape (one probe)."""
        channels = getattr(self.view_transform, 'volume_channels',
                           self.view_transform.out_channels)
        volume = torch.zeros((1, channels) + tuple(self.view_transform.volume_shape))
        was_training = self.training
        self.eval()
        with torch.no_grad():
            feats = self.encode(volume)
        self.train(was_training)
        return tuple(feats[0].shape[2:])

    @property
    def with_depth_loss(self) -> bool:
        """Whether training adds the view transform's LiDAR depth loss."""
        return getattr(self.view_transform, 'loss_depth_weight', 0.0) > 0

    def lift(self, imgs: Tensor, data_samples: Sequence) -> Tuple[Tensor, Tensor]:
        """Images -> the lifted ``(B, C, Z, Y, X)`` volume and ``(B, N, D, h, w)`` depth."""
        if imgs is None or imgs.dim() != 5:
            raise ValueError("CameraOccupancyDetector: inputs['imgs'] must be (B, N, 3, H, W), got "
                             f'{None if imgs is None else tuple(imgs.shape)}')
        batch, views = imgs.shape[:2]
        feats = self.img_neck(self.img_backbone(imgs.flatten(0, 1)))[self.img_feature_level]
        feats = feats.reshape((batch, views) + feats.shape[1:])
        matrices = camera_matrices(data_samples, views, imgs.device)
        lidar2occ = stack_meta(data_samples, 'lidar2occ', (4, 4), imgs.device)
        return self.view_transform(feats, *matrices, lidar2occ, return_depth=True)

    def encode(self, volume: Tensor) -> List[Tensor]:
        """3D encoder and neck: the volume -> list of latents, finest first."""
        feats = self.occ_encoder(volume)
        return self.occ_neck(feats) if self.occ_neck is not None else feats

    def extract_feat(self, batch_inputs: dict, data_samples: Sequence,
                     return_depth: bool = False) -> Union[List[Tensor], Tuple[List[Tensor],
                                                                              Tensor]]:
        """The latents (and the depth distribution with ``return_depth``)."""
        volume, depth = self.lift(batch_inputs.get('imgs'), data_samples)
        feats = self.encode(volume)
        return (feats, depth) if return_depth else feats

    def loss(self, batch_inputs: dict, batch_data_samples: List) -> Dict[str, Tensor]:
        """Occupancy losses (and ``loss_depth``).

        Returns:
            dict: the head's named losses and, with a depth-supervised lift, ``loss_depth``.
        """
        feats, depth = self.extract_feat(batch_inputs, batch_data_samples, return_depth=True)
        losses = dict(self.occ_head.loss(feats, batch_data_samples))
        if self.with_depth_loss:
            losses['loss_depth'] = self.depth_loss(depth, batch_data_samples)
        losses.update(self.latent_losses(feats, batch_data_samples))
        return losses

    def latent_losses(self, feats, data_samples: Sequence) -> Dict[str, Tensor]:
        """Losses on the latent itself (none here; SparseOcc's pruning adds one)."""
        return {}

    def predict(self, batch_inputs: dict, batch_data_samples: List) -> List:
        """Per-voxel labels and probabilities on the GT grid.

        Returns:
            list: the data samples with ``pred_occ`` ``(X, Y, Z)`` uint8 and (``return_probs``)
            ``pred_occ_probs`` ``(K, X, Y, Z)``.
        """
        feats = self.extract_feat(batch_inputs, batch_data_samples)
        labels, probs = self.occ_head.predict(feats)
        dtype = PROBS_DTYPES[self.test_cfg['probs_dtype']]
        for index, sample in enumerate(batch_data_samples):
            sample.pred_occ = labels[index]
            if self.test_cfg['return_probs']:
                sample.pred_occ_probs = probs[index].to(dtype)
        return batch_data_samples

    def _forward(self, batch_inputs: dict, batch_data_samples: Optional[List] = None) -> Tensor:
        """``(B, K, X, Y, Z)`` voxel logits (mode ``'tensor'``)."""
        return self.occ_head(self.extract_feat(batch_inputs, batch_data_samples or []))
