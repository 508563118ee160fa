#!/usr/bin/env python
"""BEV pooling: compiled kernel vs the best pure-PyTorch path, side by side in one run.

Default size is nuScenes LSS (BEVFusion camera branch): 6 cameras x 118 depth bins x 32 x 88
feature pixels = 1,993,728 frustum points, 80 channels, pooled into a 1 x 180 x 180 BEV grid.

Time: median wall time of ``--repeats`` alternating runs (forward, and forward+backward).
Memory: peak resident memory *added* by one forward (+backward) call over the inputs, measured
in a fresh subprocess per implementation (Linux ``VmHWM`` reset through ``/proc/self/clear_refs``;
on CUDA ``max_memory_allocated``).
Ratios are relative to the fastest pure-PyTorch path (index_add / scatter_add / LSS cumsum).

    python benchmarks/bev_pool.py                 # CPU, LSS size
    python benchmarks/bev_pool.py --device cuda   # GPU
    python benchmarks/bev_pool.py --points 200000 --repeats 3   # quick
"""
import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

from mmdet3d_plugin.ops.bev_pool import bev_pool
from mmdet3d_plugin.ops.bev_pool.reference import (bev_pool_cumsum_reference, bev_pool_reference,
                                                   bev_pool_scatter_reference)

IMPLS = {
    'kernel (ext)': lambda f, c, b, g: bev_pool(f, c, b, g, impl='ext'),
    'torch index_add': bev_pool_reference,
    'torch scatter_add': bev_pool_scatter_reference,
    'torch LSS cumsum': bev_pool_cumsum_reference,
}


def make_inputs(args):
    gen = torch.Generator().manual_seed(0)
    num_z, num_y, num_x = args.grid
    feats = torch.randn(args.points, args.channels, generator=gen)
    coords = torch.stack([
        torch.zeros(args.points, dtype=torch.int32),
        torch.randint(0, num_z, (args.points, ), generator=gen, dtype=torch.int32),
        torch.randint(0, num_y, (args.points, ), generator=gen, dtype=torch.int32),
        torch.randint(0, num_x, (args.points, ), generator=gen, dtype=torch.int32)], 1)
    dtype = getattr(torch, args.dtype)
    return feats.to(args.device, dtype), coords.to(args.device)


def sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def run_once(name, feats, coords, args, backward):
    fn = IMPLS[name]
    if backward:
        feats = feats.detach().requires_grad_(True)
        fn(feats, coords, 1, tuple(args.grid)).sum().backward()
    else:
        with torch.no_grad():
            fn(feats, coords, 1, tuple(args.grid))


def time_all(args):
    feats, coords = make_inputs(args)
    times = {name: {'fwd': [], 'fwd+bwd': []} for name in IMPLS}
    for name in IMPLS:  # warm-up (also catches a missing kernel early)
        run_once(name, feats, coords, args, backward=False)
    for _ in range(args.repeats):
        for name in IMPLS:
            for key, backward in (('fwd', False), ('fwd+bwd', True)):
                sync(args.device)
                start = time.perf_counter()
                run_once(name, feats, coords, args, backward)
                sync(args.device)
                times[name][key].append(time.perf_counter() - start)
    return {name: {k: statistics.median(v) for k, v in t.items()} for name, t in times.items()}


def peak_memory_child(args):
    """Runs in a subprocess: peak memory (MB) added by one call over the inputs."""
    feats, coords = make_inputs(args)
    backward = args.child_backward
    if args.device == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        run_once(args.child, feats, coords, args, backward)
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    # Reset the kernel's peak-RSS mark (Linux: "5" > clear_refs), then compare peak to baseline.
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    base = _status_kb('VmRSS')
    run_once(args.child, feats, coords, args, backward)
    return (_status_kb('VmHWM') - base) / 1024


def _status_kb(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'{field} not in /proc/self/status')


def peak_memory(name, args, backward):
    cmd = [sys.executable, __file__, '--child', name, '--points', str(args.points),
           '--channels', str(args.channels), '--grid', *map(str, args.grid),
           '--device', args.device, '--dtype', args.dtype]
    if backward:
        cmd.append('--child-backward')
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--points', type=int, default=6 * 118 * 32 * 88)
    parser.add_argument('--channels', type=int, default=80)
    parser.add_argument('--grid', type=int, nargs=3, default=[1, 180, 180], metavar=('Z', 'Y', 'X'))
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--dtype', default='float32', choices=['float32', 'float16', 'bfloat16'])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--json', help='also write the results to this JSON file')
    parser.add_argument('--child', help=argparse.SUPPRESS)
    parser.add_argument('--child-backward', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(peak_memory_child(args))
        return

    print(f'BEV pooling benchmark: {args.points:,} points x {args.channels} channels -> grid '
          f'{tuple(args.grid)}, {args.device} {args.dtype}, torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads, median of {args.repeats}')
    times = time_all(args)
    memory = {name: {'fwd': peak_memory(name, args, False), 'fwd+bwd': peak_memory(name, args, True)}
              for name in IMPLS}
    torch_names = [n for n in IMPLS if n.startswith('torch')]
    best = min(torch_names, key=lambda n: times[n]['fwd+bwd'])
    header = (f"{'implementation':<20}{'fwd ms':>10}{'fwd+bwd ms':>12}{'fwd MB':>10}"
              f"{'fwd+bwd MB':>12}")
    print(header)
    print('-' * len(header))
    for name in IMPLS:
        t, m = times[name], memory[name]
        print(f"{name:<20}{t['fwd'] * 1e3:>10.1f}{t['fwd+bwd'] * 1e3:>12.1f}{m['fwd']:>10.1f}"
              f"{m['fwd+bwd']:>12.1f}")
    kernel = 'kernel (ext)'
    ratios = {
        'speedup_fwd': times[best]['fwd'] / times[kernel]['fwd'],
        'speedup_fwd_bwd': times[best]['fwd+bwd'] / times[kernel]['fwd+bwd'],
        'memory_ratio_fwd': memory[kernel]['fwd'] / max(memory[best]['fwd'], 1e-9),
        'memory_ratio_fwd_bwd': memory[kernel]['fwd+bwd'] / max(memory[best]['fwd+bwd'], 1e-9),
    }
    print(f'\nBest pure-PyTorch path: {best}')
    print(f"kernel speed-up: {ratios['speedup_fwd']:.2f}x forward, "
          f"{ratios['speedup_fwd_bwd']:.2f}x forward+backward (target >= 2x)")
    print(f"kernel peak extra memory: {ratios['memory_ratio_fwd']:.2f}x forward, "
          f"{ratios['memory_ratio_fwd_bwd']:.2f}x forward+backward of {best} (target < 1x)")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(args=vars(args), times=times, memory=memory, best_torch=best,
                           ratios=ratios), f, indent=2)


if __name__ == '__main__':
    main()
