#!/usr/bin/env python
"""MetaBEV vs the BEVFusion baseline: parameters and latency per frame, side by side in one run.

Both models are built from their configs (same branches and heads; only the fuser differs) and
run ``predict`` on the same random frame (six cameras with the real nuScenes rig, a uniform
point cloud), alternating between the models so machine noise hits both alike. Reported:
median latency per frame over ``--repeats`` runs after ``--warmup``, parameter counts, and
the MetaBEV / BEVFusion ratios.

    python benchmarks/metabev.py                                  # synthetic configs, CPU
    python benchmarks/metabev.py --resolution paper --device cuda --amp   # paper configs, GPU
"""
import argparse
import os.path as osp
import statistics
import time

import torch
from mmengine.config import Config

from mmdet3d_plugin.registry import MODELS
from mmdet3d_plugin.testing import make_batch
from mmdet3d_plugin.utils.setup_env import register_all_modules

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = {
    'synthetic': dict(
        BEVFusion='configs/bevfusion/bevfusion_lidar-cam_tiny_1xb2-cpu_synthetic.py',
        MetaBEV='configs/metabev/metabev_lidar-cam_tiny_1xb2-cpu_synthetic.py',
        image_size=(128, 352), num_points=60000),
    'paper': dict(
        BEVFusion='configs/bevfusion/'
        'bevfusion_lidar-cam_swint-voxel0075_second_secfpn_8xb4-cyclic-20e_nus-3d-map.py',
        MetaBEV='configs/metabev/'
        'metabev_lidar-cam_swint-voxel0075_bev-evolving-m2oe_8xb4-cyclic-20e_nus-3d-map.py',
        image_size=(256, 704), num_points=300000),
}
MODELS_COMPARED = ('BEVFusion', 'MetaBEV')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--resolution', choices=sorted(CONFIGS), default='synthetic')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--amp', action='store_true', help='float16 autocast (CUDA)')
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--sensors', choices=['both', 'camera', 'lidar'], default='both')
    return parser.parse_args()


def build(config: str, device: str):
    cfg = Config.fromfile(osp.join(REPO, config))
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.to(device).eval()


def frame(model, setup: dict, sensors: str, device: str) -> dict:
    batch = make_batch(batch_size=1, image_size=setup['image_size'],
                       num_points=setup['num_points'], with_imgs=sensors != 'lidar',
                       with_points=sensors != 'camera', masks=False)
    batch['inputs'] = {k: [t.to(device) for t in v] for k, v in batch['inputs'].items()}
    with torch.no_grad():
        return model.data_preprocessor(batch, training=False)


def time_once(model, data: dict, device: str, amp: bool) -> float:
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.no_grad(), torch.autocast(device_type=device.split(':')[0], dtype=torch.float16,
                                         enabled=amp):
        model(**data, mode='predict')
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main():
    args = parse_args()
    register_all_modules()
    setup = CONFIGS[args.resolution]
    models = {name: build(setup[name], args.device) for name in MODELS_COMPARED}
    data = {name: frame(models[name], setup, args.sensors, args.device) for name in models}
    times = {name: [] for name in models}
    for step in range(args.warmup + args.repeats):
        for name, model in models.items():
            elapsed = time_once(model, data[name], args.device, args.amp)
            if step >= args.warmup:
                times[name].append(elapsed)
    device_name = (torch.cuda.get_device_name(args.device) if args.device.startswith('cuda')
                   else f'CPU, {torch.get_num_threads()} threads')
    print(f'MetaBEV vs BEVFusion, {args.resolution} configs, {device_name}, sensors '
          f'{args.sensors}, amp {args.amp}, median of {args.repeats} runs')
    print(f"{'model':<10} {'params (M)':>11} {'latency (ms)':>13}")
    stats = {}
    for name, model in models.items():
        params = sum(p.numel() for p in model.parameters()) / 1e6
        latency = statistics.median(times[name]) * 1e3
        stats[name] = (params, latency)
        print(f'{name:<10} {params:>11.2f} {latency:>13.1f}')
    ratio_params = stats['MetaBEV'][0] / stats['BEVFusion'][0]
    ratio_latency = stats['MetaBEV'][1] / stats['BEVFusion'][1]
    print(f'ratio MetaBEV / BEVFusion: params {ratio_params:.2f}x, latency {ratio_latency:.2f}x')


if __name__ == '__main__':
    main()
