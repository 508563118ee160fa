"""Put a corruption of the suite into a *training* config (MetaBEV's in-domain protocol).

``add_training_corruption(cfg, 'beam_reduction')`` inserts ``RandomCorruption`` into the train
pipeline (and into any pipeline-switch hook's ``switch_pipeline``), wraps the train dataset in
``EpochKeyedDataset`` and turns its ``DefaultSampler`` into ``EpochKeyedSampler``, so the
severity and every random choice are drawn per sample from ``(randomness.seed, epoch,
sample)`` (see ``corruptions/training.py``).

Placement in a train pipeline (where each corruption must sit relative to augmentation):

* camera corruptions: right after the multi-view image loader, on the raw views, before any
  image augmentation (``ImageAug3D``, resizes, photometric changes);
* ``BeamReduction`` needs the ring index, so it acts before sweeps are merged without it:
  with ``LoadSweepsWithRing`` it goes right after that loader (``keep_ring=False`` loaders are
  switched to ``keep_ring=True`` and the corruption drops the ring column again, so the model
  sees the same columns; keyframe and sweeps lose the beams); otherwise right after
  ``LoadPointsFromFile`` (keyframe only; mmdet3d's sweep loader overwrites the ring);
* ``LimitedField``, ``MissingLiDAR``: after the LiDAR loaders and after GT-paste
  (``ObjectSample``: pasted points are cut / removed too), in the sensor frame, i.e. before any
  geometric augmentation (``Global*``, ``RandomFlip3D``);
* ``MissingObjects``: after ``LoadAnnotations3D`` (it needs the boxes) and before GT-paste
  (pasted objects keep their points) and geometric augmentation.

A corruption that would have to follow an augmentation it must precede raises an error naming
both transforms.
"""
import copy
from typing import List, Optional, Sequence

from mmdet3d_plugin.datasets.transforms.corruptions import CORRUPTION_SPECS
from .pipeline_insert import (CAMERA_TRANSFORMS, RING_FILE_COLUMN, Insertion, _container, _last,
                              is_box_loader, is_image_loader, is_points_loader,
                              ring_file_loader, transform_name, walk)
from .settings import _parse_value, check_corruption_names
from .study import find_pipeline_owner

#: Sampler types ``add_training_corruption`` replaces by ``EpochKeyedSampler``.
REPLACEABLE_SAMPLERS = ('DefaultSampler', 'EpochKeyedSampler')


def is_geometric_aug(name: str) -> bool:
    """Point / box augmentations that move the scene out of the sensor frame."""
    return name.startswith('Global') or 'RandomFlip3D' in name or name in (
        'RandomJitterPoints', 'ObjectNoise')


def is_image_aug(name: str) -> bool:
    """Image augmentations (the camera corruptions act on the raw views before them)."""
    return ('ImageAug' in name or name.startswith(('PhotoMetric', 'Resize', 'RandomResize',
                                                   'RandomCrop', 'MultiViewWrapper')))


def _first(entries: list, predicate) -> Optional[int]:
    found = [i for i, (_, transform) in enumerate(entries) if predicate(transform)]
    return found[0] if found else None


def _place(pipeline: list, entries: list, anchor: int, transform: dict, must_precede,
           what: str, note: str = '') -> Insertion:
    """Insert after the ``anchor``-th entry, checking no ``must_precede`` transform runs first."""
    for index, (path, entry) in enumerate(entries[:anchor + 1]):
        name = transform_name(entry)
        if must_precede(name) or name.startswith('Pack') or 'Format' in name:
            raise ValueError(
                f'train pipeline: {transform["corruption"]} must run on {what}, before {name} '
                f'(at {list(path)}), but its place is after {transform_name(entries[anchor][1])}'
                f'; move {name} after the loaders')
    new = copy.deepcopy(list(pipeline))
    path = entries[anchor][0]
    _container(new, path).insert(path[-1] + 1, transform)
    return Insertion(new, note=note)


def _beam_reduction(pipeline: list, entries: list, transform: dict) -> Insertion:
    first, use_dim, reason = ring_file_loader(entries, 'train')
    if reason:
        return Insertion(None, reason)
    ring_sweeps = _last(entries, lambda t: transform_name(t) == 'LoadSweepsWithRing')
    if ring_sweeps is not None:
        new = copy.deepcopy(list(pipeline))
        path = entries[ring_sweeps][0]
        sweeps = _container(new, path)[path[-1]]
        if sweeps.get('beam_reduction') is not None:
            return Insertion(None, f'LoadSweepsWithRing already reduces the beams '
                             f'(beam_reduction={sweeps["beam_reduction"]})')
        args = dict(ring_dim=RING_FILE_COLUMN)  # LoadSweepsWithRing's output layout
        if not sweeps.get('keep_ring', True):
            sweeps['keep_ring'] = True
            args['drop_ring'] = True
        transform = dict(transform, transform_args=dict(transform.get('transform_args') or {},
                                                        **args))
        return _place(new, walk(new), ring_sweeps, transform, is_geometric_aug,
                      'the merged points in the sensor frame',
                      note='LoadSweepsWithRing keeps the ring: the keyframe and every sweep '
                      'lose the beams')
    args = dict(ring_dim=use_dim.index(RING_FILE_COLUMN))
    transform = dict(transform, transform_args=dict(transform.get('transform_args') or {}, **args))
    sweeps = _last(entries, lambda t: 'Sweeps' in transform_name(t))
    note = ''
    if sweeps is not None and sweeps > first:
        note = (f'keyframe only: {transform_name(entries[sweeps][1])} overwrites the ring column, '
                'so the sweeps keep every beam (LoadSweepsWithRing reduces them too)')
    return _place(pipeline, entries, first, transform, is_geometric_aug,
                  'the keyframe points', note=note)


def insert_training_corruption(pipeline, corruption: str, severity='random', prob: float = 1.0,
                               seed: Optional[int] = None,
                               transform_args: Optional[dict] = None) -> Insertion:
    """Return ``pipeline`` (a train pipeline) with a ``RandomCorruption`` at its place.

    Args:
        pipeline (Sequence[dict]): Train pipeline transform configs; not modified.
        corruption (str): A name of ``CORRUPTION_SUITE``.
        severity, prob, seed, transform_args: ``RandomCorruption``'s arguments.

    Returns:
        Insertion: The new pipeline, or None and the reason (e.g. camera corruptions for a
        LiDAR-only pipeline).

    Raises:
        ValueError: for an unknown corruption or when an augmentation runs before the place
            the corruption needs (the message names it).
    """
    if corruption not in CORRUPTION_SPECS:
        raise ValueError(f'unknown corruption {corruption!r}; valid names: '
                         f'{list(CORRUPTION_SPECS)}')
    transform = dict(type='RandomCorruption', corruption=corruption, severity=severity,
                     prob=prob, seed=seed)
    if transform_args:
        transform['transform_args'] = dict(transform_args)
    entries = walk(pipeline)
    kind = CORRUPTION_SPECS[corruption].transform
    if kind in CAMERA_TRANSFORMS:
        loader = _last(entries, lambda t: is_image_loader(transform_name(t)))
        if loader is None:
            return Insertion(None, 'the train pipeline loads no camera images')
        name = transform_name(entries[loader][1])
        if 'MultiView' not in name:
            return Insertion(None, f'camera corruptions need multi-view images '
                             f"(results['img'] as a list of views); {name} loads one image")
        return _place(pipeline, entries, loader, transform, is_image_aug, 'the raw views')
    if kind == 'BeamReduction':
        return _beam_reduction(pipeline, entries, transform)
    anchor = _last(entries, lambda t: is_points_loader(transform_name(t)))
    if anchor is None:
        return Insertion(None, 'the train pipeline loads no LiDAR points')
    paste = _first(entries, lambda t: transform_name(t) == 'ObjectSample')
    if kind == 'MissingObjects':
        boxes = _last(entries, is_box_loader)
        if boxes is None:
            return Insertion(None, 'MissingObjects needs GT boxes: the train pipeline has no '
                             'LoadAnnotations3D(with_bbox_3d=True)')
        anchor = max(anchor, boxes)
        if paste is not None and paste < anchor:
            raise ValueError('train pipeline: MissingObjects must run after LoadAnnotations3D '
                             'and before ObjectSample (GT-paste), which comes first here')
        return _place(pipeline, entries, anchor, transform, is_geometric_aug,
                      'the scene in the sensor frame')
    if paste is not None:
        anchor = max(anchor, paste)
    return _place(pipeline, entries, anchor, transform, is_geometric_aug,
                  'the points in the sensor frame')


def add_training_corruption(cfg, corruption: str, severity='random', prob: float = 1.0,
                            seed: Optional[int] = None,
                            transform_args: Optional[dict] = None) -> str:
    """Make ``cfg`` train with ``corruption`` (in place; see the module docstring).

    Args:
        cfg (Config | dict): A training config with ``train_dataloader``.
        corruption, severity, prob, seed, transform_args: see ``RandomCorruption``.

    Returns:
        str: The placement note ('' if none), e.g. that sweeps keep every beam.

    Raises:
        KeyError: without a train pipeline. ValueError: for a corruption the pipeline cannot
            take (the reason), a misplaced augmentation or a sampler other than
            ``DefaultSampler``.
    """
    loader = cfg.get('train_dataloader')
    if not loader or 'dataset' not in loader:
        raise KeyError('add_training_corruption: the config has no train_dataloader.dataset')
    sampler = dict(loader.get('sampler') or dict(type='DefaultSampler'))
    sampler_type = str(sampler.get('type', '')).rsplit('.', 1)[-1]
    if sampler_type not in REPLACEABLE_SAMPLERS:
        raise ValueError(f'add_training_corruption: train_dataloader.sampler is {sampler_type}; '
                         'training corruptions need EpochKeyedSampler (DefaultSampler with the '
                         'epoch key); use DefaultSampler')
    owner = find_pipeline_owner(loader['dataset'], 'train_dataloader.dataset')
    insertion = insert_training_corruption(owner['pipeline'], corruption, severity, prob, seed,
                                           transform_args)
    if not insertion.applicable:
        raise ValueError(f'add_training_corruption: {corruption} cannot be trained with this '
                         f'config: {insertion.reason}')
    owner['pipeline'] = insertion.pipeline
    for hook in cfg.get('custom_hooks') or []:
        if isinstance(hook, dict) and hook.get('switch_pipeline'):
            switched = insert_training_corruption(hook['switch_pipeline'], corruption, severity,
                                                  prob, seed, transform_args)
            if switched.applicable:
                hook['switch_pipeline'] = switched.pipeline
    dataset = loader['dataset']
    if str(dataset.get('type', '')).rsplit('.', 1)[-1] != 'EpochKeyedDataset':
        loader['dataset'] = dict(type='EpochKeyedDataset', dataset=dataset)
    sampler['type'] = 'EpochKeyedSampler'
    loader['sampler'] = sampler
    return insertion.note


def parse_corruption_arg(token: str):
    """``tools/train.py --corruption`` token -> ``(name, severity)``.

    ``NAME`` -> ``'random'``; ``NAME=V`` -> V; ``NAME=V,V`` -> [V, V]; ``NAME=A:B`` ->
    ``dict(low=A, high=B)``.

    Raises:
        ValueError: for an unknown name or a value that is not a number.
    """
    name, _, values = token.partition('=')
    check_corruption_names([name])
    if not values:
        return name, 'random'
    if ':' in values:
        low, _, high = values.partition(':')
        return name, dict(low=_parse_value(low, token), high=_parse_value(high, token))
    parsed = [_parse_value(value, token) for value in values.split(',') if value.strip()]
    return name, parsed[0] if len(parsed) == 1 else parsed


def apply_training_corruptions(cfg, tokens: Optional[Sequence[str]], prob: float = 1.0
                               ) -> List[str]:
    """Apply ``tools/train.py --corruption`` tokens to ``cfg`` (``add_training_corruption``
    each, in order); returns the placement notes."""
    return [add_training_corruption(cfg, *parse_corruption_arg(token), prob=prob)
            for token in tokens or ()]
