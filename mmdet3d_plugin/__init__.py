"""Drive3D: autonomous-driving 3D perception methods as mmdet3d plugin modules.

Importing the package is cheap; modules register themselves lazily through the registries in
:mod:`mmdet3d_plugin.registry` (or all at once with
:func:`mmdet3d_plugin.utils.register_all_modules`).
"""
from .version import __version__

__all__ = ['__version__']
