"""The settings of a robustness study, enumerated from MetaBEV's corruption suite.

A setting is ``clean`` (no corruption) or one corruption of ``CORRUPTION_SUITE`` at one of its
severities; the single-setting corruptions ``missing_camera`` / ``missing_lidar`` have severity
None. Setting names are file-name safe and stable, e.g. ``clean``, ``beam_reduction-16``,
``missing_objects-0.5``, ``missing_lidar``; they name the per-setting result files of a study.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Union

from mmdet3d_plugin.datasets.transforms.corruptions import (CORRUPTION_SPECS, CORRUPTION_SUITE,
                                                            build_corruption)
from mmdet3d_plugin.datasets.transforms.corruptions.suite import Severity

CLEAN = 'clean'
#: ``--severities`` entries without a ``NAME=`` part apply to every selected corruption.
ALL_CORRUPTIONS = '*'


@dataclass(frozen=True)
class Setting:
    """One evaluation setting of a study.

    Attributes:
        corruption (str, optional): A key of ``CORRUPTION_SUITE``; None for the clean setting.
        severity (int | float | None): One of ``CORRUPTION_SUITE[corruption]``.
    """

    corruption: Optional[str] = None
    severity: Severity = None

    @property
    def is_clean(self) -> bool:
        return self.corruption is None

    @property
    def name(self) -> str:
        """File-name safe identifier, e.g. ``'clean'``, ``'view_drop-3'``, ``'missing_lidar'``."""
        if self.corruption is None:
            return CLEAN
        if self.severity is None:
            return self.corruption
        return f'{self.corruption}-{format_severity(self.severity)}'

    def transform(self, seed: int = 0) -> Optional[dict]:
        """The corruption's transform config (None for clean), see ``build_corruption``."""
        if self.corruption is None:
            return None
        return build_corruption(self.corruption, self.severity, seed=seed)


def format_severity(severity: Severity) -> str:
    """``16 -> '16'``, ``0.5 -> '0.5'``, ``1.0 -> '1.0'``, ``None -> ''``."""
    return '' if severity is None else repr(severity)


def all_settings() -> List[Setting]:
    """Every setting of the study: clean, then every corruption at every severity, in the
    suite's order (clean end first within a corruption)."""
    settings = [Setting()]
    for name, severities in CORRUPTION_SUITE.items():
        settings.extend(Setting(name, severity) for severity in severities)
    return settings


def quick_settings() -> List[Setting]:
    """The short preset: clean, Missing LiDAR, Missing Camera, then every other corruption
    once (the middle severity, index ``len // 2`` of the suite's list, of a graded one)."""
    settings = [Setting(), Setting('missing_lidar'), Setting('missing_camera')]
    for name, severities in CORRUPTION_SUITE.items():
        if CORRUPTION_SPECS[name].argument is not None:
            settings.append(Setting(name, severities[len(severities) // 2]))
        elif Setting(name) not in settings:
            settings.append(Setting(name))
    return settings


def check_corruption_names(names: Sequence[str]) -> List[str]:
    """Return ``names`` without duplicates, in the given order.

    Raises:
        ValueError: naming every unknown name and listing the valid ones.
    """
    unknown = [name for name in names if name not in CORRUPTION_SUITE]
    if unknown:
        raise ValueError(f'unknown corruption name(s) {unknown}; valid names: '
                         f'{list(CORRUPTION_SUITE)}')
    return list(dict.fromkeys(names))


def _parse_value(text: str, origin: str) -> Union[int, float]:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ValueError(f'--severities: {origin!r} is not a number') from None


def parse_severities(tokens: Sequence[str]) -> Dict[str, List[Union[int, float]]]:
    """Parse ``--severities`` tokens.

    Args:
        tokens (Sequence[str]): ``'NAME=V[,V...]'`` restricts corruption NAME to those
            severities; a plain ``'V'`` (or ``'V,V'``) applies to every selected corruption.
            E.g. ``['beam_reduction=16,4', 'missing_objects=0.5']`` or ``['4']``.

    Returns:
        dict: corruption name (or ``ALL_CORRUPTIONS``) -> list of severities.

    Raises:
        ValueError: for an unknown corruption name or a value that is not a number.
    """
    parsed: Dict[str, List[Union[int, float]]] = {}
    for token in tokens:
        name, values = token.split('=', 1) if '=' in token else (ALL_CORRUPTIONS, token)
        if name != ALL_CORRUPTIONS:
            check_corruption_names([name])
        parsed.setdefault(name, []).extend(
            _parse_value(value, token) for value in values.split(',') if value.strip())
    return parsed


def _valid(name: str, severity) -> bool:
    try:
        build_corruption(name, severity)
    except ValueError:
        return False
    return True


def select_settings(corruptions: Optional[Sequence[str]] = None,
                    severities: Optional[Dict[str, Sequence]] = None,
                    quick: bool = False) -> List[Setting]:
    """Return the settings of a study: always ``clean`` first, then the selected ones.

    Args:
        corruptions (Sequence[str], optional): Corruption names to evaluate (see
            ``CORRUPTION_SUITE``); None selects all.
        severities (dict, optional): From ``parse_severities``: restricts the severities of the
            named corruptions (``ALL_CORRUPTIONS``: of every selected corruption that has
            severities). Single-setting corruptions (``missing_camera``, ``missing_lidar``)
            ignore it. None keeps every severity.
        quick (bool): Start from ``quick_settings()`` instead of ``all_settings()``; cannot be
            combined with ``severities``.

    Returns:
        list[Setting]: In the suite's order.

    Raises:
        ValueError: for unknown names, a severity no selected corruption has, a selected
            corruption left without any severity (the messages list the valid severities), a
            ``NAME=`` restriction on a corruption that is not selected, or ``quick`` together
            with ``severities``.
    """
    severities = dict(severities or {})
    if quick and severities:
        raise ValueError('--quick picks one severity per corruption; do not combine it with '
                         '--severities')
    selected = check_corruption_names(corruptions) if corruptions else list(CORRUPTION_SUITE)
    graded = [name for name in selected if CORRUPTION_SPECS[name].argument is not None]
    valid_lists = {name: CORRUPTION_SUITE[name] for name in graded}
    for name, values in severities.items():
        if name != ALL_CORRUPTIONS and name not in selected:
            raise ValueError(f'--severities restricts {name!r}, which is not among the '
                             f'selected corruptions {selected}')
        targets = graded if name == ALL_CORRUPTIONS else [name]
        for value in values:
            if not any(_valid(target, value) for target in targets):
                raise ValueError(f'--severities: {value!r} is not a severity of {targets}; '
                                 f'valid severities: {valid_lists}')
    base = quick_settings() if quick else all_settings()
    chosen = []
    for setting in base:
        if setting.is_clean:
            chosen.append(setting)
            continue
        if setting.corruption not in selected:
            continue
        if setting.severity is not None:
            wanted = severities.get(setting.corruption, severities.get(ALL_CORRUPTIONS))
            if wanted is not None and not any(
                    _valid(setting.corruption, value)
                    and build_corruption(setting.corruption, value) == setting.transform()
                    for value in wanted):
                continue
        chosen.append(setting)
    empty = [name for name in graded if name in severities or ALL_CORRUPTIONS in severities
             if not any(setting.corruption == name for setting in chosen)]
    if empty and not quick:
        raise ValueError(f'--severities leaves no severity of {empty}; valid severities: '
                         f'{ {name: valid_lists[name] for name in empty} }')
    return chosen
