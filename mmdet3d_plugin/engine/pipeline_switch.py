"""``WrappedPipelineSwitchHook``: mmdet's ``PipelineSwitchHook`` through dataset wrappers.

BEVFusion's LiDAR recipe stops GT-paste for the last epochs (the train pipeline without
``ObjectSample`` from ``switch_epoch`` on). mmdet's ``PipelineSwitchHook`` assigns the new
pipeline to ``train_dataloader.dataset.pipeline``; under ``CBGSDataset`` (or any wrapper) that
is an attribute of the wrapper, which never reads it, so training would go on pasting. mmdet3d's
``DisableObjectSampleHook`` unwraps one level but fires only at ``epoch == disable_after_epoch``,
so a run resumed after that epoch pastes again. This hook is mmdet's (same arguments, same
restart of persistent workers) with the pipeline set on the innermost dataset (following
``.dataset`` through wrappers) and applied at every epoch ``>= switch_epoch``, resumed runs
included.
"""
from mmcv.transforms import Compose
from mmdet.engine.hooks import PipelineSwitchHook

from mmdet3d_plugin.registry import HOOKS


def innermost_dataset(dataset):
    """The dataset under every wrapper (``CBGSDataset``, ``ClassBalancedDataset``, ...)."""
    while not hasattr(dataset, 'pipeline') and hasattr(dataset, 'dataset'):
        dataset = dataset.dataset
    return dataset


@HOOKS.register_module()
class WrappedPipelineSwitchHook(PipelineSwitchHook):
    """Switch the (possibly wrapped) training dataset's pipeline at ``switch_epoch``.

    Args:
        switch_epoch (int): First epoch (0-based, ``runner.epoch``) run with the new pipeline.
        switch_pipeline (list[dict]): The pipeline to switch to.
    """

    def before_train_epoch(self, runner) -> None:
        """Switch once ``runner.epoch >= switch_epoch``; restart persistent workers."""
        loader = runner.train_dataloader
        if runner.epoch >= self.switch_epoch and not self._has_switched:
            dataset = innermost_dataset(loader.dataset)
            runner.logger.info(f'WrappedPipelineSwitchHook: epoch {runner.epoch}: switching '
                               f'the pipeline of {type(dataset).__name__}')
            dataset.pipeline = Compose(self.switch_pipeline)
            if getattr(loader, 'persistent_workers', False) is True:
                # workers hold a copy of the old pipeline: make the loader start new ones
                loader._DataLoader__initialized = False
                loader._iterator = None
                self._restart_dataloader = True
            self._has_switched = True
        elif self._restart_dataloader:
            loader._DataLoader__initialized = True
