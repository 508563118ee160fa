"""Shared pytest set-up: GPU tests are skipped explicitly (never hidden), modules registered."""
import pytest
import torch


def pytest_collection_modifyitems(config, items):
    """Mark every ``gpu`` test skipped (with a reason) on a machine without CUDA."""
    gpu_visible = torch.cuda.device_count() > 0
    if gpu_visible:
        return
    skip_gpu = pytest.mark.skip(reason='needs a CUDA GPU (marked gpu); none is visible')
    for item in items:
        if 'gpu' in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope='session', autouse=True)
def _register_all_modules():
    from mmdet3d_plugin.utils import register_all_modules
    register_all_modules(init_default_scope=True)
