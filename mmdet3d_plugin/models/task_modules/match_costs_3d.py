"""Match costs between 3D box queries and ground truth for Hungarian assignment.

Both follow mmdet's ``BaseMatchCost`` call API (``pred_instances``, ``gt_instances``,
``img_meta``) so they sit beside mmdet's ``FocalLossCost`` in one assigner; mmdet has only 2D
box costs (``BBoxL1Cost`` on normalised xyxy, ``IoUCost`` on axis-aligned boxes).
"""
from typing import Optional

import torch
from mmdet.models.task_modules.assigners.match_cost import BaseMatchCost
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet3d_plugin.registry import TASK_UTILS


@TASK_UTILS.register_module()
class BBoxBEVL1Cost(BaseMatchCost):
    """L1 distance of BEV centres, normalised by the size of the point-cloud range.

    ``pred_instances.bboxes_3d`` ``(N, 7+)`` and ``gt_instances.bboxes_3d`` ``(K, 7+)`` are
    LiDAR box tensors; ``img_meta['point_cloud_range']`` is ``(x0, y0, z0, x1, y1, z1)``.
    Returns ``(N, K)`` cost ``weight * (|dx| / (x1 - x0) + |dy| / (y1 - y0))``.
    """

    def __call__(self, pred_instances: InstanceData, gt_instances: InstanceData,
                 img_meta: Optional[dict] = None, **kwargs) -> Tensor:
        if img_meta is None or 'point_cloud_range' not in img_meta:
            raise KeyError("BBoxBEVL1Cost needs img_meta['point_cloud_range'] (the head's "
                           'train_cfg.point_cloud_range)')
        pred, gt = pred_instances.bboxes_3d, gt_instances.bboxes_3d
        pc_range = pred.new_tensor(img_meta['point_cloud_range'])
        start, size = pc_range[0:2], pc_range[3:5] - pc_range[0:2]
        cost = torch.cdist((pred[:, :2] - start) / size, (gt[:, :2] - start) / size, p=1)
        return cost * self.weight


@TASK_UTILS.register_module()
class IoU3DCost(BaseMatchCost):
    """Negative 3D IoU, read from ``pred_instances.ious`` ``(N, K)``.

    The assigner computes the IoU matrix once (with its ``iou_calculator``, mmdet3d's
    ``BboxOverlaps3D``) and reuses it for the matched IoUs it reports; this cost only weighs it.
    """

    def __call__(self, pred_instances: InstanceData, gt_instances: InstanceData,
                 img_meta: Optional[dict] = None, **kwargs) -> Tensor:
        if 'ious' not in pred_instances:
            raise KeyError('IoU3DCost needs pred_instances.ious (N, K), set by '
                           'HungarianAssigner3D')
        return -pred_instances.ious * self.weight
