"""Validated ``(min, max, step)`` bounds of regular metric grids (BEV rasters, voxel grids)."""
from typing import Sequence, Tuple


def check_bound(bound: Sequence[float], name: str) -> Tuple[float, float, float]:
    """Validate an ``(min, max, step)`` bound whose range holds a whole number of steps.

    Args:
        bound: ``(min, max, step)``.
        name: What the bound is called in error messages (a config key).

    Returns:
        tuple: The bound as three floats.
    """
    values = tuple(float(v) for v in bound)
    if len(values) != 3 or not values[0] < values[1] or values[2] <= 0:
        raise ValueError(f'{name} must be (min, max, step) with min < max and step > 0, got '
                         f'{bound!r}')
    cells = (values[1] - values[0]) / values[2]
    if abs(cells - round(cells)) > 1e-6:
        raise ValueError(f'{name}: (max - min) / step must be an integer, got {cells}')
    return values


def bound_cells(bound: Tuple[float, float, float]) -> int:
    """Number of cells of a validated bound."""
    return int(round((bound[1] - bound[0]) / bound[2]))
