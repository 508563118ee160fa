"""``tools/test.py --submit`` for occupancy configs: the Occ3D-nuScenes challenge submission.

Chosen by :func:`~.submission.prepare_submission` when the config's ``test_evaluator`` has an
``Occ3DMetric``. :func:`prepare_occ3d_submission` points the test dataloader at the split
without annotations (as for detection: ``<prefix>_infos_<split>.pkl``, no ``LoadOcc3DGT``, no
``gt_occ`` / ``mask_camera`` / ``mask_lidar``) and replaces the evaluator with
``Occ3DSubmissionWriter``, which writes each sample's ``pred_occ`` as it is predicted to
``OUT_DIR/.occ3d_format/<sample_token>.npz``. After ``runner.test()``,
:meth:`Occ3DSubmissionPlan.finish` (main process) checks that every sample token of the split
(the devkit's tables) has its file and nothing else is there, writes ``OUT_DIR/occ_submission.zip``
(``occ_submission/<token>.npz``, what the evaluation server takes; read back before it appears)
and leaves the results folder ``OUT_DIR/occ_submission/`` beside it (format:
:mod:`mmdet3d_plugin.evaluation.submission.occ3d`).
"""
import os
import os.path as osp
import shutil

from mmengine.config import Config, ConfigDict

from ..evaluation.submission import (NPZ_KEY, OCC3D_SHAPE, SubmissionError, split_sample_tokens,
                                     write_occ3d_submission)
from .submission import SubmissionPlan, prepare_split

#: Where the test run writes the per-sample files, under OUT_DIR (moved once checked).
OCC3D_FORMAT_DIR = '.occ3d_format'


class Occ3DSubmissionPlan(SubmissionPlan):
    """What :func:`prepare_occ3d_submission` set up (the fields of :class:`SubmissionPlan`;
    ``meta`` is empty: the Occ3D submission has no meta block)."""

    @property
    def staging_dir(self) -> str:
        """``OUT_DIR/.occ3d_format``: the ``<token>.npz`` files of the test run."""
        return osp.join(self.out_dir, OCC3D_FORMAT_DIR)

    def finish(self) -> dict:
        """Zip and check the staged files (see :func:`write_occ3d_submission`).

        Returns:
            dict: ``zip``, ``folder``, ``samples``.

        Raises:
            SubmissionError: a sample of the split has no file, a file is not of the split or
                not a valid prediction (every reason listed); nothing is written then.
        """
        tokens = split_sample_tokens(self.data_root, self.version, self.split)
        return write_occ3d_submission(self.staging_dir, tokens, self.out_dir)

    def report(self, written: dict) -> None:
        """Print what :meth:`finish` wrote."""
        print(f"Occ3D-nuScenes occupancy submission of split {self.split!r} ({self.version}): "
              f"{written['samples']} samples, one <sample_token>.npz each ({OCC3D_SHAPE} uint8 "
              f"labels under {NPZ_KEY!r}), read back and checked\n  folder: "
              f"{written['folder']}\n  zip:    {written['zip']}  (upload this to the "
              'evaluation server)', flush=True)


def _missing_test_infos(ann_file: str, data_root: str, where: str) -> str:
    path = ann_file if osp.isabs(ann_file) else osp.join(data_root, ann_file)
    return (f'Occ3D submission of split test: the info file {path} (test_dataloader.dataset.'
            f'ann_file of {where} with _test.pkl) does not exist. Occ3D publishes no test labels, '
            'so `tools/create_data.py occ3d` cannot write test infos; use the nuScenes test infos '
            '(their entries carry occ3d_path, never read here): `python tools/create_data.py '
            'nuscenes --root-path <data_root> --version v1.0-test`, then add --cfg-options '
            'test_dataloader.dataset.ann_file=nuscenes_infos_test.pkl '
            '(see configs/occ_baseline/README.md, "Occ3D submission")')


def prepare_occ3d_submission(cfg: Config, out_dir: str, split: str = 'test',
                             where: str = 'the config') -> Occ3DSubmissionPlan:
    """Rewrite ``cfg`` (in place) to write the Occ3D submission of ``split`` into ``out_dir``.

    Args:
        cfg (Config): A test config whose ``test_evaluator`` has an ``Occ3DMetric``.
        out_dir (str): Destination folder (created; a previous staging folder is removed).
        split (str): ``'test'`` (``v1.0-test`` tables) or ``'val'`` (the config's version).
        where (str): The config's path, for error messages.

    Returns:
        Occ3DSubmissionPlan: Call ``finish_and_report()`` after ``runner.test()``.

    Raises:
        SubmissionError: ``split='test'`` and the test info file does not exist (the message
            says how to make it).
    """
    data_root, version, devkit_split, ann_file = prepare_split(cfg, split, where)
    if split == 'test' and not osp.isfile(
            ann_file if osp.isabs(ann_file) else osp.join(data_root, ann_file)):
        raise SubmissionError(_missing_test_infos(ann_file, data_root, where))
    plan = Occ3DSubmissionPlan(osp.abspath(out_dir), data_root, version, devkit_split, ann_file,
                               {})
    if os.environ.get('RANK', '0') == '0' and osp.isdir(plan.staging_dir):
        shutil.rmtree(plan.staging_dir)  # files of an earlier run must not join this one
    os.makedirs(plan.staging_dir, exist_ok=True)
    cfg.test_evaluator = ConfigDict(type='Occ3DSubmissionWriter', out_dir=plan.staging_dir)
    return plan
