#!/usr/bin/env python
"""Render a model's predictions on one sample to PNGs.

    python tools/visualize_predictions.py CONFIG CHECKPOINT --out-dir work_dirs/predictions \
        [--sample-index 0] [--score-thr 0.3] [--split val] [--device cpu] [--trust-checkpoint]

Writes ``pred_cameras.png`` (the six original camera images with predicted boxes, solid in the
class colour, and GT boxes, dashed grey) and ``pred_bev.png`` (left: GT map masks, GT boxes and
LiDAR points; right: predicted map masks and boxes, or "no map head"), both in the sample's
LiDAR frame turned so that the ego drives up the page (nuScenes' LIDAR_TOP: y up, x to the
right; the axis labels say which LiDAR axis is which). A model that predicts semantic occupancy
(its outputs carry ``pred_occ``: occupancy configs, any model) also gets ``pred_occupancy.png``:
ground truth (left) and prediction (right) as a 3D voxel render over a top view, Occ3D palette;
without boxes or map masks it gets no ``pred_bev.png``. The logic lives in
:mod:`mmdet3d_plugin.visualization.prediction_views`.
"""
import argparse
import sys

from mmdet3d_plugin.engine.safe_load import add_trust_checkpoint_argument
from mmdet3d_plugin.visualization.cli import run_render
from mmdet3d_plugin.visualization.prediction_views import SPLITS, render_predictions


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file of that model')
    parser.add_argument('--out-dir', default='work_dirs/predictions', help='folder for the PNGs')
    parser.add_argument('--sample-index', type=int, default=0, help='index into the split')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='draw predicted boxes scoring at least this')
    parser.add_argument('--map-thr', type=float, default=0.5,
                        help='draw predicted map pixels with probability at least this')
    parser.add_argument('--split', choices=SPLITS, default='val',
                        help='dataloader of the config whose dataset is used')
    parser.add_argument('--device', default='cpu', help='device the model runs on, e.g. cuda:0')
    add_trust_checkpoint_argument(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_render('visualize_predictions.py', lambda: render_predictions(
        args.config, args.checkpoint, args.out_dir, sample_index=args.sample_index,
        score_thr=args.score_thr, split=args.split, device=args.device, map_thr=args.map_thr,
        trust_checkpoint=args.trust_checkpoint))


if __name__ == '__main__':
    sys.exit(main())
