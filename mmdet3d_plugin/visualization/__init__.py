"""Dataset and prediction views as PNGs: cameras with projected boxes, BEV (map, LiDAR, boxes)
and occupancy.

``browse_sample`` (``tools/browse_dataset.py``) reads through the nuScenes devkit, so the views
work unchanged on the real dataset; ``render_predictions`` (``tools/visualize_predictions.py``)
runs a model from its config and checkpoint on one sample and draws its boxes and map masks.
"""
from .dataset_views import BrowseOptions, browse_sample
from .prediction_views import render_predictions

__all__ = ['BrowseOptions', 'browse_sample', 'render_predictions']
