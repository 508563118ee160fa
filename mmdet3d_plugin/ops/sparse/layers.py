"""Device-aware spconv layers, registered in Drive3D's ``MODELS``.

They are registered under spconv's own names (``SubMConv3d``, ``SparseConv3d``,
``SparseInverseConv3d``), so under ``default_scope='mmdet3d_plugin'`` mmcv's
``build_conv_layer`` -- and therefore mmdet3d's stock ``SparseEncoder``/``SparseUNet`` --
builds these and runs on CPU as well as GPU. The weight layout (``(out, *kernel, in)``) is
spconv's for every algorithm, so checkpoints load unchanged.
"""
import spconv.pytorch as spconv

from ...registry import MODELS
from .algo import select_algo
from .tensor import check_sparse_tensor


class _DeviceAlgoMixin:
    """Choose the spconv algorithm from the input's device before every forward."""

    def forward(self, x):
        check_sparse_tensor(x, self.in_channels, type(self).__name__)
        self.algo = select_algo(x.features.device)
        return super().forward(x)


@MODELS.register_module()
class SubMConv3d(_DeviceAlgoMixin, spconv.SubMConv3d):
    """Sub-manifold 3D sparse convolution: output voxels are the input voxels."""


@MODELS.register_module()
class SparseConv3d(_DeviceAlgoMixin, spconv.SparseConv3d):
    """Regular 3D sparse convolution: output voxels grow/stride like a dense conv."""


@MODELS.register_module()
class SparseInverseConv3d(_DeviceAlgoMixin, spconv.SparseInverseConv3d):
    """Inverse of the ``SparseConv3d`` sharing its ``indice_key`` (restores its input voxels)."""


_LAYERS = {cls.__name__: cls for cls in (SubMConv3d, SparseConv3d, SparseInverseConv3d)}


def make_sparse_conv(conv_type: str, in_channels: int, out_channels: int, kernel_size,
                     **kwargs):
    """Build a device-aware sparse conv by name (``'SubMConv3d'``, ``'SparseConv3d'``, ...)."""
    if conv_type not in _LAYERS:
        raise KeyError(f'make_sparse_conv: unknown conv_type {conv_type!r}; expected one of '
                       f'{sorted(_LAYERS)}')
    return _LAYERS[conv_type](in_channels, out_channels, kernel_size, **kwargs)
