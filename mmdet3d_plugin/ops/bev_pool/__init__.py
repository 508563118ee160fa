"""BEV pooling (the LSS "splat"): sum the features of points that share a grid cell.

Two forms:

* :func:`bev_pool` -- generic: ``(N, C)`` point features -> ``(B, C, Z, Y, X)``.
* :func:`bev_pool_depth` -- LSS: depth weights ``(N,)`` x pixel context ``(P, C)`` pooled
  without materialising the ``(N, C)`` frustum features.

Each validates its inputs, then runs the compiled kernel (C++ with OpenMP threads on CPU
tensors, CUDA on GPU tensors) when the optional extension ``mmdet3d_plugin.ops.bev_pool._ext``
was built, and the pure-PyTorch reference otherwise (one warning the first time). Set
``DRIVE3D_BEV_POOL_IMPL=reference`` to force the reference, ``=ext`` to require the kernel.
"""
from .bev_pool import bev_pool, bev_pool_available_impls, bev_pool_depth
from .reference import bev_pool_depth_reference, bev_pool_reference, linear_cell_index

__all__ = [
    'bev_pool', 'bev_pool_depth', 'bev_pool_reference', 'bev_pool_depth_reference',
    'bev_pool_available_impls', 'linear_cell_index'
]
