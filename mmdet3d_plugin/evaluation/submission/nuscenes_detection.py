"""The nuScenes detection submission: ``results_nusc.json`` and the zip the evaluation server takes.

The format is the devkit's (``nuscenes/eval/detection/README.md``, "Results format"): one JSON
file ``{'meta': {use_camera, use_lidar, use_radar, use_map, use_external: bool}, 'results':
{sample_token: [sample_result, ...]}}`` in which *every* sample token of the evaluation split
is present (an empty list when nothing was detected), at most 500 boxes per sample ("Submissions
with more boxes are automatically rejected"), each box in the global frame; "for the test set
the user needs to zip the single JSON result file and submit it to the official evaluation
server". :func:`validate_detection_submission` refuses a file that breaks any of these rules,
naming each problem, and finally loads it with the devkit's own ``load_prediction``;
:func:`write_detection_submission` keeps the 500 best-scored boxes of each sample, writes the
JSON and the zip atomically and validates them before they appear.
"""
import json
import math
import os
import zipfile
from numbers import Real
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

from ...utils.atomic_io import atomic_path

#: Boxes per sample the evaluation server accepts (``DetectionEval``'s ``max_boxes_per_sample``).
MAX_BOXES_PER_SAMPLE = 500
#: Keys of the submission's ``meta`` block (each a bool).
META_KEYS = ('use_camera', 'use_lidar', 'use_radar', 'use_map', 'use_external')
#: Attributes each detection class may carry (devkit README, "Classes, attributes, and detection
#: ranges"); ``''`` for the classes without attributes.
CLASS_ATTRIBUTES = {
    'barrier': ('', ), 'traffic_cone': ('', ),
    'bicycle': ('cycle.with_rider', 'cycle.without_rider'),
    'motorcycle': ('cycle.with_rider', 'cycle.without_rider'),
    'pedestrian': ('pedestrian.moving', 'pedestrian.standing', 'pedestrian.sitting_lying_down'),
    **{name: ('vehicle.moving', 'vehicle.parked', 'vehicle.stopped')
       for name in ('car', 'bus', 'construction_vehicle', 'trailer', 'truck')},
}
#: Fields of a ``sample_result`` and their vector lengths (``None``: a scalar or a string).
BOX_FIELDS = {'sample_token': None, 'translation': 3, 'size': 3, 'rotation': 4, 'velocity': 2,
              'detection_name': None, 'detection_score': None, 'attribute_name': None}
#: Problems of one kind listed in a refusal before the rest are counted.
MAX_LISTED = 5


class SubmissionError(ValueError):
    """A submission the evaluation server would reject; the message lists every reason."""


def _finite_vector(value, length: int) -> Optional[str]:
    """Why ``value`` is not a list of ``length`` finite numbers (``None`` if it is)."""
    if not isinstance(value, (list, tuple)) or len(value) != length:
        return f'must be a list of {length} numbers, got {value!r}'
    if not all(isinstance(v, Real) and not isinstance(v, bool) for v in value):
        return f'must hold numbers, got {value!r}'
    if not all(math.isfinite(v) for v in value):
        return f'has NaN/inf: {value!r}'
    return None


def box_problems(box, sample_token: str) -> List[str]:
    """Why ``box`` is not a valid ``sample_result`` of sample ``sample_token`` (empty if it is).

    Args:
        box (dict): One entry of ``results[sample_token]``.
        sample_token (str): The key it is listed under.

    Returns:
        list[str]: One phrase per problem (missing fields, NaN/inf or malformed vectors,
        non-positive size, zero quaternion, score outside [0, 1] or not a float, unknown
        class, attribute not allowed for the class).
    """
    if not isinstance(box, dict):
        return [f'is a {type(box).__name__}, not a dict']
    missing = [key for key in BOX_FIELDS if key not in box]
    if missing:
        return [f'lacks {missing}']
    problems = []
    if box['sample_token'] != sample_token:
        problems.append(f"has sample_token {box['sample_token']!r} but is listed under "
                        f'{sample_token!r}')
    for key, length in BOX_FIELDS.items():
        if length is not None:
            why = _finite_vector(box[key], length)
            if why:
                problems.append(f'{key} {why}')
    if not _finite_vector(box['size'], 3) and min(box['size']) <= 0:
        problems.append(f"size must be positive, got {box['size']!r}")
    if not _finite_vector(box['rotation'], 4) and not any(box['rotation']):
        problems.append('rotation is the zero quaternion')
    score = box['detection_score']
    if not isinstance(score, float) or not math.isfinite(score) or not 0.0 <= score <= 1.0:
        problems.append(f'detection_score must be a float in [0, 1], got {score!r}')
    name, attribute = box['detection_name'], box['attribute_name']
    if name not in CLASS_ATTRIBUTES:
        problems.append(f'detection_name {name!r} is not one of {sorted(CLASS_ATTRIBUTES)}')
    elif attribute not in CLASS_ATTRIBUTES[name]:
        problems.append(f'attribute_name {attribute!r} is not allowed for {name!r} (allowed: '
                        f'{list(CLASS_ATTRIBUTES[name])})')
    return problems


def _listed(items: Sequence[str]) -> str:
    shown = ', '.join(items[:MAX_LISTED])
    return shown + (f', ... ({len(items) - MAX_LISTED} more)' if len(items) > MAX_LISTED else '')


def submission_problems(submission, sample_tokens: Iterable[str],
                        max_boxes: int = MAX_BOXES_PER_SAMPLE) -> List[str]:
    """Every reason the evaluation server would reject ``submission`` (empty if none).

    Args:
        submission (dict): ``{'meta': {...}, 'results': {token: [sample_result]}}``.
        sample_tokens (Iterable[str]): The sample tokens of the evaluation split.
        max_boxes (int): Boxes allowed per sample.

    Returns:
        list[str]: One line per kind of problem, naming the samples and boxes.
    """
    if not isinstance(submission, dict) or set(submission) != {'meta', 'results'}:
        keys = sorted(submission) if isinstance(submission, dict) else type(submission).__name__
        return [f"the file must hold exactly the keys ['meta', 'results'], got {keys}"]
    problems = []
    meta, results = submission['meta'], submission['results']
    if not isinstance(meta, dict) or set(meta) != set(META_KEYS) or not all(
            isinstance(v, bool) for v in meta.values()):
        problems.append(f'meta must map exactly {list(META_KEYS)} to true/false, got {meta!r}')
    if not isinstance(results, dict):
        return problems + [f'results must map sample tokens to lists, got a '
                           f'{type(results).__name__}']
    expected = list(dict.fromkeys(sample_tokens))
    missing = [t for t in expected if t not in results]
    if missing:
        problems.append(f'{len(missing)} of the {len(expected)} sample tokens of the split are '
                        f'missing from results (every sample must be present, with [] when '
                        f'nothing is detected): {_listed(missing)}')
    known = set(expected)
    extra = [t for t in results if t not in known]
    if extra:
        problems.append(f'{len(extra)} sample token(s) in results are not in the split: '
                        f'{_listed(extra)}')
    too_many, not_lists, bad_boxes = [], [], []
    for token, boxes in results.items():
        if not isinstance(boxes, list):
            not_lists.append(f'{token} ({type(boxes).__name__})')
            continue
        if len(boxes) > max_boxes:
            too_many.append(f'{token} ({len(boxes)} boxes)')
        for index, box in enumerate(boxes):
            bad_boxes += [f'sample {token} box {index}: {why}' for why in box_problems(box, token)]
    if not_lists:
        problems.append(f'results of {len(not_lists)} sample(s) are not lists: '
                        f'{_listed(not_lists)}')
    if too_many:
        problems.append(f'{len(too_many)} sample(s) have more than {max_boxes} boxes (the server '
                        f'rejects the submission): {_listed(too_many)}')
    if bad_boxes:
        problems.append(f'{len(bad_boxes)} invalid box(es): {_listed(bad_boxes)}')
    return problems


def validate_detection_submission(path: str, sample_tokens: Iterable[str],
                                  max_boxes: int = MAX_BOXES_PER_SAMPLE) -> dict:
    """Refuse ``path`` unless it is a submission the nuScenes evaluation server accepts.

    Checks :func:`submission_problems` (structure, meta block, every split sample present and no
    other, at most ``max_boxes`` boxes per sample, finite boxes, valid class/attribute pairs),
    then loads the file with the devkit's own ``load_prediction(path, max_boxes, DetectionBox)``.

    Args:
        path (str): A ``results_nusc.json``.
        sample_tokens (Iterable[str]): The sample tokens of the evaluation split.
        max_boxes (int): Boxes allowed per sample.

    Returns:
        dict: ``samples``, ``boxes`` (total), ``max_boxes_per_sample`` (the largest count) and
        ``meta``.

    Raises:
        SubmissionError: naming the file and every problem found.
    """
    from nuscenes.eval.common.loaders import load_prediction
    from nuscenes.eval.detection.data_classes import DetectionBox
    try:
        with open(path) as f:
            submission = json.load(f)
    except (OSError, ValueError) as error:
        raise SubmissionError(f'nuScenes submission {path} refused: cannot read it as JSON '
                              f'({error})') from error
    problems = submission_problems(submission, sample_tokens, max_boxes)
    if problems:
        lines = '\n'.join(f'  - {p}' for p in problems)
        raise SubmissionError(f'nuScenes submission {path} refused ({len(problems)} '
                              f'problem(s)):\n{lines}')
    try:
        boxes, meta = load_prediction(path, max_boxes, DetectionBox, verbose=False)
    except (AssertionError, KeyError, TypeError, ValueError) as error:
        raise SubmissionError(f"nuScenes submission {path} refused by the devkit's "
                              f'load_prediction: {error!r}') from error
    counts = [len(boxes[token]) for token in boxes.sample_tokens]
    return {'samples': len(submission['results']), 'boxes': sum(counts),
            'max_boxes_per_sample': max(counts, default=0), 'meta': meta}


def keep_top_boxes(results: Mapping[str, list],
                   max_boxes: int = MAX_BOXES_PER_SAMPLE) -> Dict[str, list]:
    """The ``max_boxes`` highest-scored boxes of each sample (stable for equal scores).

    Args:
        results (Mapping): ``{sample_token: [sample_result]}``.
        max_boxes (int): Boxes kept per sample.

    Returns:
        dict: The same mapping, each list cut to at most ``max_boxes`` boxes, best first.
    """
    kept = {}
    for token, boxes in results.items():
        if len(boxes) > max_boxes:
            boxes = sorted(boxes, key=lambda box: -box['detection_score'])[:max_boxes]
        kept[token] = list(boxes)
    return kept


def write_detection_submission(results: Mapping[str, list], meta: Mapping[str, bool],
                               sample_tokens: Sequence[str], out_dir: str,
                               name: str = 'results_nusc',
                               max_boxes: int = MAX_BOXES_PER_SAMPLE) -> Dict[str, object]:
    """Write ``<out_dir>/<name>.json`` and ``<name>.zip`` (the JSON alone, as the server takes
    it), keeping the ``max_boxes`` best boxes per sample; both are validated
    (:func:`validate_detection_submission`) before they appear, so a refused submission leaves
    nothing behind.

    Args:
        results (Mapping): ``{sample_token: [sample_result]}`` (global frame).
        meta (Mapping): The five ``META_KEYS`` booleans.
        sample_tokens (Sequence[str]): The sample tokens of the evaluation split.
        out_dir (str): Destination folder (created).
        name (str): File stem.
        max_boxes (int): Boxes kept per sample.

    Returns:
        dict: ``json`` and ``zip`` paths, ``dropped`` (boxes cut beyond ``max_boxes``) and the
        validation summary (``samples``, ``boxes``, ``max_boxes_per_sample``, ``meta``).

    Raises:
        SubmissionError: the submission would be rejected (e.g. a sample is missing).
    """
    kept = keep_top_boxes(results, max_boxes)
    dropped = sum(len(v) for v in results.values()) - sum(len(v) for v in kept.values())
    json_path = os.path.join(out_dir, f'{name}.json')
    zip_path = os.path.join(out_dir, f'{name}.zip')
    with atomic_path(json_path) as tmp_json:
        with open(tmp_json, 'w') as f:
            json.dump({'meta': dict(meta), 'results': kept}, f)
        summary = validate_detection_submission(tmp_json, sample_tokens, max_boxes)
        with atomic_path(zip_path) as tmp_zip:
            with zipfile.ZipFile(tmp_zip, 'w', zipfile.ZIP_DEFLATED) as archive:
                archive.write(tmp_json, arcname=f'{name}.json')
    return dict(summary, json=json_path, zip=zip_path, dropped=dropped)


def split_sample_tokens(data_root: str, version: str, split: str) -> List[str]:
    """Sample tokens of the devkit split ``split`` (e.g. ``'test'``, ``'val'``, ``'mini_val'``)
    of the nuScenes tables ``<data_root>/<version>``, in table order.

    Raises:
        ValueError: the split has no sample in these tables.
    """
    from nuscenes import NuScenes
    from nuscenes.utils.splits import create_splits_scenes
    scenes = create_splits_scenes()
    if split not in scenes:
        raise ValueError(f'unknown nuScenes split {split!r}; expected one of {sorted(scenes)}')
    nusc = NuScenes(version=version, dataroot=data_root, verbose=False)
    names = set(scenes[split])
    split_scenes = {s['token'] for s in nusc.scene if s['name'] in names}
    tokens = [s['token'] for s in nusc.sample if s['scene_token'] in split_scenes]
    if not tokens:
        raise ValueError(f'nuScenes {version} at {data_root} has no sample of split {split!r} '
                         f'(its scenes: {sorted(s["name"] for s in nusc.scene)[:5]} ...)')
    return tokens
