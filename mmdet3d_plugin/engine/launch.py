"""Config preparation and Runner construction for ``tools/train.py`` and ``tools/test.py``.

Everything that depends on the machine lives here: the distributed backend (NCCL with GPUs,
Gloo without, chosen automatically), the CPU-capable DDP wrapper, AMP switches and resume.
Checkpoints are loaded safely (weights-only, see :mod:`.safe_load`) unless a tool's
``--trust-checkpoint`` names the file to unpickle fully (:func:`checkpoints_to_trust`).
"""
import atexit
import logging
import os
import os.path as osp
import subprocess
import sys
from typing import Sequence, Tuple

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log

from ..registry import RUNNERS
from ..utils import register_all_modules
from .runner import SafeCheckpointRunner
from .schedule import set_max_epochs


def load_config(path: str, cfg_options: dict = None) -> Config:
    """Load ``path`` (clear error if missing) and merge ``--cfg-options`` into it."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def _use_gloo(cfg: Config, launcher: str) -> None:
    """Pick Gloo and the CPU-capable DDP wrapper when no GPU is visible."""
    if launcher == 'none' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') != 'gloo':
        print_log(f"no GPU visible: distributed backend {dist_cfg.get('backend', 'nccl')!r} "
                  "-> 'gloo'", logger='current', level=logging.INFO)
    dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or {}
    if wrapper.get('type', 'MMDistributedDataParallel') == 'MMDistributedDataParallel':
        wrapper['type'] = 'CPUCompatibleDistributedDataParallel'  # in mmengine's root registry
        cfg.model_wrapper_cfg = wrapper


def init_cpu_distributed(launcher: str) -> None:
    """Initialise a Gloo process group without touching CUDA (mmengine calls
    ``torch.cuda.set_device``, which fails on a machine without GPUs)."""
    if launcher == 'none' or torch.cuda.is_available() or dist.is_initialized():
        return
    if launcher == 'slurm':
        node_list = os.environ['SLURM_NODELIST']
        os.environ.setdefault('MASTER_ADDR', subprocess.getoutput(
            f'scontrol show hostname {node_list} | head -n1'))
        os.environ.setdefault('MASTER_PORT', '29500')
        os.environ['RANK'] = os.environ['SLURM_PROCID']
        os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
        os.environ['LOCAL_RANK'] = os.environ['SLURM_LOCALID']
    elif launcher != 'pytorch':
        raise ValueError(f'launcher {launcher!r} needs GPUs; use --launcher pytorch on CPU')
    dist.init_process_group(backend='gloo', init_method='env://')


def _apply_common(cfg: Config, args) -> Config:
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    _use_gloo(cfg, args.launcher)
    return cfg


def prepare_train_config(args) -> Config:
    """Apply the ``tools/train.py`` arguments to the config."""
    cfg = _apply_common(load_config(args.config, args.cfg_options), args)
    if getattr(args, 'max_epochs', None) is not None:
        set_max_epochs(cfg, args.max_epochs)
    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper == 'AmpOptimWrapper':
            print_log('AMP training is already enabled in the config.', logger='current',
                      level=logging.WARNING)
        elif wrapper != 'OptimWrapper':
            raise ValueError(f'--amp needs optim_wrapper.type OptimWrapper, got {wrapper!r} '
                             f'(config {args.config})')
        elif torch.cuda.is_available():
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
        else:
            # mmengine's AmpOptimWrapper needs a GPU; bfloat16 autocast needs no loss scaling.
            cfg.optim_wrapper.type = 'mmdet3d_plugin.AutocastOptimWrapper'
            cfg.optim_wrapper.dtype = 'bfloat16'
    if getattr(args, 'auto_scale_lr', False):
        scale = cfg.get('auto_scale_lr', None)
        if not scale or 'base_batch_size' not in scale:
            raise KeyError(f'--auto-scale-lr needs auto_scale_lr.base_batch_size in {args.config}')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def prepare_test_config(args) -> Config:
    """Apply the ``tools/test.py`` arguments to the config."""
    cfg = _apply_common(load_config(args.config, args.cfg_options), args)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    cfg.load_from = args.checkpoint
    if args.amp:
        cfg.test_cfg = cfg.get('test_cfg') or {}
        cfg.test_cfg['fp16'] = True
    return cfg


def checkpoints_to_trust(cfg: Config, trust: bool) -> Tuple[str, ...]:
    """The checkpoint a prepared config will load, when the user trusts it (``--trust-checkpoint``).

    Args:
        cfg (Config): A config from :func:`prepare_train_config` / :func:`prepare_test_config`.
        trust (bool): The tool's ``--trust-checkpoint`` flag.

    Returns:
        tuple[str]: ``(load_from,)``, or for an automatic resume the latest checkpoint in
        ``work_dir``; empty when ``trust`` is False or nothing will be loaded.
    """
    if not trust:
        return ()
    path = cfg.get('load_from')
    if path is None and cfg.get('resume', False):
        from mmengine.runner import find_latest_checkpoint
        path = find_latest_checkpoint(osp.abspath(cfg.work_dir))
    return (str(path),) if path else ()


def build_runner(cfg: Config, trusted_checkpoints: Sequence[str] = ()):
    """Register every module, set up CPU distributed if needed and build the Runner.

    Without ``runner_type`` the Runner is a :class:`SafeCheckpointRunner`: ``load_from``,
    ``--resume`` and ``tools/test.py CHECKPOINT`` are unpickled weights-only with the short
    allow-list of :mod:`mmdet3d_plugin.engine.safe_load`; a checkpoint needing anything else is
    refused with an error naming the file, the globals and ``--trust-checkpoint``.

    Args:
        cfg (Config): The prepared config.
        trusted_checkpoints (Sequence[str]): Paths to unpickle fully (the user trusts them;
            see :func:`checkpoints_to_trust`).
    """
    register_all_modules(init_default_scope=False)
    cfg.setdefault('default_scope', 'mmdet3d_plugin')
    init_cpu_distributed(cfg.get('launcher', 'none'))
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else SafeCheckpointRunner.from_cfg(cfg)
    if trusted_checkpoints:
        runner.trusted_checkpoints = tuple(trusted_checkpoints)
    return runner


def shutdown_distributed(synchronize: bool = True) -> None:
    """End distributed work cleanly: wait for every rank, then destroy the process group.

    Left alive, or torn down while another rank still talks to it (e.g. finishing the last
    validation's collective), a Gloo group's threads are destroyed by the C++ runtime at exit,
    which now and then aborts a rank (``terminate called without an active exception``,
    SIGABRT) after a finished run. ``synchronize=False`` skips the barrier (after a failure on
    this rank the others may never reach it). No-op without a process group.
    """
    if dist.is_available() and dist.is_initialized():
        if synchronize:
            dist.barrier()
        dist.destroy_process_group()


def exit_after_distributed_run() -> None:
    """End a finished ``torchrun`` worker without the C++ runtime's static teardown.

    On CPU (Gloo), about one finished 2-process run in fifteen aborted a rank *after* training,
    evaluation, checkpointing and :func:`shutdown_distributed` had all completed, while the
    interpreter exited (``terminate called without an active exception``, SIGABRT), which
    torchrun reports as a failed job. So a worker of a multi-process run (``WORLD_SIZE`` > 1)
    runs the Python exit handlers, flushes logs and standard streams, and leaves with
    ``os._exit(0)``. A single process exits normally.
    """
    if int(os.environ.get('WORLD_SIZE', '1')) <= 1:
        return
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
