"""Side-by-side claim-check tables: exact values and relative changes."""
from mmdet3d_plugin.robustness.comparison import format_comparison, pick_metric

NDS = 'NuScenes metric/pred_instances_3d_NuScenes/NDS'
MAP = 'NuScenes metric/pred_instances_3d_NuScenes/mAP'
MIOU = 'map/mean/iou@max'


def test_pick_metric_by_kind():
    metrics = {MAP: 0.3, NDS: 0.4, MIOU: 50.0}
    assert pick_metric(metrics, 'NDS') == 0.4
    assert pick_metric(metrics, 'map mIoU') == 50.0
    assert pick_metric({}, 'mAP') is None


def test_comparison_rows_and_relative_changes():
    results = {
        'MetaBEV': {'clean': {NDS: 0.40, MAP: 0.30, MIOU: 50.0},
                    'missing_lidar': {NDS: 0.30, MAP: 0.15, MIOU: 45.0}},
        'BEVFusion': {'clean': {NDS: 0.50, MAP: 0.40},
                      'missing_lidar': {NDS: 0.10, MAP: 0.02}},
    }
    tables = format_comparison(results, ('clean', 'missing_lidar'), header=['# t'])
    md = tables['md'].splitlines()
    assert md[0] == '# t'
    assert md[4] == '| clean (camera + LiDAR) | MetaBEV | 0.4000 |  | 0.3000 |  | 50.0000 |  |'
    assert md[7] == '| Missing LiDAR | BEVFusion | 0.1000 | -80.0 % | 0.0200 | -95.0 % | n/a | n/a |'
    csv = tables['csv'].splitlines()
    assert csv[0] == ('setting,model,NDS,NDS vs clean (%),mAP,mAP vs clean (%),map mIoU,'
                      'map mIoU vs clean (%)')
    assert csv[3] == 'missing_lidar,MetaBEV,0.3,-25.00,0.15,-50.00,45,-10.00'
