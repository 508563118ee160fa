"""One-to-one assignment of 3D box queries to ground truth (DETR-style, as TransFusion)."""
from typing import Optional

import torch
from mmdet.models.task_modules.assigners import AssignResult
from mmengine.structures import InstanceData
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from mmdet3d_plugin.registry import TASK_UTILS


@TASK_UTILS.register_module()
class HungarianAssigner3D:
    """Hungarian matching on classification + BEV L1 + 3D IoU costs.

    The total cost of query ``i`` and GT ``j`` is ``cls_cost + reg_cost + iou_cost`` (each
    weighted inside its cost); ``scipy.optimize.linear_sum_assignment`` minimises it on CPU.
    mmdet's ``HungarianAssigner`` works on 2D boxes and image metas; this one feeds 3D boxes,
    the point-cloud range and a precomputed IoU matrix to the costs.

    Args (each default is TransFusion's / BEVFusion's nuScenes setting):
        cls_cost: ``dict(type='mmdet.FocalLossCost', gamma=2.0, alpha=0.25, weight=0.15)``
            (reads ``pred_instances.scores`` logits and ``gt_instances.labels``).
        reg_cost: ``dict(type='BBoxBEVL1Cost', weight=0.25)``.
        iou_cost: ``dict(type='IoU3DCost', weight=0.25)``.
        iou_calculator: mmdet3d's ``dict(type='BboxOverlaps3D', coordinate='lidar')``.
    """

    def __init__(self, cls_cost: Optional[dict] = None, reg_cost: Optional[dict] = None,
                 iou_cost: Optional[dict] = None, iou_calculator: Optional[dict] = None) -> None:
        self.cls_cost = TASK_UTILS.build(cls_cost or dict(
            type='mmdet.FocalLossCost', gamma=2.0, alpha=0.25, weight=0.15))
        self.reg_cost = TASK_UTILS.build(reg_cost or dict(type='BBoxBEVL1Cost', weight=0.25))
        self.iou_cost = TASK_UTILS.build(iou_cost or dict(type='IoU3DCost', weight=0.25))
        self.iou_calculator = TASK_UTILS.build(
            iou_calculator or dict(type='BboxOverlaps3D', coordinate='lidar'))

    def cost_matrix(self, bboxes: Tensor, cls_pred: Tensor, gt_bboxes: Tensor,
                    gt_labels: Tensor, point_cloud_range) -> tuple:
        """Total ``(N, K)`` cost and the ``(N, K)`` IoU matrix (see :meth:`assign`)."""
        ious = self.iou_calculator(bboxes, gt_bboxes)
        preds = InstanceData(bboxes_3d=bboxes, scores=cls_pred, ious=ious)
        gts = InstanceData(bboxes_3d=gt_bboxes, labels=gt_labels)
        meta = dict(point_cloud_range=point_cloud_range)
        cost = (self.cls_cost(preds, gts, meta) + self.reg_cost(preds, gts, meta) +
                self.iou_cost(preds, gts, meta))
        return cost, ious

    def assign(self, bboxes: Tensor, cls_pred: Tensor, gt_bboxes: Tensor, gt_labels: Tensor,
               point_cloud_range) -> AssignResult:
        """Match each GT box to one query.

        Args:
            bboxes: ``(N, 7+)`` decoded query boxes (LiDAR, bottom centre).
            cls_pred: ``(N, C)`` classification logits of the queries.
            gt_bboxes: ``(K, 7+)`` GT boxes, same layout as ``bboxes``.
            gt_labels: ``(K,)`` GT labels in ``[0, C)``.
            point_cloud_range: ``(6,)`` range normalising the BEV L1 cost.

        Returns:
            AssignResult: ``gt_inds`` ``(N,)`` (0: background, ``j + 1``: GT ``j``),
            ``max_overlaps`` ``(N,)`` (IoU with the assigned GT, 0 for background) and
            ``labels`` ``(N,)`` (-1 for background).
        """
        num_gts, num_preds = gt_bboxes.shape[0], bboxes.shape[0]
        gt_inds = bboxes.new_zeros(num_preds, dtype=torch.long)
        overlaps = bboxes.new_zeros(num_preds)
        labels = bboxes.new_full((num_preds, ), -1, dtype=torch.long)
        if num_gts == 0 or num_preds == 0:
            return AssignResult(num_gts, gt_inds, overlaps, labels)
        with torch.no_grad():
            # float32: mmcv's rotated-box IoU has no half kernel (AMP runs reach here)
            cost, ious = self.cost_matrix(bboxes.detach().float(), cls_pred.detach().float(),
                                          gt_bboxes.float(), gt_labels, point_cloud_range)
        cost = torch.nan_to_num(cost, nan=100.0, posinf=100.0, neginf=-100.0)
        rows, cols = linear_sum_assignment(cost.cpu().numpy())
        rows = torch.as_tensor(rows, dtype=torch.long, device=bboxes.device)
        cols = torch.as_tensor(cols, dtype=torch.long, device=bboxes.device)
        gt_inds[rows] = cols + 1
        labels[rows] = gt_labels[cols].long()
        overlaps[rows] = ious[rows, cols]
        return AssignResult(num_gts, gt_inds, overlaps, labels)
