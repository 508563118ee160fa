"""Training targets of the TransFusion head: Gaussian class heatmaps and matched query codes."""
from typing import Dict, Sequence, Tuple

import torch
from mmdet3d.models.utils import draw_heatmap_gaussian, gaussian_radius
from torch import Tensor


def heatmap_targets(gt_boxes: Tensor, gt_labels: Tensor, num_classes: int,
                    feature_shape: Tuple[int, int], pc_range: Sequence[float],
                    cell_size: Sequence[float], gaussian_overlap: float = 0.1,
                    min_radius: int = 2) -> Tensor:
    """Gaussian peaks at the GT centres (CenterPoint's targets, mmdet3d's drawing helpers).

    Args:
        gt_boxes: ``(K, 7+)`` LiDAR boxes ``(x, y, z, l, w, h, yaw, ...)``.
        gt_labels: ``(K,)`` labels in ``[0, num_classes)``.
        num_classes: ``C``.
        feature_shape: ``(H, W)`` of the BEV map (rows ``y``, columns ``x``).
        pc_range: ``(x_min, y_min, ...)`` origin of the grid in metres.
        cell_size: ``(x, y)`` metres per feature cell (voxel size x out_size_factor).
        gaussian_overlap: ``min_overlap`` of mmdet3d's ``gaussian_radius``.
        min_radius: Smallest radius in cells.

    Returns:
        Tensor: ``(C, H, W)`` heatmap in ``[0, 1]``, exactly 1 at every in-range GT centre cell.
    """
    height, width = feature_shape
    heatmap = gt_boxes.new_zeros((num_classes, height, width))
    for box, label in zip(gt_boxes, gt_labels):
        size_x, size_y = box[3] / cell_size[0], box[4] / cell_size[1]
        if size_x <= 0 or size_y <= 0:
            continue
        radius = max(int(min_radius),
                     int(gaussian_radius((size_y, size_x), min_overlap=gaussian_overlap)))
        cx = int((box[0] - pc_range[0]) / cell_size[0])
        cy = int((box[1] - pc_range[1]) / cell_size[1])
        if 0 <= cx < width and 0 <= cy < height:
            draw_heatmap_gaussian(heatmap[int(label)], (cx, cy), radius)
    return heatmap


def query_targets(assigner, coder, pred_boxes: Tensor, cls_logits: Tensor, gt_boxes: Tensor,
                  gt_labels: Tensor, num_classes: int,
                  pc_range: Sequence[float]) -> Dict[str, Tensor]:
    """Hungarian-match one sample's queries to its GT and build their targets.

    Args:
        assigner: :class:`HungarianAssigner3D`.
        coder: :class:`TransFusionBBoxCoder`.
        pred_boxes: ``(N, 9)`` decoded query boxes (detached).
        cls_logits: ``(N, C)`` query classification logits.
        gt_boxes: ``(K, 9)`` GT LiDAR boxes; ``K`` may be 0.
        gt_labels: ``(K,)`` GT labels.
        num_classes: ``C`` (also the background label of the focal loss).
        pc_range: ``(6,)`` point-cloud range of the BEV L1 cost.

    Returns:
        dict: ``labels`` ``(N,)`` (``C`` for unmatched queries), ``bbox_targets`` and
        ``bbox_weights`` ``(N, code_size)`` (weights 1 on matched rows), ``ious`` ``(N,)``
        (IoU with the matched GT) and ``num_pos`` (int).
    """
    num_preds = pred_boxes.shape[0]
    result = assigner.assign(pred_boxes, cls_logits, gt_boxes, gt_labels, pc_range)
    positive = result.gt_inds > 0
    labels = pred_boxes.new_full((num_preds, ), num_classes, dtype=torch.long)
    bbox_targets = pred_boxes.new_zeros((num_preds, coder.code_size))
    bbox_weights = torch.zeros_like(bbox_targets)
    if positive.any():
        matched = result.gt_inds[positive] - 1
        labels[positive] = gt_labels[matched].long()
        bbox_targets[positive] = coder.encode(gt_boxes[matched])
        bbox_weights[positive] = 1.0
    return dict(labels=labels, bbox_targets=bbox_targets, bbox_weights=bbox_weights,
                ious=result.max_overlaps, num_pos=int(positive.sum()))
