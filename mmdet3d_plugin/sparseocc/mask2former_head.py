"""SparseOcc's semantic Mask2Former head on a sparse voxel latent."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmdet.models.layers import Mask2FormerTransformerDecoder
from mmdet.utils import reduce_mean
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdet3d_plugin.models.occupancy import read_occupancy_targets
from mmdet3d_plugin.registry import MODELS, TASK_UTILS
from .occ_mask_targets import ValidVoxels, flat_to_xyz
from .position_encoding_3d import sine_position_encoding_3d, voxel_centres
from .sparse_mask_logits import (dense_mask_logits, gt_to_latent_coords, latent_index_map,
                                 pool_mask_logits, sample_mask_logits)
from .voxel_tokens import VoxelTokens, pad_sparse_level

#: One prediction set: class logits ``(B, Q, K + 1)``, mask logits at the finest level's tokens
#: ``(B, Q, N)`` and the empty-token logit of every inactive voxel ``(B, Q)``.
Prediction = Tuple[Tensor, Tensor, Tensor]


def default_assigner() -> dict:
    """Mask2Former's matching: class 2, mask BCE 5, dice 5 (SparseOcc's weights)."""
    return dict(type='mmdet.HungarianAssigner', match_costs=[
        dict(type='mmdet.ClassificationCost', weight=2.0),
        dict(type='mmdet.CrossEntropyLossCost', weight=5.0, use_sigmoid=True),
        dict(type='mmdet.DiceCost', weight=5.0, pred_act=True, eps=1.0)])


@MODELS.register_module()
class SparseMask2FormerOccHead(BaseModule):
    """Semantic occupancy as query masks over the active voxels of a sparse latent.

    ``Q`` learned queries pass ``L`` mmdet Mask2Former decoder layers (masked cross-attention,
    self-attention, FFN). Layer ``i`` cross-attends to the active voxels of level
    ``attn_levels[i % len(attn_levels)]``, each sample's tokens padded to the batch's largest
    count with the padding folded into the attention mask; keys carry a 3D sine encoding of the
    voxel centre and a level embedding. Before the first layer and after each, every query
    predicts class logits (``K`` classes + no-object) and mask logits ``mask_embed . feature`` at
    the finest level's active voxels; a learned empty token gives the query's logit at every
    inactive latent voxel. A token is hidden from a query where the previous prediction's logit,
    max-pooled over the token's cell, is below 0 (sigmoid < 0.5); a query that would see no
    token sees all of them.

    Training is semantic Mask2Former: one GT mask per class present in ``gt_occ`` (free space
    included; ``ignore_index`` and voxels outside ``mask_key`` left out). Every prediction set is
    matched (mmdet's ``HungarianAssigner``) and scored on ``num_points`` sampled GT voxels per
    sample, the mask logits taken by trilinear interpolation of the latent logit volume at the
    GT voxel centres (the latent and GT grids cover the same extent). Loss points are
    ``importance_sample_ratio`` most uncertain of ``oversample_ratio`` times as many candidates
    plus uniform ones, as mmdet's Mask2Former. Losses: ``loss_cls`` (CE, no-object weight 0.1),
    ``loss_mask`` (BCE), ``loss_dice``, for the last set and ``d{i}.`` for the earlier ones.

    Inference: per-voxel class scores ``sum_q softmax(cls_q)[:K] * sigmoid(mask_q)`` with the
    mask logits upsampled trilinearly to the GT grid, labels their argmax.

    Args:
        in_channels: Channels of the latent's levels (one int for all, or one per level).
        num_classes: ``K`` labels, free included (Occ3D 18, nuScenes-Occupancy 17).
        grid_shape: ``(X, Y, Z)`` of the GT grid.
        embed_dims: Query / token width (paper 192).
        num_queries: ``Q`` (paper 100).
        num_heads: Attention heads (paper 6).
        num_layers: Decoder layers ``L`` (paper 9).
        feedforward_channels: FFN width (paper 1536).
        attn_levels: Latent levels (0 = finest) attended in turn, e.g. ``(3, 2, 1)`` for
            SparseOcc's coarse -> fine over a 4-level pyramid.
        mask_key: Data-sample field of the voxels to supervise (``'mask_camera'``), or None.
        ignore_index: GT label skipped by the losses.
        loss_cls / loss_mask / loss_dice: mmdet loss configs (defaults: CE x2 with class weight 1
            and no-object 0.1, BCE x5, naive dice eps 1 x5).
        assigner: Matching config (default :func:`default_assigner`).
        num_points: GT voxels sampled per sample for matching and per positive query for the
            mask losses (paper 50176).
        oversample_ratio / importance_sample_ratio: Loss point sampling (ratio 0: uniform).
        point_class_weights: ``(K,)`` weights by GT label of the matching points and of the
            importance candidates (SparseOcc: inverse frequency ** 0.25); None: uniform.
        predict_query_chunk: Queries upsampled to the GT grid at a time in :meth:`predict`.
        init_cfg: mmengine init config.
    """

    def __init__(self, in_channels: Union[int, Sequence[int]], num_classes: int,
                 grid_shape: Sequence[int], embed_dims: int = 32, num_queries: int = 20,
                 num_heads: int = 4, num_layers: int = 3, feedforward_channels: int = 128,
                 attn_levels: Sequence[int] = (1, 0), mask_key: Optional[str] = None,
                 ignore_index: int = 255, loss_cls: Optional[dict] = None,
                 loss_mask: Optional[dict] = None, loss_dice: Optional[dict] = None,
                 assigner: Optional[dict] = None, num_points: int = 4096,
                 oversample_ratio: float = 3.0, importance_sample_ratio: float = 0.75,
                 point_class_weights: Optional[Sequence[float]] = None,
                 predict_query_chunk: int = 8, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        self.grid_shape = tuple(int(v) for v in grid_shape)
        if len(self.grid_shape) != 3 or min(self.grid_shape) < 1:
            raise ValueError(f'{name}: grid_shape must be (X, Y, Z), got {grid_shape}')
        self.num_classes = int(num_classes)
        if not 1 <= self.num_classes <= 255:
            raise ValueError(f'{name}: num_classes must be in [1, 255] (uint8 labels), got '
                             f'{num_classes}')
        self.mask_key = mask_key
        self.ignore_index = int(ignore_index)
        self.attn_levels = tuple(int(v) for v in attn_levels)
        if not self.attn_levels or len(set(self.attn_levels)) != len(self.attn_levels) or \
                min(self.attn_levels) < 0:
            raise ValueError(f'{name}: attn_levels must be distinct level indices >= 0, got '
                             f'{attn_levels}')
        if int(num_layers) < len(self.attn_levels):
            raise ValueError(f'{name}: num_layers ({num_layers}) < len(attn_levels) '
                             f'{attn_levels}: some levels would never be attended')
        levels = max(self.attn_levels) + 1
        if isinstance(in_channels, int):
            in_channels = [in_channels] * levels
        self.in_channels = [int(c) for c in in_channels]
        if len(self.in_channels) < levels:
            raise ValueError(f'{name}: in_channels {in_channels} lists fewer levels than '
                             f'attn_levels {attn_levels} uses')
        self.embed_dims = int(embed_dims)
        self.num_queries = int(num_queries)
        self.num_heads = int(num_heads)
        self.num_points = int(num_points)
        self.oversample_ratio = float(oversample_ratio)
        self.importance_sample_ratio = float(importance_sample_ratio)
        if self.num_points < 1 or self.oversample_ratio < 1 or \
                not 0 <= self.importance_sample_ratio <= 1:
            raise ValueError(f'{name}: need num_points >= 1, oversample_ratio >= 1 and '
                             f'importance_sample_ratio in [0, 1], got {num_points}, '
                             f'{oversample_ratio}, {importance_sample_ratio}')
        if point_class_weights is not None and len(point_class_weights) != self.num_classes:
            raise ValueError(f'{name}: point_class_weights must have num_classes '
                             f'({self.num_classes}) entries, got {len(point_class_weights)}')
        self.register_buffer(
            'point_class_weights', None if point_class_weights is None else
            torch.as_tensor(point_class_weights, dtype=torch.float32), persistent=False)
        self.predict_query_chunk = max(int(predict_query_chunk), 1)

        dims = self.embed_dims
        attn = dict(embed_dims=dims, num_heads=self.num_heads, attn_drop=0.0, proj_drop=0.0,
                    batch_first=True)
        self.decoder = Mask2FormerTransformerDecoder(
            num_layers=int(num_layers), return_intermediate=False,
            layer_cfg=dict(self_attn_cfg=dict(attn), cross_attn_cfg=dict(attn),
                           ffn_cfg=dict(embed_dims=dims,
                                        feedforward_channels=int(feedforward_channels),
                                        num_fcs=2, ffn_drop=0.0,
                                        act_cfg=dict(type='ReLU', inplace=True))),
            post_norm_cfg=dict(type='LN'))
        self.input_projs = nn.ModuleList([
            nn.Identity() if self.in_channels[lvl] == dims else
            nn.Linear(self.in_channels[lvl], dims) for lvl in self.attn_levels])
        self.mask_proj = nn.Linear(self.in_channels[0], dims)
        self.level_embed = nn.Embedding(len(self.attn_levels), dims)
        self.query_feat = nn.Embedding(self.num_queries, dims)
        self.query_embed = nn.Embedding(self.num_queries, dims)
        self.empty_token = nn.Embedding(1, dims)
        self.cls_embed = nn.Linear(dims, self.num_classes + 1)
        self.mask_embed = nn.Sequential(
            nn.Linear(dims, dims), nn.ReLU(inplace=True), nn.Linear(dims, dims),
            nn.ReLU(inplace=True), nn.Linear(dims, dims))

        if loss_cls is None:
            loss_cls = dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False, loss_weight=2.0,
                            reduction='mean', class_weight=[1.0] * self.num_classes + [0.1])
        class_weight = loss_cls.get('class_weight') or [1.0] * (self.num_classes + 1)
        if len(class_weight) != self.num_classes + 1:
            raise ValueError(f'{name}: loss_cls.class_weight needs num_classes + 1 '
                             f'({self.num_classes + 1}, no-object last) entries, got '
                             f'{len(class_weight)}')
        self.register_buffer('class_weight', torch.as_tensor(class_weight, dtype=torch.float32),
                             persistent=False)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_mask = MODELS.build(loss_mask or dict(
            type='mmdet.CrossEntropyLoss', use_sigmoid=True, reduction='mean',
            loss_weight=5.0))
        self.loss_dice = MODELS.build(loss_dice or dict(
            type='mmdet.DiceLoss', use_sigmoid=True, activate=True, reduction='mean',
            naive_dice=True, eps=1.0, loss_weight=5.0))
        self.assigner = TASK_UTILS.build(assigner or default_assigner())

    def init_weights(self) -> None:
        """mmdet Mask2Former's init: Xavier-normal decoder weights."""
        super().init_weights()
        for param in self.decoder.parameters():
            if param.dim() > 1:
                nn.init.xavier_normal_(param)

    # ------------------------------------------------------------------ forward
    def _level_tokens(self, levels: Sequence, mask_tokens: VoxelTokens
                      ) -> List[Tuple[VoxelTokens, Tensor, Tensor]]:
        """``(tokens, keys (B, N, C), key_pos (B, N, C))`` of each attended level."""
        out = []
        for i, lvl in enumerate(self.attn_levels):
            if lvl >= len(levels):
                raise ValueError(f'{type(self).__name__}: attn_levels {self.attn_levels} use '
                                 f'level {lvl} but the latent has {len(levels)} levels')
            tokens = mask_tokens if lvl == 0 else pad_sparse_level(
                levels[lvl], mask_tokens.valid.shape[0])
            keys = self.input_projs[i](tokens.feats) + self.level_embed.weight[i]
            pos = sine_position_encoding_3d(voxel_centres(tokens.coords, tokens.spatial_shape),
                                            self.embed_dims)
            out.append((tokens, keys, pos))
        return out

    def _predict_set(self, query: Tensor, mask_feats: Tensor) -> Prediction:
        query = self.decoder.post_norm(query)
        embed = self.mask_embed(query)
        logits = torch.einsum('bqc,bnc->bqn', embed, mask_feats)
        return self.cls_embed(query), logits, embed @ self.empty_token.weight[0]

    def _attn_mask(self, pred: Prediction, mask_tokens: VoxelTokens,
                   tokens: VoxelTokens) -> Tensor:
        """``(B * heads, Q, N)`` bool, True = hidden (below 0.5, or padding)."""
        _, logits, empty = pred
        with torch.no_grad():
            if tokens is mask_tokens:
                values = logits
            else:
                values = pool_mask_logits(logits, empty, mask_tokens, tokens)
            pad = ~tokens.valid[:, None, :]
            hidden = (values.sigmoid() < 0.5) | pad
            fallback = pad & tokens.has_tokens[:, None, None]
            hidden = torch.where(hidden.all(-1, keepdim=True), fallback, hidden)
        return hidden.repeat_interleave(self.num_heads, dim=0)

    def forward(self, feats) -> Tuple[List[Prediction], VoxelTokens]:
        """Decode the queries.

        Args:
            feats: A ``SparseLatent`` (or any object with ``levels``: spconv
                ``SparseConvTensor`` s, finest first, indices ``[batch, z, y, x]``).

        Returns:
            tuple: ``L + 1`` prediction sets ``(cls (B, Q, K + 1), mask logits (B, Q, N),
            empty logits (B, Q))``, initial queries first, and the finest level's tokens that
            the ``N`` mask logits belong to.
        """
        levels = getattr(feats, 'levels', None)
        if not levels:
            raise TypeError(f'{type(self).__name__}: feats must be a SparseLatent with a '
                            f'non-empty levels list, got {type(feats).__name__}')
        batch_size = int(levels[0].batch_size)
        mask_tokens = pad_sparse_level(levels[0], batch_size)
        mask_feats = self.mask_proj(mask_tokens.feats)
        attended = self._level_tokens(levels, mask_tokens)
        query = self.query_feat.weight[None].expand(batch_size, -1, -1)
        query_pos = self.query_embed.weight[None].expand(batch_size, -1, -1)
        preds = [self._predict_set(query, mask_feats)]
        for i, layer in enumerate(self.decoder.layers):
            tokens, keys, pos = attended[i % len(attended)]
            query = layer(query=query, key=keys, value=keys, query_pos=query_pos,
                          key_pos=pos, cross_attn_mask=self._attn_mask(preds[-1], mask_tokens,
                                                                       tokens))
            preds.append(self._predict_set(query, mask_feats))
        return preds, mask_tokens

    # ------------------------------------------------------------------ training
    def loss(self, feats, data_samples: Sequence) -> Dict[str, Tensor]:
        """Matching and mask losses of every prediction set.

        Returns:
            dict: ``loss_cls``, ``loss_mask``, ``loss_dice`` of the last set and
            ``d{i}.loss_*`` of set ``i`` (``d0`` = the initial queries).
        """
        preds, mask_tokens = self(feats)
        device = preds[0][0].device
        target = read_occupancy_targets(data_samples, self.grid_shape, self.mask_key,
                                        self.ignore_index, device, type(self).__name__)
        if target.shape[0] != preds[0][0].shape[0]:
            raise ValueError(f'{type(self).__name__}: {target.shape[0]} data samples for a '
                             f'latent of batch size {preds[0][0].shape[0]}')
        valid = [ValidVoxels(t, self.num_classes, self.ignore_index, type(self).__name__)
                 for t in target]
        index_map = latent_index_map(mask_tokens)
        num_masks = reduce_mean(torch.tensor(float(sum(len(v.classes) for v in valid)),
                                             device=device))
        num_masks = max(float(num_masks), 1.0)
        losses = {}
        for i, pred in enumerate(preds):
            prefix = '' if i == len(preds) - 1 else f'd{i}.'
            values = self._loss_single(pred, valid, index_map, mask_tokens.spatial_shape,
                                       num_masks)
            for key, value in zip(('loss_cls', 'loss_mask', 'loss_dice'), values):
                losses[prefix + key] = value
        return losses

    def _points(self, voxels: ValidVoxels, num: int, latent_shape) -> Tuple[Tensor, Tensor]:
        flat, labels = voxels.sample(num, self.point_class_weights)
        xyz = flat_to_xyz(flat, self.grid_shape)
        return gt_to_latent_coords(xyz, self.grid_shape, latent_shape), labels

    def match(self, cls: Tensor, logits: Tensor, empty: Tensor, voxels: ValidVoxels,
              index_map: Tensor, latent_shape) -> Tensor:
        """Assign one sample's queries to its GT class masks.

        Args:
            cls / logits / empty: ``(Q, K + 1)``, ``(Q, N)``, ``(Q,)`` predictions.
            voxels: The sample's valid GT voxels.
            index_map / latent_shape: See :func:`sample_mask_logits`.

        Returns:
            Tensor: ``(Q,)`` int64 index into ``voxels.classes`` of the matched mask, -1 for
            no object.
        """
        assigned = torch.full((cls.shape[0], ), -1, dtype=torch.long, device=cls.device)
        if len(voxels.classes) == 0:
            return assigned
        with torch.no_grad():
            points, labels = self._points(voxels, self.num_points, latent_shape)
            pred_masks = sample_mask_logits(logits, empty, index_map, latent_shape, points)
            gt_masks = (labels[None] == voxels.classes[:, None]).float()
            result = self.assigner.assign(
                pred_instances=InstanceData(scores=cls, masks=pred_masks),
                gt_instances=InstanceData(labels=voxels.classes, masks=gt_masks))
        return result.gt_inds - 1

    def _loss_points(self, logits: Tensor, empty: Tensor, voxels: ValidVoxels,
                     classes: Tensor, index_map: Tensor, latent_shape) -> Tuple[Tensor, Tensor]:
        """``(n, P, 3)`` latent points and ``(n, P)`` binary targets of ``n`` matched queries."""
        num = len(classes)
        important = int(self.importance_sample_ratio * self.num_points)
        points = []
        labels = []
        if important:
            cand, cand_labels = self._points(
                voxels, int(self.oversample_ratio * self.num_points), latent_shape)
            with torch.no_grad():
                uncertainty = -sample_mask_logits(logits, empty, index_map, latent_shape,
                                                  cand).abs()
            top = uncertainty.topk(important, dim=1).indices  # (n, important)
            points.append(cand[top])
            labels.append(cand_labels[top])
        flat, rand_labels = voxels.sample(self.num_points - important)
        rand = gt_to_latent_coords(flat_to_xyz(flat, self.grid_shape), self.grid_shape,
                                   latent_shape)
        points.append(rand[None].expand(num, -1, -1))
        labels.append(rand_labels[None].expand(num, -1))
        labels = torch.cat(labels, dim=1)
        return torch.cat(points, dim=1), (labels == classes[:, None]).float()

    def _loss_single(self, pred: Prediction, valid: List[ValidVoxels], index_map: Tensor,
                     latent_shape, num_masks: float) -> Tuple[Tensor, Tensor, Tensor]:
        cls, logits, empty = pred
        labels, mask_preds, mask_targets = [], [], []
        for b, voxels in enumerate(valid):
            assigned = self.match(cls[b].detach(), logits[b].detach(), empty[b].detach(),
                                  voxels, index_map[b], latent_shape)
            pos = torch.nonzero(assigned >= 0).squeeze(1)
            sample_labels = assigned.new_full(assigned.shape, self.num_classes)
            sample_labels[pos] = voxels.classes[assigned[pos]]
            labels.append(sample_labels)
            if len(pos):
                points, targets = self._loss_points(
                    logits[b, pos].detach(), empty[b, pos].detach(), voxels,
                    voxels.classes[assigned[pos]], index_map[b], latent_shape)
                mask_preds.append(sample_mask_logits(logits[b, pos], empty[b, pos],
                                                     index_map[b], latent_shape, points))
                mask_targets.append(targets)
        labels = torch.cat(labels)
        loss_cls = self.loss_cls(cls.flatten(0, 1), labels,
                                 avg_factor=self.class_weight[labels].sum())
        if not mask_preds:
            zero = logits.sum() * 0 + empty.sum() * 0
            return loss_cls, zero, zero
        mask_preds = torch.cat(mask_preds)
        mask_targets = torch.cat(mask_targets)
        loss_dice = self.loss_dice(mask_preds, mask_targets, avg_factor=num_masks)
        loss_mask = self.loss_mask(mask_preds.reshape(-1), mask_targets.reshape(-1),
                                   avg_factor=num_masks * mask_preds.shape[1])
        return loss_cls, loss_mask, loss_dice

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict(self, feats) -> Tuple[Tensor, Tensor]:
        """Labels and class probabilities on the GT grid.

        Returns:
            tuple: ``(B, X, Y, Z)`` uint8 argmax labels and ``(B, K, X, Y, Z)`` float32 class
            scores normalised over the ``K`` classes.
        """
        preds, mask_tokens = self(feats)
        cls, logits, empty = preds[-1]
        class_probs = cls.float().softmax(-1)[..., :self.num_classes]  # (B, Q, K)
        volume = dense_mask_logits(logits.float(), empty.float(), mask_tokens)
        size = self.grid_shape[::-1]  # (Z, Y, X)
        scores = volume.new_zeros(volume.shape[0], self.num_classes, *size)
        for start in range(0, volume.shape[1], self.predict_query_chunk):
            chunk = volume[:, start:start + self.predict_query_chunk]
            if tuple(chunk.shape[2:]) != size:
                chunk = F.interpolate(chunk, size=size, mode='trilinear', align_corners=False)
            scores += torch.einsum('bqk,bqzyx->bkzyx',
                                   class_probs[:, start:start + self.predict_query_chunk],
                                   chunk.sigmoid())
        scores = scores.permute(0, 1, 4, 3, 2)  # (B, K, Z, Y, X) -> (B, K, X, Y, Z)
        probs = scores / scores.sum(dim=1, keepdim=True).clamp_min(1e-12)
        return probs.argmax(dim=1).to(torch.uint8), probs
