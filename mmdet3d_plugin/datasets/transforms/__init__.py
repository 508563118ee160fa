"""Data transforms (loading, augmentation, sensor corruptions, formatting)."""
from .corruptions import *  # noqa: F401,F403
from .corruptions import __all__ as _corruption_names

__all__ = list(_corruption_names)
