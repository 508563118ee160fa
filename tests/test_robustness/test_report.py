"""Robustness report: metric columns found by key suffix, exact relative numbers, Markdown, CSV
and PNG, on hand-made study records."""
import csv
import io

import matplotlib.image
import pytest

from mmdet3d_plugin.robustness.report import (MetricColumn, format_csv, format_markdown,
                                              metric_columns, relative_change, table_rows,
                                              write_report)

NDS = 'NuScenes metric/pred_instances_3d_NuScenes/NDS'
MAP = 'NuScenes metric/pred_instances_3d_NuScenes/mAP'
MIOU = 'map/mean/iou@max'


def record(setting, corruption=None, severity=None, status='ok', metrics=None, reason='',
           note=''):
    return dict(setting=setting, corruption=corruption, severity=severity, status=status,
                metrics=metrics or {}, reason=reason, note=note)


def study_records():
    other = {'NuScenes metric/pred_instances_3d_NuScenes/car_AP_dist_1.0': 0.7,
             'map/drivable_area/iou@max': 80.0, 'map/mean/iou@0.50': 1.0}
    return [
        record('clean', metrics={NDS: 0.5, MAP: 0.4, MIOU: 40.0, **other}),
        record('beam_reduction-16', 'beam_reduction', 16,
               metrics={NDS: 0.25, MAP: 0.3, MIOU: 50.0, **other}, note='keyframe only'),
        record('beam_reduction-1', 'beam_reduction', 1,
               metrics={NDS: 0.1, MAP: 0.0, MIOU: None}),
        record('view_drop-2', 'view_drop', 2, status='n/a',
               reason='the test pipeline loads no camera images'),
        record('missing_lidar', 'missing_lidar', status='failed', reason='IndexError: boom | x'),
        record('missing_camera', 'missing_camera', metrics={NDS: 0.45, MAP: 0.4, MIOU: 10.0}),
    ]


def test_metric_columns_by_suffix():
    assert metric_columns(study_records()) == [
        MetricColumn('NDS', NDS), MetricColumn('mAP', MAP), MetricColumn('map mIoU', MIOU)]
    # a kind under two keys gets a column per key; the occupancy mIoUs; extra suffixes
    records = [record('clean', metrics={'a/NDS': 1.0, 'b/NDS': 2.0, 'occ3d/mIoU': 30.0,
                                        'ssc/SSC_mIoU': 20.0, 'ssc/SC_IoU': 40.0,
                                        'seg/mIoU': 10.0, 'kitti/Car_3D_moderate': 5.0})]
    assert metric_columns(records, suffixes=['Car_3D_moderate']) == [
        MetricColumn('NDS (a/NDS)', 'a/NDS'), MetricColumn('NDS (b/NDS)', 'b/NDS'),
        MetricColumn('Occ3D mIoU', 'occ3d/mIoU'), MetricColumn('SSC mIoU', 'ssc/SSC_mIoU'),
        MetricColumn('mIoU', 'seg/mIoU'), MetricColumn('Car_3D_moderate',
                                                       'kitti/Car_3D_moderate')]
    assert metric_columns([record('clean', metrics={'mse': 1.0})]) == []


def test_relative_change_exact():
    assert relative_change(0.25, 0.5) == -50.0
    assert relative_change(50.0, 40.0) == 25.0
    assert relative_change(0.4, 0.4) == 0.0
    assert relative_change(0.1, 0.0) is None and relative_change(None, 0.5) is None
    assert relative_change(0.1, None) is None


def test_table_rows():
    records = study_records()
    rows = table_rows(records, metric_columns(records))
    assert [row['setting'] for row in rows] == [r['setting'] for r in records]
    clean, reduced, one_beam, view_drop, lidar, camera = rows
    assert clean['relative'] == [None, None, None] and clean['corruption'] == 'clean'
    assert reduced['values'] == [0.25, 0.3, 50.0]
    assert reduced['relative'] == pytest.approx([-50.0, -25.0, 25.0], abs=1e-12)
    assert reduced['corruption'] == 'Beam Reduction' and reduced['severity'] == '16'
    assert one_beam['relative'] == pytest.approx([-80.0, -100.0, None], abs=1e-12)
    assert view_drop['note'] == 'the test pipeline loads no camera images'
    assert lidar['corruption'] == 'Missing LiDAR' and lidar['status'] == 'failed'
    assert camera['relative'] == pytest.approx([-10.0, 0.0, -75.0], abs=1e-12)


def test_markdown_table():
    records = study_records()
    text = format_markdown(records, metric_columns(records), header_lines=['config: `x.py`'])
    lines = text.splitlines()
    assert lines[0] == '# Robustness study' and 'config: `x.py`  ' in lines
    table = lines[lines.index('config: `x.py`  ') + 2:]
    assert table[0] == ('| setting | corruption | severity | NDS | NDS vs clean (%) | mAP | '
                        'mAP vs clean (%) | map mIoU | map mIoU vs clean (%) | note |')
    assert table[1] == '|' + '---|' * 10
    assert table[2] == '| clean | clean |  | 0.5000 |  | 0.4000 |  | 40.0000 |  |  |'
    assert table[3] == ('| beam_reduction-16 | Beam Reduction | 16 | 0.2500 | -50.0 | 0.3000 | '
                        '-25.0 | 50.0000 | +25.0 | keyframe only |')
    assert table[4] == ('| beam_reduction-1 | Beam Reduction | 1 | 0.1000 | -80.0 | 0.0000 | '
                        '-100.0 |  |  |  |')
    assert table[5] == ('| view_drop-2 | View Drop | 2 | n/a |  | n/a |  | n/a |  | the test '
                        'pipeline loads no camera images |')
    assert table[6] == ('| missing_lidar | Missing LiDAR |  | failed |  | failed |  | failed |  '
                        '| IndexError: boom \\| x |')
    assert table[7].startswith('| missing_camera | Missing Camera |  | 0.4500 | -10.0 | 0.4000 | '
                               '+0.0 | 10.0000 | -75.0 |')
    assert len(table) == 8


def test_csv_table():
    records = study_records()
    rows = list(csv.reader(io.StringIO(format_csv(records, metric_columns(records)))))
    assert rows[0] == ['setting', 'corruption', 'severity', 'status', f'NDS [{NDS}]',
                       'NDS vs clean (%)', f'mAP [{MAP}]', 'mAP vs clean (%)',
                       f'map mIoU [{MIOU}]', 'map mIoU vs clean (%)', 'note']
    assert [row[0] for row in rows[1:]] == [r['setting'] for r in records]
    reduced = rows[2]
    assert reduced[:4] == ['beam_reduction-16', 'Beam Reduction', '16', 'ok']
    assert [float(v) for v in reduced[4:10]] == pytest.approx([0.25, -50.0, 0.3, -25.0, 50.0,
                                                               25.0], abs=1e-12)
    assert rows[3][8:10] == ['', ''] and rows[4][3:5] == ['n/a', '']


def test_write_report_writes_md_csv_and_a_png(tmp_path):
    records = study_records()
    paths = write_report(records, str(tmp_path), header_lines=['seed 0'])
    assert set(paths) == {'md', 'csv', 'png'}
    assert (tmp_path / 'robustness.md').read_text() == format_markdown(
        records, metric_columns(records), header_lines=['seed 0'])
    assert (tmp_path / 'robustness.csv').read_text() == format_csv(
        records, metric_columns(records))
    image = matplotlib.image.imread(paths['png'])
    # 3 metric rows x (1 graded corruption + the missing-sensor panel)
    assert image.ndim == 3 and image.shape[0] > 600 and image.shape[1] >= 600
    assert sorted(p.name for p in tmp_path.iterdir()) == ['robustness.csv', 'robustness.md',
                                                          'robustness.png']
    # a study without any known metric still gets a (placeholder) plot
    write_report([record('clean', metrics={'mse': 1.0})], str(tmp_path / 'toy'))
    assert (tmp_path / 'toy' / 'robustness.png').stat().st_size > 0
