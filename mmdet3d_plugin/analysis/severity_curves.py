"""Severity curves of several models overlaid: each metric relative to the model's clean score,
mean over seeds with ± one standard deviation as error bars (one PNG)."""
from typing import Mapping, Optional, Sequence, Tuple

from mmdet3d_plugin.datasets.transforms.corruptions import CORRUPTION_SPECS, CORRUPTION_SUITE
from mmdet3d_plugin.robustness.report import DISPLAY_NAMES, save_figure
from mmdet3d_plugin.robustness.settings import Setting, format_severity
from .seed_stats import SeedResults, aggregate


def graded_panels(settings: Sequence[Setting]) -> Tuple[list, list]:
    """Split ``settings`` into graded corruptions (in suite order, each with its severities) and
    single-setting ones (Missing Camera / LiDAR); clean is left out."""
    graded, singles = [], []
    for name in CORRUPTION_SUITE:
        chosen = [s for s in settings if s.corruption == name]
        if not chosen:
            continue
        if CORRUPTION_SPECS[name].argument is None:
            singles.extend(chosen)
        else:
            graded.append((name, chosen))
    return graded, singles


def plot_severity_curves(results: Mapping[str, SeedResults], settings: Sequence[Setting],
                         metrics: Sequence[Tuple[str, str]], path: str,
                         title: str = 'Severity curves (relative to clean, mean ± std over '
                         'seeds)', baseline: Optional[float] = 1.0) -> None:
    """Write the curves PNG (matplotlib, Agg).

    One row per metric, one panel per graded corruption (x: severities from mild to severe as in
    the suite; y: value / clean of the same seed, averaged over seeds, error bars ± 1 std), plus
    one grouped-bar panel for the single-setting corruptions.

    Args:
        results: ``{model: {seed: {setting name: metrics}}}``.
        settings: The evaluated settings (clean excluded or not; it is skipped).
        metrics: ``(label, metric key)`` rows, e.g. ``[('NDS', '.../NDS')]``.
        path: Output ``.png`` (written atomically).
        title: Figure title.
        baseline: Where a dashed 'as clean' line goes (None: no line).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    graded, singles = graded_panels(settings)
    num_cols = max(1, len(graded) + (1 if singles else 0))
    fig, axes = plt.subplots(max(1, len(metrics)), num_cols,
                             figsize=(3.0 * num_cols, 2.5 * max(1, len(metrics))), squeeze=False)
    models = list(results)
    for row, (label, key) in enumerate(metrics):
        for col, (name, chosen) in enumerate(graded):
            ax = axes[row][col]
            for index, model in enumerate(models):
                stats = [aggregate(results[model], s.name, key, relative=True) for s in chosen]
                xs = [i for i, st in enumerate(stats) if st is not None]
                ax.errorbar([x + 0.06 * (index - len(models) / 2) for x in xs],
                            [stats[i].mean for i in xs], yerr=[stats[i].std for i in xs],
                            marker='o', markersize=3, capsize=2, linewidth=1,
                            color=f'C{index}', label=model)
            ax.set_xticks(range(len(chosen)), [format_severity(s.severity) for s in chosen])
            if baseline is not None:
                ax.axhline(baseline, color='gray', linestyle='--', linewidth=0.8)
            ax.set_ylim(bottom=0)
            ax.set_title(DISPLAY_NAMES.get(name, name), fontsize=9)
            ax.set_xlabel(CORRUPTION_SPECS[name].argument, fontsize=8)
            ax.set_ylabel(f'{label} / clean' if col == 0 else '', fontsize=8)
            ax.tick_params(labelsize=7)
        if singles:
            ax = axes[row][len(graded)]
            width = 0.8 / max(1, len(models))
            for index, model in enumerate(models):
                stats = [aggregate(results[model], s.name, key, relative=True) for s in singles]
                ax.bar([i + width * index for i in range(len(singles))],
                       [0.0 if st is None else st.mean for st in stats], width,
                       yerr=[0.0 if st is None else st.std for st in stats], capsize=2,
                       color=f'C{index}', label=model)
            ax.set_xticks([i + width * (len(models) - 1) / 2 for i in range(len(singles))],
                          [DISPLAY_NAMES.get(s.corruption, s.corruption) for s in singles],
                          rotation=15)
            if baseline is not None:
                ax.axhline(baseline, color='gray', linestyle='--', linewidth=0.8)
            ax.set_title('missing sensor', fontsize=9)
            ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    save_figure(fig, path, title)
