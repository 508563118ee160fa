"""Drive3D ops: pure-PyTorch references with optional compiled kernels, and the spconv wrapper.

Sub-packages are imported on demand (``mmdet3d_plugin.ops.bev_pool``,
``mmdet3d_plugin.ops.sparse``) so that using one op never requires another's dependencies, and
no import ever requires a compiled extension (see :mod:`.extension`).
"""
