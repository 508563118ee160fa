"""Task utilities of the shared heads (box coders, assigners, match costs; TASK_UTILS)."""
from .hungarian_assigner_3d import HungarianAssigner3D
from .match_costs_3d import BBoxBEVL1Cost, IoU3DCost
from .transfusion_bbox_coder import TransFusionBBoxCoder

__all__ = ['BBoxBEVL1Cost', 'HungarianAssigner3D', 'IoU3DCost', 'TransFusionBBoxCoder']
