#!/usr/bin/env python
"""Train a Drive3D (or any mmdet3d) model with mmengine's Runner.

Examples:
    python tools/train.py configs/<method>/<config>.py --work-dir work_dirs/run1
    python tools/train.py CONFIG --amp --cfg-options train_dataloader.batch_size=2
    python tools/train.py CONFIG --resume                # latest checkpoint in work_dir
    python tools/train.py CONFIG --max-epochs 24         # the schedule stretched to 24 epochs
    python tools/train.py CONFIG --resume CKPT --trust-checkpoint   # fully unpickle CKPT
    python tools/train.py CONFIG --corruption beam_reduction      # in-domain: a severity per
    python tools/train.py CONFIG --corruption view_drop=1,2,3     # sample, redrawn every epoch
    bash tools/dist_train.sh CONFIG 8                     # 8 GPUs (or 8 Gloo processes on CPU)
"""
import argparse
import os
import sys

from mmengine.config import DictAction

from mmdet3d_plugin.engine import (CheckpointError, add_trust_checkpoint_argument, build_runner,
                                   checkpoints_to_trust, exit_after_distributed_run,
                                   prepare_train_config, shutdown_distributed)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a 3D perception model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (float16 on GPU, bfloat16 on CPU)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the LR by the total batch size / auto_scale_lr.base_batch_size')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint, or (no value) from the latest one '
                        'in the work directory')
    add_trust_checkpoint_argument(parser, 'the checkpoint loaded by --resume / load_from')
    parser.add_argument('--max-epochs', type=int,
                        help='train this many epochs instead of the config\'s; the epoch-based '
                        'LR/momentum schedule is stretched to the new length')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_dataloader.batch_size=2 '
                        'optim_wrapper.optimizer.lr=0.01 (lists as key="[a,b]")')
    parser.add_argument('--corruption', nargs='+', metavar='NAME[=V[,V]|=A:B]',
                        help='train with these corruptions of the suite (MetaBEV in-domain '
                        'protocol): severity drawn per sample from the suite (NAME), from a '
                        'list (NAME=V,V) or a range (NAME=A:B), redrawn every epoch')
    parser.add_argument('--corruption-prob', type=float, default=1.0,
                        help='probability that a sample is corrupted (default 1)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = prepare_train_config(args)
    if args.corruption:
        from mmdet3d_plugin.robustness.train_insert import apply_training_corruptions
        apply_training_corruptions(cfg, args.corruption, args.corruption_prob)
    runner = build_runner(cfg, checkpoints_to_trust(cfg, args.trust_checkpoint))
    finished = False
    try:
        runner.train()
        finished = True
    finally:
        shutdown_distributed(synchronize=finished)


if __name__ == '__main__':
    try:
        main()
    except CheckpointError as error:  # a refused or unreadable checkpoint: one line, no traceback
        sys.exit(f'train.py: error: {type(error).__name__}: {error}')
    exit_after_distributed_run()
