"""The one place that decides which spconv algorithm runs on which device."""
import os

import torch
from spconv.pytorch import ConvAlgo

#: Algorithm used for CUDA tensors unless ``$DRIVE3D_SPCONV_GPU_ALGO`` names another.
DEFAULT_GPU_ALGO = ConvAlgo.MaskImplicitGemm


def select_algo(device: torch.device) -> ConvAlgo:
    """Return the spconv algorithm for tensors on ``device``.

    CPU tensors always get ``ConvAlgo.Native`` (the only algorithm with a CPU path). CUDA
    tensors get ``ConvAlgo.MaskImplicitGemm`` or the algorithm named by
    ``$DRIVE3D_SPCONV_GPU_ALGO`` (``Native``, ``MaskImplicitGemm``, ``MaskSplitImplicitGemm``).
    """
    if torch.device(device).type != 'cuda':
        return ConvAlgo.Native
    name = os.environ.get('DRIVE3D_SPCONV_GPU_ALGO')
    if not name:
        return DEFAULT_GPU_ALGO
    try:
        return ConvAlgo[name]
    except KeyError:
        valid = ', '.join(a.name for a in ConvAlgo)
        raise ValueError(f'$DRIVE3D_SPCONV_GPU_ALGO={name!r} is not a spconv ConvAlgo; '
                         f'expected one of {valid}') from None
