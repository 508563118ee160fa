"""Mixed precision without loss scaling, on any device (bfloat16 autocast on CPU)."""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper

from ..registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward runs under ``torch.autocast`` on the model's device.

    mmengine's ``AmpOptimWrapper`` refuses to run without a GPU and scales the loss for float16.
    bfloat16 has float32's exponent range, so no loss scaling is needed; this wrapper is what
    ``tools/train.py --amp`` selects on a machine without a GPU.

    Args:
        dtype (str): Autocast dtype, ``'bfloat16'`` (default) or ``'float16'``.
        **kwargs: Passed to :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self, *args, dtype: str = 'bfloat16', **kwargs):
        super().__init__(*args, **kwargs)
        if dtype not in ('bfloat16', 'float16'):
            raise ValueError(f"AutocastOptimWrapper: dtype must be 'bfloat16' or 'float16', "
                             f'got {dtype!r}')
        self.cast_dtype = getattr(torch, dtype)

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        first = next(model.parameters(), None)
        device_type = first.device.type if first is not None else 'cpu'
        with super().optim_context(model), torch.autocast(device_type=device_type,
                                                           dtype=self.cast_dtype):
            yield
