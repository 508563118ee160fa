"""``Occ3DSubmissionWriter``: the test loop's "metric" that writes the Occ3D submission files.

``tools/test.py --submit`` puts it in place of ``Occ3DMetric`` for an annotation-free split.
Every rank writes the predictions of its samples as they come (one ``<token>.npz`` each, see
:mod:`mmdet3d_plugin.evaluation.submission.occ3d`), so a 6,006-sample test split never sits in
memory (0.64 MB per sample as uint8); ``self.results`` keeps only the tokens, gathered on the
main process, which reports how many samples were written. Zipping and checking the whole
split happen after the run (``SubmissionPlan.finish`` in :mod:`mmdet3d_plugin.engine`).
"""
from typing import Any, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from mmdet3d_plugin.registry import METRICS
from ..submission.nuscenes_detection import SubmissionError
from ..submission.occ3d import write_occ3d_sample
from .sample_fields import get_array, get_field


@METRICS.register_module()
class Occ3DSubmissionWriter(BaseMetric):
    """Write each data sample's ``pred_occ`` to ``<out_dir>/<token>.npz`` (Occ3D format).

    Each data sample must carry ``pred_key`` ``(200, 200, 16)`` integer labels in ``[0, 18)``
    and the meta ``token`` (the nuScenes sample token, packed by ``Pack3DDetBEVInputs``); a
    sample whose grid was flipped (meta ``occ_flip``, a training augmentation) is refused, its
    labels would be mirrored.

    Reported (prefix ``occ3d_submission/``): ``samples``, the distinct tokens written.

    Args:
        out_dir (str): Folder of the ``.npz`` files (created).
        pred_key (str): Data-sample key of the prediction.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Metric-name prefix; ``None`` uses ``'occ3d_submission'``.
        collect_dir (str, optional): Folder used for CPU collection.
    """

    default_prefix = 'occ3d_submission'

    def __init__(self, out_dir: str, pred_key: str = 'pred_occ', collect_device: str = 'cpu',
                 prefix: Optional[str] = None, collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        self.out_dir = str(out_dir)
        self.pred_key = pred_key

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Write every sample's prediction; keep its token in ``self.results``.

        Raises:
            SubmissionError: naming the sample, for a sample without ``token`` or without the
                prediction, a flipped grid, or a prediction of the wrong shape / dtype.
        """
        for index, sample in enumerate(data_samples):
            try:
                token = str(get_field(sample, 'token'))
            except KeyError:
                raise SubmissionError(f'Occ3D submission: data sample {index} of the batch has '
                                      "no meta 'token' (Pack3DDetBEVInputs packs it)") from None
            try:
                prediction = get_array(sample, self.pred_key)
            except KeyError:
                raise SubmissionError(f'Occ3D submission: sample {token} has no '
                                      f'{self.pred_key!r}: the model predicts no semantic '
                                      'occupancy') from None
            try:
                flip = get_field(sample, 'occ_flip')
            except KeyError:
                flip = (False, False)
            if np.any(np.asarray(flip, dtype=bool)):
                raise SubmissionError(f'Occ3D submission: sample {token} has a flipped grid '
                                      f'(occ_flip={tuple(flip)}); the test pipeline must not '
                                      'flip (OccupancyFrame without flip ratios)')
            write_occ3d_sample(self.out_dir, token, prediction)
            self.results.append(token)

    def compute_metrics(self, results: list) -> dict:
        """``{'samples': distinct tokens written}`` (the sampler's padding repeats some)."""
        return {'samples': len(set(results))}
