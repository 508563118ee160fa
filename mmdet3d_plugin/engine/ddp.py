"""A DDP wrapper that also accepts modules on CPU (Gloo training on machines without a GPU)."""
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS as ROOT_MODEL_WRAPPERS


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


# Registered in mmengine's *root* registry on purpose: Runner.wrap_model resolves the wrapper
# type with ``MODEL_WRAPPERS.get`` on the root, which never searches a grandchild scope such as
# ours (root -> mmdet3d -> mmdet3d_plugin).
if 'CPUCompatibleDistributedDataParallel' not in ROOT_MODEL_WRAPPERS.module_dict:
    ROOT_MODEL_WRAPPERS.register_module(module=CPUCompatibleDistributedDataParallel)
