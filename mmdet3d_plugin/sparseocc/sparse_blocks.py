"""Sparse conv -> norm -> activation on spconv tensors, safe for empty and one-voxel inputs.

Every sparse conv is built through the device-aware wrapper (:mod:`mmdet3d_plugin.ops.sparse`).
Kernel sizes, strides and paddings are in the order of ``spatial_shape``, ``(z, y, x)``: the
ground plane kernel is ``(1, 3, 3)``.

Two degenerate cases are handled here rather than left to spconv / BatchNorm:

* **No voxel at all.** spconv 2.3.6 asserts in its regular convs on an empty tensor.
  :class:`SparseConvModule` does not call spconv then: the output is an empty tensor of
  ``(0, C_out)`` features on the conv's output grid, computed from the (empty) input and the
  weights, so the parameters stay in the autograd graph (zero gradients).
* **One voxel in training.** ``BatchNorm1d`` cannot take batch statistics of one row; the
  norm then uses its running statistics for that call (:class:`SparseNormAct`).
"""
from typing import Optional, Sequence, Tuple, Union

import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from spconv.pytorch import SparseConvTensor
from spconv.pytorch.ops import get_conv_output_size
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet3d_plugin.ops.sparse import check_sparse_tensor, make_sparse_conv

Size3 = Union[int, Sequence[int]]

#: Norm and activation of the SparseOcc blocks unless configured: BN1d as mmdet3d's sparse
#: encoders, LeakyReLU (torch's default slope) as the official diffuser's completion layers.
DEFAULT_NORM = dict(type='BN1d', eps=1e-3, momentum=0.01)
DEFAULT_ACT = dict(type='LeakyReLU', negative_slope=0.01)


def triple(value: Size3, name: str) -> Tuple[int, int, int]:
    """``value`` as a ``(z, y, x)`` triple of positive ints; ValueError naming ``name``."""
    values = (value, ) * 3 if isinstance(value, int) else tuple(int(v) for v in value)
    if len(values) != 3 or min(values) < 1:
        raise ValueError(f'{name} must be a positive int or a (z, y, x) triple, got {value!r}')
    return values


class SparseNormAct(nn.Module):
    """Norm and activation on the ``(N, C)`` features of a sparse tensor.

    Args:
        channels: ``C``.
        norm_cfg: mmcv norm config (``BN1d``, ``GN``, ...) or None for no norm.
        act_cfg: mmcv activation config or None for no activation.
    """

    def __init__(self, channels: int, norm_cfg: Optional[dict] = DEFAULT_NORM,
                 act_cfg: Optional[dict] = DEFAULT_ACT) -> None:
        super().__init__()
        self.norm = build_norm_layer(norm_cfg, channels)[1] if norm_cfg else None
        self.act = build_activation_layer(dict(act_cfg)) if act_cfg else None

    def forward_features(self, feats: Tensor) -> Tensor:
        """``(N, C)`` -> ``(N, C)``."""
        if self.norm is not None:
            if self.training and feats.shape[0] == 1 and isinstance(self.norm, _BatchNorm):
                feats = self._frozen_batch_norm(feats)
            else:
                feats = self.norm(feats)
        return self.act(feats) if self.act is not None else feats

    def _frozen_batch_norm(self, feats: Tensor) -> Tensor:
        norm = self.norm
        if norm.running_mean is None:
            return feats if norm.weight is None else feats * norm.weight + norm.bias
        return F.batch_norm(feats, norm.running_mean, norm.running_var, norm.weight, norm.bias,
                            False, 0.0, norm.eps)

    def forward(self, x: SparseConvTensor) -> SparseConvTensor:
        return x.replace_feature(self.forward_features(x.features))


class SparseConvModule(nn.Module):
    """A wrapper sparse conv followed by :class:`SparseNormAct`.

    Args:
        conv_type: ``'SubMConv3d'`` (keeps the active set) or ``'SparseConv3d'`` (regular:
            the active set grows by the kernel's reach, or is strided).
        in_channels: ``C_in``.
        out_channels: ``C_out``.
        kernel_size: ``(z, y, x)`` kernel.
        stride: ``(z, y, x)`` stride (regular convs only).
        padding: ``(z, y, x)`` padding; None gives ``kernel // 2`` (same size at stride 1).
        indice_key: spconv indice key; SubM layers with the same kernel on the same active
            set may share one (their neighbour pairs are computed once).
        bias: conv bias. Defaults to False when a norm follows.
        norm_cfg / act_cfg: see :class:`SparseNormAct`.

    Shapes:
        features ``(N, C_in)`` on ``(Z, Y, X)`` -> ``(N', C_out)`` on the conv's output grid.
    """

    def __init__(self, conv_type: str, in_channels: int, out_channels: int, kernel_size: Size3,
                 stride: Size3 = 1, padding: Optional[Size3] = None,
                 indice_key: Optional[str] = None, bias: Optional[bool] = None,
                 norm_cfg: Optional[dict] = DEFAULT_NORM,
                 act_cfg: Optional[dict] = DEFAULT_ACT) -> None:
        super().__init__()
        kernel_size = triple(kernel_size, 'kernel_size')
        stride = triple(stride, 'stride')
        if padding is None:
            padding = tuple(k // 2 for k in kernel_size)
        padding = (padding, ) * 3 if isinstance(padding, int) else tuple(int(p) for p in padding)
        if conv_type == 'SubMConv3d':
            padding = (0, 0, 0) if kernel_size == (1, 1, 1) else padding
        elif kernel_size == (1, 1, 1) and stride == (1, 1, 1):
            padding = (0, 0, 0)  # spconv requires it for its 1x1 path
        bias = norm_cfg is None if bias is None else bias
        self.conv = make_sparse_conv(conv_type, in_channels, out_channels, kernel_size,
                                     stride=stride, padding=padding, bias=bias,
                                     indice_key=indice_key)
        self.post = SparseNormAct(out_channels, norm_cfg, act_cfg)
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)

    def forward(self, x: SparseConvTensor) -> SparseConvTensor:
        return self.post(sparse_conv(self.conv, x))


def sparse_conv(conv: nn.Module, x: SparseConvTensor) -> SparseConvTensor:
    """Run a wrapper sparse conv; an input without voxels gives an empty output (no spconv).

    Args:
        conv: A layer of :mod:`mmdet3d_plugin.ops.sparse`.
        x: Input with ``(N, conv.in_channels)`` features.

    Returns:
        SparseConvTensor: ``conv(x)``, or for ``N == 0`` a tensor with ``(0, C_out)``
        features (in the graph of ``conv.weight``), no indices, the conv's output grid.
    """
    check_sparse_tensor(x, conv.in_channels, type(conv).__name__)
    if x.features.shape[0] > 0:
        return conv(x)
    shape = list(x.spatial_shape)
    if not conv.subm:
        shape = get_conv_output_size(shape, conv.kernel_size, conv.stride, conv.padding,
                                     conv.dilation)
    weight = conv.weight.flatten(1, -2).sum(1)  # (out, *kernel, in) -> (out, in)
    feats = x.features.mm(weight.t())
    if conv.bias is not None:
        feats = feats + conv.bias
    out = SparseConvTensor(feats, x.indices.new_zeros((0, 4)), shape, x.batch_size)
    return out
