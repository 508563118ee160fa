"""The number of (input voxel, output voxel) pairs one spconv convolution multiplies.

A sparse convolution multiplies, for every kernel offset, each input voxel's ``Cin`` features
with the offset's ``(Cin, Cout)`` weights into the output voxel the offset maps it to. Its
multiply-adds are ``pairs x Cin x Cout``, where ``pairs`` counts the (input, output, offset)
triples of spconv's rulebook (``IndiceData``): ``indice_pair_num.sum()`` for a regular or
inverse conv; for a sub-manifold conv spconv's ``indice_pair_num`` holds only the offsets before
the kernel centre (the native kernel runs the centre over every voxel and each offset with its
mirror), so the pairs are the valid (``>= 0``) entries of ``indice_pairs[0]``
(``(KV, N)``), which lists every offset: ``2 x indice_pair_num.sum() + N``.

Which rulebook, per layer kind (spconv 2.3 ``SparseConvolution._conv_forward``):

* 1x1 kernels (``conv.conv1x1``: kernel 1, and stride 1 unless sub-manifold): one
  ``torch.mm`` over every input voxel, no rulebook; pairs = input voxels.
* Native algorithm with an ``indice_key``: the ``IndiceData`` spconv stores under the key on the
  output tensor (a sub-manifold conv reusing a key finds its predecessor's, the same pairs);
  an inverse conv reads the one of the ``SparseConv3d`` that shares its key (the same pairs,
  traversed backwards).
* Anything else (no ``indice_key``, or a GPU implicit-GEMM rulebook, whose masks encode pairs
  differently): the native rulebook is built again from the layer's input indices and
  geometry with ``spconv.pytorch.ops.get_indice_pairs`` -- the output voxels of a sparse conv
  do not depend on the algorithm, so neither do the pairs.
"""
from typing import List

import torch


def _count(data) -> int:
    """Pairs of a native rulebook (``IndiceData``)."""
    if data.is_subm:
        return int((data.indice_pairs[0] >= 0).sum())
    return int(data.indice_pair_num.sum())


def _rebuild(indices: torch.Tensor, batch_size: int, spatial_shape: List[int], ksize, stride,
             padding, dilation, out_padding, subm: bool, transposed: bool) -> int:
    from spconv.pytorch import ConvAlgo, ops
    if indices.shape[0] == 0:
        return 0
    _, pairs, pair_num = ops.get_indice_pairs(indices, batch_size, list(spatial_shape),
                                              ConvAlgo.Native, list(ksize), list(stride),
                                              list(padding), list(dilation), list(out_padding),
                                              subm, transposed)
    return int((pairs[0] >= 0).sum()) if subm else int(pair_num.sum())


def sparse_conv_pairs(conv, inputs, outputs) -> int:
    """Pairs multiplied by one forward of a spconv convolution.

    Args:
        conv (spconv.pytorch.conv.SparseConvolution): The layer (``SubMConv3d``,
            ``SparseConv3d``, ``SparseInverseConv3d``, Drive3D's device-aware subclasses, ...).
        inputs (SparseConvTensor): Its input: ``features`` ``(N_in, Cin)``, ``indices``
            ``(N_in, 1 + ndim)`` int32 ``[batch, *spatial]``.
        outputs (SparseConvTensor): Its output (``indice_dict`` holds the stored rulebooks).

    Returns:
        int: The number of (input voxel, output voxel, kernel offset) triples.

    Raises:
        KeyError: an inverse conv whose ``indice_key`` names no rulebook on its input.
    """
    from spconv.pytorch.core import IndiceData
    if conv.conv1x1:
        return int(inputs.features.shape[0])
    ndim = len(conv.kernel_size)
    if conv.inverse:
        data = inputs.find_indice_pair(conv.indice_key)
        if data is None:
            raise KeyError(f'{type(conv).__name__}: no rulebook under indice_key '
                           f'{conv.indice_key!r} on its input; an inverse conv needs the '
                           'SparseConv3d that shares its key to have run first')
        if isinstance(data, IndiceData):
            return _count(data)
        return _rebuild(data.indices, inputs.batch_size, data.spatial_shape, data.ksize,
                        data.stride, data.padding, data.dilation, [0] * ndim, False, False)
    data = outputs.find_indice_pair(conv.indice_key)
    if isinstance(data, IndiceData) and data.is_subm == conv.subm:
        return _count(data)
    return _rebuild(inputs.indices, inputs.batch_size, inputs.spatial_shape, conv.kernel_size,
                    conv.stride, conv.padding, conv.dilation, conv.output_padding, conv.subm,
                    conv.transposed)
