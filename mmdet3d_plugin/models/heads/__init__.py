"""BEV task heads (3D detection: TransFusionHead, or mmdet3d's CenterHead via the registry)."""
from .bev_grid_transform import BEVGridTransform
from .bev_map_seg_head import BEVMapSegHead, sigmoid_focal_loss
from .transfusion_head import TransFusionHead

__all__ = ['BEVGridTransform', 'BEVMapSegHead', 'TransFusionHead', 'sigmoid_focal_loss']
