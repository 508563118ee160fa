"""Data transforms (loading, augmentation, sensor corruptions, formatting)."""
from .corruptions import *  # noqa: F401,F403
from .corruptions import __all__ as _corruption_names
from .global_augment import GlobalAugmentAll
from .loading_bev_map import LoadBEVMapGT
from .loading_occupancy import LoadNuScenesOccupancyGT, LoadOcc3DGT, occupancy_grid
from .loading_sweeps import LoadSweepsWithRing

__all__ = list(_corruption_names) + [
    'LoadSweepsWithRing', 'LoadOcc3DGT', 'LoadNuScenesOccupancyGT', 'occupancy_grid',
    'LoadBEVMapGT', 'GlobalAugmentAll'
]
