"""Typed data and label conventions shared by datasets, models, metrics, views and the
synthetic world (this layer imports nothing else of Drive3D)."""
from .bev_map import BEV_MAP_CLASSES
from .nuscenes_names import NUSCENES_CAMERAS, NUSCENES_DETECTION_CLASSES
from .occupancy_grid import (OccupancyGrid, densify_nuscenes_occupancy,
                             sparsify_nuscenes_occupancy)
from .occupancy_labels import (NUSC_OCC_CLASS_NAMES, NUSC_OCC_FREE_INDEX, NUSC_OCC_NOISE_INDEX,
                               OCC3D_CLASS_NAMES, OCC3D_FREE_INDEX)

__all__ = ['BEV_MAP_CLASSES', 'NUSCENES_CAMERAS', 'NUSCENES_DETECTION_CLASSES', 'OccupancyGrid',
           'densify_nuscenes_occupancy', 'sparsify_nuscenes_occupancy', 'OCC3D_CLASS_NAMES',
           'OCC3D_FREE_INDEX', 'NUSC_OCC_CLASS_NAMES', 'NUSC_OCC_FREE_INDEX',
           'NUSC_OCC_NOISE_INDEX']
