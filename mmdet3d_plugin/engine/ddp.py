"""A DDP wrapper that also accepts modules on CPU (Gloo training on machines without a GPU)."""
from mmengine.model import MMDistributedDataParallel

from ..registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUCompatibleDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that drops ``device_ids`` for a CPU module.

    mmengine's Runner always passes ``device_ids=[LOCAL_RANK]``, which torch's DDP rejects for
    CPU modules. On GPUs this class behaves exactly like its parent.
    """

    def __init__(self, module, device_ids=None, **kwargs):
        first = next(module.parameters(), None)
        if first is not None and first.device.type == 'cpu':
            device_ids = None
        super().__init__(module=module, device_ids=device_ids, **kwargs)
