"""Side-by-side tables of several models under the same robustness settings (claim checks)."""
from typing import Dict, List, Optional, Sequence

from .report import METRIC_KINDS, relative_change
from .settings import CLEAN

#: Default columns of a comparison.
COMPARISON_KINDS = ('NDS', 'mAP', 'map mIoU')
#: Display names of the settings a comparison usually holds.
SETTING_TITLES = {CLEAN: 'clean (camera + LiDAR)', 'missing_lidar': 'Missing LiDAR',
                  'missing_camera': 'Missing Camera'}


def pick_metric(metrics: Dict[str, float], kind: str) -> Optional[float]:
    """The value of the first metric key of ``kind`` (a label of ``METRIC_KINDS``), or None."""
    matches = dict(METRIC_KINDS)[kind]
    return next((value for key, value in metrics.items() if matches(key)), None)


def _fmt(value: Optional[float], spec: str) -> str:
    return 'n/a' if value is None else format(value, spec)


def format_comparison(results: Dict[str, Dict[str, Dict[str, float]]],
                      settings: Sequence[str], header: Sequence[str] = (),
                      kinds: Sequence[str] = COMPARISON_KINDS) -> Dict[str, str]:
    """Markdown and CSV tables of ``results[model][setting] = metrics``.

    Each metric is followed by its change relative to the same model's clean value, in %.

    Args:
        results: Per model, per setting (``Setting.name``; must include ``'clean'``), the
            metrics dict of the evaluation.
        settings: Row order.
        header: Markdown lines above the table.
        kinds: Metric kinds (labels of ``METRIC_KINDS``) as columns.

    Returns:
        dict: ``{'md': str, 'csv': str}``.
    """
    lines = list(header) + ['', '| setting | model | ' + ' | '.join(
        f'{k} | {k} vs clean' for k in kinds) + ' |', '|---|---|' + '---:|---:|' * len(kinds)]
    csv: List[str] = ['setting,model,' + ','.join(f'{k},{k} vs clean (%)' for k in kinds)]
    for setting in settings:
        for model, per_setting in results.items():
            cells, csv_cells = [], []
            for kind in kinds:
                value = pick_metric(per_setting.get(setting, {}), kind)
                rel = (None if setting == CLEAN else relative_change(
                    value, pick_metric(per_setting.get(CLEAN, {}), kind)))
                relative = '' if setting == CLEAN else ('n/a' if rel is None else f'{rel:+.1f} %')
                cells += [_fmt(value, '.4f'), relative]
                csv_cells += ['' if value is None else f'{value:.6g}',
                              '' if rel is None else f'{rel:.2f}']
            title = SETTING_TITLES.get(setting, setting)
            lines.append(f'| {title} | {model} | ' + ' | '.join(cells) + ' |')
            csv.append(f'{setting},{model},' + ','.join(csv_cells))
    return dict(md='\n'.join(lines) + '\n', csv='\n'.join(csv) + '\n')
