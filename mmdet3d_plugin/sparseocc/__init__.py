"""SparseOcc (Tang et al., 2024): fully sparse 3D semantic occupancy from cameras.

The lifted volume becomes a sparse latent (:func:`volume_to_sparse`), the Sparse Latent
Diffuser encodes it at several scales (:class:`SparseLatentDiffuser`), the sparse feature
pyramid fuses the scales (:class:`SparseFeaturePyramid`) for the sparse Mask2Former head.
"""
from .mask2former_head import SparseMask2FormerOccHead
from .sparse_feature_pyramid import SparseFeaturePyramid, sparse_trilinear_upsample
from .sparse_latent import SparseLatent, mass_active_mask, volume_to_sparse
from .sparse_latent_diffuser import SparseLatentDiffuser, prune_voxels
from .sparseocc import SparseOcc, block_occupancy

__all__ = [
    'SparseLatent', 'volume_to_sparse', 'mass_active_mask', 'SparseLatentDiffuser', 'prune_voxels',
    'SparseFeaturePyramid', 'sparse_trilinear_upsample', 'SparseMask2FormerOccHead', 'SparseOcc',
    'block_occupancy'
]
