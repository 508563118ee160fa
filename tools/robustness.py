#!/usr/bin/env python
"""Sensor-failure robustness study: evaluate a checkpoint over MetaBEV's corruption suite.

Every corruption at every severity (Limited Field, Obstacle Occlusion, Missing Objects, Beam
Reduction, View Drop, View Noise) plus Missing Camera, Missing LiDAR and clean, each inserted
into the config's test pipeline and evaluated with the config's test_evaluator. Writes
<work-dir>/robustness.md, .csv and .png (NDS, mAP, map mIoU, each relative to clean); every
finished setting is kept in <work-dir>/settings/<setting>.json and not recomputed on re-run.
Settings whose input the model does not load (camera corruptions for a LiDAR-only model) are
listed as n/a with the reason; a selection in which no setting applies is refused (exit 2).

Occupancy models work unchanged (no per-model code): the report's Occ3D mIoU / SSC mIoU columns
come from the config's Occ3DMetric / SSCMetric, and the camera corruptions (Obstacle Occlusion,
View Drop, View Noise, Missing Camera) go right after the multi-view image loader, before
ImageAug3D. Camera-only models load no LiDAR points at test time, so the LiDAR corruptions
(Limited Field, Missing Objects, Beam Reduction, Missing LiDAR) are skipped as n/a ("camera-only
input") in a full or --quick study, and refused when they are all that --corruptions selects.

MetaBEV's Table 2 (zero-shot vs in-domain): CHECKPOINT is the model trained clean (zero-shot);
--in-domain NAME=CHECKPOINT (or a JSON file mapping names to checkpoints) adds, per corruption,
the model trained with that corruption (see "In-domain protocol" in configs/metabev/README.md),
evaluated under the same settings. <work-dir>/table2.md, .csv and .json put both side by side;
settings without an in-domain checkpoint show '—'.

Examples:
    python tools/robustness.py CONFIG CHECKPOINT --work-dir work_dirs/robustness
    python tools/robustness.py CONFIG CHECKPOINT --quick
    python tools/robustness.py CONFIG CHECKPOINT --corruptions beam_reduction missing_objects \
        --severities beam_reduction=16,4 missing_objects=0.5
    python tools/robustness.py CONFIG CLEAN.pth --corruptions beam_reduction view_drop \
        --in-domain beam_reduction=BEAMS.pth view_drop=VIEWS.pth
"""
import argparse
import json
import os.path as osp
import sys

from mmengine.config import DictAction

from mmdet3d_plugin.datasets.transforms.corruptions import CORRUPTION_SUITE
from mmdet3d_plugin.engine.safe_load import add_trust_checkpoint_argument


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Evaluate a checkpoint under sensor corruptions (robustness study)',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='corruptions and severities:\n' + '\n'.join(
            f'  {name:<20} {severities}' for name, severities in CORRUPTION_SUITE.items()))
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where results go (default: '
                        'work_dirs/<config name>/robustness)')
    parser.add_argument('--corruptions', nargs='+', metavar='NAME',
                        help='evaluate only these corruptions (clean is always evaluated)')
    parser.add_argument('--severities', nargs='+', metavar='[NAME=]V[,V]',
                        help='only these severities: NAME=V,V for one corruption, plain V for '
                        'every selected corruption')
    parser.add_argument('--quick', action='store_true',
                        help='clean, Missing LiDAR, Missing Camera and the middle severity of '
                        'every other corruption')
    parser.add_argument('--in-domain', nargs='+', metavar='NAME=CKPT|MAP.json',
                        help='checkpoints trained with a corruption (MetaBEV Table 2 in-domain '
                        'column): NAME=CHECKPOINT pairs, or one JSON file {NAME: CHECKPOINT}')
    parser.add_argument('--seed', type=int, default=0, help='base seed of the corruptions')
    parser.add_argument('--max-samples', type=int,
                        help='evaluate only the first N test samples (not with NuScenesMetric, '
                        'which scores the whole split)')
    parser.add_argument('--metrics', nargs='+', metavar='SUFFIX',
                        help='extra table columns: metric keys ending with SUFFIX')
    parser.add_argument('--amp', action='store_true', help='mixed-precision inference')
    add_trust_checkpoint_argument(parser)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. test_dataloader.num_workers=0')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def parse_in_domain(tokens) -> dict:
    """``--in-domain`` tokens -> {corruption: checkpoint}.

    Raises:
        ValueError: for a malformed token, an unknown corruption or a name given twice.
    """
    if not tokens:
        return {}
    if len(tokens) == 1 and tokens[0].endswith('.json'):
        with open(tokens[0]) as f:
            pairs = list(json.load(f).items())
    else:
        pairs = []
        for token in tokens:
            if '=' not in token:
                raise ValueError(f'--in-domain: {token!r} is not NAME=CHECKPOINT')
            pairs.append(tuple(token.split('=', 1)))
    mapping = {}
    for name, checkpoint in pairs:
        if name not in CORRUPTION_SUITE:
            raise ValueError(f'--in-domain: unknown corruption {name!r}; valid names: '
                             f'{list(CORRUPTION_SUITE)}')
        if name in mapping:
            raise ValueError(f'--in-domain: {name!r} is given twice')
        mapping[name] = str(checkpoint)
    return mapping


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmdet3d_plugin.engine import CheckpointError
    from mmdet3d_plugin.robustness import NotApplicableError, run_robustness
    from mmdet3d_plugin.robustness.settings import parse_severities, select_settings
    try:  # validate the selection before anything is loaded
        settings = select_settings(args.corruptions, parse_severities(args.severities or []),
                                   quick=args.quick)
        in_domain = parse_in_domain(args.in_domain)
        missing = sorted(set(in_domain) - {s.corruption for s in settings})
        if missing:
            raise ValueError(f'--in-domain names {missing}, which the study does not evaluate '
                             '(add them to --corruptions)')
    except (ValueError, OSError) as error:
        print(f'robustness.py: error: {error}', file=sys.stderr)
        return 2
    try:
        records, paths = run_robustness(
            args.config, args.checkpoint, args.work_dir, corruptions=args.corruptions,
            severities=args.severities, quick=args.quick, seed=args.seed,
            max_samples=args.max_samples, cfg_options=args.cfg_options, amp=args.amp,
            metrics=args.metrics, progress=not args.no_progress,
            trust_checkpoint=args.trust_checkpoint, in_domain=in_domain)
    except (CheckpointError, NotApplicableError) as error:
        print(f'robustness.py: error: {type(error).__name__}: {error}', file=sys.stderr)
        return 2
    with open(paths['table2_md' if in_domain else 'md']) as f:
        print('\n' + f.read())
    counts = {status: sum(r['status'] == status for r in records)
              for status in ('ok', 'n/a', 'failed')}
    print(f'robustness: {counts["ok"]} evaluated, {counts["n/a"]} not applicable, '
          f'{counts["failed"]} failed')
    for ext in ('md', 'csv', 'png', 'table2_md', 'table2_csv', 'table2_json'):
        print(f'  {ext:<11} {osp.abspath(paths[ext])}')
    print(f'  per-setting results: {osp.join(osp.dirname(osp.abspath(paths["md"])), "settings")}')
    failed = [r['setting'] for r in records if r['status'] == 'failed']
    if failed:
        print(f'robustness: failed settings (re-run to retry): {failed}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
