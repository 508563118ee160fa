"""Insert one corruption of the suite into a test pipeline, at the place it belongs.

Placement (see the corruption transforms' docstrings):

* camera corruptions (``ObstacleOcclusion``, ``ViewDrop``, ``ViewNoise``, ``MissingCamera``):
  right after the last multi-view image loader (``results['img']`` is a list of raw views),
  before any image augmentation;
* ``LimitedField``, ``MissingLiDAR``: right after the last LiDAR loader (sweeps included, so
  sweeps are cut or removed too), before geometric augmentation;
* ``MissingObjects``: after the last LiDAR loader and after ``LoadAnnotations3D`` when the
  pipeline has one (test pipelines usually read the boxes from the dataset's
  ``eval_ann_info``);
* ``BeamReduction``: with ``LoadSweepsWithRing`` in the pipeline, that loader's own
  ``beam_reduction`` is set (every sweep and the keyframe lose the beams); otherwise a
  ``BeamReduction`` is inserted right after ``LoadPointsFromFile``, before
  ``LoadPointsFromMultiSweeps`` (which overwrites the ring column), so only the keyframe is
  reduced (recorded as a note).

Loaders are found by their type names (scope prefixes such as ``mmdet3d.`` ignored), also
inside wrappers with a ``transforms`` list (``MultiScaleFlipAug3D``); a corruption is always
inserted in the list of the loader it follows. A setting whose input the pipeline does not
load (a camera corruption for a LiDAR-only model, ...) is not applicable: the result carries
the reason instead of a pipeline.

Camera-only models (the occupancy configs: their test pipelines load the six views and no
LiDAR points; the training pipelines' points are depth supervision only) get the camera
corruptions right after ``LoadMultiViewImages``, before ``ImageAug3D``; the LiDAR corruptions
(Limited Field, Missing Objects, Beam Reduction, Missing LiDAR) are not applicable, with the
reason "loads no LiDAR points (camera-only input ...)". The study lists them as n/a, and
:func:`check_applicable` refuses a selection in which no setting applies at all.
"""
import copy
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

from mmdet3d_plugin.datasets.transforms.corruptions import CORRUPTION_SPECS
from .settings import Setting

CAMERA_TRANSFORMS = ('ObstacleOcclusion', 'ViewDrop', 'ViewNoise', 'MissingCamera')
FORMATTING_NAMES = ('Collect3D', 'DefaultFormatBundle3D', 'DefaultFormatBundle')
#: Column of the ring index in nuScenes-style ``.pcd.bin`` files (x, y, z, intensity, ring).
RING_FILE_COLUMN = 4

Path = Tuple[int, ...]


class NotApplicableError(ValueError):
    """No selected corruption applies to the pipeline (e.g. only LiDAR corruptions for a
    camera-only model); the message names each setting and why."""


@dataclass
class Insertion:
    """The outcome of ``insert_corruption``.

    Attributes:
        pipeline (list, optional): The corrupted pipeline (a new list; the input is not
            modified); None when the setting is not applicable.
        reason (str): Why the setting is not applicable ('' when it is).
        note (str): A caveat for the report, e.g. that sweeps keep all beams ('' if none).
    """

    pipeline: Optional[list]
    reason: str = ''
    note: str = ''

    @property
    def applicable(self) -> bool:
        return self.pipeline is not None


def transform_name(transform) -> str:
    """Registered name of a transform config without its scope: ``'mmdet3d.Pack3DDetInputs'``
    -> ``'Pack3DDetInputs'``; a class given as ``type`` gives its ``__name__``."""
    if not isinstance(transform, dict) or 'type' not in transform:
        raise TypeError(f'pipeline entries must be transform configs (dicts with a "type"), '
                        f'got {transform!r}')
    kind = transform['type']
    return kind.rsplit('.', 1)[-1] if isinstance(kind, str) else getattr(kind, '__name__', '')


def is_points_loader(name: str) -> bool:
    return name.startswith('Load') and ('Points' in name or 'Sweeps' in name)


def is_points_file_loader(name: str) -> bool:
    return name.startswith('LoadPoints') and 'Sweeps' not in name


def is_image_loader(name: str) -> bool:
    return name.startswith('Load') and 'Image' in name


def is_box_loader(transform: dict) -> bool:
    return (transform_name(transform).startswith('LoadAnnotations')
            and bool(transform.get('with_bbox_3d', False)))


def is_formatting(name: str) -> bool:
    return name.startswith('Pack') or 'Format' in name or name in FORMATTING_NAMES


def walk(pipeline: Sequence[dict], prefix: Path = ()) -> List[Tuple[Path, dict]]:
    """Every transform in execution order with its path of indices (into nested
    ``transforms`` lists of wrappers such as ``MultiScaleFlipAug3D``)."""
    entries = []
    for index, transform in enumerate(pipeline):
        path = prefix + (index, )
        entries.append((path, transform))
        inner = transform.get('transforms') if isinstance(transform, dict) else None
        if isinstance(inner, (list, tuple)):
            entries.extend(walk(inner, path))
    return entries


def _container(pipeline: list, path: Path) -> list:
    """The list that holds the transform at ``path``."""
    container = pipeline
    for index in path[:-1]:
        container = container[index]['transforms']
    return container


def _insert_after(pipeline: list, entries: list, anchor: int, transform: dict) -> list:
    """Insert ``transform`` right after the ``anchor``-th entry of ``walk(pipeline)``.

    Raises:
        ValueError: if a formatting transform runs before the anchor (the corruption would act
            after packing).
    """
    for path, entry in entries[:anchor + 1]:
        if is_formatting(transform_name(entry)):
            raise ValueError(f'test pipeline: {transform_name(entries[anchor][1])} runs after the '
                             f'formatting transform {transform_name(entry)} (at {list(path)}); '
                             'a corruption must come after loading and before formatting')
    new = copy.deepcopy(list(pipeline))
    path = entries[anchor][0]
    _container(new, path).insert(path[-1] + 1, transform)
    return new


def _last(entries: list, predicate) -> Optional[int]:
    found = [i for i, (_, transform) in enumerate(entries) if predicate(transform)]
    return found[-1] if found else None


def _use_dim(loader: dict) -> List[int]:
    use_dim = loader.get('use_dim', [0, 1, 2])  # mmdet3d's LoadPointsFromFile default
    return list(range(use_dim)) if isinstance(use_dim, int) else list(use_dim)


def no_lidar_reason(entries: list, kind: str = 'test') -> str:
    """Why a LiDAR corruption cannot run on a pipeline without LiDAR points (naming a
    camera-only input when the pipeline loads images)."""
    reason = f'the {kind} pipeline loads no LiDAR points'
    if any(is_image_loader(transform_name(t)) for _, t in entries):
        reason += ' (camera-only input: LiDAR corruptions do not apply)'
    return reason


def ring_file_loader(entries: list, kind: str = 'test') -> Tuple[Optional[int], List[int], str]:
    """The first LiDAR file loader of ``walk`` entries and whether it loads the ring index.

    Returns:
        tuple: Its entry index (None if there is none), its ``use_dim`` as a list, and ''
        or the reason ``BeamReduction`` cannot run (no points, no ring column).
    """
    files = [i for i, (_, t) in enumerate(entries) if is_points_file_loader(transform_name(t))]
    if not files:
        return None, [], no_lidar_reason(entries, kind)
    loader = entries[files[0]][1]
    use_dim = _use_dim(loader)
    if loader.get('load_dim', 6) <= RING_FILE_COLUMN or RING_FILE_COLUMN not in use_dim:
        return files[0], use_dim, (
            f'the points are loaded without the ring index (file column {RING_FILE_COLUMN}; '
            f'{transform_name(loader)} load_dim={loader.get("load_dim", 6)}, '
            f'use_dim={loader.get("use_dim")})')
    return files[0], use_dim, ''


def _beam_reduction(pipeline: list, entries: list, transform: dict) -> Insertion:
    first, use_dim, reason = ring_file_loader(entries)
    if reason:
        return Insertion(None, reason)
    files = [first]
    ring_sweeps = _last(entries, lambda t: transform_name(t) == 'LoadSweepsWithRing')
    if ring_sweeps is not None:
        current = entries[ring_sweeps][1].get('beam_reduction')
        if current is not None:
            return Insertion(None, f'LoadSweepsWithRing already reduces the beams '
                             f'(beam_reduction={current})')
        new = copy.deepcopy(list(pipeline))
        path = entries[ring_sweeps][0]
        _container(new, path)[path[-1]]['beam_reduction'] = transform['num_beams']
        return Insertion(new, note='LoadSweepsWithRing reduces the keyframe and every sweep')
    transform = dict(transform, ring_dim=use_dim.index(RING_FILE_COLUMN))
    new = _insert_after(pipeline, entries, files[0], transform)
    sweeps = _last(entries, lambda t: 'Sweeps' in transform_name(t))
    note = ''
    if sweeps is not None and sweeps > files[0]:
        note = (f'keyframe only: {transform_name(entries[sweeps][1])} overwrites the ring column, '
                'so the sweeps keep every beam (LoadSweepsWithRing reduces them too)')
    return Insertion(new, note=note)


def insert_corruption(pipeline: Sequence[dict], setting: Setting, seed: int = 0,
                      eval_boxes: bool = True) -> Insertion:
    """Return ``pipeline`` with the corruption of ``setting`` inserted (see the module doc).

    Args:
        pipeline (Sequence[dict]): Test pipeline transform configs; not modified.
        setting (Setting): The setting; ``clean`` returns an unchanged copy.
        seed (int): Base seed of the corruption. Defaults to 0.
        eval_boxes (bool): Whether the dataset puts the GT boxes into ``eval_ann_info``
            (mmdet3d's ``Det3DDataset`` in test mode with ``load_eval_anns=True``); used by
            ``MissingObjects`` when the pipeline has no ``LoadAnnotations3D``. Defaults to True.

    Returns:
        Insertion: The new pipeline, or None and the reason the setting is not applicable.

    Raises:
        ValueError: if the pipeline formats (packs) the inputs before loading them.
        TypeError: if an entry is not a transform config.
    """
    entries = walk(pipeline)
    transform = setting.transform(seed)
    if transform is None:
        return Insertion(copy.deepcopy(list(pipeline)))
    kind = CORRUPTION_SPECS[setting.corruption].transform
    if kind in CAMERA_TRANSFORMS:
        loader = _last(entries, lambda t: is_image_loader(transform_name(t)))
        if loader is None:
            return Insertion(None, 'the test pipeline loads no camera images')
        name = transform_name(entries[loader][1])
        if 'MultiView' not in name:
            return Insertion(None, f'camera corruptions need multi-view images '
                             f"(results['img'] as a list of views); {name} loads one image")
        return Insertion(_insert_after(pipeline, entries, loader, transform))
    if kind == 'BeamReduction':
        return _beam_reduction(pipeline, entries, transform)
    anchor = _last(entries, lambda t: is_points_loader(transform_name(t)))
    if anchor is None:
        return Insertion(None, no_lidar_reason(entries))
    if kind == 'MissingObjects':
        boxes = _last(entries, is_box_loader)
        if boxes is None and not eval_boxes:
            return Insertion(None, 'MissingObjects needs GT boxes: the pipeline has no '
                             'LoadAnnotations3D(with_bbox_3d=True) and the dataset gives no '
                             "'eval_ann_info' (test_mode with load_eval_anns=True)")
        if boxes is not None and boxes > anchor:
            anchor = boxes
    return Insertion(_insert_after(pipeline, entries, anchor, transform))


def check_applicable(pipeline: Sequence[dict], settings: Iterable[Setting], seed: int = 0,
                     eval_boxes: bool = True) -> List[str]:
    """The names of the corrupted ``settings`` that apply to ``pipeline``.

    Raises:
        NotApplicableError: there are corrupted settings and none applies; the message lists
            each with its reason (the clean setting alone is not a robustness study).
    """
    corrupted = [s for s in settings if not s.is_clean]
    insertions = [(s, insert_corruption(pipeline, s, seed, eval_boxes)) for s in corrupted]
    applicable = [s.name for s, insertion in insertions if insertion.applicable]
    if corrupted and not applicable:
        by_reason = {}
        for setting, insertion in insertions:
            by_reason.setdefault(insertion.reason, []).append(setting.name)
        reasons = '; '.join(f"{', '.join(names)}: {reason}" for reason, names in by_reason.items())
        raise NotApplicableError(f'none of the {len(corrupted)} selected corruption settings '
                                 f'applies to the test pipeline ({reasons}); select others with '
                                 '--corruptions (camera ones for camera-only models: '
                                 'obstacle_occlusion view_drop view_noise missing_camera)')
    return applicable
