"""mmengine's Runner with safe checkpoint loading (``load_from``, ``resume``, auto-resume)."""
from typing import Callable, Sequence, Tuple, Union

import torch
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import (CheckpointLoader, _load_checkpoint,
                                        _load_checkpoint_to_model, load_from_local)

from .safe_load import is_trusted, load_checkpoint_file, safe_globals


class SafeCheckpointRunner(Runner):
    """``mmengine.runner.Runner`` whose :meth:`load_checkpoint` loads local files with
    :func:`~mmdet3d_plugin.engine.safe_load.load_checkpoint_file`.

    mmengine reads every checkpoint of a run through ``Runner.load_checkpoint``
    (``load_or_resume`` for ``load_from``, ``resume`` for an explicit or automatic resume), so
    overriding that one method covers them all without replacing mmengine's global
    ``CheckpointLoader`` scheme for local paths (which would need ``force=True``). Remote paths
    (``https://``, ``open-mmlab://``, ...) keep mmengine's loaders, still weights-only (torch's
    default) with the same allow-list. Not registered: :func:`~mmdet3d_plugin.engine.build_runner`
    builds it for every config without ``runner_type``; a config naming another runner gets
    torch's plain weights-only loading (mmengine checkpoints then need that runner to subclass
    this one).

    Attributes:
        trusted_checkpoints (tuple[str]): Paths fully unpickled (``--trust-checkpoint``);
            set by :func:`~mmdet3d_plugin.engine.build_runner`.
    """

    trusted_checkpoints: Tuple[str, ...] = ()

    def load_checkpoint(self, filename: str, map_location: Union[str, Callable] = 'cpu',
                        strict: bool = False,
                        revise_keys: Sequence[Tuple[str, str]] = ((r'^module.', ''),)) -> dict:
        """Load ``filename`` safely into the model (as mmengine's ``Runner.load_checkpoint``).

        Args:
            filename (str): Local path or mmengine checkpoint URL.
            map_location (str | Callable): As for ``torch.load``.
            strict (bool): Require the keys to match exactly.
            revise_keys (Sequence[tuple]): ``(pattern, replacement)`` key rewrites.

        Returns:
            dict: The checkpoint.

        Raises:
            CheckpointError / UnsafeCheckpointError: See ``load_checkpoint_file``.
        """
        if CheckpointLoader._get_checkpoint_loader(filename) is load_from_local:
            checkpoint = load_checkpoint_file(
                filename, map_location,
                trusted=is_trusted(filename, self.trusted_checkpoints))
        else:
            with torch.serialization.safe_globals(safe_globals()):
                checkpoint = _load_checkpoint(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict,
                                               revise_keys=list(revise_keys))
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint
