"""Run a robustness study: every setting through mmengine's ``Runner.test``, resumable.

The Runner (model, checkpoint, dataloader, evaluator) is built once, on the first setting that
must run; each setting then swaps the test dataset's pipeline for the corrupted one and calls
``Runner.test()`` again (the checkpoint is loaded only the first time). The test dataloader's
``persistent_workers`` is switched off so that every setting's workers start with the new
pipeline.

Each finished setting is written atomically to ``<work_dir>/settings/<setting>.json`` (metrics,
status ``ok`` or ``n/a`` with the reason, note, transform, seconds, and the study's fingerprint)
and is skipped when the study runs again. A setting that raises is reported as ``failed`` and
not written, so the next run retries it. Files written by a different study (another config,
checkpoint, seed, ... ; see ``fingerprint``) make the study stop with an error instead of mixing
results.
"""
import json
import logging
import math
import os.path as osp
import time
import traceback
from numbers import Number
from typing import Callable, Dict, List, Optional, Sequence

from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.logging import print_log

from mmdet3d_plugin.utils.atomic_io import write_json
from .pipeline_insert import insert_corruption
from .settings import Setting

#: Status of a setting: evaluated / not applicable to the pipeline / raised an error.
OK, NOT_APPLICABLE, FAILED = 'ok', 'n/a', 'failed'


def result_path(work_dir: str, setting: Setting) -> str:
    """``<work_dir>/settings/<setting name>.json``."""
    return osp.join(work_dir, 'settings', f'{setting.name}.json')


def fingerprint(config: str, checkpoint: str, seed: int, max_samples: Optional[int] = None,
                cfg_options: Optional[dict] = None) -> dict:
    """What identifies a study: results of a different fingerprint are never reused."""
    return dict(config=osp.abspath(config), checkpoint=osp.abspath(checkpoint), seed=int(seed),
                max_samples=max_samples,
                cfg_options={str(k): repr(v) for k, v in sorted((cfg_options or {}).items())})


def clean_metrics(metrics: dict) -> Dict[str, Optional[float]]:
    """Keep the scalar metrics as floats (NaN and inf become None, valid JSON)."""
    cleaned = {}
    for key, value in (metrics or {}).items():
        if not isinstance(value, Number) and hasattr(value, 'item'):
            try:  # one-element numpy arrays / tensors
                value = value.item()
            except (ValueError, RuntimeError):
                continue
        if isinstance(value, Number) and not isinstance(value, bool):
            value = float(value)
            cleaned[str(key)] = value if math.isfinite(value) else None
    return cleaned


def find_pipeline_owner(dataset_cfg: dict, where: str = 'test_dataloader.dataset') -> dict:
    """The dataset config that holds the ``pipeline`` (looking through ``dataset`` wrappers).

    Raises:
        KeyError: naming the config path when no ``pipeline`` is found.
    """
    node, path = dataset_cfg, where
    while isinstance(node, dict) and 'pipeline' not in node and 'dataset' in node:
        node, path = node['dataset'], f'{path}.dataset'
    if not isinstance(node, dict) or 'pipeline' not in node:
        raise KeyError(f'the config has no pipeline in {where} (or its .dataset wrappers); the '
                       'robustness study inserts corruptions into that pipeline')
    return node


def set_dataset_pipeline(dataset, pipeline: Sequence[dict]) -> None:
    """Replace the pipeline of a built dataset (through ``.dataset`` / ``.datasets`` wrappers).

    Raises:
        AttributeError: if no ``pipeline`` attribute is found.
    """
    if hasattr(dataset, 'pipeline'):
        dataset.pipeline = Compose(list(pipeline))
    elif hasattr(dataset, 'datasets'):
        for inner in dataset.datasets:
            set_dataset_pipeline(inner, pipeline)
    elif hasattr(dataset, 'dataset'):
        set_dataset_pipeline(dataset.dataset, pipeline)
    else:
        raise AttributeError(f'{type(dataset).__name__} has no pipeline to corrupt')


class RunnerEvaluator:
    """``evaluate(pipeline) -> metrics`` on one Runner built (lazily) from ``cfg``.

    Args:
        cfg (Config): A test config (``load_from`` = the checkpoint, ``work_dir`` set).
        build_runner (Callable): ``cfg -> Runner``; defaults to
            ``mmdet3d_plugin.engine.build_runner``.
    """

    def __init__(self, cfg: Config, build_runner: Optional[Callable] = None) -> None:
        if build_runner is None:
            from mmdet3d_plugin.engine import build_runner
        self.cfg = cfg
        self._build_runner = build_runner
        self.runner = None

    def prepare(self) -> None:
        """Build the Runner and its test loop (dataloader, evaluator) once; errors here stop
        the study instead of failing every setting."""
        if self.runner is None:
            self.runner = self._build_runner(self.cfg)
            self.runner.test_loop  # noqa: B018  built on first access

    def __call__(self, pipeline: Sequence[dict]) -> dict:
        self.prepare()
        loop = self.runner.test_loop
        for metric in loop.evaluator.metrics:  # drop what a failed setting left behind
            metric.results.clear()
        set_dataset_pipeline(loop.dataloader.dataset, pipeline)
        return self.runner.test()


def prepare_study_config(cfg: Config, max_samples: Optional[int] = None) -> Config:
    """Make a test config fit for pipeline swapping (in place; returns ``cfg``).

    Args:
        cfg (Config): Test config with ``test_dataloader``.
        max_samples (int, optional): Evaluate only the first N samples (the dataset's
            ``indices``). Refused with ``NuScenesMetric``, which scores the whole split.

    Raises:
        KeyError: if there is no test pipeline. ValueError: for a bad ``max_samples``.
    """
    loader = cfg.get('test_dataloader')
    if not loader or 'dataset' not in loader:
        raise KeyError('the config has no test_dataloader.dataset to evaluate')
    owner = find_pipeline_owner(loader['dataset'])
    loader['persistent_workers'] = False
    if max_samples is not None:
        if max_samples < 1:
            raise ValueError(f'--max-samples must be >= 1, got {max_samples}')
        evaluators = cfg.get('test_evaluator') or []
        evaluators = evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]
        names = [str(e.get('type', '')) for e in evaluators if isinstance(e, dict)]
        if any(name.endswith('NuScenesMetric') for name in names):
            raise ValueError('--max-samples cannot be used with NuScenesMetric: the nuScenes '
                             'devkit scores every sample of the split and rejects partial '
                             'predictions')
        owner['indices'] = int(max_samples)
    return cfg


class RobustnessStudy:
    """Evaluate ``settings`` and collect one record per setting, resuming finished ones.

    Args:
        pipeline (Sequence[dict]): The clean test pipeline.
        settings (Sequence[Setting]): What to evaluate (``select_settings``).
        work_dir (str): Results go to ``<work_dir>/settings/``.
        evaluate (Callable): ``pipeline -> metrics dict`` (a ``RunnerEvaluator``).
        seed (int): Base seed of the corruptions. Defaults to 0.
        study_id (dict, optional): The study's ``fingerprint``; stored in every result file
            and compared on resume.
        eval_boxes (bool): The dataset gives GT boxes in ``eval_ann_info`` (see
            ``insert_corruption``). Defaults to True.
    """

    def __init__(self, pipeline: Sequence[dict], settings: Sequence[Setting], work_dir: str,
                 evaluate: Callable[[Sequence[dict]], dict], seed: int = 0,
                 study_id: Optional[dict] = None, eval_boxes: bool = True) -> None:
        self.pipeline = list(pipeline)
        self.settings = list(settings)
        self.work_dir = work_dir
        self.evaluate = evaluate
        self.seed = seed
        self.study_id = dict(study_id or {})
        self.eval_boxes = eval_boxes

    def load_finished(self, setting: Setting) -> Optional[dict]:
        """The stored record of ``setting``, or None.

        Raises:
            ValueError: if the file belongs to another study (different fingerprint).
        """
        path = result_path(self.work_dir, setting)
        if not osp.isfile(path):
            return None
        with open(path) as f:
            record = json.load(f)
        if record.get('study') != self.study_id:
            raise ValueError(
                f'{path} holds a result of another study ({record.get("study")}), not of this '
                f'one ({self.study_id}); use another --work-dir or delete '
                f'{osp.dirname(path)}')
        return record

    def run_setting(self, setting: Setting) -> dict:
        """Evaluate one setting (no resume) and return its record."""
        insertion = insert_corruption(self.pipeline, setting, self.seed, self.eval_boxes)
        record = dict(setting=setting.name, corruption=setting.corruption,
                      severity=setting.severity, transform=setting.transform(self.seed),
                      status=NOT_APPLICABLE, reason=insertion.reason, note=insertion.note,
                      metrics={}, seconds=0.0, study=self.study_id)
        if not insertion.applicable:
            return record
        start = time.time()
        try:
            metrics = self.evaluate(insertion.pipeline)
        except Exception as error:  # noqa: B902  reported, the study goes on with the rest
            print_log(f'robustness: setting {setting.name} failed:\n{traceback.format_exc()}',
                      logger='current', level=logging.ERROR)
            lines = str(error).strip().splitlines() or ['']
            record.update(status=FAILED, reason=f'{type(error).__name__}: {lines[0]}')
            return record
        record.update(status=OK, metrics=clean_metrics(metrics), seconds=time.time() - start)
        return record

    def run(self, progress: bool = True) -> List[dict]:
        """Evaluate every unfinished setting; return all records in ``settings`` order."""
        from tqdm import tqdm
        records = {}
        todo = []
        for setting in self.settings:
            record = self.load_finished(setting)
            if record is None:
                todo.append(setting)
            else:
                records[setting.name] = record
        if records:
            print_log(f'robustness: {len(records)} finished setting(s) in '
                      f'{osp.join(self.work_dir, "settings")} are reused: {sorted(records)}',
                      logger='current', level=logging.INFO)
        if todo and hasattr(self.evaluate, 'prepare'):
            self.evaluate.prepare()
        bar = tqdm(todo, desc='robustness settings', unit='setting', disable=not progress,
                   dynamic_ncols=True)
        for setting in bar:
            bar.set_postfix_str(setting.name)
            record = self.run_setting(setting)
            if record['status'] != FAILED:
                write_json(result_path(self.work_dir, setting), record)
            records[setting.name] = record
        return [records[setting.name] for setting in self.settings]
