"""Camera + LiDAR -> BEV -> detection and map segmentation: the BEVFusion topology.

``MultiModalBEVDetector`` owns the two modality branches, the fuser, the shared BEV
backbone/neck and the two task heads. BEVFusion (conv fuser) and MetaBEV (BEV-Evolving decoder)
differ only in the fuser and in training with random modality drop, so both are this class with
different configs (registered under their own names for readable configs).

Batch contract (``Det3DDataPreprocessor`` output + ``Pack3DDetBEVInputs`` metainfo):

* ``inputs['imgs']``: ``(B, N, 3, H, W)`` normalised images (absent for LiDAR-only data);
* ``inputs['voxels']``: hard voxels ``voxels (V, P, C)``, ``num_points (V,)``,
  ``coors (V, 4) [batch, z, y, x]``;
* metainfo ``cam2img``, ``lidar2cam``, ``img_aug_matrix`` ``(N, 4, 4)``;
  ``lidar_aug_matrix`` ``(4, 4)`` (identity when absent); ``camera_missing`` /
  ``lidar_missing`` (False when absent);
* ``gt_instances_3d`` and ``gt_masks_bev`` ``(6, 200, 200)`` for training; ``gt_depth``
  ``(N, h, w)`` (``MultiViewDepthGT``) when the view transform has a depth loss.

Depth supervision (BEVDepth): with ``view_transform.loss_depth_weight > 0`` the training losses
include ``loss_depth``, the view transform's LiDAR depth loss on the depth distribution it lifts
with. The packed LiDAR depth is *supervision, not input*: a sample whose LiDAR the modality drop
(or a ``lidar_missing`` flag) removes from the LiDAR branch is still depth-supervised, while a
sample flagged ``camera_missing`` and the views in its ``dropped_views`` are not (their images
are blank). Samples without ``gt_depth`` are left unsupervised (a warning is logged once when a
whole batch lacks it).

Outputs: ``pred_instances_3d`` (boxes, scores, labels) and ``masks_bev`` ``(6, 200, 200)``
probabilities, what ``NuScenesMetric`` and ``BEVMapSegMetric`` read.
"""
import logging
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmdet3d.models.detectors import Base3DDetector
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from torch import Tensor

from mmdet3d_plugin.registry import MODELS
from .camera_inputs import DepthSupervisionMixin, camera_matrices, stack_meta
from .modality import ModalityDropSampler, flagged_present

TASKS = ('det', 'seg')


@MODELS.register_module()
class MultiModalBEVDetector(DepthSupervisionMixin, Base3DDetector):
    """Two-branch BEV detector with detection and map-segmentation heads.

    Args:
        fuser: Fuses ``[camera BEV, LiDAR BEV]`` given the ``(B, 2)`` presence mask; returns a
            map or a ``{'det': map, 'seg': map}`` dict (task-specific features).
        img_backbone, img_neck, view_transform: Camera branch (e.g. mmdet ResNet + FPN +
            :class:`LSSViewTransform`); all or none.
        pts_voxel_encoder, pts_middle_encoder: LiDAR branch (e.g. ``HardSimpleVFE`` +
            ``SparseEncoder``); all or none.
        bev_backbone, bev_neck: Shared BEV encoder applied to each task's fused map.
        bbox_head: 3D detection head (mmdet3d ``CenterHead`` API) or None.
        seg_head: :class:`BEVMapSegHead` or None.
        img_feature_level: Which neck output the view transform lifts.
        modality_drop: Per-modality drop probabilities ``(camera, lidar)`` during training,
            drawn per sample from a generator keyed on (seed, rank, iteration), see
            :class:`ModalityDropSampler`; ``(1, 0)`` trains without the camera branch.
        data_preprocessor, init_cfg: As for every mmdet3d detector.
    """

    def __init__(self, fuser: dict, bev_backbone: dict, bev_neck: dict,
                 img_backbone: Optional[dict] = None, img_neck: Optional[dict] = None,
                 view_transform: Optional[dict] = None, pts_voxel_encoder: Optional[dict] = None,
                 pts_middle_encoder: Optional[dict] = None, bbox_head: Optional[dict] = None,
                 seg_head: Optional[dict] = None, img_feature_level: int = 0,
                 modality_drop: Sequence[float] = (0.0, 0.0), train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        camera = (img_backbone, img_neck, view_transform)
        lidar = (pts_voxel_encoder, pts_middle_encoder)
        if any(c is None for c in camera) and any(c is not None for c in camera):
            raise ValueError('camera branch: give img_backbone, img_neck and view_transform '
                             'together, or none of them')
        if any(c is None for c in lidar) and any(c is not None for c in lidar):
            raise ValueError('LiDAR branch: give pts_voxel_encoder and pts_middle_encoder '
                             'together, or neither')
        if bbox_head is None and seg_head is None:
            raise ValueError('give bbox_head, seg_head or both')
        self.has_camera = img_backbone is not None
        self.has_lidar = pts_voxel_encoder is not None
        if self.has_camera:
            self.img_backbone = MODELS.build(img_backbone)
            self.img_neck = MODELS.build(img_neck)
            self.view_transform = MODELS.build(view_transform)
        self._lidar_bev_shape = None  # (C, Y, X) of the LiDAR map, learnt on first need
        if self.has_lidar:
            self.pts_voxel_encoder = MODELS.build(pts_voxel_encoder)
            self.pts_middle_encoder = MODELS.build(pts_middle_encoder)
        self.fuser = MODELS.build(fuser)
        self.bev_backbone = MODELS.build(bev_backbone)
        self.bev_neck = MODELS.build(bev_neck)
        if bbox_head is not None:
            bbox_head = dict(bbox_head, train_cfg=(train_cfg or {}).get('pts'),
                             test_cfg=(test_cfg or {}).get('pts'))
        self.bbox_head = MODELS.build(bbox_head) if bbox_head is not None else None
        self.seg_head = MODELS.build(seg_head) if seg_head is not None else None
        self.img_feature_level = int(img_feature_level)
        self.modality_drop = tuple(float(p) for p in modality_drop)
        self.modality_dropper = ModalityDropSampler(self.modality_drop)
        self._warned_depth = False

    def init_weights(self) -> None:
        """mmengine's init, then every sub-module mmengine did not reach.

        mmengine descends only through ``BaseModule`` children; modules held in a plain torch
        ``ModuleList`` (mmdet3d's ``CenterHead.task_heads``) would keep PyTorch's default init,
        e.g. a heatmap bias of 0 instead of CenterPoint's -2.19 (sigmoid 0.5 instead of 0.1
        everywhere at the start of training).
        """
        super().init_weights()
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)  # each late init would print its parameter table
        try:
            for module in self.modules():
                if isinstance(module, BaseModule) and not module.is_init:
                    module.init_weights()
        finally:
            logger.setLevel(level)

    # ------------------------------------------------------------------ modality branches
    def camera_bev(self, imgs: Tensor, data_samples: Sequence,
                   return_depth: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """Lift the camera images to a BEV map.

        Args:
            imgs: ``(B, N, 3, H, W)`` normalised images.
            data_samples: ``B`` samples with metainfo ``cam2img``, ``lidar2cam``,
                ``img_aug_matrix`` ``(N, 4, 4)`` and optionally ``lidar_aug_matrix`` ``(4, 4)``.
            return_depth: Also return the view transform's ``(B, N, D, h, w)`` depth
                probabilities.

        Returns:
            Tensor: ``(B, C_cam, Y, X)`` camera BEV map (and the depth with ``return_depth``).
        """
        batch, views = imgs.shape[:2]
        feats = self.img_neck(self.img_backbone(imgs.flatten(0, 1)))
        feats = feats[self.img_feature_level]
        feats = feats.reshape((batch, views) + feats.shape[1:])
        device = imgs.device
        matrices = camera_matrices(data_samples, views, device)
        lidar_aug = stack_meta(data_samples, 'lidar_aug_matrix', (4, 4), device)
        if return_depth:
            return self.view_transform(feats, *matrices, lidar_aug, return_depth=True)
        return self.view_transform(feats, *matrices, lidar_aug)

    @property
    def with_depth_loss(self) -> bool:
        """Whether training adds the view transform's LiDAR depth loss."""
        return self.has_camera and getattr(self.view_transform, 'loss_depth_weight', 0.0) > 0

    def _point_dims(self) -> int:
        for name in ('num_features', 'in_channels'):
            value = getattr(self.pts_voxel_encoder, name, None)
            if isinstance(value, int):
                return value
        raise AttributeError(f'{type(self.pts_voxel_encoder).__name__} exposes neither '
                             'num_features nor in_channels: cannot build an empty LiDAR input')

    def _empty_lidar_bev(self, batch: int, device: torch.device) -> Tensor:
        """Zeros shaped like the LiDAR BEV map, for a batch without any point to encode.

        The map's ``(C, Y, X)`` is learnt once by running the encoders on a single zero voxel
        in eval mode without gradients (batch norm cannot train on one voxel) and cached.
        """
        if self._lidar_bev_shape is None:
            feats = torch.zeros((1, 1, self._point_dims()), device=device)
            num_points = torch.ones(1, dtype=torch.int32, device=device)
            coors = torch.zeros((1, 4), dtype=torch.int32, device=device)
            modes = [m.training for m in (self.pts_voxel_encoder, self.pts_middle_encoder)]
            self.pts_voxel_encoder.eval()
            self.pts_middle_encoder.eval()
            try:
                with torch.no_grad():
                    encoded = self.pts_voxel_encoder(feats, num_points, coors)
                    shape = self.pts_middle_encoder(encoded, coors, 1).shape[1:]
            finally:
                self.pts_voxel_encoder.train(modes[0])
                self.pts_middle_encoder.train(modes[1])
            self._lidar_bev_shape = tuple(shape)
        return torch.zeros((batch, ) + self._lidar_bev_shape, device=device)

    def lidar_bev(self, voxels: Optional[Dict[str, Tensor]], keep: Tensor) -> Tuple[Tensor, Tensor]:
        """Encode the voxels of the samples in ``keep``.

        Args:
            voxels: ``voxels (V, P, C)``, ``num_points (V,)``, ``coors (V, 4)``, or None when
                the batch has no points at all.
            keep: ``(B,)`` bool, samples whose LiDAR is used.

        Returns:
            tuple: ``(B, C_lidar, Y, X)`` map (zeros for samples without voxels) and the
            ``(B,)`` bool mask of samples that had at least one voxel.
        """
        batch = keep.shape[0]
        has_points = torch.zeros(batch, dtype=torch.bool, device=keep.device)
        if voxels is not None:
            used = keep[voxels['coors'][:, 0].long()]
            feats = voxels['voxels'][used]
            num_points, coors = voxels['num_points'][used], voxels['coors'][used]
            has_points[coors[:, 0].long()] = True
        # batch norm cannot train on a single voxel: such a batch counts as LiDAR-less
        if voxels is None or coors.shape[0] < (2 if self.training else 1):
            has_points[:] = False
            return self._empty_lidar_bev(batch, keep.device), has_points
        encoded = self.pts_voxel_encoder(feats, num_points, coors)
        bev = self.pts_middle_encoder(encoded, coors, batch)
        return bev * has_points[:, None, None, None].to(bev.dtype), has_points

    def fuse_modalities(self, batch_inputs: dict, data_samples: Sequence, training: bool,
                        aux: Optional[dict] = None) -> Union[Tensor, Dict[str, Tensor]]:
        """Run both branches and the fuser on the modalities each sample has.

        A modality counts as present unless the batch lacks it, the sample's metainfo flags it
        missing, the sample has no LiDAR voxel, or (``training``) the modality drop removed it.

        Args:
            batch_inputs: ``imgs`` ``(B, N, 3, H, W)`` and/or ``voxels`` (see the module
                docstring); either may be absent.
            data_samples: ``B`` data samples.
            training: Whether to apply the random modality drop.
            aux: When given, receives ``'depth'`` ``(B, N, D, h, w)``, the camera branch's depth
                probabilities, if the camera branch ran.

        Returns:
            ``(B, C, Y, X)`` fused BEV map, or ``{'det': ..., 'seg': ...}`` task maps.
        """
        device = next(self.parameters()).device
        present = flagged_present(data_samples, device)
        imgs = batch_inputs.get('imgs')
        present[:, 0] &= self.has_camera and imgs is not None
        voxels = batch_inputs.get('voxels')
        present[:, 1] &= self.has_lidar and voxels is not None
        if training and self.modality_dropper.enabled:
            present = self.modality_dropper(present)
        feats = []
        if self.has_camera:
            if present[:, 0].any() and aux is not None:
                cam, aux['depth'] = self.camera_bev(imgs, data_samples, return_depth=True)
            elif present[:, 0].any():
                cam = self.camera_bev(imgs, data_samples)
            else:
                cam = torch.zeros((len(data_samples), self.view_transform.bev_channels) +
                                  self.view_transform.bev_shape, device=device)
            feats.append(cam)
        else:
            feats.append(None)
        if self.has_lidar:
            lidar, has_points = self.lidar_bev(voxels, present[:, 1])
            present[:, 1] &= has_points
            feats.append(lidar)
        else:
            feats.append(None)
        return self.fuser(feats, present)

    def extract_feat(self, batch_inputs: dict, data_samples: Sequence, training: bool = False,
                     aux: Optional[dict] = None) -> Dict[str, Tensor]:
        """Fused BEV features after the shared BEV backbone and neck, per task.

        Args:
            batch_inputs: As :meth:`fuse_modalities`.
            data_samples: ``B`` data samples.
            training: Whether to apply the random modality drop.
            aux: As :meth:`fuse_modalities`.

        Returns:
            dict: ``{'det': (B, C, Y', X'), 'seg': (B, C, Y', X')}`` (the same tensor for both
            tasks when the fuser returns one map).
        """
        fused = self.fuse_modalities(batch_inputs, data_samples, training, aux)
        if not isinstance(fused, dict):
            shared = self.bev_neck(self.bev_backbone(fused))[0]
            return {task: shared for task in TASKS}
        return {task: self.bev_neck(self.bev_backbone(fused[task]))[0] for task in TASKS}

    # ------------------------------------------------------------------ mmdet3d API
    def loss(self, batch_inputs: dict, batch_data_samples: List) -> Dict[str, Tensor]:
        """Training losses of both heads (with the modality drop).

        Args:
            batch_inputs: ``imgs`` ``(B, N, 3, H, W)`` and/or ``voxels`` (``voxels (V, P, C)``,
                ``num_points (V,)``, ``coors (V, 4)``), as ``Det3DDataPreprocessor`` gives.
            batch_data_samples: ``B`` data samples with ``gt_instances_3d`` (``bboxes_3d``
                ``(K, 9)``, ``labels_3d`` ``(K,)``) for the detection head and
                ``gt_masks_bev`` ``(6, 200, 200)`` for the map head.

        Returns:
            dict: Scalar losses, the detection head's (``task0.loss_heatmap``, ...), the
            map head's ``loss_map_<class>`` and, with a depth-supervised view transform,
            ``loss_depth``; mmengine sums every key containing ``loss``.
        """
        aux = {} if self.with_depth_loss else None
        feats = self.extract_feat(batch_inputs, batch_data_samples, training=True, aux=aux)
        losses = {}
        if aux is not None:
            # zero (in the graph of no camera parameter) when the drop skipped every camera
            losses['loss_depth'] = (self.depth_loss(aux['depth'], batch_data_samples)
                                    if 'depth' in aux else feats['det'].sum() * 0.0)
        if self.bbox_head is not None:
            losses.update(self.bbox_head.loss([feats['det']], batch_data_samples))
        if self.seg_head is not None:
            losses.update(self.seg_head.loss(feats['seg'], batch_data_samples))
        return losses

    def predict(self, batch_inputs: dict, batch_data_samples: List) -> List:
        """Detect boxes and segment the map (no modality drop).

        Args:
            batch_inputs: As :meth:`loss`; either modality may be absent.
            batch_data_samples: ``B`` data samples (metainfo as in the module docstring).

        Returns:
            list: The ``B`` data samples with ``pred_instances_3d`` (``bboxes_3d`` ``(K, 9)``,
            ``scores_3d`` ``(K,)``, ``labels_3d`` ``(K,)``) and ``masks_bev``
            ``(6, 200, 200)`` probabilities.
        """
        feats = self.extract_feat(batch_inputs, batch_data_samples, training=False)
        if self.bbox_head is not None:
            instances = self.bbox_head.predict([feats['det']], batch_data_samples)
            batch_data_samples = self.add_pred_to_datasample(batch_data_samples, instances)
        if self.seg_head is not None:
            masks = self.seg_head.predict(feats['seg'])
            for sample, mask in zip(batch_data_samples, masks):
                sample.masks_bev = mask
        return batch_data_samples

    def _forward(self, batch_inputs: dict, batch_data_samples: Optional[List] = None) -> dict:
        """Raw head outputs (mode ``'tensor'``).

        Returns:
            dict: ``'det'``: the detection head's per-task output maps; ``'seg'``:
            ``(B, num_classes, 200, 200)`` map logits.
        """
        feats = self.extract_feat(batch_inputs, batch_data_samples or [], training=False)
        outputs = {}
        if self.bbox_head is not None:
            outputs['det'] = self.bbox_head([feats['det']])
        if self.seg_head is not None:
            outputs['seg'] = self.seg_head(feats['seg'])
        return outputs


@MODELS.register_module()
class BEVFusion(MultiModalBEVDetector):
    """BEVFusion (Liu et al., 2022) with a conv fuser: the baseline MetaBEV is compared with.

    Same arguments as :class:`MultiModalBEVDetector`; camera-only and LiDAR-only variants leave
    out the other branch (the conv fuser then sees zeros for it).
    """
