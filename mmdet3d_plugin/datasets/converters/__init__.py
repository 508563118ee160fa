"""Info-file creation (mmdet3d info v2 format plus the fields occupancy/temporal models need)."""
from .gt_database import create_groundtruth_database
from .kitti_infos import create_kitti_infos
from .nuscenes_infos import create_nuscenes_infos
from .occupancy_infos import create_occupancy_infos

__all__ = ['create_nuscenes_infos', 'create_kitti_infos', 'create_occupancy_infos',
           'create_groundtruth_database']
