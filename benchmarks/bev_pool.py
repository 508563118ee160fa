#!/usr/bin/env python
"""BEV pooling (LSS splat): compiled kernels vs the best pure-PyTorch path, in one run.

Size: nuScenes LSS as in BEVFusion's camera branch -- 6 cameras x 118 depth bins x 32 x 88
feature pixels (1,993,728 frustum points), 80 context channels, pooled into a 1 x 180 x 180
BEV grid of 0.6 m over [-54, 54] m. The frustum geometry is the nuScenes camera ring (six
cameras 60 deg apart, 70 deg horizontal FOV, depth bins 1.0-59.5 m every 0.5 m), so points
of one pixel fall into neighbouring cells as in real data; points outside the grid are dropped.

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
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

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


def make_inputs(args):
    """Frustum of the nuScenes camera ring -> (depth, context, pixel_index, coords)."""
    gen = torch.Generator().manual_seed(0)
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
    n = int(keep.sum())
    coords = torch.stack([torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.long),
                          cy[keep], cx[keep]], 1).int()
    depth = torch.rand(cams * bins * height * width, generator=gen).softmax(0)[keep] * 1e5
    context = torch.randn(cams * height * width, args.channels, generator=gen)
    dtype = getattr(torch, args.dtype)
    return (depth.to(args.device, dtype), context.to(args.device, dtype),
            pixel[keep].int().to(args.device), coords.to(args.device))


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
    inputs = make_inputs(args)
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


def peak_memory(name, args, backward):
    cmd = [sys.executable, __file__, '--child', name] + _size_args(args)
    if backward:
        cmd.append('--child-backward')
    # A fixed mmap threshold makes every large buffer fresh pages (glibc would otherwise raise
    # its threshold and serve later buffers from already-resident heap memory, hiding them).
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536', MALLOC_TRIM_THRESHOLD_='0')
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def _size_args(args):
    return ['--cameras', str(args.cameras), '--depth-bins', str(args.depth_bins), '--feat-size',
            *map(str, args.feat_size), '--channels', str(args.channels), '--grid',
            *map(str, args.grid), '--device', args.device, '--dtype', args.dtype]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cameras', type=int, default=6)
    parser.add_argument('--depth-bins', type=int, default=118)
    parser.add_argument('--feat-size', type=int, nargs=2, default=[32, 88], metavar=('H', 'W'))
    parser.add_argument('--channels', type=int, default=80)
    parser.add_argument('--grid', type=int, nargs=3, default=[1, 180, 180], metavar=('Z', 'Y', 'X'))
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--dtype', default='float32', choices=['float32', 'float16', 'bfloat16'])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--skip', nargs='*', default=[], help='implementations to leave out')
    parser.add_argument('--json', help='also write the results to this JSON file')
    parser.add_argument('--child', help=argparse.SUPPRESS)
    parser.add_argument('--child-backward', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    for name in args.skip:
        IMPLS.pop(name)
    if args.child:
        print(peak_memory_child(args))
        return

    inputs = make_inputs(args)
    total = args.cameras * args.depth_bins * math.prod(args.feat_size)
    print(f'BEV pooling benchmark: {total:,} frustum points ({len(inputs[0]):,} inside the grid) '
          f'x {args.channels} channels -> grid {tuple(args.grid)}; {args.device} {args.dtype}, '
          f'torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeats}')
    errors = check_agreement(inputs, args)
    times = time_all(inputs, args)
    memory = {name: {'fwd': peak_memory(name, args, False), 'fwd+bwd': peak_memory(name, args, True)}
              for name in IMPLS}
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
            json.dump(dict(args=vars(args), times=times, memory=memory, errors=errors,
                           best_torch=best, ratios=ratios), f, indent=2)


if __name__ == '__main__':
    main()
