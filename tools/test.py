#!/usr/bin/env python
"""Evaluate a checkpoint with mmengine's Runner (metrics from the config's test_evaluator).

Examples:
    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --amp --work-dir work_dirs/eval
    bash tools/dist_test.sh CONFIG CHECKPOINT 8
    python tools/test.py CONFIG CHECKPOINT --submit OUT_DIR   # test-server submission

--submit writes the submission of the benchmark the config's test_evaluator scores: nuScenes
detection (NuScenesMetric: OUT_DIR/results_nusc.{json,zip}) or Occ3D-nuScenes occupancy
(Occ3DMetric: OUT_DIR/occ_submission.zip of <sample_token>.npz files, and the folder).
"""
import argparse
import os
import sys

from mmengine.config import DictAction

from mmdet3d_plugin.engine import (CheckpointError, add_trust_checkpoint_argument, build_runner,
                                   checkpoints_to_trust, exit_after_distributed_run,
                                   prepare_test_config, shutdown_distributed)
from mmdet3d_plugin.evaluation.submission import SubmissionError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a 3D perception model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='directory for logs and evaluation results')
    parser.add_argument('--amp', action='store_true', help='mixed-precision inference')
    add_trust_checkpoint_argument(parser)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. test_dataloader.batch_size=1')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--submit', metavar='OUT_DIR',
                        help='run --split without annotations and write the submission of the '
                        "test_evaluator's benchmark, validated: nuScenes detection "
                        '(NuScenesMetric: OUT_DIR/results_nusc.{json,zip}) or Occ3D-nuScenes '
                        'occupancy (Occ3DMetric: OUT_DIR/occ_submission.zip)')
    parser.add_argument('--split', choices=['test', 'val'], default='test',
                        help='split of --submit (default test: v1.0-test, <prefix>_infos_test.pkl)')
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = prepare_test_config(args)
    plan = None
    if args.submit:
        from mmdet3d_plugin.engine.submission import prepare_submission
        plan = prepare_submission(cfg, args.submit, args.split, args.config)
    runner = build_runner(cfg, checkpoints_to_trust(cfg, args.trust_checkpoint))
    finished = False
    try:
        metrics = runner.test()
        if plan is not None:
            metrics = plan.finish_and_report()
        finished = True
    finally:
        shutdown_distributed(synchronize=finished)
    return metrics


if __name__ == '__main__':
    try:
        main()
    except (CheckpointError, SubmissionError) as error:  # refused input: one line, no traceback
        sys.exit(f'test.py: error: {type(error).__name__}: {error}')
    exit_after_distributed_run()
