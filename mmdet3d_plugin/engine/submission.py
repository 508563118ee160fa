"""``tools/test.py --submit OUT_DIR``: run a split without annotations and write the benchmark
submission the config's ``test_evaluator`` stands for.

Which submission is found from the config alone, not from the model: a ``NuScenesMetric`` in
``test_evaluator`` means the nuScenes detection submission, an ``Occ3DMetric`` the Occ3D-nuScenes
occupancy one (:mod:`.occ3d_submission`; :data:`SUBMISSION_METRICS`). Any model whose outputs that
metric scores (``pred_instances_3d`` / ``pred_occ``) can be submitted, with no per-model code.

:func:`prepare_submission` rewrites a test config for the submission split: the test
dataloader reads that split's info file (``<prefix>_infos_test.pkl`` for the benchmark) in test
mode without evaluation annotations, its pipeline loses the transforms that load or filter
ground truth (detection boxes, BEV map masks, occupancy) and the ground-truth keys they packed
(``gt_*``, ``mask_camera``, ``mask_lidar``). For detection the evaluator becomes mmdet3d's
``NuScenesMetric`` with ``format_only=True`` (boxes moved to the global frame, filtered to the
class ranges and given the devkit's default attributes by class and velocity, exactly as for
evaluation). After ``runner.test()``, :meth:`SubmissionPlan.finish` (main process only) keeps the
500 best boxes of each sample, writes ``OUT_DIR/results_nusc.json`` with the ``meta`` block and
``OUT_DIR/results_nusc.zip`` (what the evaluation server takes), and validates them against every
sample token of the split read from the devkit's own tables
(:mod:`mmdet3d_plugin.evaluation.submission`). Other heads' outputs (e.g. BEV map segmentation)
have no evaluation server and are not written.
"""
import copy
import os
import os.path as osp
import re
import shutil
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from mmengine.config import Config, ConfigDict

from ..evaluation.submission import (MAX_BOXES_PER_SAMPLE, META_KEYS, split_sample_tokens,
                                     write_detection_submission)

#: ``--split`` -> (nuScenes version, devkit split); ``val`` follows the config's version.
SPLITS = {'test': ('v1.0-test', 'test'), 'val': (None, None)}
#: The devkit's validation split of each annotated version.
VAL_SPLITS = {'v1.0-mini': 'mini_val', 'v1.0-trainval': 'val'}
#: Transforms that load or need ground truth (dropped from the submission pipeline).
GT_TRANSFORMS = ('LoadAnnotations3D', 'LoadBEVMapGT', 'LoadOcc3DGT', 'LoadNuScenesOccupancyGT',
                 'ObjectRangeFilter', 'ObjectNameFilter', 'MissingObjects')
#: Where mmdet3d's formatter writes, under OUT_DIR (removed once the submission is written).
FORMAT_DIR = '.mmdet3d_format'
#: ``test_evaluator`` metric -> the submission it stands for.
SUBMISSION_METRICS = {'NuScenesMetric': 'nuScenes detection',
                      'Occ3DMetric': 'Occ3D-nuScenes occupancy'}


@dataclass
class SubmissionPlan:
    """What :func:`prepare_submission` set up, to write the submission after the test run.

    Attributes:
        out_dir (str): Destination of ``results_nusc.{json,zip}``.
        data_root (str): nuScenes dataroot (holds ``<version>/`` tables).
        version (str): nuScenes version of the split's tables.
        split (str): The devkit split (``test``, ``val``, ``mini_val``).
        ann_file (str): The info file the test dataloader reads.
        meta (dict): The submission's ``meta`` block.
    """
    out_dir: str
    data_root: str
    version: str
    split: str
    ann_file: str
    meta: Dict[str, bool] = field(default_factory=dict)

    @property
    def formatted_json(self) -> str:
        """mmdet3d's ``results_nusc.json`` (``jsonfile_prefix/pred_instances_3d``)."""
        return osp.join(self.out_dir, FORMAT_DIR, 'pred_instances_3d', 'results_nusc.json')

    def finish(self) -> dict:
        """Write and validate the submission from mmdet3d's formatted results.

        Returns:
            dict: ``json``, ``zip``, ``samples``, ``boxes``, ``max_boxes_per_sample``,
            ``dropped``, ``meta`` (see :func:`write_detection_submission`).

        Raises:
            FileNotFoundError: the test run wrote no formatted results.
            SubmissionError: the submission would be rejected, with every reason.
        """
        import mmengine
        if not osp.isfile(self.formatted_json):
            raise FileNotFoundError(f'no formatted results at {self.formatted_json}: the test '
                                    'run did not produce 3D boxes (pred_instances_3d)')
        formatted = mmengine.load(self.formatted_json)
        tokens = split_sample_tokens(self.data_root, self.version, self.split)
        written = write_detection_submission(formatted['results'], self.meta, tokens,
                                             self.out_dir)
        shutil.rmtree(osp.join(self.out_dir, FORMAT_DIR))
        return written

    def finish_and_report(self) -> dict:
        """:meth:`finish` on the main process, then :meth:`report` there; every rank returns
        its result or raises its error (so no rank waits for a failed main process)."""
        from mmengine.dist import broadcast_object_list, is_main_process
        outcome = [None]
        if is_main_process():
            try:
                outcome = [self.finish()]
            except (OSError, ValueError) as error:
                outcome = [error]
        broadcast_object_list(outcome)
        if isinstance(outcome[0], Exception):
            raise outcome[0]
        if is_main_process():
            self.report(outcome[0])
        return outcome[0]

    def report(self, written: dict) -> None:
        """Print what :meth:`finish` wrote."""
        print(f"nuScenes detection submission of split {self.split!r} ({self.version}): "
              f"{written['samples']} samples, {written['boxes']} boxes (at most "
              f"{written['max_boxes_per_sample']} per sample; {written['dropped']} dropped "
              f"beyond {MAX_BOXES_PER_SAMPLE}), meta {written['meta']}; validated with the "
              f"devkit's load_prediction\n  json: {written['json']}\n  zip:  "
              f"{written['zip']}  (upload this to the evaluation server)", flush=True)


def _type_name(step: dict) -> str:
    return str(step.get('type', '')).split('.')[-1]


def _is_ground_truth_key(key) -> bool:
    from ..datasets.transforms.formatting import BEV_GT_KEYS
    return str(key).startswith('gt_') or key in BEV_GT_KEYS


def strip_ground_truth(pipeline: List[dict]) -> List[dict]:
    """``pipeline`` without :data:`GT_TRANSFORMS` and without ground-truth keys to pack
    (``gt_*`` and the occupancy masks of ``BEV_GT_KEYS``; nested ``transforms`` lists, e.g.
    ``MultiScaleFlipAug3D``, included)."""
    stripped = []
    for step in pipeline:
        if _type_name(step) in GT_TRANSFORMS:
            continue
        step = copy.deepcopy(step)
        if isinstance(step.get('transforms'), list):
            step['transforms'] = strip_ground_truth(step['transforms'])
        if _type_name(step).startswith('Pack') and 'keys' in step:
            step['keys'] = [k for k in step['keys'] if not _is_ground_truth_key(k)]
        stripped.append(step)
    return stripped


def submission_metric(cfg: Config, where: str = 'the config') -> dict:
    """The metric of ``cfg.test_evaluator`` that names the submission (:data:`SUBMISSION_METRICS`).

    Raises:
        ValueError: ``test_evaluator`` has none of them, or more than one kind.
    """
    evaluator = cfg.get('test_evaluator')
    metrics = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
    found = [m for m in metrics if isinstance(m, dict) and _type_name(m) in SUBMISSION_METRICS]
    kinds = sorted({_type_name(m) for m in found})
    known = ', '.join(f'{name} ({what})' for name, what in SUBMISSION_METRICS.items())
    if not found:
        raise ValueError(f'--submit writes the benchmark submission of the test_evaluator, but '
                         f'test_evaluator of {where} has no NuScenesMetric nor Occ3DMetric '
                         f'(known: {known}): {evaluator!r}')
    if len(kinds) > 1:
        raise ValueError(f'test_evaluator of {where} has {kinds}: --submit writes one '
                         'submission; keep only the metric of the benchmark to submit to in '
                         'test_evaluator')
    return found[0]


def submission_meta(cfg: Config, dataset: dict) -> Dict[str, bool]:
    """The ``meta`` block: ``use_camera`` / ``use_lidar`` / ``use_radar`` from the dataset's
    ``modality``, ``use_map`` / ``use_external`` False, then ``cfg.submission_meta`` overrides
    (e.g. ``--cfg-options submission_meta.use_external=True``)."""
    modality = dataset.get('modality') or {}
    meta = {key: bool(modality.get(key, False)) for key in META_KEYS}
    overrides = dict(cfg.get('submission_meta') or {})
    unknown = sorted(set(overrides) - set(META_KEYS))
    if unknown:
        raise KeyError(f'submission_meta has unknown key(s) {unknown}; valid: {list(META_KEYS)}')
    meta.update({key: bool(value) for key, value in overrides.items()})
    return meta


def prepare_split(cfg: Config, split: str = 'test',
                  where: str = 'the config') -> Tuple[str, str, str, str]:
    """Point ``cfg.test_dataloader.dataset`` (in place) at ``split`` without annotations.

    Returns:
        tuple: ``(data_root, version, devkit split, ann_file)`` of the split.

    Raises:
        KeyError / ValueError: a wrapped dataset, or no split to derive (messages name the key).
    """
    if split not in SPLITS:
        raise ValueError(f'split must be one of {sorted(SPLITS)}, got {split!r}')
    dataset = cfg.test_dataloader.dataset
    if 'ann_file' not in dataset or 'data_root' not in dataset:
        raise KeyError(f'--submit needs test_dataloader.dataset.ann_file and .data_root in '
                       f'{where} (a wrapped dataset is not supported); got keys {sorted(dataset)}')
    version, devkit_split = SPLITS[split]
    if version is None:
        version = (dataset.get('metainfo') or {}).get('version', 'v1.0-trainval')
        if version not in VAL_SPLITS:
            raise ValueError(f'--split val needs metainfo.version in {sorted(VAL_SPLITS)} '
                             f'({where}), got {version!r}')
        devkit_split = VAL_SPLITS[version]
    ann_file, count = re.subn(r'_(train|val|trainval|test)\.pkl$', f'_{split}.pkl',
                              str(dataset.ann_file))
    if not count:
        raise ValueError(f'cannot derive the {split} info file from test_dataloader.dataset.'
                         f'ann_file={dataset.ann_file!r} ({where}); expected <prefix>_val.pkl')
    dataset.ann_file = ann_file
    dataset.test_mode = True
    dataset.load_eval_anns = False
    dataset.metainfo = ConfigDict(dict(dataset.get('metainfo') or {}, version=version))
    dataset.pipeline = strip_ground_truth(dataset.pipeline)
    return str(dataset.data_root), version, devkit_split, ann_file


def prepare_submission(cfg: Config, out_dir: str, split: str = 'test',
                       where: str = 'the config') -> SubmissionPlan:
    """Rewrite ``cfg`` (in place) to write the submission of ``split`` into ``out_dir``.

    Args:
        cfg (Config): A test config whose ``test_evaluator`` has a ``NuScenesMetric`` (nuScenes
            detection) or an ``Occ3DMetric`` (Occ3D-nuScenes occupancy, see
            :func:`~.occ3d_submission.prepare_occ3d_submission`).
        out_dir (str): Destination folder (created).
        split (str): ``'test'`` (the benchmark, ``v1.0-test`` tables and
            ``<prefix>_infos_test.pkl``) or ``'val'`` (the config's version, its val infos; a
            submission to score locally).
        where (str): The config's path, for error messages.

    Returns:
        SubmissionPlan: Call :meth:`SubmissionPlan.finish_and_report` after ``runner.test()``.
    """
    if split not in SPLITS:
        raise ValueError(f'split must be one of {sorted(SPLITS)}, got {split!r}')
    metric = submission_metric(cfg, where)
    if _type_name(metric) == 'Occ3DMetric':
        from .occ3d_submission import prepare_occ3d_submission
        return prepare_occ3d_submission(cfg, out_dir, split, where)
    dataset = cfg.test_dataloader.dataset
    meta = submission_meta(cfg, dataset)
    data_root, version, devkit_split, ann_file = prepare_split(cfg, split, where)
    out_dir = osp.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    cfg.test_evaluator = ConfigDict(
        dict(metric, data_root=data_root, format_only=True,
             ann_file=ann_file if osp.isabs(ann_file) else osp.join(data_root, ann_file),
             jsonfile_prefix=osp.join(out_dir, FORMAT_DIR), modality=meta))
    return SubmissionPlan(out_dir, data_root, version, devkit_split, ann_file, meta)
