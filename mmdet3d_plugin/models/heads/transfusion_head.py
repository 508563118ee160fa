"""TransFusion detection head (Bai et al., 2022) on a fused BEV map, as BEVFusion / MetaBEV use.

mmdet3d 1.4's wheel lacks ``projects/BEVFusion``, so the head is written here from mmdet/mmdet3d
parts: mmdet's ``DetrTransformerDecoderLayer`` (query self-attention + cross-attention over the
flattened BEV map), mmdet3d's ``SeparateHead`` (1x1 Conv1d FFNs per output), its Gaussian
heatmap helpers, mmdet's ``FocalLoss`` / ``GaussianFocalLoss`` / ``L1Loss`` and
:class:`HungarianAssigner3D`. Pipeline: a class heatmap on the BEV map -> top-N local maxima
become queries (BEV feature at the cell + a class embedding) -> decoder layer(s) with learned
coordinate encodings -> per-query centre offset, height, log-size, sin/cos yaw, velocity and
class logits. The final score of a query is ``sigmoid(class logit) x heatmap value`` of the
class its proposal came from.
"""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet3d.models.dense_heads.centerpoint_head import SeparateHead
from mmdet3d.models.utils import clip_sigmoid
from mmdet3d.structures import LiDARInstance3DBoxes
from mmdet.models.layers.transformer import DetrTransformerDecoderLayer
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdet3d_plugin.registry import MODELS, TASK_UTILS
from .transfusion_layers import PositionEmbeddingLearned, bev_cell_centers, select_proposals
from .transfusion_targets import heatmap_targets, query_targets

_TRAIN_KEYS = ('point_cloud_range', 'voxel_size', 'out_size_factor', 'assigner')


def _default_common_heads() -> dict:
    return dict(center=(2, 2), height=(1, 2), dim=(3, 2), rot=(2, 2), vel=(2, 2))


def _default_decoder_layer(hidden: int) -> dict:
    attn = dict(embed_dims=hidden, num_heads=8, attn_drop=0.1,
                dropout_layer=dict(type='Dropout', drop_prob=0.1))
    return dict(self_attn_cfg=attn, cross_attn_cfg=dict(attn),
                ffn_cfg=dict(embed_dims=hidden, feedforward_channels=2 * hidden, num_fcs=2,
                             ffn_drop=0.1, act_cfg=dict(type='ReLU', inplace=True)),
                norm_cfg=dict(type='LN'))


@MODELS.register_module()
class TransFusionHead(BaseModule):
    """Query-based 3D detection head with heatmap query initialisation.

    Args:
        in_channels: Channels of the input BEV map.
        num_classes: ``C``.
        num_proposals: ``N`` queries per sample.
        hidden_channel: Query / key width ``D``.
        num_decoder_layers: Decoder depth.
        decoder_layer: ``DetrTransformerDecoderLayer`` kwargs (default TransFusion's: 8 heads,
            dropout 0.1, FFN ``2 D``, post-norm LN).
        auxiliary: Supervise every decoder layer (``d{i}.loss_*`` for the earlier ones).
        nms_kernel_size: Local-max window of the query initialisation.
        skip_nms_classes: Class indices picked without the local-max test (TransFusion does
            this for pedestrians and traffic cones).
        common_heads: ``{name: (channels, num_convs)}`` regression FFNs; ``center``,
            ``height``, ``dim``, ``rot`` (and ``vel`` when the coder's code_size is 10).
        num_heatmap_convs: Convs of the per-query classification FFN.
        bbox_coder: :class:`TransFusionBBoxCoder` config.
        loss_cls, loss_bbox, loss_heatmap: mmdet focal, L1 and Gaussian focal losses
            (defaults: TransFusion's, focal gamma 2 / alpha 0.25, L1 weight 0.25, heatmap 1).
        train_cfg: ``point_cloud_range``, ``voxel_size``, ``out_size_factor``, ``assigner``
            (:class:`HungarianAssigner3D`), optional ``gaussian_overlap`` (0.1), ``min_radius``
            (2) and ``code_weights`` (ones).
        test_cfg: Optional ``score_threshold`` (None: every proposal is returned, so the
            nuScenes devkit sees the full ranking).
    """

    def __init__(self, in_channels: int, num_classes: int, num_proposals: int = 200,
                 hidden_channel: int = 128, num_decoder_layers: int = 1,
                 decoder_layer: Optional[dict] = None, auxiliary: bool = True,
                 nms_kernel_size: int = 3, skip_nms_classes: Sequence[int] = (),
                 common_heads: Optional[dict] = None, num_heatmap_convs: int = 2,
                 bbox_coder: Optional[dict] = None, loss_cls: Optional[dict] = None,
                 loss_bbox: Optional[dict] = None, loss_heatmap: Optional[dict] = None,
                 train_cfg: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if bbox_coder is None:
            raise ValueError('TransFusionHead: bbox_coder (TransFusionBBoxCoder) is required')
        self.num_classes = int(num_classes)
        self.num_proposals = int(num_proposals)
        self.auxiliary = auxiliary
        self.nms_kernel_size = int(nms_kernel_size)
        self.skip_nms_classes = tuple(int(c) for c in skip_nms_classes)
        self.train_cfg = dict(train_cfg or {})
        self.test_cfg = dict(test_cfg or {})
        self.bbox_coder = TASK_UTILS.build(bbox_coder)
        self.assigner = (TASK_UTILS.build(self.train_cfg['assigner'])
                         if 'assigner' in self.train_cfg else None)
        self.loss_cls = MODELS.build(loss_cls or dict(
            type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0))
        self.loss_bbox = MODELS.build(loss_bbox or dict(type='mmdet.L1Loss', loss_weight=0.25))
        self.loss_heatmap = MODELS.build(loss_heatmap or dict(type='mmdet.GaussianFocalLoss'))

        self.shared_conv = nn.Conv2d(in_channels, hidden_channel, 3, padding=1)
        self.heatmap_head = nn.Sequential(
            ConvModule(hidden_channel, hidden_channel, 3, padding=1, norm_cfg=dict(type='BN2d')),
            nn.Conv2d(hidden_channel, self.num_classes, 3, padding=1))
        self.class_encoding = nn.Conv1d(self.num_classes, hidden_channel, 1)
        layer_cfg = decoder_layer or _default_decoder_layer(hidden_channel)
        heads = dict(common_heads or _default_common_heads(),
                     heatmap=(self.num_classes, num_heatmap_convs))
        self.decoder = nn.ModuleList()
        self.query_pos_embeds = nn.ModuleList()
        self.key_pos_embeds = nn.ModuleList()
        self.prediction_heads = nn.ModuleList()
        for _ in range(num_decoder_layers):
            self.decoder.append(DetrTransformerDecoderLayer(
                **{k: dict(v) if isinstance(v, dict) else v for k, v in layer_cfg.items()}))
            self.query_pos_embeds.append(PositionEmbeddingLearned(2, hidden_channel))
            self.key_pos_embeds.append(PositionEmbeddingLearned(2, hidden_channel))
            self.prediction_heads.append(SeparateHead(
                hidden_channel, dict(heads), head_conv=hidden_channel, final_kernel=1,
                conv_cfg=dict(type='Conv1d'), norm_cfg=dict(type='BN1d')))

    def init_weights(self) -> None:
        """Xavier for the decoder, -2.19 heatmap biases (prior 0.1), as TransFusion."""
        super().init_weights()
        for layer in self.decoder:
            for param in layer.parameters():
                if param.dim() > 1:
                    nn.init.xavier_uniform_(param)
        nn.init.constant_(self.heatmap_head[-1].bias, -2.19)
        for head in self.prediction_heads:
            head.init_weights()

    # ------------------------------------------------------------------ forward
    def forward(self, feats: Sequence[Tensor]) -> Dict:
        """Run the head on a single-level BEV map.

        Args:
            feats: ``[x]`` with ``x`` ``(B, in_channels, H, W)`` (rows ``y``, columns ``x``).

        Returns:
            dict: ``layers``: one dict per decoder layer with ``center`` ``(B, 2, N)`` (cells),
            ``height`` ``(B, 1, N)``, ``dim`` ``(B, 3, N)``, ``rot`` ``(B, 2, N)``, ``vel``
            ``(B, 2, N)``, ``heatmap`` ``(B, C, N)`` logits; ``dense_heatmap`` ``(B, C, H, W)``
            logits; ``query_heatmap_score`` ``(B, C, N)`` (heatmap probability of each
            proposal's class, 0 elsewhere); ``query_labels`` / ``query_index`` ``(B, N)``.
        """
        if len(feats) != 1:
            raise ValueError(f'TransFusionHead takes one BEV level, got {len(feats)}')
        feat = self.shared_conv(feats[0])
        batch, channels, height, width = feat.shape
        flat = feat.flatten(2)  # (B, D, HW)
        bev_pos = bev_cell_centers(height, width, batch, feat.device)
        dense_heatmap = self.heatmap_head(feat)
        probs = dense_heatmap.detach().sigmoid()
        labels, index = select_proposals(probs, self.num_proposals, self.nms_kernel_size,
                                         self.skip_nms_classes)
        one_hot = F.one_hot(labels, self.num_classes).transpose(1, 2).to(feat.dtype)
        query = flat.gather(2, index[:, None].expand(-1, channels, -1))
        query = query + self.class_encoding(one_hot)
        query_pos = bev_pos.gather(1, index[..., None].expand(-1, -1, 2))
        key = flat.transpose(1, 2)
        layers = []
        for decoder, query_embed, key_embed, head in zip(
                self.decoder, self.query_pos_embeds, self.key_pos_embeds,
                self.prediction_heads):
            query = decoder(query.transpose(1, 2), key=key, value=key,
                            query_pos=query_embed(query_pos),
                            key_pos=key_embed(bev_pos)).transpose(1, 2)
            out = head(query)
            out['center'] = out['center'] + query_pos.transpose(1, 2)
            layers.append(out)
            query_pos = out['center'].detach().transpose(1, 2)
        heat = probs.flatten(2).gather(2, index[:, None].expand(-1, self.num_classes, -1))
        return dict(layers=layers, dense_heatmap=dense_heatmap,
                    query_heatmap_score=heat * one_hot, query_labels=labels, query_index=index)

    # ------------------------------------------------------------------ training
    def _train(self, key: str):
        if key not in self.train_cfg:
            raise KeyError(f"TransFusionHead: train_cfg (the detector's train_cfg.pts) lacks "
                           f"'{key}'; it needs {list(_TRAIN_KEYS)}")
        return self.train_cfg[key]

    def _cell_size(self) -> List[float]:
        factor = float(self._train('out_size_factor'))
        return [float(v) * factor for v in self._train('voxel_size')[:2]]

    def _check_grid(self, shape) -> None:
        pc_range, cell = self._train('point_cloud_range'), self._cell_size()
        expected = tuple(round((pc_range[3 + i] - pc_range[i]) / cell[i]) for i in (1, 0))
        if tuple(shape) != expected:
            raise ValueError(f'TransFusionHead: BEV map is {tuple(shape)} (H, W) but '
                             f'train_cfg point_cloud_range / (voxel_size x out_size_factor) '
                             f'gives {expected}')

    def loss(self, feats: Sequence[Tensor], batch_data_samples: Sequence) -> Dict[str, Tensor]:
        """Heatmap, classification and box losses.

        Args:
            feats: ``[x]``, ``(B, in_channels, H, W)``.
            batch_data_samples: ``B`` samples with ``gt_instances_3d`` (``bboxes_3d`` ``(K, 9)``
                LiDAR boxes, ``labels_3d`` ``(K,)``); ``K`` may be 0; labels outside
                ``[0, C)`` (e.g. -1 for ignored classes) are left out.

        Returns:
            dict: ``loss_heatmap``, ``loss_cls``, ``loss_bbox`` (last layer), ``d{i}.loss_cls``
            / ``d{i}.loss_bbox`` (earlier layers when ``auxiliary``) and ``matched_ious``
            (logged, not a loss).
        """
        if self.assigner is None:
            raise KeyError("TransFusionHead: train_cfg lacks 'assigner'")
        outputs = self(feats)
        dense = outputs['dense_heatmap']
        self._check_grid(dense.shape[-2:])
        gts = [sample.gt_instances_3d for sample in batch_data_samples]
        gt_boxes = [gt.bboxes_3d.tensor.to(dense.device) if hasattr(gt.bboxes_3d, 'tensor')
                    else gt.bboxes_3d.to(dense.device) for gt in gts]
        gt_labels = [gt.labels_3d.to(dense.device).long() for gt in gts]
        known = [(labels >= 0) & (labels < self.num_classes) for labels in gt_labels]
        gt_boxes = [boxes[keep].float() for boxes, keep in zip(gt_boxes, known)]
        gt_labels = [labels[keep] for labels, keep in zip(gt_labels, known)]
        pc_range = self._train('point_cloud_range')
        target = torch.stack([
            heatmap_targets(boxes, labels, self.num_classes, dense.shape[-2:], pc_range,
                            self._cell_size(), self.train_cfg.get('gaussian_overlap', 0.1),
                            self.train_cfg.get('min_radius', 2))
            for boxes, labels in zip(gt_boxes, gt_labels)])
        losses = dict(loss_heatmap=self.loss_heatmap(
            clip_sigmoid(dense), target, avg_factor=max(float(target.eq(1).sum()), 1.0)))
        layers = outputs['layers']
        supervised = range(len(layers)) if self.auxiliary else [len(layers) - 1]
        for index in supervised:
            prefix = '' if index == len(layers) - 1 else f'd{index}.'
            layer_losses = self._layer_loss(layers[index], gt_boxes, gt_labels, pc_range)
            losses.update({prefix + name: value for name, value in layer_losses.items()})
        return losses

    def _layer_loss(self, layer: Dict[str, Tensor], gt_boxes: List[Tensor],
                    gt_labels: List[Tensor], pc_range) -> Dict[str, Tensor]:
        """Focal classification + weighted L1 code loss of one decoder layer's queries."""
        codes = self.bbox_coder.head_codes(layer)  # (B, N, code)
        boxes = self.bbox_coder.decode_codes(codes.detach())
        logits = layer['heatmap'].transpose(1, 2)  # (B, N, C)
        targets = [query_targets(self.assigner, self.bbox_coder, boxes[i], logits[i].detach(),
                                 gt_boxes[i], gt_labels[i], self.num_classes, pc_range)
                   for i in range(codes.shape[0])]
        num_pos = max(sum(t['num_pos'] for t in targets), 1)
        labels = torch.cat([t['labels'] for t in targets])
        loss_cls = self.loss_cls(logits.reshape(-1, self.num_classes), labels,
                                 avg_factor=num_pos)
        weights = torch.cat([t['bbox_weights'] for t in targets])
        code_weights = self.train_cfg.get('code_weights')
        if code_weights is not None:
            weights = weights * weights.new_tensor(code_weights)[:weights.shape[1]]
        loss_bbox = self.loss_bbox(codes.reshape(-1, codes.shape[-1]),
                                   torch.cat([t['bbox_targets'] for t in targets]),
                                   weights, avg_factor=num_pos)
        positive = labels < self.num_classes
        ious = torch.cat([t['ious'] for t in targets])
        matched = ious[positive].mean() if positive.any() else ious.new_zeros(())
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox, matched_ious=matched.detach())

    # ------------------------------------------------------------------ inference
    def predict(self, feats: Sequence[Tensor], batch_data_samples: Sequence) -> List[InstanceData]:
        """Boxes of every proposal, best first.

        Args:
            feats: ``[x]``, ``(B, in_channels, H, W)``.
            batch_data_samples: ``B`` samples; ``metainfo['box_type_3d']`` (default
                ``LiDARInstance3DBoxes``) types the boxes.

        Returns:
            list[InstanceData]: per sample ``bboxes_3d`` (``(K, 9)`` boxes), ``scores_3d``
            ``(K,)`` and ``labels_3d`` ``(K,)``; ``K <= N`` (centres outside the coder's
            ``post_center_range`` and, if set, scores below ``test_cfg.score_threshold`` are
            dropped).
        """
        outputs = self(feats)
        last = outputs['layers'][-1]
        labels = outputs['query_labels']
        probs = last['heatmap'].sigmoid() * outputs['query_heatmap_score']  # (B, C, N)
        scores = probs.gather(1, labels[:, None]).squeeze(1)
        boxes = self.bbox_coder.decode(last)
        threshold = self.test_cfg.get('score_threshold')
        results = []
        for i, sample in enumerate(batch_data_samples):
            keep = self.bbox_coder.in_range(boxes[i])
            if threshold is not None:
                keep &= scores[i] >= threshold
            order = scores[i][keep].argsort(descending=True)
            box_type = sample.metainfo.get('box_type_3d', LiDARInstance3DBoxes)
            result = InstanceData()
            result.bboxes_3d = box_type(boxes[i][keep][order], box_dim=boxes.shape[-1])
            result.scores_3d = scores[i][keep][order]
            result.labels_3d = labels[i][keep][order]
            results.append(result)
        return results
