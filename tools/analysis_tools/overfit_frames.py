#!/usr/bin/env python
"""Overfitting check: train a config's model on a few fixed training frames (augmentations off)
and score it on the same frames (map IoU per class, predicted boxes, every loss term).

    python tools/analysis_tools/overfit_frames.py \\
        configs/bevfusion/bevfusion_cam_tiny_1xb2-cpu_synthetic.py --frames 4 --iters 150 \\
        --out work_dirs/overfit_cam.json

Run from the directory the config's data root is relative to (``data/synthetic/...`` for the
synthetic configs). See :mod:`mmdet3d_plugin.analysis.overfit` for what the check does.
"""
import argparse
import json
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--frames', type=int, default=4, help='fixed frames (one batch)')
    parser.add_argument('--iters', type=int, default=150)
    parser.add_argument('--lr', type=float, default=2e-3)
    parser.add_argument('--eval-every', type=int, default=50)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='write the records here as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        print(f'overfit_frames: config {args.config!r} not found', file=sys.stderr)
        return 2
    from mmdet3d_plugin.analysis.overfit import overfit_frames
    from mmdet3d_plugin.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    init_default_scope('mmdet3d_plugin')
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    records = overfit_frames(cfg, args.frames, args.iters, args.lr, args.eval_every, args.seed)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        tmp = args.out + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(dict(config=args.config, frames=args.frames, iters=args.iters, lr=args.lr,
                           seed=args.seed, records=records), f, indent=1)
        os.replace(tmp, args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
