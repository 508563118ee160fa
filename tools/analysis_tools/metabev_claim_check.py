#!/usr/bin/env python
"""MetaBEV's claim check: MetaBEV vs the BEVFusion baseline with full, camera-only and LiDAR-only
input, on the same data and schedule.

For each model: train its config with ``tools/train.py`` (skipped when a checkpoint is given or
the run already finished; both for ``--epochs`` epochs, 24 by default: twice the synthetic
configs' 12, which MetaBEV's decoder needs -- see configs/metabev/README.md), evaluate it with
``tools/robustness.py`` on clean, Missing LiDAR and Missing Camera (resumable; training and
evaluation of each schedule, or of a given checkpoint, in their own directory), then write
``<work-dir>/claim_check.md`` and ``.csv`` with NDS, mAP and map mIoU per model and setting, each
relative to the model's clean score.

    python tools/analysis_tools/metabev_claim_check.py --work-dir work_dirs/metabev_claim_check

Defaults are the synthetic CPU configs; ``--metabev-config`` / ``--bevfusion-config`` and the
``--*-checkpoint`` options run the same comparison for the nuScenes configs.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, List

from mmdet3d_plugin.engine.checkpoints import last_checkpoint
from mmdet3d_plugin.engine.safe_load import add_trust_checkpoint_argument
from mmdet3d_plugin.robustness.comparison import format_comparison
from mmdet3d_plugin.utils.atomic_io import write_bytes

TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
REPO = osp.dirname(TOOLS)
DEFAULT_CONFIGS = {
    'MetaBEV': 'configs/metabev/metabev_lidar-cam_tiny_1xb2-cpu_synthetic.py',
    'BEVFusion': 'configs/bevfusion/bevfusion_lidar-cam_tiny_1xb2-cpu_synthetic.py',
}
SETTINGS = ('clean', 'missing_lidar', 'missing_camera')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/metabev_claim_check')
    for name in DEFAULT_CONFIGS:
        key = name.lower()
        parser.add_argument(f'--{key}-config', default=osp.join(REPO, DEFAULT_CONFIGS[name]))
        parser.add_argument(f'--{key}-checkpoint', help='skip training, evaluate this file')
    add_trust_checkpoint_argument(parser, 'the --*-checkpoint files given')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='passed to both tools/train.py and tools/robustness.py')
    parser.add_argument('--seed', type=int, default=0, help='training seed of both models')
    parser.add_argument('--epochs', type=int, default=24,
                        help='training epochs of both models (tools/train.py --max-epochs; the '
                        'configs\' schedules are stretched); 0 keeps each config\'s own')
    return parser.parse_args(argv)


def run(command: List[str]) -> None:
    print('+ ' + ' '.join(command), flush=True)
    subprocess.run(command, check=True)


def train(config: str, train_dir: str, cfg_options: List[str], seed: int, epochs: int) -> str:
    """Train ``config`` into ``train_dir`` unless a finished run is there; return its checkpoint."""
    done = osp.join(train_dir, 'TRAINED')
    if osp.isfile(done):
        checkpoint = last_checkpoint(train_dir)
        if checkpoint:
            print(f'reusing {checkpoint}', flush=True)
            return checkpoint
    options = ['--max-epochs', str(epochs)] if epochs else []
    options += ['--cfg-options', f'randomness.seed={seed}'] + cfg_options
    run([sys.executable, osp.join(TOOLS, 'train.py'), config, '--work-dir', train_dir] + options)
    checkpoint = last_checkpoint(train_dir)
    if checkpoint is None:
        raise RuntimeError(f'training {config} left no checkpoint in {train_dir}')
    write_bytes(done, checkpoint.encode())
    return checkpoint


def evaluate(config: str, checkpoint: str, study_dir: str, cfg_options: List[str],
             trust_checkpoint: bool = False) -> Dict:
    """Run the three settings through tools/robustness.py; return ``{setting: metrics}``."""
    command = [sys.executable, osp.join(TOOLS, 'robustness.py'), config, checkpoint,
               '--work-dir', study_dir, '--corruptions', 'missing_lidar', 'missing_camera',
               '--no-progress']
    if trust_checkpoint:
        command.append('--trust-checkpoint')
    if cfg_options:
        command += ['--cfg-options'] + cfg_options
    run(command)
    metrics = {}
    for setting in SETTINGS:
        with open(osp.join(study_dir, 'settings', f'{setting}.json')) as f:
            metrics[setting] = json.load(f).get('metrics') or {}
    return metrics


def main(argv=None) -> int:
    args = parse_args(argv)
    results, header = {}, ['# MetaBEV claim check: MetaBEV vs BEVFusion with missing sensors', '']
    schedule = f'{args.epochs}e' if args.epochs else 'config-epochs'
    for name in DEFAULT_CONFIGS:
        key = name.lower()
        config, given = getattr(args, f'{key}_config'), getattr(args, f'{key}_checkpoint')
        # a resumed study never mixes results of another schedule or checkpoint
        run_dir = osp.join(args.work_dir, key, 'given-checkpoint' if given else schedule)
        checkpoint = given or train(config, osp.join(run_dir, 'train'), args.cfg_options,
                                    args.seed, args.epochs)
        results[name] = evaluate(config, checkpoint, osp.join(run_dir, 'robustness'),
                                 args.cfg_options,
                                 trust_checkpoint=bool(given) and args.trust_checkpoint)
        header.append(f'- {name}: `{osp.relpath(config, REPO)}`, checkpoint `{checkpoint}`'
                      + ('' if given else f' ({schedule}, seed {args.seed})'))
    tables = format_comparison(results, SETTINGS, header)
    os.makedirs(args.work_dir, exist_ok=True)
    for ext, text in tables.items():
        write_bytes(osp.join(args.work_dir, f'claim_check.{ext}'), text.encode())
    print('\n' + tables['md'])
    print(f'written: {osp.abspath(osp.join(args.work_dir, "claim_check.md"))} (and .csv)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
