"""NuScenesMetric: a split without any predicted box scores 0 instead of crashing the devkit."""
import json
import math

from mmdet3d_plugin.evaluation.metrics import NuScenesMetric
from mmdet3d_plugin.registry import METRICS

CLASSES = ['car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle', 'motorcycle',
           'pedestrian', 'traffic_cone', 'barrier']
PREFIX = 'pred_instances_3d_NuScenes'


def test_the_name_resolves_to_the_drive3d_metric_in_our_scope():
    metric = METRICS.build(dict(type='NuScenesMetric', data_root='x/', ann_file='x/y.pkl'))
    assert type(metric) is NuScenesMetric


def test_empty_submission_scores_zero_with_devkit_error_conventions(tmp_path):
    path = tmp_path / 'results_nusc.json'
    path.write_text(json.dumps(dict(meta=dict(use_lidar=True), results={'a': [], 'b': []})))
    metric = NuScenesMetric(data_root=str(tmp_path), ann_file=str(tmp_path / 'none.pkl'))
    detail = metric._evaluate_single(str(path), CLASSES)
    assert detail[f'{PREFIX}/NDS'] == 0.0 and detail[f'{PREFIX}/mAP'] == 0.0
    for dist in ('0.5', '1.0', '2.0', '4.0'):
        assert detail[f'{PREFIX}/car_AP_dist_{dist}'] == 0.0
    assert detail[f'{PREFIX}/car_trans_err'] == 1.0
    assert detail[f'{PREFIX}/mATE'] == 1.0 and detail[f'{PREFIX}/mAAE'] == 1.0
    assert math.isnan(detail[f'{PREFIX}/traffic_cone_orient_err'])
    assert math.isnan(detail[f'{PREFIX}/barrier_vel_err'])
    assert detail[f'{PREFIX}/barrier_orient_err'] == 1.0
