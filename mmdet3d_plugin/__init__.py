"""Drive3D: autonomous-driving 3D perception methods as mmdet3d plugin modules.

Importing the package is cheap; modules register themselves lazily through the registries in
:mod:`mmdet3d_plugin.registry` (or all at once with
:func:`mmdet3d_plugin.utils.register_all_modules`).
"""
import warnings

from .version import __version__

# spconv 2.3 wraps its autograd functions in torch's deprecated ``torch.cuda.amp.custom_fwd/bwd``
# at import time: eight FutureWarnings on every start that no user can act on.
warnings.filterwarnings('ignore', message=r'`torch\.cuda\.amp\.custom_(fwd|bwd)',
                        category=FutureWarning, module=r'spconv\.')

__all__ = ['__version__']
