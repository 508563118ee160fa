"""BEV pooling (the LSS "splat"): sum the features of points that share a grid cell.

``bev_pool`` validates its inputs, then runs the compiled kernel (C++ with OpenMP on CPU
tensors, CUDA on GPU tensors) when the optional extension ``mmdet3d_plugin.ops.bev_pool._ext``
was built, and the pure-PyTorch reference otherwise (one warning the first time). Set
``DRIVE3D_BEV_POOL_IMPL=reference`` to force the reference, ``=ext`` to require the kernel.
"""
from .bev_pool import bev_pool, bev_pool_available_impls
from .reference import bev_pool_reference, linear_cell_index

__all__ = ['bev_pool', 'bev_pool_reference', 'bev_pool_available_impls', 'linear_cell_index']
