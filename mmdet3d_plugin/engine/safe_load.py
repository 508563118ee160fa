"""Safe checkpoint loading: weights-only unpickling with a short allow-list, one clear error.

``torch.load`` with full unpickling runs whatever callables a checkpoint's pickle names (a
downloaded ``.pth`` can run ``os.system``). Every checkpoint load in Drive3D (the Runner's
``load_from`` / ``resume`` through :class:`~mmdet3d_plugin.engine.runner.SafeCheckpointRunner`,
the robustness study, the prediction pictures) goes through :func:`load_checkpoint_file`,
which unpickles with ``weights_only=True`` and allows, besides tensors and plain containers,
only what mmengine checkpoints hold (measured with
``torch.serialization.get_unsafe_globals_in_checkpoint`` on toy, MetaBEV, BEVFusion and
PointPillars runs):

* ``message_hub.log_scalars``: mmengine ``HistoryBuffer`` objects holding numpy arrays
  (``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype`` and the per-type
  dtype classes such as ``numpy.dtypes.Float64DType``) and their statistics methods, which
  pickle as ``builtins.getattr(HistoryBuffer, 'min' | 'max' | 'current' | 'mean')``;
* numpy scalars (``numpy.core.multiarray.scalar``);
* ``param_schedulers`` of a one-cycle schedule (the cyclic configs): ``anneal_func``, pickled
  as ``builtins.getattr(OneCycleParamScheduler, '_annealing_cos' | '_annealing_linear')``.

``builtins.getattr`` itself would let a pickle walk from any allowed object to ``eval``, so the
name is bound to :func:`_allowed_getattr`, which returns only the attributes of
:func:`allowed_attributes` and refuses everything else (the two classes are allowed as
values; building one from a pickle runs no code of the pickle's choosing). A checkpoint that
needs any other global is refused with an
:class:`UnsafeCheckpointError` naming the file, the global(s) and ``--trust-checkpoint``, the
explicit opt-in (``trusted=True``) that fully unpickles one file the user trusts. An empty,
truncated, corrupt or foreign file gives one :class:`CheckpointError` naming the file and the
problem. The allow-list is active only inside each load (``torch.serialization.safe_globals``),
never added process-wide.
"""
import os.path as osp
import pickle
from functools import lru_cache
import re
import zipfile
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log

_ZIP_MAGIC = b'PK\x03\x04'
# pickle protocol 2 of torch.save's magic number 0x1950a86a20f9469cfc6c (pre-1.6 format)
_LEGACY_MAGIC = b'\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19'
_TRUST_HINT = ('If you trust this file (you made it or got it from a source you trust), load it '
               'with --trust-checkpoint (Python: trusted=True), which fully unpickles it.')


class CheckpointError(ValueError):
    """A checkpoint file that cannot be loaded: empty, truncated, corrupt or not a checkpoint."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint whose pickle needs globals outside the safe-loading allow-list."""


@lru_cache(maxsize=None)
def allowed_attributes() -> Dict[type, Tuple[str, ...]]:
    """``{class: attribute names}`` that mmengine checkpoints pickle as
    ``getattr(class, name)``: HistoryBuffer's statistics methods and the one-cycle schedule's
    annealing function."""
    from mmengine.logging import HistoryBuffer
    from mmengine.optim.scheduler.param_scheduler import OneCycleParamScheduler
    return {HistoryBuffer: ('min', 'max', 'current', 'mean'),
            OneCycleParamScheduler: ('_annealing_cos', '_annealing_linear')}


def _allowed_getattr(owner, name: str) -> Callable:
    """Stands in for ``builtins.getattr`` while unpickling: only :func:`allowed_attributes`."""
    if name in allowed_attributes().get(owner, ()):
        return getattr(owner, name)
    raise pickle.UnpicklingError(
        f'Unsupported global: GLOBAL builtins.getattr on ({owner!r}, {name!r}) was not an '
        'allowed global by default (only mmengine statistics / annealing functions are)')


def safe_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """The non-tensor globals an mmengine checkpoint may hold (see the module docstring), in
    the form ``torch.serialization.safe_globals`` takes."""
    import numpy as np
    multiarray = np.core.multiarray if hasattr(np, 'core') else np._core.multiarray
    numeric = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
               np.uint32, np.uint64, np.float16, np.float32, np.float64, np.longdouble,
               np.complex64, np.complex128)
    dtype_classes = sorted({type(np.dtype(t)) for t in numeric}, key=lambda c: c.__name__)
    return [*allowed_attributes(), (_allowed_getattr, 'builtins.getattr'),
            (multiarray._reconstruct, f'{multiarray.__name__}._reconstruct'),
            (multiarray.scalar, f'{multiarray.__name__}.scalar'), np.ndarray, np.dtype,
            *[c for c in dtype_classes if c is not np.dtype]]


def add_trust_checkpoint_argument(parser, what: str = 'CHECKPOINT') -> None:
    """Add the tools' ``--trust-checkpoint`` flag to an ``argparse`` parser.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
        what (str): The checkpoint(s) the flag trusts, as the help text names them.
    """
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help=f'fully unpickle {what} (it can run code: only for a file you '
                        'trust); default: weights-only loading')


def is_trusted(filename: str, trusted: Sequence[str]) -> bool:
    """Whether ``filename`` is one of the ``trusted`` paths (compared as real paths)."""
    real = osp.realpath(osp.expanduser(str(filename)))
    return any(real == osp.realpath(osp.expanduser(str(t))) for t in trusted)


def _head(path: str) -> bytes:
    with open(path, 'rb') as f:
        return f.read(len(_LEGACY_MAGIC))


def _format_problem(path: str, load_failed: bool = False) -> Optional[str]:
    """What is wrong with the file's format, in a few words, or None if nothing was found.

    A zip archive's directory and every member's CRC are checked (``torch.load`` checks no
    CRC: a flipped byte in a tensor loads silently; reading the CRCs costs about as much as
    the load). A legacy-format file can only be called corrupt once ``load_failed``.
    """
    head = _head(path)
    if head.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            return f'truncated or corrupt torch.save archive ({error})'
        if bad is not None:
            return f'corrupt torch.save archive (member {bad} fails its CRC check)'
        if not any(n == 'data.pkl' or n.endswith('/data.pkl') for n in names):
            return 'a zip archive, but not a torch.save checkpoint (no data.pkl inside)'
        return None
    if head.startswith(_LEGACY_MAGIC):
        return 'truncated or corrupt legacy (pre-1.6) torch.save file' if load_failed else None
    return (f'not a PyTorch checkpoint (it starts with {head[:8]!r}, neither a torch.save zip '
            'archive nor a legacy torch.save file)')


def _unsafe_error(path: str, refused: Sequence[str], reason: str = '') -> UnsafeCheckpointError:
    what = (f'it needs {", ".join(refused)}, outside' if refused else
            f'weights-only unpickling failed ({reason}) under')
    return UnsafeCheckpointError(
        f'checkpoint {path} was refused: {what} the safe-loading allow-list (tensors, '
        'containers, numpy arrays/scalars, what mmengine checkpoints hold); unpickling it could '
        f'run code. {_TRUST_HINT}')


def _load_error(path: str, error: Exception) -> CheckpointError:
    problem = (_format_problem(path, load_failed=True)
               or 'a torch.save archive that could not be unpickled')
    detail = ' '.join(str(error).split())
    detail = detail[:detail.find('. ') + 1 or None][:200]  # torch's first sentence
    return CheckpointError(f'checkpoint {path} cannot be loaded: {problem} '
                           f'({type(error).__name__}: {detail})')


def _checked_path(filename: str) -> str:
    """``filename`` with ``~`` expanded; errors for a missing, empty or damaged file."""
    path = osp.expanduser(str(filename))
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    if osp.getsize(path) == 0:
        raise CheckpointError(f'checkpoint {path} is empty (0 bytes): an interrupted download '
                              'or save? Re-create or re-download it.')
    problem = _format_problem(path)
    if problem:
        raise CheckpointError(f'checkpoint {path} cannot be loaded: {problem}')
    return path


def check_checkpoint_file(filename: str, trusted: bool = False) -> str:
    """Checks before a long job loads ``filename``: it exists, is not empty, is a complete
    torch.save archive whose CRCs match (or a legacy torch.save file) and, unless ``trusted``,
    its pickle names no global outside the allow-list (a static scan of an archive's pickle;
    a legacy file is loaded weights-only).

    Returns:
        str: The path (``~`` expanded).

    Raises:
        FileNotFoundError / CheckpointError / UnsafeCheckpointError: As
        :func:`load_checkpoint_file` would, for the problems these checks see.
    """
    path = _checked_path(filename)
    if trusted:
        return path
    if _head(path).startswith(_ZIP_MAGIC):
        refused = _refused_globals(path, '')
        if refused:
            raise _unsafe_error(path, refused)
    else:  # a legacy file's pickle is not indexed: load it (weights-only), as the job would
        load_checkpoint_file(path, logger='silent')
    return path


def _refused_globals(path: str, message: str) -> List[str]:
    """Globals a weights-only load refused: the torch error's own, then a static scan."""
    found = re.findall(r'GLOBAL (\S+) (?:was not an allowed|whose module)', message)
    # torch's message drops the ``builtins.`` of builtins
    found = [name if '.' in name else f'builtins.{name}' for name in found]
    found += re.findall(r"(?:but got|unrecognized function) <class '([^']+)'>", message)
    try:
        with torch.serialization.safe_globals(safe_globals()):
            found += torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # legacy format or unreadable archive: the message is all we have
        pass
    return sorted(set(found))


def _weights_only_reason(message: str) -> str:
    """The ``WeightsUnpickler error`` sentence of torch's long weights-only message."""
    match = re.search(r'WeightsUnpickler error:\s*(.*?)\s*(?:Check the documentation|$)',
                      message, re.S)
    return ' '.join((match.group(1) if match else message).split())


def load_checkpoint_file(filename: str, map_location: Optional[Union[str, Callable]] = 'cpu',
                         trusted: bool = False, logger: str = 'current') -> dict:
    """Load a local checkpoint safely (weights-only with :func:`safe_globals`).

    Args:
        filename (str): Checkpoint path (``~`` expanded).
        map_location (str | Callable, optional): As for ``torch.load``.
        trusted (bool): Fully unpickle the file (it can run code): only for a file the user
            trusts (``--trust-checkpoint``).
        logger (str): mmengine logger name for the one ``Loads checkpoint`` line.

    Returns:
        dict: The checkpoint (``state_dict``, ``meta``, ``message_hub``, ... or a bare state
        dict).

    Raises:
        FileNotFoundError: No such file.
        UnsafeCheckpointError: The pickle needs a global outside the allow-list (named in the
            message, with the ``--trust-checkpoint`` opt-in); nothing of it was run.
        CheckpointError: The file is empty, truncated, corrupt, not a checkpoint, or holds
            something other than a dict.
    """
    path = _checked_path(filename)
    mode = 'fully unpickled, --trust-checkpoint' if trusted else 'weights only'
    print_log(f'Loads checkpoint by safe local backend ({mode}) from path: {path}',
              logger=logger)
    try:
        if trusted:
            checkpoint = torch.load(path, map_location=map_location, weights_only=False)
        else:
            with torch.serialization.safe_globals(safe_globals()):
                checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        message = str(error)
        refused = _refused_globals(path, message) if not trusted else []
        weights_only_failure = not trusted and 'Weights only load failed' in message
        if refused or (weights_only_failure and not _format_problem(path, load_failed=True)):
            raise _unsafe_error(path, refused, _weights_only_reason(message)) from None
        raise _load_error(path, error) from None
    except Exception as error:  # noqa: B902  a damaged pickle fails with any type (KeyError, ...)
        raise _load_error(path, error) from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'checkpoint {path} holds a {type(checkpoint).__name__}, not a '
                              'checkpoint dict (state_dict / meta / ...)')
    return checkpoint


def load_model_checkpoint(model: torch.nn.Module, filename: str,
                          map_location: Optional[Union[str, Callable]] = 'cpu',
                          strict: bool = False, trusted: bool = False,
                          logger: str = 'current',
                          revise_keys: Sequence[Tuple[str, str]] = ((r'^module\.', ''),)
                          ) -> dict:
    """Safe counterpart of ``mmengine.runner.load_checkpoint``: load ``filename`` with
    :func:`load_checkpoint_file` and copy its ``state_dict`` into ``model``.

    Args:
        model (nn.Module): The model (not wrapped).
        filename (str): Checkpoint path.
        map_location (str | Callable, optional): As for ``torch.load``.
        strict (bool): Require the checkpoint's keys to match the model's exactly.
        trusted (bool): Fully unpickle (``--trust-checkpoint``).
        logger (str): mmengine logger name (``'silent'`` for none).
        revise_keys (Sequence[tuple]): ``(pattern, replacement)`` rewrites of the keys.

    Returns:
        dict: The loaded checkpoint.
    """
    from mmengine.runner.checkpoint import _load_checkpoint_to_model
    checkpoint = load_checkpoint_file(filename, map_location, trusted=trusted, logger=logger)
    return _load_checkpoint_to_model(model, checkpoint, strict, logger=logger,
                                     revise_keys=list(revise_keys))
