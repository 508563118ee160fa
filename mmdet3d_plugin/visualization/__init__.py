"""Dataset views as PNGs: cameras with projected boxes, BEV (map, LiDAR, boxes) and occupancy.

Used by ``tools/browse_dataset.py``; everything reads through the nuScenes devkit, so the views
work unchanged on the real dataset.
"""
from .dataset_views import BrowseOptions, browse_sample

__all__ = ['BrowseOptions', 'browse_sample']
