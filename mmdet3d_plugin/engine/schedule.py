"""Change the length of an epoch-based training schedule (``tools/train.py --max-epochs``)."""
from numbers import Real

from mmengine.config import Config

# keys of an epoch-based parameter scheduler that are counted in epochs
EPOCH_KEYS = ('begin', 'end', 'T_max', 'milestones')


def _scaled(value, factor: float, key: str, where: str):
    if isinstance(value, (list, tuple)):
        return type(value)(_scaled(v, factor, key, where) for v in value)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f'{where}.{key} must be a number of epochs, got {value!r}')
    if value >= 2**30:  # mmengine's "until the end" (INF)
        return value
    return int(round(value * factor))


def set_max_epochs(cfg: Config, max_epochs: int) -> Config:
    """Train ``cfg`` for ``max_epochs`` epochs, stretching its schedule to the new length.

    Changed in place (and returned):

    * ``train_cfg.max_epochs``; ``train_cfg.val_interval`` and the checkpoint hook's
      ``interval`` when they equalled the old length (evaluate/save at the end stays so);
    * every **epoch-based** parameter scheduler (``by_epoch`` true, mmengine's default):
      ``begin``, ``end``, ``T_max`` and ``milestones`` scaled by ``new / old`` and rounded, so
      a one-cycle or cosine schedule keeps its shape. Iteration-based entries (e.g. a linear
      warm-up over 500 iterations) are left as they are.

    Raises:
        ValueError: the config has no epoch-based ``train_cfg`` (``by_epoch`` and
            ``max_epochs``), ``max_epochs`` is not a positive integer, or a scaled scheduler
            would end up empty (``end <= begin``).
    """
    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
        raise ValueError(f'max_epochs must be a positive integer, got {max_epochs!r}')
    train_cfg = cfg.get('train_cfg') or {}
    epoch_based = train_cfg.get('by_epoch', False) or train_cfg.get('type') == 'EpochBasedTrainLoop'
    if not epoch_based or 'max_epochs' not in train_cfg:
        raise ValueError('--max-epochs needs an epoch-based train_cfg (by_epoch=True and '
                         f'max_epochs); the config has train_cfg={dict(train_cfg)!r}')
    old = int(train_cfg['max_epochs'])
    factor = max_epochs / old
    train_cfg['max_epochs'] = max_epochs
    if train_cfg.get('val_interval') == old:
        train_cfg['val_interval'] = max_epochs
    checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
    if checkpoint.get('interval') == old and checkpoint.get('by_epoch', True):
        checkpoint['interval'] = max_epochs

    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    for index, scheduler in enumerate(schedulers):
        if not scheduler.get('by_epoch', True):
            continue
        where = f'param_scheduler[{index}] ({scheduler.get("type")})'
        for key in EPOCH_KEYS:
            if key in scheduler:
                scheduler[key] = _scaled(scheduler[key], factor, key, where)
        begin, end = scheduler.get('begin', 0), scheduler.get('end', 2**31)
        if end <= begin:
            raise ValueError(f'{where} spans epochs {begin}-{end} after scaling {old} -> '
                             f'{max_epochs} epochs; use a longer schedule')
    return cfg
