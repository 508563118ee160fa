#!/usr/bin/env python
"""Where a checkpoint's map probabilities sit, per class, on a split: GT share, probability
quantiles on GT-positive and GT-negative cells, AUROC, the IoU at the metric's thresholds and
the best IoU over 0.02-0.98 (an unlearned class has AUROC ~0.5; an under-confident one is
separable but below the metric's 0.35).

    python tools/analysis_tools/map_probabilities.py CONFIG CHECKPOINT [--split val] \\
        [--samples 20] [--out work_dirs/map_probabilities.json] [--trust-checkpoint]

Run from the directory the config's data root is relative to. Prints a Markdown table; see
:mod:`mmdet3d_plugin.analysis.map_probabilities`.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction


def parse_args(argv=None):
    from mmdet3d_plugin.engine.safe_load import add_trust_checkpoint_argument
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--split', default='val', choices=('val', 'test'))
    parser.add_argument('--samples', type=int, default=None,
                        help='the first N samples of the split (default: all)')
    parser.add_argument('--out', help='also write the summary here as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    add_trust_checkpoint_argument(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    for what, path in (('config', args.config), ('checkpoint', args.checkpoint)):
        if not osp.isfile(path):
            print(f'map_probabilities: {what} {path!r} not found', file=sys.stderr)
            return 2
    from mmdet3d_plugin.analysis.map_probabilities import format_summary, map_probability_summary
    from mmdet3d_plugin.utils import register_all_modules
    from mmdet3d_plugin.utils.atomic_io import write_json
    from mmdet3d_plugin.visualization.prediction_views import (build_model, build_split_dataset,
                                                               load_config, predict_sample)
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config)
    cfg.merge_from_dict(args.cfg_options)
    model = build_model(cfg, args.checkpoint, trust_checkpoint=args.trust_checkpoint)
    names = getattr(getattr(model, 'seg_head', None), 'classes', None)
    if not names:
        print(f'map_probabilities: {args.config} has no map head (model.seg_head)',
              file=sys.stderr)
        return 2
    dataset = build_split_dataset(cfg, args.split)
    count = len(dataset) if args.samples is None else min(args.samples, len(dataset))
    probs, gts = [], []
    for index in range(count):
        _, result = predict_sample(model, dataset, index)
        if 'gt_masks_bev' not in result:
            print(f'map_probabilities: sample {index} of the {args.split} split has no '
                  'gt_masks_bev (the test pipeline needs LoadBEVMapGT)', file=sys.stderr)
            return 2
        probs.append(result.masks_bev.float().cpu())
        gts.append(result.gt_masks_bev)
    summary = map_probability_summary(probs, gts, list(names))
    print(f'{count} {args.split} samples, {osp.basename(args.checkpoint)}')
    print('\n'.join(format_summary(summary)))
    if args.out:
        write_json(args.out, dict(config=args.config, checkpoint=args.checkpoint,
                                  split=args.split, samples=count, classes=summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
