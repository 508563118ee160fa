#!/usr/bin/env python
"""BEV pooling (LSS splat): compiled kernels vs the best pure-PyTorch path, in one run.

Sizes (``--case``):
  bev (default)    nuScenes LSS as in BEVFusion's camera branch -- 6 cameras x 118 depth bins x
                   32 x 88 feature pixels (1,993,728 frustum points), 80 context channels, pooled
                   into a 1 x 180 x 180 BEV grid of 0.6 m over [-54, 54] m. The frustum geometry
                   is the nuScenes camera ring (six cameras 60 deg apart, 70 deg horizontal FOV,
                   depth bins 1.0-59.5 m every 0.5 m), so points of one pixel fall into
                   neighbouring cells as in real data.
  nus-occupancy, occ3d, synthetic-occ3d
                   the voxel lifts (``LSSVoxelTransform``, ``(Z, Y, X)`` with Z > 1) of the dense
                   occupancy baseline's configs (:data:`OCC_CASES`): image / feature size, depth
                   bins, context channels and x/y/z bounds read from the config; the frustum is
                   the view transform's own (``make_frustum`` -> ``frustum_to_lidar`` ->
                   ``MetricGrid.cell_index``) on the nuScenes rig of ``mmdet3d_plugin.testing``
                   (intrinsics of 400 x 225 images resized to the network input, as
                   ``make_occupancy_batch``), lifted into the config's grid frame (LiDAR for
                   nuScenes-Occupancy, ego = the rig's LIDAR_TOP -> ego for Occ3D).
Points outside the grid are dropped.

Implementations (all give the same ``(B, C, Z, Y, X)`` result and gradients):
  kernel bev_pool_depth  the compiled LSS kernel: depth x context pooled without the (N, C) tensor
  kernel bev_pool        the compiled generic kernel on materialised (N, C) frustum features
  torch index_add / scatter_add / LSS cumsum
                         PyTorch: materialise depth x context, then pool (LSS / BEVFusion style)

Time: median of ``--repeats`` alternating runs of forward and forward+backward (gradients
w.r.t. depth and context, as in training). Memory: peak memory added by one call over the
inputs, each implementation in a fresh subprocess (Linux VmHWM reset through
/proc/self/clear_refs; on CUDA torch.cuda.max_memory_allocated). Ratios are against the
fastest PyTorch path.

    python benchmarks/bev_pool.py                 # CPU
    python benchmarks/bev_pool.py --device cuda   # GPU
    python benchmarks/bev_pool.py --case occ3d    # an occupancy voxel lift
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from mmdet3d_plugin.ops.bev_pool import bev_pool, bev_pool_depth
from mmdet3d_plugin.ops.bev_pool.reference import (bev_pool_cumsum_reference, bev_pool_reference,
                                                   bev_pool_scatter_reference)


def _materialised(pool_fn):
    def run(depth, context, pixel_index, coords, grid):
        feats = depth[:, None] * context.index_select(0, pixel_index.long())
        return pool_fn(feats, coords, 1, grid)
    return run


IMPLS = {
    'kernel bev_pool_depth': lambda d, c, p, k, g: bev_pool_depth(d, c, p, k, 1, g, impl='ext'),
    'kernel bev_pool': _materialised(lambda f, k, b, g: bev_pool(f, k, b, g, impl='ext')),
    'torch index_add': _materialised(bev_pool_reference),
    'torch scatter_add': _materialised(bev_pool_scatter_reference),
    'torch LSS cumsum': _materialised(bev_pool_cumsum_reference),
}
KERNEL = 'kernel bev_pool_depth'


#: Occupancy voxel lifts: case -> dense baseline config (its view_transform and occ_grid).
OCC_CASES = {
    'nus-occupancy': 'configs/occ_baseline/occ-baseline_cam-r50_8xb1-24e_nus-occupancy.py',
    'occ3d': 'configs/occ_baseline/occ-baseline_cam-r50_8xb1-24e_occ3d.py',
    'synthetic-occ3d': 'configs/occ_baseline/occ-baseline_cam_tiny_1xb2-cpu_synthetic.py',
}
#: Size of the default case (BEVFusion's LSS), keyed by the option (dest) that overrides it.
BEV_SIZE = dict(cameras=6, depth_bins=118, feat_size=[32, 88], channels=80, grid=[1, 180, 180])
REPO = Path(__file__).resolve().parents[1]


def ring_geometry(args):
    """Frustum of the nuScenes camera ring on the BEV grid.

    Returns:
        tuple: ``(M, 3)`` int64 ``[z, y, x]`` cells and ``(M,)`` int64 context rows of the
        points inside the grid, their ``(cams * bins * h * w,)`` bool mask over all points.
    """
    cams, bins, height, width = args.cameras, args.depth_bins, args.feat_size[0], args.feat_size[1]
    _, num_y, num_x = args.grid
    cam = torch.arange(cams).view(cams, 1, 1, 1)
    d = torch.arange(bins).view(1, bins, 1, 1)
    w = torch.arange(width).view(1, 1, 1, width)
    azimuth = torch.deg2rad(cam * 60.0 + (w / (width - 1) - 0.5) * 70.0)
    radius = 1.0 + 0.5 * d
    x = (radius * torch.cos(azimuth)).expand(cams, bins, height, width)
    y = (radius * torch.sin(azimuth)).expand(cams, bins, height, width)
    cx = torch.floor((x + 54.0) / 0.6).long().flatten()
    cy = torch.floor((y + 54.0) / 0.6).long().flatten()
    pixel = (cam * height * width + torch.arange(height * width).view(1, 1, height, width))
    pixel = pixel.expand(cams, bins, height, width).flatten()
    keep = (cx >= 0) & (cx < num_x) & (cy >= 0) & (cy < num_y)
    cells = torch.stack([torch.zeros_like(cx[keep]), cy[keep], cx[keep]], 1)
    return cells, pixel[keep], keep


def occupancy_size(case):
    """Size of an occupancy case from its config: view-transform kwargs and the grid's frame."""
    from mmengine.config import Config

    from mmdet3d_plugin.datasets.transforms.loading_occupancy import occupancy_grid
    from mmdet3d_plugin.models.view_transforms.bev_grid import MetricGrid
    from mmdet3d_plugin.models.view_transforms.frustum import depth_bin_centres
    cfg = Config.fromfile(str(REPO / OCC_CASES[case]))
    vt = cfg.model.view_transform
    if vt.type != 'LSSVoxelTransform':
        raise ValueError(f'{OCC_CASES[case]}: model.view_transform.type must be '
                         f'LSSVoxelTransform, got {vt.type!r}')
    grid = MetricGrid(vt.xbound, vt.ybound, vt.zbound)
    return dict(cameras=6, depth_bins=len(depth_bin_centres(vt.dbound)),
                feat_size=list(vt.feature_size), channels=int(vt.out_channels),
                grid=list(grid.shape)), dict(view_transform=vt,
                                             frame=occupancy_grid(cfg.occ_grid).frame_of)


def occupancy_geometry(args):
    """Frustum of an occupancy config's LSSVoxelTransform on the nuScenes rig (as
    :func:`ring_geometry`), in the config's grid frame, flattened as ``lift_splat`` does."""
    from mmdet3d_plugin.models.view_transforms.bev_grid import MetricGrid
    from mmdet3d_plugin.models.view_transforms.frustum import frustum_to_lidar, make_frustum
    from mmdet3d_plugin.testing import lidar2ego_matrix, resize_matrix, rig_matrices
    vt, frame = args.occ['view_transform'], args.occ['frame']
    height, width = vt.image_size
    frustum = make_frustum(vt.image_size, vt.feature_size, vt.dbound)  # (D, h, w, 3)
    cam2img, lidar2cam = rig_matrices()  # 400 x 225 images
    aug = resize_matrix(width / 400, height / 225)
    lidar2occ = lidar2ego_matrix() if frame == 'ego' else torch.eye(4).numpy()
    geometry = frustum_to_lidar(frustum, *(torch.from_numpy(m)[None] for m in (
        cam2img, lidar2cam, aug, lidar2occ)))  # (1, 6, D, h, w, 3)
    cells, inside = MetricGrid(vt.xbound, vt.ybound, vt.zbound).cell_index(geometry[0])
    keep = inside.flatten()
    flat = keep.nonzero(as_tuple=True)[0]
    pixels_per_view = args.feat_size[0] * args.feat_size[1]
    per_view = args.depth_bins * pixels_per_view
    pixel = flat // per_view * pixels_per_view + flat % pixels_per_view
    return cells.reshape(-1, 3)[flat], pixel, keep


def make_inputs(args):
    """Frustum (:func:`ring_geometry` / :func:`occupancy_geometry`) -> (depth, context,
    pixel_index, coords)."""
    gen = torch.Generator().manual_seed(0)
    cams, bins, height, width = args.cameras, args.depth_bins, args.feat_size[0], args.feat_size[1]
    cells, pixel, keep = (ring_geometry if args.case == 'bev' else occupancy_geometry)(args)
    coords = torch.cat([torch.zeros(len(cells), 1, dtype=torch.long), cells], 1).int()
    depth = torch.rand(cams * bins * height * width, generator=gen).softmax(0)[keep] * 1e5
    context = torch.randn(cams * height * width, args.channels, generator=gen)
    dtype = getattr(torch, args.dtype)
    return (depth.to(args.device, dtype), context.to(args.device, dtype),
            pixel.int().to(args.device), coords.to(args.device))


def sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def run_once(name, inputs, args, backward):
    depth, context, pixel_index, coords = inputs
    if backward:
        depth = depth.detach().requires_grad_(True)
        context = context.detach().requires_grad_(True)
        IMPLS[name](depth, context, pixel_index, coords, tuple(args.grid)).sum().backward()
    else:
        with torch.no_grad():
            IMPLS[name](depth, context, pixel_index, coords, tuple(args.grid))


def check_agreement(inputs, args):
    """All implementations agree with the index_add path (max abs difference, relative)."""
    with torch.no_grad():
        ref = IMPLS['torch index_add'](*inputs, tuple(args.grid)).double()
        scale = ref.abs().max().item()
        return {name: (IMPLS[name](*inputs, tuple(args.grid)).double() - ref).abs().max().item()
                / scale for name in IMPLS}


def time_all(inputs, args):
    times = {name: {'fwd': [], 'fwd+bwd': []} for name in IMPLS}
    for name in IMPLS:  # warm-up
        run_once(name, inputs, args, backward=True)
    for _ in range(args.repeats):
        for name in IMPLS:
            for key, backward in (('fwd', False), ('fwd+bwd', True)):
                sync(args.device)
                start = time.perf_counter()
                run_once(name, inputs, args, backward)
                sync(args.device)
                times[name][key].append(time.perf_counter() - start)
    return {name: {k: statistics.median(v) for k, v in t.items()} for name, t in times.items()}


def _status_kb(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'{field} not in /proc/self/status')


def peak_memory_child(args):
    """Runs in a subprocess: peak memory (MB) added by one call over the inputs."""
    saved = torch.load(args.child_inputs, weights_only=True)
    inputs, args.grid = saved['inputs'], saved['grid']
    if args.device == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        run_once(args.child, inputs, args, args.child_backward)
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # reset the peak-RSS mark
    base = _status_kb('VmRSS')
    run_once(args.child, inputs, args, args.child_backward)
    return (_status_kb('VmHWM') - base) / 1024


def peak_memory(name, args, backward, inputs_file):
    """Peak memory of one call in a fresh subprocess on the inputs saved in ``inputs_file``
    (the occupancy geometry's imports cost ~20 s, so children load the parent's inputs)."""
    cmd = [sys.executable, __file__, '--child', name, '--child-inputs', inputs_file, '--device',
           args.device, '--dtype', args.dtype]
    if backward:
        cmd.append('--child-backward')
    # A fixed mmap threshold makes every large buffer fresh pages (glibc would otherwise raise
    # its threshold and serve later buffers from already-resident heap memory, hiding them).
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536', MALLOC_TRIM_THRESHOLD_='0')
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def resolve_size(parser, args):
    """Fill the size options from ``--case`` (the occupancy cases take none of them)."""
    given = [k for k in BEV_SIZE if getattr(args, k) is not None]
    if args.case == 'bev':
        for key, value in BEV_SIZE.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
        return
    if given:
        parser.error(f"--case {args.case} takes its size from {OCC_CASES[args.case]}; drop "
                     + ', '.join('--' + k.replace('_', '-') for k in given))
    size, args.occ = occupancy_size(args.case)
    vars(args).update(size)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--case', default='bev', choices=['bev'] + list(OCC_CASES),
                        help='size: BEVFusion LSS BEV (default) or an occupancy voxel lift')
    parser.add_argument('--cameras', type=int, help='bev case only (default 6)')
    parser.add_argument('--depth-bins', type=int, help='bev case only (default 118)')
    parser.add_argument('--feat-size', type=int, nargs=2, metavar=('H', 'W'),
                        help='bev case only (default 32 88)')
    parser.add_argument('--channels', type=int, help='bev case only (default 80)')
    parser.add_argument('--grid', type=int, nargs=3, metavar=('Z', 'Y', 'X'),
                        help='bev case only (default 1 180 180)')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--dtype', default='float32', choices=['float32', 'float16', 'bfloat16'])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--skip', nargs='*', default=[], help='implementations to leave out')
    parser.add_argument('--json', help='also write the results to this JSON file')
    parser.add_argument('--child', help=argparse.SUPPRESS)
    parser.add_argument('--child-backward', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--child-inputs', help=argparse.SUPPRESS)
    args = parser.parse_args()
    for name in args.skip:
        IMPLS.pop(name)
    if args.child:
        print(peak_memory_child(args))
        return
    resolve_size(parser, args)

    inputs = make_inputs(args)
    total = args.cameras * args.depth_bins * math.prod(args.feat_size)
    print(f'BEV pooling benchmark, case {args.case}: {args.cameras} x {args.depth_bins} x '
          f'{args.feat_size[0]} x {args.feat_size[1]} = {total:,} frustum points '
          f'({len(inputs[0]):,} inside the grid) x {args.channels} channels -> grid (Z, Y, X) '
          f'{tuple(args.grid)}; {args.device} {args.dtype}, torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads, median of {args.repeats}')
    errors = check_agreement(inputs, args)
    times = time_all(inputs, args)
    with tempfile.TemporaryDirectory() as tmp:
        inputs_file = os.path.join(tmp, 'inputs.pt')
        torch.save(dict(inputs=inputs, grid=list(args.grid)), inputs_file)
        memory = {name: {'fwd': peak_memory(name, args, False, inputs_file),
                         'fwd+bwd': peak_memory(name, args, True, inputs_file)} for name in IMPLS}
    torch_names = [n for n in IMPLS if n.startswith('torch')]
    best = min(torch_names, key=lambda n: times[n]['fwd+bwd'])
    header = (f"{'implementation':<24}{'fwd ms':>9}{'fwd+bwd ms':>12}{'fwd MB':>9}"
              f"{'fwd+bwd MB':>12}{'rel. err':>10}")
    print(header)
    print('-' * len(header))
    for name in IMPLS:
        t, m = times[name], memory[name]
        print(f"{name:<24}{t['fwd'] * 1e3:>9.1f}{t['fwd+bwd'] * 1e3:>12.1f}{m['fwd']:>9.1f}"
              f"{m['fwd+bwd']:>12.1f}{errors[name]:>10.1e}")
    ratios = {
        'speedup_fwd': times[best]['fwd'] / times[KERNEL]['fwd'],
        'speedup_fwd_bwd': times[best]['fwd+bwd'] / times[KERNEL]['fwd+bwd'],
        'memory_ratio_fwd': memory[KERNEL]['fwd'] / max(memory[best]['fwd'], 1e-9),
        'memory_ratio_fwd_bwd': memory[KERNEL]['fwd+bwd'] / max(memory[best]['fwd+bwd'], 1e-9),
    }
    print(f'\nfastest PyTorch path: {best}')
    print(f"{KERNEL} speed-up over it: {ratios['speedup_fwd']:.2f}x forward, "
          f"{ratios['speedup_fwd_bwd']:.2f}x forward+backward (target >= 2x)")
    print(f"{KERNEL} peak extra memory relative to it: {ratios['memory_ratio_fwd']:.3f}x forward, "
          f"{ratios['memory_ratio_fwd_bwd']:.3f}x forward+backward (target < 1x)")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(args={k: v for k, v in vars(args).items() if k != 'occ'},
                           inside_points=len(inputs[0]), times=times, memory=memory, errors=errors,
                           best_torch=best, ratios=ratios), f, indent=2)


if __name__ == '__main__':
    main()
