"""BEV task heads (3D detection uses mmdet3d's CenterHead / TransFusion through the registry)."""
from .bev_grid_transform import BEVGridTransform
from .bev_map_seg_head import BEVMapSegHead, sigmoid_focal_loss

__all__ = ['BEVGridTransform', 'BEVMapSegHead', 'sigmoid_focal_loss']
