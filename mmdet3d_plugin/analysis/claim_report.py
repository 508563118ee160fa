"""Markdown tables of a multi-seed claim check (every cell ``mean ± std`` over seeds).

Inputs are plain dicts, ``{model: {seed: {setting: metrics}}}`` (:data:`SeedResults` per model),
so any method's claim check can reuse the tables: the settings table (absolute values and values
relative to the same seed's clean score), zero-shot vs in-domain, per-class breakdowns, and
simple key-value tables (sweeps, convergence).
"""
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from mmdet3d_plugin.robustness.comparison import SETTING_TITLES
from mmdet3d_plugin.robustness.report import METRIC_KINDS
from .seed_stats import SeedResults, aggregate, class_value, find_key, per_class_keys, seed_stat

#: (label, key matcher) of the columns of the claim tables.
KINDS = tuple((label, match) for label, match in METRIC_KINDS if label != 'mIoU')


def metric_keys(results: Mapping[str, SeedResults],
                kinds: Sequence[Tuple[str, object]] = KINDS) -> List[Tuple[str, str]]:
    """``(label, key)`` of every kind some model reports (the first key of each kind)."""
    found = []
    for label, match in kinds:
        for per_model in results.values():
            key = find_key(per_model, match)
            if key:
                found.append((label, key))
                break
    return found


def _cell(stat, spec: str) -> str:
    return '—' if stat is None else stat.format(spec)


def _spec(label: str) -> str:
    return '.2f' if 'IoU' in label else '.3f'


def settings_table(results: Mapping[str, SeedResults], settings: Sequence[str],
                   relative: bool = True) -> List[str]:
    """Rows ``(setting, model)``; per metric its mean ± std and, off clean, the mean ± std of
    ``value / clean`` (each seed against its own clean score)."""
    keys = metric_keys(results)
    header = '| setting | model | ' + ' | '.join(
        f'{label}' + (f' | {label} / clean' if relative else '') for label, _ in keys) + ' |'
    lines = [header, '|---|---|' + ('---:|' * (2 if relative else 1)) * len(keys)]
    for setting in settings:
        for model, per_model in results.items():
            if not any(setting in per_seed for per_seed in per_model.values()):
                continue
            cells = []
            for label, key in keys:
                cells.append(_cell(aggregate(per_model, setting, key), _spec(label)))
                if relative:
                    cells.append('' if setting == 'clean' else
                                 _cell(aggregate(per_model, setting, key, relative=True), '.2f'))
            title = SETTING_TITLES.get(setting, setting)
            lines.append(f'| {title} | {model} | ' + ' | '.join(cells) + ' |')
    return lines


def in_domain_table(zero_shot: Mapping[str, SeedResults], in_domain: Mapping[str, SeedResults],
                    settings: Sequence[str]) -> List[str]:
    """Rows ``(setting, model)``; per metric the zero-shot (trained clean) and the in-domain
    (trained with the corruption) mean ± std side by side (the paper's Table-2 layout)."""
    keys = metric_keys(zero_shot)
    lines = ['| setting | model | ' + ' | '.join(
        f'{label} zero-shot | {label} in-domain' for label, _ in keys) + ' |',
        '|---|---|' + '---:|---:|' * len(keys)]
    for setting in settings:
        for model in in_domain:
            cells = []
            for label, key in keys:
                cells.append(_cell(aggregate(zero_shot.get(model, {}), setting, key),
                                   _spec(label)))
                cells.append(_cell(aggregate(in_domain[model], setting, key), _spec(label)))
            lines.append(f'| {SETTING_TITLES.get(setting, setting)} | {model} | '
                         + ' | '.join(cells) + ' |')
    return lines


def per_class_table(results: Mapping[str, SeedResults], kind: str,
                    setting: str = 'clean') -> List[str]:
    """Rows: classes of ``kind`` (``'AP'``: detection AP averaged over the distance thresholds;
    ``'IoU'``: map IoU); columns: models (mean ± std over seeds) under ``setting``."""
    classes: Dict[str, Sequence[str]] = {}
    for per_model in results.values():
        for per_seed in per_model.values():
            for name, keys in per_class_keys(per_seed.get(setting, {}))[kind].items():
                classes.setdefault(name, keys)
    if not classes:
        return []
    models = list(results)
    spec = '.2f' if kind == 'IoU' else '.3f'
    lines = [f'| class ({kind}) | ' + ' | '.join(models) + ' |', '|---|' + '---:|' * len(models)]
    for name, keys in classes.items():
        cells = []
        for model in models:
            values = [class_value(per_seed.get(setting, {}), keys)
                      for per_seed in results[model].values()]
            cells.append(_cell(seed_stat(values), spec))
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return lines


def value_table(header: Sequence[str], rows: Sequence[Sequence[Optional[object]]]) -> List[str]:
    """A plain Markdown table; None cells print as '—', floats with 4 significant digits."""
    def fmt(value):
        if value is None:
            return '—'
        return f'{value:.4g}' if isinstance(value, float) else str(value)

    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(fmt(v) for v in row) + ' |' for row in rows]
    return lines
