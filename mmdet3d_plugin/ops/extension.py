"""Loading of Drive3D's optional compiled op extensions (``mmdet3d_plugin.ops.<op>._ext``).

A missing extension is not an import error: the caller falls back to its pure-PyTorch
reference and the user is told once, with the command that builds the kernels.
"""
import importlib
import warnings
from types import ModuleType
from typing import Dict, Optional

_CACHE: Dict[str, Optional[ModuleType]] = {}
_ERRORS: Dict[str, str] = {}
_WARNED = set()

BUILD_HINT = ('build it with `pip install -e . --no-build-isolation` (or `make setup`; '
              'FORCE_CUDA=1 for the CUDA kernels)')


def load_extension(op: str, warn: bool = True, required: bool = False) -> Optional[ModuleType]:
    """Return the compiled module of ``op`` or None when it was not built.

    Args:
        op (str): Op folder name under ``mmdet3d_plugin/ops`` (e.g. ``'bev_pool'``).
        warn (bool): Warn once per op when falling back to the reference.
        required (bool): Raise ``RuntimeError`` instead of returning None.
    """
    if op not in _CACHE:
        try:
            _CACHE[op] = importlib.import_module(f'mmdet3d_plugin.ops.{op}._ext')
        except ImportError as exc:
            _CACHE[op] = None
            _ERRORS[op] = str(exc)
    module = _CACHE[op]
    if module is None:
        reason = f'compiled op {op!r} is not available ({_ERRORS[op]}); {BUILD_HINT}'
        if required:
            raise RuntimeError(reason)
        if warn and op not in _WARNED:
            _WARNED.add(op)
            warnings.warn(f'{reason}. Using the pure-PyTorch reference.', RuntimeWarning,
                          stacklevel=3)
    return module


def extension_status(op: str) -> str:
    """One line for environment reports: ``'compiled (CPU+CUDA)'`` or the import error."""
    module = load_extension(op, warn=False)
    if module is None:
        return f'not built ({_ERRORS[op]})'
    return 'compiled (CPU+CUDA)' if module.with_cuda() else 'compiled (CPU only)'
