"""Sensor-failure robustness study (``tools/robustness.py``): evaluate one checkpoint under every
setting of MetaBEV's corruption suite and report the metrics relative to clean.

* ``settings``: the study's settings (``select_settings``, ``quick_settings``);
* ``pipeline_insert``: a corruption inserted into a test pipeline where it belongs;
* ``train_insert``: a corruption put into a training config (the in-domain protocol);
* ``study``: the settings run through mmengine's ``Runner.test``, resumable;
* ``report``: Markdown + CSV table and a PNG plot;
* ``api``: ``run_robustness``, the whole study in one call (the tool and ``make demo``).
"""
from .api import run_robustness
from .pipeline_insert import Insertion, NotApplicableError, check_applicable, insert_corruption
from .report import metric_columns, write_report
from .settings import Setting, parse_severities, quick_settings, select_settings
from .study import RobustnessStudy, RunnerEvaluator, fingerprint, prepare_study_config
from .train_insert import add_training_corruption, insert_training_corruption

__all__ = [
    'Insertion', 'NotApplicableError', 'check_applicable', 'insert_corruption', 'metric_columns',
    'write_report', 'Setting', 'parse_severities', 'quick_settings', 'select_settings',
    'RobustnessStudy', 'RunnerEvaluator', 'fingerprint', 'prepare_study_config', 'run_robustness',
    'add_training_corruption', 'insert_training_corruption'
]
