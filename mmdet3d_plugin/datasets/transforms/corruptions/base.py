"""Shared pieces of the sensor-corruption transforms: per-sample seeding and input checks.

Every corruption draws its randomness from a ``numpy.random.Generator`` built from
``(seed, transform name, sample identity)``. The sample identity is read from the results dict
(``token``, else ``sample_idx``, else the LiDAR file name, else the first image file name) and
hashed with BLAKE2b, never with Python's salted ``hash``; so a sample is corrupted the same way
in every dataloader worker, process, machine and epoch: what a test-time study needs.

Training draws (``RandomCorruption``, training.py) are keyed by ``(run seed, epoch, sample)``
instead, read from the *draw context* (:func:`draw_key`): set per sample by
``EpochKeyedDataset`` from the index that ``EpochKeyedSampler`` yields (exact in every worker,
persistent or not), else the message hub's ``seed`` / ``epoch`` (exact with ``num_workers=0``),
else ``(0, 0)``. The global RNGs are never used.
"""
import abc
import contextlib
import hashlib
import os.path as osp
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet3d.structures.points import BasePoints
from mmengine.logging import MessageHub

#: Results keys, in order of preference, that identify a sample for seeding.
SAMPLE_IDENTITY_KEYS = ('token', 'sample_idx', 'lidar_points.lidar_path', 'lidar_path',
                        'img_path')

#: Point-wise annotations that must be filtered together with ``results['points']``.
POINT_ALIGNED_KEYS = ('pts_semantic_mask', 'pts_instance_mask')


def stable_hash(text: str) -> int:
    """Return a 64-bit hash of ``text`` that is the same in every process and machine."""
    return int.from_bytes(hashlib.blake2b(text.encode('utf-8'), digest_size=8).digest(), 'little')


#: Process-local draw context ``(seed, epoch)`` set by :func:`draw_context`; None when unset.
_DRAW_CONTEXT: List[Optional[Tuple[int, int]]] = [None]


@contextlib.contextmanager
def draw_context(seed: int, epoch: int) -> Iterator[None]:
    """Within the block, training corruptions of this process draw with ``(seed, epoch)``.

    ``EpochKeyedDataset`` wraps each ``__getitem__`` in it; the pipeline runs synchronously in
    the same (worker) process, so the key reaches every transform without shared state.
    """
    previous = _DRAW_CONTEXT[0]
    _DRAW_CONTEXT[0] = (int(seed), int(epoch))
    try:
        yield
    finally:
        _DRAW_CONTEXT[0] = previous


def draw_key() -> Tuple[int, int]:
    """``(seed, epoch)`` of the current training draw.

    Returns:
        tuple: The :func:`draw_context` when one is active; else the current message hub's
        ``seed`` and ``epoch`` infos (mmengine's ``RuntimeInfoHook`` writes them; live in the
        main process, a snapshot in dataloader workers); missing values are 0.
    """
    if _DRAW_CONTEXT[0] is not None:
        return _DRAW_CONTEXT[0]
    hub = MessageHub.get_current_instance()
    seed, epoch = hub.get_info('seed'), hub.get_info('epoch')
    return (0 if seed is None else int(seed)), (0 if epoch is None else int(epoch))


def sample_identity(results: Dict) -> str:
    """Return a string that identifies the sample held in ``results``.

    Args:
        results (dict): Pipeline results with at least one of ``token``, ``sample_idx``,
            ``lidar_points['lidar_path']``, ``lidar_path`` or ``img_path``.

    Returns:
        str: e.g. ``'token=ca9a282c9e77460f8360f564131a8af5'``. File paths are reduced to their
        base name so the identity does not depend on where the data root is mounted.

    Raises:
        KeyError: if none of the keys is present.
    """
    for key in ('token', 'sample_idx'):
        if results.get(key) is not None:
            return f'{key}={results[key]}'
    lidar_points = results.get('lidar_points')
    lidar_path = lidar_points.get('lidar_path') if isinstance(lidar_points, dict) else None
    lidar_path = lidar_path or results.get('lidar_path')
    if lidar_path:
        return f'lidar_path={osp.basename(str(lidar_path))}'
    img_path = results.get('img_path')
    if isinstance(img_path, (list, tuple)) and img_path:
        img_path = img_path[0]
    if img_path:
        return f'img_path={osp.basename(str(img_path))}'
    raise KeyError(
        'corruptions seed their randomness per sample and need one of the results keys '
        f'{list(SAMPLE_IDENTITY_KEYS)}; got keys {sorted(results)}')


class SeededCorruption(BaseTransform):
    """Base of the corruption transforms: a validated ``seed`` and a per-sample generator.

    Subclasses implement ``apply(results, rng)``; ``transform`` calls it with the
    ``(seed, name, sample)`` generator of :meth:`sample_rng`, ``RandomCorruption`` with its
    per-epoch one.

    Args:
        seed (int): Non-negative base seed. Defaults to 0.
    """

    #: False for deterministic corruptions: ``apply`` gets ``rng=None`` and the sample needs
    #: no identity key.
    uses_rng = True

    def __init__(self, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(
                f'{type(self).__name__}: seed must be a non-negative int, got {seed!r}')
        self.seed = int(seed)

    def sample_rng(self, results: Dict) -> np.random.Generator:
        """Return the generator for this transform and the sample in ``results``."""
        identity = sample_identity(results)
        entropy = [self.seed, stable_hash(type(self).__name__), stable_hash(identity)]
        return np.random.default_rng(entropy)

    @abc.abstractmethod
    def apply(self, results: Dict, rng: Optional[np.random.Generator]) -> Dict:
        """Corrupt ``results`` drawing every random choice from ``rng`` (None when
        ``uses_rng`` is False); every corruption implements it."""

    def transform(self, results: Dict) -> Dict:
        """Corrupt ``results`` with the sample's fixed generator (:meth:`sample_rng`)."""
        return self.apply(results, self.sample_rng(results) if self.uses_rng else None)

    def __repr__(self) -> str:
        args = ', '.join(f'{name}={value!r}' for name, value in vars(self).items()
                         if not name.startswith('_'))
        return f'{type(self).__name__}({args})'


def get_points(results: Dict, transform_name: str) -> BasePoints:
    """Return ``results['points']`` after checking that it is an mmdet3d points object.

    Raises:
        KeyError: if ``points`` is absent. TypeError: if it is not a ``BasePoints``.
    """
    if 'points' not in results:
        raise KeyError(f"{transform_name} needs results['points'] (BasePoints, tensor (N, C)); "
                       f'got keys {sorted(results)}')
    points = results['points']
    if not isinstance(points, BasePoints):
        raise TypeError(f"{transform_name}: results['points'] must be an mmdet3d BasePoints "
                        f'(e.g. LiDARPoints) of shape (N, C), got {type(points).__name__}')
    return points


def keep_points(results: Dict, keep: np.ndarray) -> None:
    """Keep only the points where ``keep`` is True, with their point-wise annotations.

    Args:
        results (dict): Results whose ``points`` (N, C) and, when present,
            ``pts_semantic_mask`` / ``pts_instance_mask`` (N,) are filtered in place.
        keep (np.ndarray): Boolean mask of shape (N,).
    """
    points = results['points']
    keep = np.asarray(keep, dtype=bool)
    results['points'] = points[torch.as_tensor(keep, device=points.tensor.device)]
    for key in POINT_ALIGNED_KEYS:
        if results.get(key) is not None:
            results[key] = results[key][keep]


def get_images(results: Dict, transform_name: str) -> List[np.ndarray]:
    """Return ``results['img']`` as a new list after checking it holds per-view images.

    Returns:
        list[np.ndarray]: One array (H, W, 3) per camera, in the results' order.

    Raises:
        KeyError: if ``img`` is absent. TypeError / ValueError: if it is not a non-empty list of
        numpy arrays (H, W, C).
    """
    if 'img' not in results:
        raise KeyError(f"{transform_name} needs results['img'] (list of per-camera numpy arrays "
                       f'(H, W, 3)); got keys {sorted(results)}')
    images = results['img']
    if not isinstance(images, (list, tuple)) or not images:
        raise TypeError(f"{transform_name}: results['img'] must be a non-empty list of per-camera "
                        f'numpy arrays (H, W, 3), got {type(images).__name__}')
    for view, image in enumerate(images):
        if not isinstance(image, np.ndarray) or image.ndim != 3:
            raise ValueError(f"{transform_name}: results['img'][{view}] must be a numpy array "
                             f'(H, W, C), got {type(image).__name__} '
                             f'{getattr(image, "shape", "")}')
    return list(images)


def mark_dropped_views(results: Dict, views: Sequence[int], num_views: int) -> None:
    """Record blanked camera views: ``dropped_views`` and ``camera_missing``.

    Args:
        results (dict): Results updated in place. ``dropped_views`` becomes the sorted union of
            its previous value and ``views``; ``camera_missing`` becomes True when every one of
            the ``num_views`` cameras is dropped (it is never reset to False once True).
        views (Sequence[int]): Indices of the views blanked now.
        num_views (int): Number of camera views of the sample.
    """
    dropped = sorted(set(results.get('dropped_views') or ()) | {int(view) for view in views})
    results['dropped_views'] = dropped
    results['camera_missing'] = bool(results.get('camera_missing', False)) or (
        len(dropped) == num_views)
