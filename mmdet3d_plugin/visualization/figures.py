"""Figure helpers shared by the views: atomic PNG output and class legend handles."""
from typing import Sequence

from ..utils.atomic_io import atomic_path
from .palettes import class_color


def save_png(fig, out_path: str, dpi: int) -> None:
    """Save a matplotlib ``Figure`` to ``out_path`` as PNG through a temporary file, so an
    interrupted render never leaves a half-written PNG."""
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=dpi, format='png')


def class_handles(names: Sequence, linestyle: str = '-') -> list:
    """Legend handles (coloured lines) of detection classes (``None`` = other)."""
    from matplotlib.lines import Line2D
    return [Line2D([], [], color=class_color(n), linewidth=2, linestyle=linestyle,
                   label=n or 'other') for n in names]
