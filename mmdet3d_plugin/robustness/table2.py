"""MetaBEV's Table-2 layout: zero-shot and in-domain scores side by side per setting.

*Zero-shot*: the model trained clean, evaluated under each corruption (the study's records).
*In-domain*: for a corruption, the model trained with it (``add_training_corruption``),
evaluated under the same settings. One row per setting of the zero-shot study; each metric kind
gets a ``zero-shot`` and an ``in-domain`` column, plus the in-domain gain. Settings without an
in-domain checkpoint (and the clean row) show ``—`` in Markdown, empty cells in CSV and null in
JSON. Files: ``<name>.md``, ``.csv``, ``.json`` (written atomically).
"""
import csv
import io
import json
import os.path as osp
from typing import Dict, Optional, Sequence

from mmdet3d_plugin.utils.atomic_io import atomic_path
from .report import DISPLAY_NAMES, metric_columns
from .settings import CLEAN, format_severity

MISSING = '—'


def _cell(record: Optional[dict], key: str):
    """(value or None, status text) of one record's metric."""
    if record is None:
        return None, MISSING
    if record['status'] != 'ok':
        return None, record['status']
    value = (record.get('metrics') or {}).get(key)
    return value, ('' if value is None else f'{value:.4f}')


def table2_rows(zero_shot: Sequence[dict], in_domain: Dict[str, Sequence[dict]],
                checkpoints: Optional[Dict[str, str]] = None,
                suffixes: Optional[Sequence[str]] = None) -> dict:
    """The table as plain data (what the JSON file holds).

    Args:
        zero_shot (Sequence[dict]): Records of the clean-trained model's study
            (``RobustnessStudy.run``), clean first.
        in_domain (dict): Corruption name -> records of the model trained with it (its
            settings of that corruption only).
        checkpoints (dict, optional): Corruption name -> in-domain checkpoint path.
        suffixes (Sequence[str], optional): Extra metric kinds (see ``metric_columns``).

    Returns:
        dict: ``columns`` (label, key) and ``rows``, each with ``setting``, ``corruption``,
        ``severity``, ``in_domain_checkpoint`` (None if none) and per column label
        ``{'zero_shot': v, 'in_domain': v, 'gain': v, 'zero_shot_status': s,
        'in_domain_status': s}`` (v None where missing).
    """
    every = list(zero_shot) + [r for records in in_domain.values() for r in records]
    columns = metric_columns(every, suffixes)
    by_setting = {name: {r['setting']: r for r in records} for name, records in in_domain.items()}
    rows = []
    for record in zero_shot:
        corruption = record.get('corruption')
        trained = (by_setting.get(corruption, {}).get(record['setting'])
                   if record['setting'] != CLEAN else None)
        row = dict(setting=record['setting'],
                   corruption=DISPLAY_NAMES.get(corruption, corruption or CLEAN),
                   severity=format_severity(record.get('severity')),
                   in_domain_checkpoint=(checkpoints or {}).get(corruption) if trained else None,
                   metrics={})
        for column in columns:
            zero, zero_status = _cell(record, column.key)
            ind, ind_status = _cell(trained, column.key)
            gain = None if zero is None or ind is None else ind - zero
            row['metrics'][column.label] = dict(zero_shot=zero, in_domain=ind, gain=gain,
                                                zero_shot_status=zero_status,
                                                in_domain_status=ind_status)
        rows.append(row)
    return dict(columns=[dict(label=c.label, key=c.key) for c in columns], rows=rows)


def format_table2_markdown(table: dict, title: str = 'Robustness: zero-shot vs in-domain',
                           header_lines: Sequence[str] = ()) -> str:
    """Markdown: per metric ``zero-shot | in-domain | gain`` columns (see the module doc)."""
    labels = [column['label'] for column in table['columns']]
    head = ['setting', 'corruption', 'severity']
    for label in labels:
        head += [f'{label} zero-shot', f'{label} in-domain', f'{label} gain']
    lines = [f'# {title}', '']
    if header_lines:
        lines += [f'{line}  ' for line in header_lines] + ['']
    lines += ['| ' + ' | '.join(head) + ' |', '|---|---|---|' + '---:|' * (3 * len(labels))]
    for row in table['rows']:
        cells = [row['setting'], row['corruption'], row['severity']]
        for label in labels:
            metric = row['metrics'][label]
            gain = metric['gain']
            cells += [metric['zero_shot_status'], metric['in_domain_status'],
                      MISSING if gain is None else f'{gain:+.4f}']
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def format_table2_csv(table: dict) -> str:
    """CSV: full precision, empty cells where a value is missing, the metric key in each
    column header (``label zero-shot [key]``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    head = ['setting', 'corruption', 'severity', 'in-domain checkpoint']
    for column in table['columns']:
        label, key = column['label'], column['key']
        head += [f'{label} zero-shot [{key}]', f'{label} in-domain [{key}]', f'{label} gain']
    writer.writerow(head)
    for row in table['rows']:
        cells = [row['setting'], row['corruption'], row['severity'],
                 row['in_domain_checkpoint'] or '']
        for column in table['columns']:
            metric = row['metrics'][column['label']]
            cells += ['' if metric[part] is None else repr(metric[part])
                      for part in ('zero_shot', 'in_domain', 'gain')]
        writer.writerow(cells)
    return buffer.getvalue()


def write_table2(zero_shot: Sequence[dict], in_domain: Dict[str, Sequence[dict]], work_dir: str,
                 checkpoints: Optional[Dict[str, str]] = None, name: str = 'table2',
                 header_lines: Sequence[str] = (),
                 suffixes: Optional[Sequence[str]] = None) -> Dict[str, str]:
    """Write ``<work_dir>/<name>.md``, ``.csv`` and ``.json``.

    Returns:
        dict: ``{'md': path, 'csv': path, 'json': path}``.
    """
    table = table2_rows(zero_shot, in_domain, checkpoints, suffixes)
    paths = {ext: osp.join(work_dir, f'{name}.{ext}') for ext in ('md', 'csv', 'json')}
    texts = dict(md=format_table2_markdown(table, header_lines=header_lines),
                 csv=format_table2_csv(table),
                 json=json.dumps(table, indent=1, ensure_ascii=False) + '\n')
    for ext, text in texts.items():
        with atomic_path(paths[ext]) as tmp, open(tmp, 'w', newline='', encoding='utf-8') as f:
            f.write(text)
    return paths
