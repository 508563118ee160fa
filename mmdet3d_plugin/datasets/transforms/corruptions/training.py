"""The suite's corruptions in training pipelines (MetaBEV's in-domain protocol).

* ``RandomCorruption``: one corruption of the suite with a severity drawn per sample (from
  the suite's training set, a list, or a range) and all of its randomness keyed by
  ``(run seed, epoch, sample)``, so a sample is corrupted differently every epoch and the
  same way on a rerun with the same seed.
* ``EpochKeyedSampler`` / ``EpochKeyedDataset``: deliver the key to the pipeline. The
  sampler (mmengine's ``DefaultSampler`` plus the key) yields ``(seed, epoch, index)``; the
  wrapper opens a :func:`draw_context` around the wrapped dataset's ``__getitem__(index)``
  inside the worker that runs the pipeline. This is exact with any ``num_workers``,
  persistent workers and any start method, where a dataloader worker's copy of the message
  hub would still hold the epoch the worker was started in. Without them, ``RandomCorruption``
  falls back to the message hub (exact only with ``num_workers=0``).

``mmdet3d_plugin.robustness.add_training_corruption(cfg, name)`` sets all three up in a
config, at the right place in the train pipeline.
"""
import copy
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.dataset import DefaultSampler

from mmdet3d_plugin.registry import DATA_SAMPLERS, DATASETS, TRANSFORMS
from .base import draw_context, draw_key, sample_identity, stable_hash
from .suite import CORRUPTION_SPECS, TRAINING_SEVERITIES, build_corruption

#: Corruptions whose severity is continuous, so ``severity=dict(low=..., high=...)`` is valid.
RANGE_CORRUPTIONS = ('limited_field', 'missing_objects')

SeverityChoice = Union[str, float, int, None, Sequence, Dict[str, float]]


@TRANSFORMS.register_module()
class RandomCorruption(BaseTransform):
    """Apply one corruption of the suite with a per-sample severity, redrawn every epoch.

    Per sample, a generator is built from ``(seed, epoch, corruption, sample identity)``
    (:func:`draw_key`, :func:`sample_identity`); it decides whether the sample is corrupted
    (``prob``), picks the severity, then drives the corruption's own choices (views, objects,
    masks). Appends ``dict(name=..., severity=...)`` (severity None for clean / single-setting
    ones) to ``results['applied_corruptions']`` for analysis.

    Args:
        corruption (str): A name of ``CORRUPTION_SUITE``, e.g. ``'beam_reduction'``.
        severity (str | number | None | Sequence | dict): ``'random'`` (default) draws
            uniformly from ``TRAINING_SEVERITIES[corruption]`` (the suite's severities without
            the no-op one); a list / tuple draws uniformly from it (suite values only); a
            single value fixes it; ``dict(low=a, high=b)`` draws uniformly from [a, b]
            (``limited_field`` half FOV, ``missing_objects`` drop rate only).
        prob (float): Probability in [0, 1] that a sample is corrupted at all. Defaults to 1.
        seed (int, optional): Base seed; None (default) uses the run's seed (``randomness.seed``
            via ``EpochKeyedSampler``, else the message hub's ``seed``).
        transform_args (dict, optional): Extra constructor arguments of the corruption
            transform (e.g. ``ring_dim`` / ``drop_ring`` of ``BeamReduction``).

    Raises:
        ValueError: for an unknown corruption or severity, a bad ``prob`` or range.
    """

    def __init__(self, corruption: str, severity: SeverityChoice = 'random', prob: float = 1.0,
                 seed: Optional[int] = None, transform_args: Optional[dict] = None) -> None:
        if corruption not in CORRUPTION_SPECS:
            raise ValueError(f'RandomCorruption: unknown corruption {corruption!r}; valid '
                             f'names: {list(CORRUPTION_SPECS)}')
        if isinstance(prob, bool) or not 0.0 <= float(prob) <= 1.0:
            raise ValueError(f'RandomCorruption: prob must be in [0, 1], got {prob!r}')
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f'RandomCorruption: seed must be None or a non-negative int, '
                             f'got {seed!r}')
        self.corruption = corruption
        self.prob = float(prob)
        self.seed = None if seed is None else int(seed)
        self.transform_args = dict(transform_args or {})
        self.spec = CORRUPTION_SPECS[corruption]
        self.range: Optional[Tuple[float, float]] = None
        self.severities: Tuple = ()
        if isinstance(severity, dict):
            self.range = self._check_range(severity)
            self._build(self.range[0]), self._build(self.range[1])  # validates the bounds
        elif isinstance(severity, str):
            if severity != 'random':
                raise ValueError(f"RandomCorruption: severity {severity!r}: use 'random', a "
                                 'value, a list of values or dict(low=..., high=...)')
            self.severities = TRAINING_SEVERITIES[corruption]
        elif isinstance(severity, (list, tuple)):
            if not severity:
                raise ValueError('RandomCorruption: severity list is empty')
            self.severities = tuple(severity)
        else:
            self.severities = (severity, )
        # one transform per severity of a set, built (and validated) once
        self._transforms = {index: self._build(value)
                            for index, value in enumerate(self.severities)}
        self._salt = stable_hash(f'RandomCorruption:{corruption}')

    def _check_range(self, severity: dict) -> Tuple[float, float]:
        if self.corruption not in RANGE_CORRUPTIONS:
            raise ValueError(f'RandomCorruption: a severity range is only valid for '
                             f'{list(RANGE_CORRUPTIONS)}, not {self.corruption!r}')
        if set(severity) != {'low', 'high'} or not severity['low'] <= severity['high']:
            raise ValueError(f'RandomCorruption: severity range must be dict(low=a, high=b) with '
                             f'a <= b, got {severity!r}')
        return float(severity['low']), float(severity['high'])

    def _build(self, value) -> BaseTransform:
        if self.range is None:
            config = build_corruption(self.corruption, value)  # suite values only
        else:
            config = dict(type=self.spec.transform, **{self.spec.argument: value})
        config.update(self.transform_args)
        return TRANSFORMS.build(config)

    def generator(self, results: Dict) -> np.random.Generator:
        """The generator of this sample in the current epoch of the run."""
        run_seed, epoch = draw_key()
        seed = run_seed if self.seed is None else self.seed
        return np.random.default_rng(
            [seed, epoch, self._salt, stable_hash(sample_identity(results))])

    def transform(self, results: Dict) -> Dict:
        """Corrupt ``results`` (or not, with probability ``1 - prob``).

        Args:
            results (dict): What the corruption needs (see its transform) and a sample
                identity key (``token`` / ``sample_idx`` / file names).

        Returns:
            dict: ``results``, corrupted in place as the chosen transform does.
        """
        rng = self.generator(results)
        corrupt = rng.random() < self.prob  # drawn even at prob 1: one stream layout
        if self.range is None:
            index = int(rng.integers(len(self.severities)))
            severity, transform = self.severities[index], self._transforms[index]
        else:
            severity = float(rng.uniform(*self.range))
            transform = self._build(severity) if corrupt else None
        applied = list(results.get('applied_corruptions') or [])
        applied.append(dict(name=self.corruption, severity=severity if corrupt else None,
                            corrupted=bool(corrupt)))
        results['applied_corruptions'] = applied
        if not corrupt:
            return results
        return transform.apply(results, rng if transform.uses_rng else None)

    def __repr__(self) -> str:
        chosen = dict(low=self.range[0], high=self.range[1]) if self.range else self.severities
        return (f'{type(self).__name__}(corruption={self.corruption!r}, severity={chosen!r}, '
                f'prob={self.prob}, seed={self.seed}, transform_args={self.transform_args})')


@DATA_SAMPLERS.register_module()
class EpochKeyedSampler(DefaultSampler):
    """mmengine's ``DefaultSampler`` (same order, same ``set_epoch``) yielding
    ``(seed, epoch, index)`` for ``EpochKeyedDataset``.

    ``seed`` is the sampler's (the Runner passes ``randomness.seed``); ``epoch`` is the one set
    by the train loop (``IterBasedTrainLoop`` advances it each pass over the data).
    """

    def __iter__(self) -> Iterator[Tuple[int, int, int]]:
        for index in super().__iter__():
            yield int(self.seed), int(self.epoch), int(index)


@DATASETS.register_module()
class EpochKeyedDataset:
    """Wrap a dataset so ``(seed, epoch, index)`` keys from ``EpochKeyedSampler`` reach the
    training corruptions of its pipeline (see the module docstring).

    Plain integer indices (validation, tools) load the sample with no draw context.

    Args:
        dataset (dict | Dataset): The dataset or its config (any wrapper, e.g. CBGSDataset).
    """

    def __init__(self, dataset: Union[dict, Any]) -> None:
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self.dataset.metainfo)

    def full_init(self) -> None:
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()

    def get_data_info(self, index: int) -> dict:
        return self.dataset.get_data_info(index)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        if isinstance(key, (tuple, list)):
            if len(key) != 3:
                raise ValueError(f'EpochKeyedDataset: a key is (seed, epoch, index), got {key!r}')
            seed, epoch, index = key
            with draw_context(seed, epoch):
                return self.dataset[int(index)]
        return self.dataset[key]
