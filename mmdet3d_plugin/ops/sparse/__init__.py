"""spconv 2.x behind one wrapper: device-aware algorithm choice and input validation.

spconv's default implicit-GEMM algorithm calls ``torch.cuda.current_stream()`` and crashes on
CPU tensors. The layers here pick ``ConvAlgo.Native`` for CPU tensors and the fast GPU
algorithm for CUDA tensors at every forward, so one model runs on both devices.
"""
from .algo import select_algo
from .layers import (SparseConv3d, SparseInverseConv3d, SubMConv3d,
                     make_sparse_conv)
from .tensor import check_sparse_tensor, make_sparse_tensor

__all__ = [
    'select_algo', 'SubMConv3d', 'SparseConv3d', 'SparseInverseConv3d', 'make_sparse_conv',
    'make_sparse_tensor', 'check_sparse_tensor'
]
