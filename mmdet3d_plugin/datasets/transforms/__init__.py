"""Data transforms (loading, augmentation, sensor corruptions, formatting)."""
from .corruptions import *  # noqa: F401,F403
from .corruptions import __all__ as _corruption_names
from .depth_gt import MultiViewDepthGT
from .formatting import BEV_META_KEYS, Pack3DDetBEVInputs, bev_meta
from .global_augment import GlobalAugmentAll
from .image_aug import ImageAug3D
from .loading_bev_map import LoadBEVMapGT
from .loading_multiview import NUSCENES_CAMERAS, LoadMultiViewImages
from .loading_occupancy import LoadNuScenesOccupancyGT, LoadOcc3DGT, occupancy_grid
from .loading_points import CheckedLoadPointsFromFile
from .loading_sweeps import LoadSweepsWithRing
from .occupancy_frame import OccupancyFrame
from .point_ops import FastPointShuffle, FastPointsRangeFilter

__all__ = list(_corruption_names) + [
    'LoadSweepsWithRing', 'LoadOcc3DGT', 'LoadNuScenesOccupancyGT', 'occupancy_grid',
    'OccupancyFrame', 'LoadBEVMapGT', 'GlobalAugmentAll', 'LoadMultiViewImages',
    'NUSCENES_CAMERAS', 'ImageAug3D',
    'MultiViewDepthGT', 'Pack3DDetBEVInputs', 'BEV_META_KEYS', 'bev_meta',
    'CheckedLoadPointsFromFile', 'FastPointsRangeFilter', 'FastPointShuffle'
]
