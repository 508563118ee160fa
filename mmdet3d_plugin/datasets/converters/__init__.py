"""Info-file creation (mmdet3d info v2 format plus the fields occupancy/temporal models need)."""
from .nuscenes_infos import create_nuscenes_infos

__all__ = ['create_nuscenes_infos']
