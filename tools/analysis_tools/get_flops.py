#!/usr/bin/env python
"""FLOPs and parameters of a model config on one generated input batch, spconv layers included.

    python tools/analysis_tools/get_flops.py CONFIG [--shape H W] [--num-points N] \\
        [--batch-size 1] [--mode tensor] [--device cpu] [--cfg-options k=v ...] [--out F.json]

The model is built from the config (random weights: FLOPs do not depend on them), the batch by
the builder registered for the model's type in :mod:`mmdet3d_plugin.analysis.flops_inputs`
(ring-rig images at the view transform's input size, a LiDAR-like 32-beam scan). The data
preprocessor (normalisation, voxelisation) runs outside the count; one ``mode`` forward
(``tensor``: raw head outputs; ``predict``: with decoding and NMS) is counted by
:class:`mmdet3d_plugin.analysis.flops.FlopCounter`: FLOPs = 2 x multiply-adds, sparse convs as
rulebook pairs x Cin x Cout x 2. Prints the total GFLOPs and per-submodule / per-type tables;
``--out`` writes the full report as JSON (atomically).
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs='+', metavar='SIZE',
                        help='network input image size: H W, or one value for both (default '
                        'and, for LSS models, the only choice: model.view_transform.image_size)')
    parser.add_argument('--num-points', type=int, default=None,
                        help='LiDAR points per sample (default: one nuScenes sweep, 34720)')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--mode', choices=('tensor', 'predict'), default='tensor')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out', help='also write the report here as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys, e.g. model.bbox_head=None')
    args = parser.parse_args(argv)
    if args.shape is not None and len(args.shape) not in (1, 2):
        parser.error(f'--shape takes H W or one size, got {len(args.shape)} values')
    if args.batch_size < 1 or (args.num_points is not None and args.num_points < 1):
        parser.error('--batch-size and --num-points must be positive')
    return args


def describe_inputs(inputs: dict) -> str:
    """``', 6 x (3, 128, 352) images, 34720 points'`` per sample, for what the batch has."""
    parts = []
    if inputs.get('img'):
        img = inputs['img'][0]
        parts.append(f'{img.shape[0]} x {tuple(img.shape[1:])} images')
    if inputs.get('points'):
        parts.append(f'{inputs["points"][0].shape[0]} points')
    return ''.join(f', {part}' for part in parts) + ' per sample' if parts else ''


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        print(f'get_flops: config {args.config!r} not found', file=sys.stderr)
        return 2
    import torch
    from mmengine.registry import DefaultScope

    from mmdet3d_plugin.analysis.flops import count_flops
    from mmdet3d_plugin.analysis.flops_inputs import (SWEEP_POINTS, FlopsInputs,
                                                      build_flops_batch)
    from mmdet3d_plugin.engine import load_config
    from mmdet3d_plugin.registry import MODELS
    from mmdet3d_plugin.utils import register_all_modules
    from mmdet3d_plugin.utils.atomic_io import write_json
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.cfg_options)
    shape = None if args.shape is None else tuple(args.shape * (3 - len(args.shape)))[:2]
    options = FlopsInputs(batch_size=args.batch_size, image_size=shape, seed=args.seed,
                          num_points=args.num_points or SWEEP_POINTS)
    torch.manual_seed(args.seed)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmdet3d_plugin')):
        model = MODELS.build(cfg.model).to(args.device).eval()
        try:
            batch = build_flops_batch(model, cfg.model, options)
        except (KeyError, ValueError) as error:
            print(f'get_flops: {args.config}: {error.args[0]}', file=sys.stderr)
            return 2
        with torch.no_grad():
            data = model.data_preprocessor(batch, training=False)
        report = count_flops(model, lambda m: m(**data, mode=args.mode))
    params = sum(p.numel() for p in model.parameters())
    print(f'{args.config}: {type(model).__name__}, mode={args.mode!r}, batch {args.batch_size}'
          f'{describe_inputs(batch["inputs"])}')
    print(f'Params: {params / 1e6:.3f} M')
    print(report.format_table())
    if args.out:
        write_json(args.out, dict(report.to_dict(), config=args.config, params=params,
                                  mode=args.mode, inputs=dict(batch_size=args.batch_size,
                                                              image_size=shape,
                                                              num_points=options.num_points,
                                                              seed=args.seed)))
        print(f'report written to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
