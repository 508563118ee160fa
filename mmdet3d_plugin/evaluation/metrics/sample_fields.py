"""Reading arrays out of data samples (dicts or mmengine data elements) for the metric wrappers.

mmengine's ``Evaluator`` turns every ``BaseDataElement`` into a nested dict before
``BaseMetric.process`` sees it, but metrics are also called directly with data elements or plain
dicts in tests and scripts, so both are accepted here.
"""
from collections.abc import Mapping
from typing import Any

import numpy as np
from mmengine.structures import BaseDataElement

from .array_checks import to_numpy

#: Where mmdet3d's ``Pack3DDetInputs`` puts test-time annotations (``data_sample.eval_ann_info``).
EVAL_ANN_INFO = 'eval_ann_info'


def _lookup(container: Any, key: str) -> Any:
    """Return ``container[key]`` for mappings, ``container.key`` otherwise; raise KeyError."""
    if isinstance(container, Mapping):
        if key in container:
            return container[key]
        raise KeyError(key)
    if isinstance(container, BaseDataElement) and key in container:
        return getattr(container, key)
    raise KeyError(key)


def _available_keys(container: Any) -> list:
    if isinstance(container, Mapping):
        return sorted(str(k) for k in container.keys())
    if isinstance(container, BaseDataElement):
        return sorted(list(container.keys()) + list(container.metainfo_keys()))
    return []


def get_field(sample: Any, key: str) -> Any:
    """Return the field ``key`` of a data sample, following dotted paths.

    ``'eval_ann_info.gt_occ'`` reads ``sample['eval_ann_info']['gt_occ']``. A plain key that is
    not at the top level is also looked up under ``eval_ann_info`` (where mmdet3d keeps
    test-time ground truth), so ``gt_key='gt_occ'`` works with either layout.

    Args:
        sample: A dict or an mmengine ``BaseDataElement`` (e.g. ``Det3DDataSample``).
        key: Field name or dotted path.

    Returns:
        The stored value (array, tensor, ...).

    Raises:
        KeyError: Naming the missing key and the keys the sample does carry.
    """
    candidates = [key]
    if not key.startswith(EVAL_ANN_INFO + '.'):
        candidates.append(f'{EVAL_ANN_INFO}.{key}')
    for path in candidates:
        value = sample
        try:
            for part in path.split('.'):
                value = _lookup(value, part)
        except KeyError:
            continue
        return value
    raise KeyError(f'data sample has no field {key!r} (also looked under {EVAL_ANN_INFO!r}); '
                   f'its keys are {_available_keys(sample)}')


def get_array(sample: Any, key: str) -> np.ndarray:
    """Return ``get_field(sample, key)`` as a numpy array (see :func:`get_field`)."""
    return to_numpy(get_field(sample, key), key)
