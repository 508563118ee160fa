"""Resumable multi-model, multi-seed experiments through the standard tools.

A claim check is a matrix of training runs (model x learning rate x epochs x seed, optionally
with a training-time corruption) and evaluations of each checkpoint with ``tools/robustness.py``.
Every run goes through the command-line tools a user would type (``tools/train.py`` and
``tools/robustness.py`` in subprocesses), so what the check measures is what the tools do.

Each training run has its own directory named by :attr:`TrainSpec.tag`; a ``TRAINED`` marker
(written atomically after the run) makes a rerun skip it, and the robustness tool resumes
finished settings by itself, so an interrupted experiment continues where it stopped.
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys
from dataclasses import dataclass, replace
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config

from mmdet3d_plugin.engine.checkpoints import last_checkpoint
from mmdet3d_plugin.utils.atomic_io import write_bytes

#: Marker written into a training directory once its run has finished.
TRAINED = 'TRAINED'


@dataclass(frozen=True)
class ModelSpec:
    """One model of an experiment.

    Attributes:
        name (str): Display name, e.g. ``'BEVFusion+drop'``; also its directory (made safe).
        config (str): Config file path.
        options (tuple): ``--cfg-options`` entries (``key=value``) for training and testing,
            e.g. ``('model.modality_drop=(0.25,0.25)',)``.
    """

    name: str
    config: str
    options: Tuple[str, ...] = ()

    @property
    def slug(self) -> str:
        """File-name safe ``name``: ``'BEVFusion+drop' -> 'bevfusion-drop'``."""
        return ''.join(c if c.isalnum() else '-' for c in self.name.lower()).strip('-')


@dataclass(frozen=True)
class TrainSpec:
    """One training run.

    Attributes:
        model (ModelSpec): What to train.
        seed (int): ``randomness.seed``.
        lr (float, optional): Base learning rate (None: the config's); the schedulers'
            ``eta_min`` are scaled by the same factor.
        epochs (int, optional): ``tools/train.py --max-epochs`` (None: the config's).
        corruption (str, optional): Training-time corruption (in-domain protocol), as
            ``tools/train.py --corruption`` takes it: ``NAME`` (a severity drawn per sample from
            the suite's training set, redrawn every epoch) or ``NAME=V,V``.
    """

    model: ModelSpec
    seed: int
    lr: Optional[float] = None
    epochs: Optional[int] = None
    corruption: Optional[str] = None

    @property
    def tag(self) -> str:
        """Directory name of the run, e.g. ``'lr0.003-e12-s0'`` or
        ``'lr0.003-e12-s1-view_drop'``."""
        parts = ['lr' + ('cfg' if self.lr is None else f'{self.lr:g}'),
                 'e' + ('cfg' if self.epochs is None else str(self.epochs)), f's{self.seed}']
        if self.corruption:
            parts.append(''.join(c if c.isalnum() or c in '_.' else '_' for c in self.corruption))
        return '-'.join(parts)

    def with_seed(self, seed: int) -> 'TrainSpec':
        return replace(self, seed=seed)


def run_directory(root: str, spec: TrainSpec) -> str:
    """``<root>/runs/<model slug>/<spec tag>``, where the run's ``train/`` and
    ``robustness/`` live."""
    return osp.join(root, 'runs', spec.model.slug, spec.tag)


def lr_options(config: str, lr: float) -> List[str]:
    """``--cfg-options`` entries that set the base learning rate of ``config`` to ``lr`` and scale
    every scheduler's ``eta_min`` by the same factor (the config's lr-relative floor is kept).

    Raises:
        KeyError: the config has no ``optim_wrapper.optimizer.lr``.
    """
    cfg = Config.fromfile(config)
    try:
        base = float(cfg.optim_wrapper.optimizer.lr)
    except (AttributeError, KeyError):
        raise KeyError(f'{config}: no optim_wrapper.optimizer.lr to sweep') from None
    options = [f'optim_wrapper.optimizer.lr={lr!r}']
    for index, scheduler in enumerate(cfg.get('param_scheduler') or []):
        if isinstance(scheduler, dict) and 'eta_min' in scheduler and \
                'Momentum' not in scheduler.get('type', ''):
            options.append(f'param_scheduler.{index}.eta_min={scheduler["eta_min"] * lr / base!r}')
    return options


def train_command(spec: TrainSpec, work_dir: str, tools_dir: str) -> List[str]:
    """The ``tools/train.py`` command line of ``spec`` into ``work_dir``."""
    command = [sys.executable, osp.join(tools_dir, 'train.py'), spec.model.config, '--work-dir',
               work_dir]
    if spec.epochs:
        command += ['--max-epochs', str(spec.epochs)]
    if spec.corruption:
        command += ['--corruption', spec.corruption]
    options = [f'randomness.seed={spec.seed}'] + list(spec.model.options)
    if spec.lr is not None:
        options += lr_options(spec.model.config, spec.lr)
    return command + ['--cfg-options'] + options


def run_training(spec: TrainSpec, work_dir: str, tools_dir: str,
                 run: Callable[[List[str]], None]) -> str:
    """Train ``spec`` into ``work_dir`` unless a finished run is there; return the checkpoint.

    Raises:
        RuntimeError: the run finished without leaving a checkpoint.
    """
    marker = osp.join(work_dir, TRAINED)
    if osp.isfile(marker):
        checkpoint = last_checkpoint(work_dir)
        if checkpoint:
            return checkpoint
    run(train_command(spec, work_dir, tools_dir))
    checkpoint = last_checkpoint(work_dir)
    if checkpoint is None:
        raise RuntimeError(f'training {spec.model.config} ({spec.tag}) left no checkpoint in '
                           f'{work_dir}')
    write_bytes(marker, checkpoint.encode())
    return checkpoint


def robustness_command(model: ModelSpec, checkpoint: str, study_dir: str, tools_dir: str,
                       corruptions: Sequence[str], severities: Sequence[str] = (),
                       extra_options: Sequence[str] = ()) -> List[str]:
    """The ``tools/robustness.py`` command line (clean is always evaluated)."""
    command = [sys.executable, osp.join(tools_dir, 'robustness.py'), model.config, checkpoint,
               '--work-dir', study_dir, '--no-progress']
    if corruptions:
        command += ['--corruptions'] + list(corruptions)
    if severities:
        command += ['--severities'] + list(severities)
    options = list(model.options) + list(extra_options)
    if options:
        command += ['--cfg-options'] + options
    return command


def load_study(study_dir: str) -> Dict[str, Dict[str, float]]:
    """``{setting name: metrics}`` of every finished setting of a robustness study."""
    settings_dir = osp.join(study_dir, 'settings')
    results = {}
    if not osp.isdir(settings_dir):
        return results
    for name in sorted(p for p in os.listdir(settings_dir) if p.endswith('.json')):
        with open(osp.join(settings_dir, name)) as f:
            record = json.load(f)
        if record.get('status') == 'ok':
            results[name[:-len('.json')]] = record.get('metrics') or {}
    return results


def training_losses(work_dir: str, key: str = 'loss') -> List[Tuple[int, float]]:
    """``(iteration, value)`` of ``key`` in the newest ``<run>/vis_data/scalars.json`` of
    ``work_dir`` (mmengine's LocalVisBackend); empty when there is none."""
    logs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not logs:
        return []
    points = []
    with open(logs[-1]) as f:
        for line in f:
            record = json.loads(line)
            if key in record and 'step' in record:
                points.append((int(record['step']), float(record[key])))
    return points


def plateau_ratio(points: Sequence[Tuple[int, float]], share: float = 0.1) -> Optional[float]:
    """Mean loss of the last ``share`` of the logged points over the mean of the ``share``
    before them: near 1.0 when the training loss has flattened out; None for < 4 points."""
    count = max(1, int(len(points) * share))
    if len(points) < 2 * count or len(points) < 4:
        return None
    last = [v for _, v in points[-count:]]
    before = [v for _, v in points[-2 * count:-count]]
    return (sum(last) / len(last)) / (sum(before) / len(before))


def default_runner(cwd: str) -> Callable[[List[str]], None]:
    """A ``run(command)`` that echoes the command and runs it in ``cwd`` (raises on failure)."""

    def run(command: List[str]) -> None:
        print('+ ' + ' '.join(command), flush=True)
        subprocess.run(command, check=True, cwd=cwd)

    return run
