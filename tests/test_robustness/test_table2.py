"""MetaBEV's Table-2 layout on fabricated study records: zero-shot and in-domain columns side
by side per setting, the in-domain gain, '—' (Markdown) / empty (CSV) / null (JSON) where no
in-domain checkpoint exists; and the tool's --in-domain parsing."""
import csv
import io
import json
from pathlib import Path

import pytest

from mmdet3d_plugin.robustness.table2 import (format_table2_csv, format_table2_markdown,
                                              table2_rows, write_table2)
from mmdet3d_plugin.testing import load_tool

NDS = 'NuScenes metric/pred_instances_3d_NuScenes/NDS'
MIOU = 'map/mean/iou@max'


def record(setting, corruption=None, severity=None, status='ok', **metrics):
    return dict(setting=setting, corruption=corruption, severity=severity, status=status,
                metrics={NDS if k == 'nds' else MIOU: v for k, v in metrics.items()})


ZERO_SHOT = [record('clean', nds=0.6, miou=50.0),
             record('beam_reduction-16', 'beam_reduction', 16, nds=0.5, miou=45.0),
             record('beam_reduction-1', 'beam_reduction', 1, nds=0.2, miou=30.0),
             record('view_drop-3', 'view_drop', 3, nds=0.4, miou=20.0),
             record('missing_camera', 'missing_camera', status='n/a')]
IN_DOMAIN = {'beam_reduction': [record('beam_reduction-16', 'beam_reduction', 16, nds=0.55,
                                       miou=46.5),
                                record('beam_reduction-1', 'beam_reduction', 1,
                                       status='failed')]}
CHECKPOINTS = {'beam_reduction': 'work_dirs/beams/epoch_12.pth'}


def test_rows_pair_each_setting_with_its_in_domain_record():
    table = table2_rows(ZERO_SHOT, IN_DOMAIN, CHECKPOINTS)
    assert table['columns'] == [dict(label='NDS', key=NDS), dict(label='map mIoU', key=MIOU)]
    rows = {row['setting']: row for row in table['rows']}
    assert list(rows) == [r['setting'] for r in ZERO_SHOT]
    beams = rows['beam_reduction-16']
    assert beams['corruption'] == 'Beam Reduction' and beams['severity'] == '16'
    assert beams['in_domain_checkpoint'] == CHECKPOINTS['beam_reduction']
    assert beams['metrics']['NDS']['zero_shot'] == 0.5
    assert beams['metrics']['NDS']['in_domain'] == 0.55
    assert beams['metrics']['NDS']['gain'] == pytest.approx(0.05)
    assert beams['metrics']['map mIoU']['gain'] == pytest.approx(1.5)
    failed = rows['beam_reduction-1']['metrics']['NDS']
    assert failed['in_domain'] is None and failed['in_domain_status'] == 'failed'
    for setting in ('clean', 'view_drop-3'):  # no in-domain model for these
        assert rows[setting]['in_domain_checkpoint'] is None
        assert rows[setting]['metrics']['NDS']['in_domain_status'] == '—'
    assert rows['missing_camera']['metrics']['NDS']['zero_shot_status'] == 'n/a'


def test_markdown_csv_and_json_layout(tmp_path):
    table = table2_rows(ZERO_SHOT, IN_DOMAIN, CHECKPOINTS)
    markdown = format_table2_markdown(table, header_lines=['config: `x.py`'])
    lines = markdown.splitlines()
    head = lines.index(next(line for line in lines if line.startswith('| setting')))
    assert lines[head] == ('| setting | corruption | severity | NDS zero-shot | NDS in-domain | '
                           'NDS gain | map mIoU zero-shot | map mIoU in-domain | map mIoU gain |')
    assert ('| beam_reduction-16 | Beam Reduction | 16 | 0.5000 | 0.5500 | +0.0500 | 45.0000 | '
            '46.5000 | +1.5000 |') in markdown
    assert '| view_drop-3 | View Drop | 3 | 0.4000 | — | — | 20.0000 | — | — |' in markdown
    assert '| beam_reduction-1 | Beam Reduction | 1 | 0.2000 | failed | — |' in markdown
    rows = list(csv.DictReader(io.StringIO(format_table2_csv(table))))
    assert rows[1][f'NDS in-domain [{NDS}]'] == '0.55'
    assert rows[1]['in-domain checkpoint'] == CHECKPOINTS['beam_reduction']
    assert rows[3][f'NDS in-domain [{NDS}]'] == '' and rows[3]['NDS gain'] == ''
    paths = write_table2(ZERO_SHOT, IN_DOMAIN, str(tmp_path), CHECKPOINTS)
    assert json.loads(Path(paths['json']).read_text()) == json.loads(json.dumps(table))
    assert Path(paths['md']).read_text().count('| view_drop-3 |') == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ['table2.csv', 'table2.json',
                                                          'table2.md']


def test_tool_parses_in_domain_pairs_and_json(tmp_path):
    tool = load_tool('robustness')
    assert tool.parse_in_domain(['view_drop=a.pth', 'beam_reduction=b=c.pth']) == {
        'view_drop': 'a.pth', 'beam_reduction': 'b=c.pth'}
    mapping = tmp_path / 'in_domain.json'
    mapping.write_text(json.dumps({'missing_lidar': 'l.pth'}))
    assert tool.parse_in_domain([str(mapping)]) == {'missing_lidar': 'l.pth'}
    for tokens, message in ((['fog=x.pth'], 'unknown corruption'), (['view_drop'], 'NAME='),
                            (['view_drop=a', 'view_drop=b'], 'twice')):
        with pytest.raises(ValueError, match=message):
            tool.parse_in_domain(tokens)
    assert tool.main(['c.py', 'x.pth', '--corruptions', 'view_drop', '--in-domain',
                      'beam_reduction=b.pth']) == 2  # not among the selected corruptions
