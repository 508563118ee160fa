"""Input checks, autograd wrappers and kernel/reference dispatch of the BEV pooling ops."""
import os
from typing import Optional, Sequence

import torch
from torch import Tensor

from ..extension import load_extension
from .reference import bev_pool_depth_reference, bev_pool_reference

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_INDEX_DTYPES = (torch.int32, torch.int64)
_AXES = ('batch', 'z', 'y', 'x')


def _check_float(name: str, tensor, dim: int, shape_text: str) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f'bev_pool: {name} must be a torch.Tensor {shape_text}, '
                        f'got {type(tensor).__name__}')
    if tensor.dim() != dim:
        raise ValueError(f'bev_pool: {name} must have shape {shape_text}, got {tuple(tensor.shape)}')
    if tensor.dtype not in _FLOAT_DTYPES:
        raise TypeError(f'bev_pool: {name} must be a floating tensor {_FLOAT_DTYPES}, '
                        f'got {tensor.dtype}')


def _check_index(name: str, tensor, rows: int, device, shape_text: str, cols: int = None) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f'bev_pool: {name} must be a torch.Tensor {shape_text}, '
                        f'got {type(tensor).__name__}')
    expected_dim = 1 if cols is None else 2
    if tensor.dim() != expected_dim or (cols is not None and tensor.shape[1] != cols):
        raise ValueError(f'bev_pool: {name} must have shape {shape_text}, got {tuple(tensor.shape)}')
    if tensor.dtype not in _INDEX_DTYPES:
        raise TypeError(f'bev_pool: {name} must be int32 or int64, got {tensor.dtype}')
    if tensor.shape[0] != rows:
        raise ValueError(f'bev_pool: {name} has {tensor.shape[0]} rows, expected {rows} '
                         '(one per point)')
    if tensor.device != device:
        raise ValueError(f'bev_pool: {name} is on {tensor.device}, expected {device}')


def _check_grid(batch_size: int, grid_shape: Sequence[int]) -> tuple:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f'bev_pool: batch_size must be a positive int, got {batch_size!r}')
    if len(grid_shape) != 3 or any(int(s) < 1 for s in grid_shape):
        raise ValueError('bev_pool: grid_shape must be three positive ints (Z, Y, X), '
                         f'got {tuple(grid_shape)}')
    return tuple(int(s) for s in grid_shape)


def _first_bad_row(tensor: Tensor, limits: Sequence[int], ext) -> int:
    """Row of the first value outside ``[0, limit)`` of its column, or -1 (one pass)."""
    if tensor.numel() == 0:
        return -1
    if ext is not None and tensor.device.type == 'cpu':
        return ext.first_out_of_range(tensor.contiguous(), list(limits))
    bad = (tensor < 0) | (tensor >= torch.tensor(limits, device=tensor.device))
    rows = bad.reshape(len(tensor), -1).any(1).nonzero()
    return int(rows[0]) if len(rows) else -1


def _check_range(name: str, tensor: Tensor, limits: Sequence[int], ext, axes=None) -> None:
    """Raise ``ValueError`` naming the first out-of-range value: column, row, allowed range."""
    row = _first_bad_row(tensor, limits, ext)
    if row < 0:
        return
    if axes is None:
        raise ValueError(f'bev_pool: {name} is {int(tensor[row])} at row {row}, expected '
                         f'[0, {limits[0] - 1}]')
    values = tensor[row].tolist()
    col = next(k for k, v in enumerate(values) if not 0 <= v < limits[k])
    raise ValueError(f'bev_pool: {name}[:, {col}] ({axes[col]}) is {values[col]} at row {row}, '
                     f'expected [0, {limits[col] - 1}]; drop points outside the grid before '
                     'pooling')


def _select_extension(impl: Optional[str], device: torch.device):
    """Return the compiled module to use, or None for the reference."""
    impl = impl or os.environ.get('DRIVE3D_BEV_POOL_IMPL') or None
    if impl not in (None, 'ext', 'reference'):
        raise ValueError(f"bev_pool: impl must be 'ext', 'reference' or None, got {impl!r}")
    if impl == 'reference':
        return None
    ext = load_extension('bev_pool', warn=impl is None, required=impl == 'ext')
    if ext is not None and device.type == 'cuda' and not ext.with_cuda():
        if impl == 'ext':
            raise RuntimeError('bev_pool: the compiled extension has no CUDA kernel; reinstall '
                               'with FORCE_CUDA=1 (tools/setup_env.sh)')
        return None
    return ext


def _to_dense(pooled: Tensor, batch_size: int, grid: tuple) -> Tensor:
    """``(B*Z*Y*X, C)`` channels-last sums -> contiguous ``(B, C, Z, Y, X)``."""
    return pooled.view(batch_size, *grid, pooled.shape[1]).permute(0, 4, 1, 2, 3).contiguous()


class _BEVPoolFunction(torch.autograd.Function):
    """Autograd wrapper of the generic kernel; the gradient flows to ``feats`` only."""

    @staticmethod
    def forward(ctx, feats, coords, batch_size, grid, ext):
        ctx.save_for_backward(coords)
        ctx.grid, ctx.ext = grid, ext
        return ext.forward(feats, coords, batch_size, *grid)

    @staticmethod
    def backward(ctx, grad_pooled):
        (coords,) = ctx.saved_tensors
        return ctx.ext.backward(grad_pooled.contiguous(), coords, *ctx.grid), None, None, None, None


class _BEVPoolDepthFunction(torch.autograd.Function):
    """Autograd wrapper of the depth-weighted kernel; gradients flow to depth and context."""

    @staticmethod
    def forward(ctx, depth, context, pixel_index, coords, batch_size, grid, ext):
        ctx.save_for_backward(depth, context, pixel_index, coords)
        ctx.grid, ctx.ext = grid, ext
        return ext.depth_forward(depth, context, pixel_index, coords, batch_size, *grid)

    @staticmethod
    def backward(ctx, grad_pooled):
        depth, context, pixel_index, coords = ctx.saved_tensors
        grad_depth, grad_context = ctx.ext.depth_backward(
            grad_pooled.contiguous(), depth, context, pixel_index, coords, *ctx.grid)
        return grad_depth, grad_context, None, None, None, None, None


def bev_pool_available_impls(device: torch.device = torch.device('cpu')) -> list:
    """Implementations usable on ``device``: always ``'reference'``, plus ``'ext'`` if built."""
    impls = ['reference']
    ext = load_extension('bev_pool', warn=False)
    if ext is not None and (torch.device(device).type == 'cpu' or ext.with_cuda()):
        impls.append('ext')
    return impls


def bev_pool(feats: Tensor, coords: Tensor, batch_size: int, grid_shape: Sequence[int],
             impl: Optional[str] = None) -> Tensor:
    """Sum point features into a dense ``(B, C, Z, Y, X)`` grid (generic BEV/voxel pooling).

    Args:
        feats (Tensor): ``(N, C)`` floating point features of N points.
        coords (Tensor): ``(N, 4)`` int32/int64 cell of each point as ``[batch, z, y, x]``.
            Every row must lie inside the grid (an error names the first one that does not).
        batch_size (int): ``B``.
        grid_shape (Sequence[int]): ``(Z, Y, X)`` cells.
        impl (str, optional): ``'ext'`` (compiled kernel; error if missing), ``'reference'``
            (pure PyTorch) or None: ``$DRIVE3D_BEV_POOL_IMPL`` if set, else the kernel when it
            loaded, else the reference with one warning.

    Returns:
        Tensor: ``(B, C, Z, Y, X)`` sums, dtype of ``feats``; empty cells are 0. On CUDA,
        half/bfloat16 inputs are accumulated in float32.
    """
    _check_float('feats', feats, 2, '(N, C)')
    _check_index('coords', coords, feats.shape[0], feats.device, '(N, 4) [batch, z, y, x]', cols=4)
    grid = _check_grid(batch_size, grid_shape)
    ext = _select_extension(impl, feats.device)
    _check_range('coords', coords, (batch_size, ) + grid, ext, _AXES)
    if ext is None:
        return bev_pool_reference(feats, coords, batch_size, grid)
    pooled = _BEVPoolFunction.apply(feats.contiguous(), coords.contiguous(), batch_size, grid, ext)
    return _to_dense(pooled, batch_size, grid)


def bev_pool_depth(depth: Tensor, context: Tensor, pixel_index: Tensor, coords: Tensor,
                   batch_size: int, grid_shape: Sequence[int], impl: Optional[str] = None) -> Tensor:
    """LSS splat without materialising the frustum features: ``sum depth[n] * context[pixel[n]]``.

    A camera feature pixel carries one context vector; each of its D depth bins is a frustum
    point with weight ``depth[n]`` (the depth probability) and a BEV cell ``coords[n]``. The
    compiled kernel never builds the ``(N, C)`` product that the PyTorch formulation needs
    (1.99 M x 80 floats, 638 MB, at nuScenes LSS size).

    Args:
        depth (Tensor): ``(N,)`` weights of the frustum points kept inside the grid.
        context (Tensor): ``(P, C)`` context features, one row per camera feature pixel.
        pixel_index (Tensor): ``(N,)`` int32/int64 row of ``context`` of each point
            (same dtype as ``coords``).
        coords (Tensor): ``(N, 4)`` ``[batch, z, y, x]`` cell of each point, inside the grid.
        batch_size (int): ``B``.
        grid_shape (Sequence[int]): ``(Z, Y, X)``.
        impl (str, optional): As in :func:`bev_pool`.

    Returns:
        Tensor: ``(B, C, Z, Y, X)``; differentiable w.r.t. ``depth`` and ``context``.
    """
    _check_float('depth', depth, 1, '(N,)')
    _check_float('context', context, 2, '(P, C)')
    if context.dtype != depth.dtype or context.device != depth.device:
        raise TypeError(f'bev_pool: depth ({depth.dtype}, {depth.device}) and context '
                        f'({context.dtype}, {context.device}) must share dtype and device')
    n = depth.shape[0]
    _check_index('pixel_index', pixel_index, n, depth.device, '(N,)')
    _check_index('coords', coords, n, depth.device, '(N, 4) [batch, z, y, x]', cols=4)
    if pixel_index.dtype != coords.dtype:
        raise TypeError(f'bev_pool: pixel_index ({pixel_index.dtype}) and coords '
                        f'({coords.dtype}) must share one integer dtype')
    grid = _check_grid(batch_size, grid_shape)
    ext = _select_extension(impl, depth.device)
    _check_range('coords', coords, (batch_size, ) + grid, ext, _AXES)
    _check_range('pixel_index', pixel_index, (context.shape[0], ), ext)
    if ext is None:
        return bev_pool_depth_reference(depth, context, pixel_index, coords, batch_size, grid)
    pooled = _BEVPoolDepthFunction.apply(depth.contiguous(), context.contiguous(),
                                         pixel_index.contiguous(), coords.contiguous(), batch_size,
                                         grid, ext)
    return _to_dense(pooled, batch_size, grid)
