"""Training/testing glue around mmengine's Runner shared by ``tools/train.py`` and
``tools/test.py``."""
from .ddp import CPUCompatibleDistributedDataParallel
from .optim_wrapper import AutocastOptimWrapper
from .pipeline_switch import WrappedPipelineSwitchHook, innermost_dataset
from .launch import (build_runner, checkpoints_to_trust, exit_after_distributed_run,
                     init_cpu_distributed, load_config, prepare_test_config, prepare_train_config,
                     shutdown_distributed)
from .runner import SafeCheckpointRunner
from .safe_load import (CheckpointError, UnsafeCheckpointError, add_trust_checkpoint_argument,
                        check_checkpoint_file, load_checkpoint_file, load_model_checkpoint)
from .schedule import set_max_epochs

__all__ = [
    'AutocastOptimWrapper', 'CPUCompatibleDistributedDataParallel', 'build_runner',
    'init_cpu_distributed',
    'load_config', 'prepare_train_config', 'prepare_test_config', 'set_max_epochs',
    'shutdown_distributed', 'exit_after_distributed_run', 'checkpoints_to_trust',
    'SafeCheckpointRunner', 'CheckpointError', 'UnsafeCheckpointError', 'check_checkpoint_file',
    'load_checkpoint_file', 'load_model_checkpoint', 'add_trust_checkpoint_argument',
    'WrappedPipelineSwitchHook', 'innermost_dataset'
]
