"""Input checks, autograd wrapper and kernel/reference dispatch for :func:`bev_pool`."""
import os
from typing import Sequence

import torch
from torch import Tensor

from ..extension import load_extension
from .reference import bev_pool_reference

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_AXES = ('batch', 'z', 'y', 'x')


def _check_inputs(feats: Tensor, coords: Tensor, batch_size: int, grid_shape: Sequence[int],
                  check_range: bool) -> None:
    """Raise a ``TypeError``/``ValueError`` naming the bad argument and what was expected."""
    if not isinstance(feats, Tensor) or not isinstance(coords, Tensor):
        raise TypeError('bev_pool: feats and coords must be torch.Tensor, got '
                        f'{type(feats).__name__} and {type(coords).__name__}')
    if feats.dim() != 2:
        raise ValueError(f'bev_pool: feats must have shape (N, C), got {tuple(feats.shape)}')
    if feats.dtype not in _FLOAT_DTYPES:
        raise TypeError(f'bev_pool: feats must be a floating tensor {_FLOAT_DTYPES}, '
                        f'got {feats.dtype}')
    if coords.dim() != 2 or coords.shape[1] != 4:
        raise ValueError('bev_pool: coords must have shape (N, 4) [batch, z, y, x], '
                         f'got {tuple(coords.shape)}')
    if coords.dtype not in (torch.int32, torch.int64):
        raise TypeError(f'bev_pool: coords must be int32 or int64, got {coords.dtype}')
    if coords.shape[0] != feats.shape[0]:
        raise ValueError(f'bev_pool: coords has {coords.shape[0]} rows but feats has '
                         f'{feats.shape[0]}; expected one cell per point')
    if coords.device != feats.device:
        raise ValueError(f'bev_pool: coords is on {coords.device} but feats on {feats.device}')
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f'bev_pool: batch_size must be a positive int, got {batch_size!r}')
    if len(grid_shape) != 3 or any(int(s) < 1 for s in grid_shape):
        raise ValueError(f'bev_pool: grid_shape must be three positive ints (Z, Y, X), '
                         f'got {tuple(grid_shape)}')
    if check_range and coords.shape[0] > 0:
        lows = coords.amin(0).tolist()
        highs = coords.amax(0).tolist()
        limits = (batch_size, *grid_shape)
        for col, (axis, low, high, limit) in enumerate(zip(_AXES, lows, highs, limits)):
            if low < 0 or high >= limit:
                raise ValueError(
                    f'bev_pool: coords[:, {col}] ({axis}) spans [{low}, {high}], expected '
                    f'[0, {limit - 1}]; drop points outside the grid before pooling')


class _BEVPoolFunction(torch.autograd.Function):
    """Autograd wrapper of the compiled kernel; gradient flows to ``feats`` only."""

    @staticmethod
    def forward(ctx, feats: Tensor, coords: Tensor, batch_size: int, num_z: int, num_y: int,
                num_x: int, ext) -> Tensor:
        ctx.save_for_backward(coords)
        ctx.grid = (num_z, num_y, num_x)
        ctx.ext = ext
        return ext.forward(feats, coords, batch_size, num_z, num_y, num_x)

    @staticmethod
    def backward(ctx, grad_pooled: Tensor):
        (coords,) = ctx.saved_tensors
        grad_feats = ctx.ext.backward(grad_pooled.contiguous(), coords, *ctx.grid)
        return grad_feats, None, None, None, None, None, None


def bev_pool_available_impls(device: torch.device = torch.device('cpu')) -> list:
    """Implementations usable on ``device``: always ``'reference'``, plus ``'ext'`` if built."""
    impls = ['reference']
    ext = load_extension('bev_pool', warn=False)
    if ext is not None and (torch.device(device).type == 'cpu' or ext.with_cuda()):
        impls.append('ext')
    return impls


def bev_pool(feats: Tensor, coords: Tensor, batch_size: int, grid_shape: Sequence[int],
             impl: str = None, check_range: bool = True) -> Tensor:
    """Sum point features into a dense ``(B, C, Z, Y, X)`` grid.

    Args:
        feats (Tensor): ``(N, C)`` floating point features (e.g. depth-weighted image
            features of the LSS frustum, flattened).
        coords (Tensor): ``(N, 4)`` int32/int64 cell of each point as ``[batch, z, y, x]``.
            Every row must lie inside the grid; filter the frustum first.
        batch_size (int): ``B``.
        grid_shape (Sequence[int]): ``(Z, Y, X)`` cells.
        impl (str, optional): ``'ext'`` (compiled kernel, error if missing), ``'reference'``
            (pure PyTorch) or None: ``$DRIVE3D_BEV_POOL_IMPL`` if set, else the kernel when it
            loaded, else the reference with one warning.
        check_range (bool): Validate that ``coords`` lie in the grid (one reduction over
            ``coords``). Disable only for coordinates that are in range by construction.

    Returns:
        Tensor: ``(B, C, Z, Y, X)`` pooled features, dtype of ``feats``; empty cells are 0.
    """
    _check_inputs(feats, coords, batch_size, grid_shape, check_range)
    num_z, num_y, num_x = (int(s) for s in grid_shape)
    impl = impl or os.environ.get('DRIVE3D_BEV_POOL_IMPL') or None
    if impl not in (None, 'ext', 'reference'):
        raise ValueError(f"bev_pool: impl must be 'ext', 'reference' or None, got {impl!r}")
    ext = None
    if impl != 'reference':
        ext = load_extension('bev_pool', warn=impl is None, required=impl == 'ext')
        if ext is not None and feats.is_cuda and not ext.with_cuda():
            if impl == 'ext':
                raise RuntimeError('bev_pool: the compiled extension has no CUDA kernel; '
                                   'reinstall with FORCE_CUDA=1 (tools/setup_env.sh)')
            ext = None
    if ext is None:
        return bev_pool_reference(feats, coords, batch_size, (num_z, num_y, num_x))
    pooled = _BEVPoolFunction.apply(feats.contiguous(), coords.contiguous(), batch_size, num_z,
                                    num_y, num_x, ext)
    channels = feats.shape[1]
    return pooled.view(batch_size, num_z, num_y, num_x, channels).permute(0, 4, 1, 2, 3).contiguous()
