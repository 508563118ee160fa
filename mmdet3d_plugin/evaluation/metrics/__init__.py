"""Metrics: functional cores (pure numpy/torch, parameterised by convention) and their
mmengine ``BaseMetric`` wrappers registered in ``mmdet3d_plugin.registry.METRICS``. Class and
label conventions (map classes, occupancy labels) live in :mod:`mmdet3d_plugin.structures`."""
from .bev_map import (BEV_MAP_THRESHOLDS, bev_map_counts, bev_map_iou, bev_map_summary,
                      sum_bev_map_counts)
from .bev_map_seg_metric import BEVMapSegMetric
from .calibration import (aurc, brier_score, calibration_statistics, confidence_and_correctness,
                          expected_calibration_error, merge_calibration_statistics,
                          misclassification_auroc, negative_log_likelihood, summarize_calibration)
from .nuscenes_metric import NuScenesMetric, empty_submission_summary
from .occ3d_metric import Occ3DMetric
from .occ3d_submission_writer import Occ3DSubmissionWriter
from .occ_calibration_metric import OccCalibrationMetric
from .occupancy import geometry_iou, mean_iou, per_class_iou, semantic_confusion_matrix
from .risk_coverage import aurc_from_counts, auroc_from_counts, optimal_aurc
from .ssc_metric import SSCMetric

__all__ = [
    'BEV_MAP_THRESHOLDS', 'BEVMapSegMetric', 'NuScenesMetric', 'empty_submission_summary',
    'Occ3DMetric', 'Occ3DSubmissionWriter', 'OccCalibrationMetric', 'SSCMetric', 'aurc',
    'aurc_from_counts', 'auroc_from_counts', 'bev_map_counts', 'bev_map_iou', 'bev_map_summary',
    'brier_score', 'calibration_statistics', 'confidence_and_correctness',
    'expected_calibration_error', 'geometry_iou', 'mean_iou', 'merge_calibration_statistics',
    'misclassification_auroc', 'negative_log_likelihood', 'optimal_aurc', 'per_class_iou',
    'semantic_confusion_matrix', 'sum_bev_map_counts', 'summarize_calibration'
]
