"""Camera -> BEV / voxel view transforms and the metric grids they share."""
from .bev_grid import MetricGrid
from .frustum import frustum_to_lidar, make_frustum
from .lss_view_transform import LSSViewTransform
from .lss_voxel_transform import LSSVoxelTransform

__all__ = [
    'MetricGrid', 'make_frustum', 'frustum_to_lidar', 'LSSViewTransform', 'LSSVoxelTransform'
]
