"""Experiment analysis shared by the claim checks: seed statistics, severity curves and
resumable multi-model runs through the standard tools, and the few-frame overfitting check."""
from .experiment import (ModelSpec, TrainSpec, load_study, lr_options, plateau_ratio,
                         robustness_command, run_training, train_command, training_losses)
from .overfit import deterministic_pipeline, map_iou_per_class, overfit_frames
from .seed_stats import SeedStat, aggregate, class_value, per_class_keys, seed_stat
from .severity_curves import plot_severity_curves

__all__ = [
    'ModelSpec', 'TrainSpec', 'load_study', 'lr_options', 'plateau_ratio', 'robustness_command',
    'run_training', 'train_command', 'training_losses', 'SeedStat', 'aggregate', 'class_value',
    'per_class_keys', 'seed_stat', 'plot_severity_curves', 'deterministic_pipeline',
    'map_iou_per_class', 'overfit_frames'
]
