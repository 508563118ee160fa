"""Drive3D environment report: versions, compiled-op status and a live check of each component.

Run ``python -m mmdet3d_plugin.utils.collect_env`` or ``python tools/collect_env.py``. The exit
status is 1 when any component check fails, so scripts (``make demo``) can stop early.
Each check runs the component for real (an mmcv CPU op, a spconv sparse conv forward, ...) and
prints ``OK`` or a one-line reason with the fix.
"""
import importlib
import platform
import sys
import traceback
import warnings
from collections import OrderedDict
from typing import Callable, List, Tuple

VERSION_PACKAGES = ('torch', 'torchvision', 'numpy', 'mmengine', 'mmcv', 'mmdet', 'mmdet3d',
                    'spconv', 'nuscenes', 'open3d', 'numba', 'segment_anything')
PIP_NAMES = {'nuscenes': 'nuscenes-devkit', 'segment_anything': 'segment-anything',
             'spconv': 'spconv-cu120'}


def _version(module_name: str) -> str:
    from importlib import metadata
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - report, never crash the report
        return f'not importable ({type(exc).__name__}: {str(exc).splitlines()[0][:80]})'
    version = getattr(module, '__version__', None)
    if version is None:
        try:
            version = metadata.version(PIP_NAMES.get(module_name, module_name))
        except metadata.PackageNotFoundError:
            version = 'unknown'
    return str(version)


def collect_env() -> 'OrderedDict[str, str]':
    """Return the environment as an ordered mapping of name -> value (strings)."""
    import torch

    import mmdet3d_plugin
    from mmdet3d_plugin.ops.extension import extension_status

    env = OrderedDict()
    env['sys.platform'] = sys.platform
    env['Python'] = sys.version.replace('\n', '')
    env['Machine'] = f'{platform.machine()}, {torch.get_num_threads()} torch threads'
    env['CUDA available'] = str(torch.cuda.is_available())
    if torch.cuda.is_available():
        for idx in range(torch.cuda.device_count()):
            env[f'GPU {idx}'] = torch.cuda.get_device_name(idx)
    env['torch CUDA build'] = str(torch.version.cuda)
    for name in VERSION_PACKAGES:
        env[name] = _version(name)
    env['Drive3D'] = mmdet3d_plugin.__version__
    try:
        from mmcv.ops import get_compiler_version, get_compiling_cuda_version
        env['mmcv ops compiler'] = get_compiler_version()
        env['mmcv ops CUDA'] = get_compiling_cuda_version()
    except Exception as exc:  # noqa: BLE001
        env['mmcv ops'] = f'not compiled ({exc})'
    env['Drive3D op bev_pool'] = extension_status('bev_pool')
    return env


# ----------------------------------------------------------------- live component checks
def check_mmcv_ops() -> str:
    import torch
    from mmcv.ops import Voxelization, nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [50., 50., 60., 60.]])
    _, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2], keep
    points = torch.rand(100, 4) * torch.tensor([10., 10., 2., 1.])
    voxels, coords, counts = Voxelization([1, 1, 2], [0, 0, 0, 10, 10, 2], 8, 100)(points)
    assert int(counts.sum()) == 100
    return f'nms and Voxelization ran on CPU ({len(voxels)} voxels)'


def check_spconv() -> str:
    import torch

    from mmdet3d_plugin.ops.sparse import SubMConv3d, make_sparse_tensor
    indices = torch.tensor([[0, 1, 1, 1], [0, 1, 1, 2], [0, 2, 3, 3]], dtype=torch.int32)
    x = make_sparse_tensor(torch.ones(3, 2), indices, (4, 4, 4), 1)
    out = SubMConv3d(2, 3, 3, bias=False)(x)
    assert out.features.shape == (3, 3)
    return 'SubMConv3d forward ran on CPU (ConvAlgo.Native)'


class SkipCheck(Exception):
    """Raised by a check that does not apply on this machine (e.g. no GPU)."""


def check_spconv_cuda() -> str:
    import torch
    if not torch.cuda.is_available():
        raise SkipCheck('no GPU visible')
    from mmdet3d_plugin.ops.sparse import SubMConv3d, make_sparse_tensor
    indices = torch.tensor([[0, 1, 1, 1], [0, 1, 1, 2]], dtype=torch.int32, device='cuda')
    x = make_sparse_tensor(torch.ones(2, 16, device='cuda'), indices, (4, 4, 4), 1)
    out = SubMConv3d(16, 16, 3).cuda()(x)
    assert out.features.shape == (2, 16)
    return 'SubMConv3d forward ran on CUDA (implicit GEMM)'


def check_bev_pool() -> str:
    import torch

    from mmdet3d_plugin.ops.bev_pool import bev_pool, bev_pool_reference
    feats = torch.rand(50, 3, dtype=torch.float64)
    coords = torch.stack([torch.zeros(50), torch.zeros(50), torch.randint(0, 4, (50,)),
                          torch.randint(0, 5, (50,))], 1).int()
    out = bev_pool(feats, coords, 1, (1, 4, 5), impl='ext')
    assert torch.allclose(out, bev_pool_reference(feats, coords, 1, (1, 4, 5)))
    return 'compiled kernel matches the reference on CPU'


def check_nuscenes() -> str:
    from nuscenes.eval.detection.evaluate import DetectionEval  # noqa: F401
    from nuscenes.map_expansion.map_api import NuScenesMap  # noqa: F401
    from nuscenes.utils.splits import create_splits_scenes
    splits = create_splits_scenes()
    assert len(splits['mini_train']) == 8 and len(splits['mini_val']) == 2
    return 'NuScenes, NuScenesMap, DetectionEval import; mini splits present'


def check_open3d() -> str:
    import numpy as np
    import open3d as o3d
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.random.rand(200, 3)))
    down = cloud.voxel_down_sample(0.5)
    assert 0 < len(down.points) <= 27, len(down.points)
    return f'point cloud built and voxel-downsampled ({len(down.points)} points)'


def check_segment_anything() -> str:
    from mmdet3d_plugin.utils.tiny_sam import build_tiny_sam, tiny_sam_point_mask
    masks = tiny_sam_point_mask(build_tiny_sam())
    assert masks.shape == (1, 1, 64, 64)
    return 'tiny random SAM predicted a mask from a point prompt'


def _fix(name: str, message: str) -> str:
    if 'libusb' in message:
        return 'apt-get install libusb-1.0-0 (or: make setup)'
    fixes = {
        'mmcv CPU ops': 'rebuild mmcv with ops: rm -rf ~/.cache/drive3d/wheels/mmcv-* && make setup',
        'spconv (CPU)': 'pip install spconv-cu120==2.3.6 (or the spconv-cuXXX of your CUDA)',
        'spconv (CUDA)': 'install the spconv-cuXXX wheel matching your CUDA driver',
        'Drive3D bev_pool kernel': 'pip install -e . --no-build-isolation (or: make setup)',
        'nuscenes-devkit': "pip install nuscenes-devkit==1.2.0 'numpy<2'",
        'open3d': 'pip install open3d==0.20.0',
        'segment-anything': 'pip install segment-anything',
    }
    return fixes.get(name, 'make setup')


CHECKS: List[Tuple[str, Callable[[], str]]] = [
    ('mmcv CPU ops', check_mmcv_ops),
    ('spconv (CPU)', check_spconv),
    ('spconv (CUDA)', check_spconv_cuda),
    ('Drive3D bev_pool kernel', check_bev_pool),
    ('nuscenes-devkit', check_nuscenes),
    ('open3d', check_open3d),
    ('segment-anything', check_segment_anything),
]


def run_checks(verbose: bool = False) -> 'OrderedDict[str, Tuple[str, str]]':
    """Run every component check; return name -> (status, one-line message).

    ``status`` is ``'OK'``, ``'SKIP'`` (does not apply here) or ``'FAIL'`` (message has the fix).
    """
    results = OrderedDict()
    for name, check in CHECKS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', FutureWarning)  # spconv's torch.cuda.amp notices
                results[name] = ('OK', check())
        except SkipCheck as exc:
            results[name] = ('SKIP', str(exc))
        except Exception as exc:  # noqa: BLE001 - every failure becomes one line
            first = (str(exc).strip().splitlines() or [''])[0][:160]
            message = f'{type(exc).__name__}: {first}'
            if verbose:
                traceback.print_exc()
            results[name] = ('FAIL', f'{message} -> fix: {_fix(name, message)}')
    return results


def main(argv=None) -> int:
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--verbose', action='store_true', help='print tracebacks of failures')
    args = parser.parse_args(argv)
    print('Drive3D environment')
    print('-' * 72)
    for key, value in collect_env().items():
        print(f'{key}: {value}')
    print('-' * 72)
    print('Component checks')
    results = run_checks(args.verbose)
    width = max(len(name) for name in results)
    for name, (status, message) in results.items():
        print(f'  [{status:^4}] {name:<{width}}  {message}')
    failed = [name for name, (status, _) in results.items() if status == 'FAIL']
    print('-' * 72)
    print('All components OK' if not failed else f'FAILED: {", ".join(failed)}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
