#!/usr/bin/env python
"""Render one sample of a nuScenes-layout dataset to PNGs.

    python tools/browse_dataset.py --dataroot data/synthetic/nuscenes --version v1.0-mini \
        --sample-index 0 --out-dir work_dirs/browse [--occ3d-root data/synthetic/occ3d]

Writes ``cameras.png`` (six cameras, projected boxes), ``bev.png`` (ego-frame map masks, LiDAR
points, boxes) and, with ``--occ3d-root``, ``occupancy.png``. Reads through the nuScenes devkit,
so it works unchanged on the real dataset. The logic lives in
:mod:`mmdet3d_plugin.visualization`.
"""
import argparse
import sys

from mmdet3d_plugin.visualization import BrowseOptions, browse_sample
from mmdet3d_plugin.visualization.cli import run_render


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--dataroot', required=True, help='nuScenes folder (holds <version>/)')
    parser.add_argument('--version', default='v1.0-mini', help='table folder, e.g. v1.0-trainval')
    which = parser.add_mutually_exclusive_group()
    which.add_argument('--sample-index', type=int, default=None,
                       help='index into sample.json (default 0)')
    which.add_argument('--sample-token', default=None, help='sample token')
    parser.add_argument('--out-dir', default='work_dirs/browse', help='folder for the PNGs')
    parser.add_argument('--occ3d-root', default=None,
                        help='Occ3D-nuScenes root holding gts/ (adds occupancy.png)')
    parser.add_argument('--bev-range', type=float, nargs=4, default=[-50.0, -50.0, 50.0, 50.0],
                        metavar=('X_MIN', 'Y_MIN', 'X_MAX', 'Y_MAX'), help='ego-frame metres')
    parser.add_argument('--map-resolution', type=float, default=0.5, help='metres per pixel')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    options = BrowseOptions(bev_range=tuple(args.bev_range), map_resolution=args.map_resolution)
    return run_render('browse_dataset.py', lambda: browse_sample(
        args.dataroot, args.version, args.out_dir, args.sample_index, args.sample_token,
        args.occ3d_root, options))


if __name__ == '__main__':
    sys.exit(main())
