"""Input factories for tests and benchmarks (random BEV and occupancy batches with the real
nuScenes rig) and the repository's tools as modules (:func:`load_tool`)."""
from .bev_inputs import make_batch, resize_matrix, rig_matrices
from .occupancy_inputs import lidar2ego_matrix, make_occupancy_batch
from .tools import load_tool

__all__ = [
    'make_batch', 'resize_matrix', 'rig_matrices', 'lidar2ego_matrix', 'make_occupancy_batch',
    'load_tool'
]
