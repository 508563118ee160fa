"""The robustness study's report: a Markdown and a CSV table, and a PNG plot.

Columns are found by metric-key suffix, so any model's evaluator works: ``NDS`` and ``mAP``
(mmdet3d's ``NuScenesMetric``: ``NuScenes metric/pred_instances_3d_NuScenes/NDS``), ``map mIoU``
(``BEVMapSegMetric``: ``map/mean/iou@max``), ``Occ3D mIoU`` (``Occ3DMetric``: ``occ3d/mIoU``),
``SSC mIoU`` (``SSCMetric``, nuScenes-Occupancy: ``ssc/SSC_mIoU``) and ``mIoU`` (any other
``.../mIoU``). An occupancy model gets the columns of the metrics its config evaluates (Occ3D
configs: Occ3D mIoU; nuScenes-Occupancy configs: SSC mIoU); ``--metrics geometry_IoU SC_IoU``
adds the geometry IoUs.
The table lists whichever exist; a kind found under several keys gets one column per key.
Every metric is also given relative to clean, in percent: ``(value - clean) / clean * 100``.
"""
import csv
import io
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from mmdet3d_plugin.datasets.transforms.corruptions import CORRUPTION_SPECS, CORRUPTION_SUITE
from mmdet3d_plugin.utils.atomic_io import atomic_path, write_bytes
from .settings import CLEAN, format_severity


def _last_part(key: str) -> str:
    return key.rsplit('/', 1)[-1]


#: (label, matcher) of the default columns, in table order. A key joins the first kind it
#: matches.
METRIC_KINDS = (
    ('NDS', lambda key: _last_part(key) == 'NDS'),
    ('mAP', lambda key: _last_part(key) == 'mAP'),
    ('map mIoU', lambda key: key.endswith('mean/iou@max')),
    ('Occ3D mIoU', lambda key: key.endswith('occ3d/mIoU')),
    ('SSC mIoU', lambda key: _last_part(key) == 'SSC_mIoU'),
    ('mIoU', lambda key: _last_part(key) == 'mIoU'),
)

#: Display names of the corruptions.
DISPLAY_NAMES = {
    'limited_field': 'Limited Field', 'obstacle_occlusion': 'Obstacle Occlusion',
    'missing_objects': 'Missing Objects', 'beam_reduction': 'Beam Reduction',
    'view_drop': 'View Drop', 'view_noise': 'View Noise', 'missing_camera': 'Missing Camera',
    'missing_lidar': 'Missing LiDAR'
}


@dataclass(frozen=True)
class MetricColumn:
    """A table column: its header ``label`` and the metric ``key`` it reads."""

    label: str
    key: str


def metric_columns(records: Sequence[dict],
                   suffixes: Optional[Sequence[str]] = None) -> List[MetricColumn]:
    """The metric columns of a study.

    Args:
        records (Sequence[dict]): Study records (``RobustnessStudy.run``).
        suffixes (Sequence[str], optional): Extra kinds, each matching the metric keys that
            end with it (e.g. ``'Car_3D_AP40_moderate'``); listed after the default kinds.

    Returns:
        list[MetricColumn]: In kind order, keys in order of first appearance.
    """
    kinds: List[tuple] = list(METRIC_KINDS)
    kinds += [(suffix, (lambda s: lambda key: key.endswith(s))(suffix))
              for suffix in (suffixes or ())]
    found: Dict[str, List[str]] = {label: [] for label, _ in kinds}
    for record in records:
        for key in record.get('metrics') or {}:
            for label, matches in kinds:
                if matches(key):
                    if key not in found[label]:
                        found[label].append(key)
                    break
    columns = []
    for label, _ in kinds:
        keys = found[label]
        columns += [MetricColumn(label if len(keys) == 1 else f'{label} ({key})', key)
                    for key in keys]
    return columns


def relative_change(value: Optional[float], clean: Optional[float]) -> Optional[float]:
    """``(value - clean) / clean * 100``; None when either is missing or clean is 0."""
    if value is None or clean is None or clean == 0:
        return None
    return (value - clean) / clean * 100.0


def _clean_metrics(records: Sequence[dict]) -> dict:
    for record in records:
        if record['setting'] == CLEAN and record['status'] == 'ok':
            return record['metrics']
    return {}


def table_rows(records: Sequence[dict], columns: Sequence[MetricColumn]) -> List[dict]:
    """One row per record: ``setting``, ``corruption`` (display name), ``severity``,
    ``status``, ``values`` / ``relative`` (lists aligned with ``columns``, None where missing)
    and ``note`` (the reason for n/a / failed settings, else the insertion note)."""
    clean = _clean_metrics(records)
    rows = []
    for record in records:
        metrics = record.get('metrics') or {}
        values = [metrics.get(column.key) for column in columns]
        relative = [None if record['setting'] == CLEAN else
                    relative_change(value, clean.get(column.key))
                    for value, column in zip(values, columns)]
        corruption = record.get('corruption')
        rows.append(dict(setting=record['setting'],
                         corruption=DISPLAY_NAMES.get(corruption, corruption or CLEAN),
                         severity=format_severity(record.get('severity')),
                         status=record['status'], values=values, relative=relative,
                         note=record.get('reason') or record.get('note') or ''))
    return rows


def _fmt(value: Optional[float], spec: str) -> str:
    return '' if value is None else format(value, spec)


def format_markdown(records: Sequence[dict], columns: Sequence[MetricColumn],
                    title: str = 'Robustness study', header_lines: Sequence[str] = ()) -> str:
    """The Markdown report: a title, ``header_lines`` and the table (values with 4 decimals,
    relative changes with a sign and 1 decimal, ``n/a`` / ``failed`` for settings without
    metrics)."""
    head = ['setting', 'corruption', 'severity']
    for column in columns:
        head += [column.label, f'{column.label} vs clean (%)']
    head.append('note')
    lines = [f'# {title}', '']
    if header_lines:
        lines += [f'{line}  ' for line in header_lines] + ['']
    lines += ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for row in table_rows(records, columns):
        cells = [row['setting'], row['corruption'], row['severity']]
        for value, relative in zip(row['values'], row['relative']):
            if row['status'] != 'ok':
                cells += [row['status'], '']
            else:
                cells += [_fmt(value, '.4f'), _fmt(relative, '+.1f')]
        cells.append(row['note'].replace('|', '\\|'))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def format_csv(records: Sequence[dict], columns: Sequence[MetricColumn]) -> str:
    """The CSV table: full-precision values and relative changes (percent), empty cells where
    missing; the metric key of each column in its header (``label [key]``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    head = ['setting', 'corruption', 'severity', 'status']
    for column in columns:
        head += [f'{column.label} [{column.key}]', f'{column.label} vs clean (%)']
    writer.writerow(head + ['note'])
    for row in table_rows(records, columns):
        cells = [row['setting'], row['corruption'], row['severity'], row['status']]
        for value, relative in zip(row['values'], row['relative']):
            cells += ['' if value is None else repr(value),
                      '' if relative is None else repr(relative)]
        writer.writerow(cells + [row['note']])
    return buffer.getvalue()


def _panels(records: Sequence[dict]) -> List[str]:
    """Graded corruptions with at least one evaluated setting, in suite order."""
    evaluated = {r['corruption'] for r in records if r['status'] == 'ok' and r['corruption']}
    return [name for name in CORRUPTION_SUITE
            if name in evaluated and CORRUPTION_SPECS[name].argument is not None]


def plot_png(records: Sequence[dict], columns: Sequence[MetricColumn], path: str,
             title: str = 'Robustness study') -> None:
    """Write a PNG (matplotlib, Agg): one row per metric column; one panel per graded
    corruption (metric vs severity, the suite's order from mild to severe, clean as a dashed
    line) and one bar panel for the single-setting corruptions (Missing Camera / LiDAR; their
    status where they have no metrics)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    clean = _clean_metrics(records)
    graded = _panels(records)
    singles = [r for r in records if r['corruption']
               and CORRUPTION_SPECS[r['corruption']].argument is None]
    num_cols = max(1, len(graded) + (1 if singles else 0))
    num_rows = max(1, len(columns))
    fig, axes = plt.subplots(num_rows, num_cols, figsize=(3.2 * num_cols, 2.6 * num_rows),
                             squeeze=False)
    if not columns:
        axes[0][0].text(0.5, 0.5, 'no NDS / mAP / mIoU metric found', ha='center')
        axes[0][0].set_axis_off()
    for row, column in enumerate(columns):
        clean_value = clean.get(column.key)
        for col, name in enumerate(graded):
            ax = axes[row][col]
            points = [(format_severity(r['severity']), r['metrics'].get(column.key))
                      for r in records if r['corruption'] == name and r['status'] == 'ok']
            xs = [i for i, (_, value) in enumerate(points) if value is not None]
            ax.plot(xs, [points[i][1] for i in xs], marker='o', color='C0')
            ax.set_xticks(range(len(points)), [label for label, _ in points])
            if clean_value is not None:
                ax.axhline(clean_value, color='gray', linestyle='--', linewidth=1, label='clean')
            if all(value is None or value >= 0 for _, value in points):
                ax.set_ylim(bottom=0)
            ax.set_title(DISPLAY_NAMES[name], fontsize=9)
            ax.set_xlabel(CORRUPTION_SPECS[name].argument, fontsize=8)
            ax.set_ylabel(column.label if col == 0 else '', fontsize=8)
            ax.tick_params(labelsize=7)
        if singles:
            ax = axes[row][len(graded)]
            labels = ['clean'] + [DISPLAY_NAMES[r['corruption']] for r in singles]
            values = [clean_value] + [r['metrics'].get(column.key) for r in singles]
            ax.bar(range(len(labels)), [0.0 if v is None else v for v in values],
                   color=['gray'] + ['C1'] * len(singles))
            for x, single in enumerate(singles, start=1):
                if single['status'] != 'ok':  # 'n/a' / 'failed' where a bar would be
                    ax.text(x, 0, single['status'], ha='center', va='bottom', fontsize=8)
            ax.set_xticks(range(len(labels)), labels, rotation=20)
            ax.set_title('missing sensor', fontsize=9)
            ax.set_ylabel(column.label if not graded else '', fontsize=8)
            ax.tick_params(labelsize=7)
    save_figure(fig, path, title)


def save_figure(fig, path: str, title: str) -> None:
    """Title, lay out, write ``fig`` as a PNG at ``path`` atomically and close it."""
    import matplotlib.pyplot as plt
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=100)
    plt.close(fig)
    write_bytes(path, buffer.getvalue())


def write_report(records: Sequence[dict], work_dir: str, name: str = 'robustness',
                 header_lines: Sequence[str] = (), suffixes: Optional[Sequence[str]] = None,
                 title: str = 'Robustness study') -> Dict[str, str]:
    """Write ``<work_dir>/<name>.md``, ``.csv`` and ``.png`` (atomically).

    Returns:
        dict: ``{'md': path, 'csv': path, 'png': path}``.
    """
    columns = metric_columns(records, suffixes)
    paths = {ext: osp.join(work_dir, f'{name}.{ext}') for ext in ('md', 'csv', 'png')}
    for ext, text in (('md', format_markdown(records, columns, title, header_lines)),
                      ('csv', format_csv(records, columns))):
        with atomic_path(paths[ext]) as tmp, open(tmp, 'w', newline='') as f:
            f.write(text)
    plot_png(records, columns, paths['png'], title)
    return paths
