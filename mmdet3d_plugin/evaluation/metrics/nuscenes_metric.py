"""mmdet3d's ``NuScenesMetric`` that also scores a split on which the model detected nothing.

The nuScenes devkit's ``DetectionEval`` raises ``Exception('Error: Invalid box type: None')``
when the submission holds no box at all -- exactly what a fusion model may output when a sensor
fails, so a robustness study would record a crash instead of a score. This subclass computes
that case with the devkit's own ``DetectionMetrics``: AP 0 for every class and distance, TP
errors 1 (the devkit's value when no recall is reached; NaN where the devkit defines none, e.g.
traffic-cone orientation), hence mAP 0 and NDS 0. Every other case goes through the devkit
unchanged. It keeps mmdet3d's name, so stock configs under the ``mmdet3d_plugin`` scope get it.
"""
from typing import Dict, List, Optional

import mmengine
import numpy as np
from mmdet3d.evaluation.metrics import NuScenesMetric as MMDet3DNuScenesMetric

from mmdet3d_plugin.registry import METRICS

#: (class, TP metric) pairs the devkit leaves undefined (NaN) -- ``DetectionEval.evaluate``.
UNDEFINED_TP = {'traffic_cone': ('attr_err', 'vel_err', 'orient_err'),
                'barrier': ('attr_err', 'vel_err')}


def empty_submission_summary(eval_config) -> dict:
    """The devkit's ``metrics_summary`` for a submission without any box.

    Args:
        eval_config: The devkit ``DetectionConfig`` of the evaluation.

    Returns:
        dict: ``DetectionMetrics.serialize()`` (``label_aps``, ``label_tp_errors``,
        ``tp_errors``, ``mean_ap``, ``nd_score``, ...).
    """
    from nuscenes.eval.detection.constants import TP_METRICS
    from nuscenes.eval.detection.data_classes import DetectionMetrics
    metrics = DetectionMetrics(eval_config)
    for class_name in eval_config.class_names:
        for dist_th in eval_config.dist_ths:
            metrics.add_label_ap(class_name, dist_th, 0.0)
        for metric_name in TP_METRICS:
            undefined = metric_name in UNDEFINED_TP.get(class_name, ())
            metrics.add_label_tp(class_name, metric_name, np.nan if undefined else 1.0)
    metrics.add_runtime(0.0)
    return metrics.serialize()


@METRICS.register_module()
class NuScenesMetric(MMDet3DNuScenesMetric):
    """mmdet3d's ``NuScenesMetric``; a split without any predicted box scores mAP 0 / NDS 0
    instead of crashing the devkit. Same arguments as mmdet3d's."""

    def _evaluate_single(self, result_path: str, classes: Optional[List[str]] = None,
                         result_name: str = 'pred_instances_3d') -> Dict[str, float]:
        submission = mmengine.load(result_path)
        if any(len(boxes) for boxes in submission['results'].values()):
            return super()._evaluate_single(result_path, classes, result_name)
        summary = empty_submission_summary(self.eval_detection_configs)
        prefix = f'{result_name}_NuScenes'
        detail = {}
        for name in classes:
            for key, value in summary['label_aps'][name].items():
                detail[f'{prefix}/{name}_AP_dist_{key}'] = float(f'{value:.4f}')
            for key, value in summary['label_tp_errors'][name].items():
                detail[f'{prefix}/{name}_{key}'] = float(f'{value:.4f}')
        for key, value in summary['tp_errors'].items():
            detail[f'{prefix}/{self.ErrNameMapping[key]}'] = float(f'{value:.4f}')
        detail[f'{prefix}/NDS'] = summary['nd_score']
        detail[f'{prefix}/mAP'] = summary['mean_ap']
        return detail
