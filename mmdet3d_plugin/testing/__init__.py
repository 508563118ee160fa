"""Input factories for tests and benchmarks (random batches with the real nuScenes rig)."""
from .bev_inputs import make_batch, resize_matrix, rig_matrices

__all__ = ['make_batch', 'resize_matrix', 'rig_matrices']
