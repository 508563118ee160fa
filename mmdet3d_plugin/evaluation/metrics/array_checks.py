"""Input conversion and validation shared by the functional metric cores (numpy and torch only)."""
from typing import Any, Optional, Tuple

import numpy as np
import torch


def to_numpy(value: Any, name: str) -> np.ndarray:
    """Return ``value`` (tensor on any device, array or nested list) as a numpy array.

    Args:
        value: A ``torch.Tensor``, ``np.ndarray`` or anything ``np.asarray`` accepts.
        name: What the value is (argument or data-sample key), used in error messages.

    Returns:
        np.ndarray: The values on the CPU, same shape.

    Raises:
        TypeError: If ``value`` is ``None`` or a string.
    """
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    if value is None or isinstance(value, str):
        raise TypeError(f'{name!r} must be an array or tensor, got {type(value).__name__}')
    return np.asarray(value)


def check_shape(array: np.ndarray, expected: Tuple[int, ...], name: str, reference: str) -> None:
    """Raise ValueError unless ``array.shape == expected`` (the shape of ``reference``)."""
    if tuple(array.shape) != tuple(expected):
        raise ValueError(f'{name} has shape {tuple(array.shape)} but must match {reference} '
                         f'with shape {tuple(expected)}')


def check_integer_labels(array: np.ndarray, name: str) -> None:
    """Raise TypeError unless ``array`` holds integer (or bool) class labels."""
    if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        raise TypeError(f'{name} must hold integer class labels, got dtype {array.dtype} '
                        '(take the argmax of scores before evaluating)')


def check_label_range(labels: np.ndarray, num_classes: int, name: str) -> None:
    """Raise ValueError if a label lies outside ``[0, num_classes)``."""
    if labels.size == 0:
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        raise ValueError(f'{name} has labels in [{low}, {high}] but num_classes is {num_classes}; '
                         'labels must lie in [0, num_classes) outside the ignored/masked voxels')


def as_bool_mask(mask: Any, expected: Tuple[int, ...], name: str,
                 reference: str) -> Optional[np.ndarray]:
    """Return ``mask`` as a bool array of shape ``expected`` (``None`` stays ``None``).

    Args:
        mask: Bool or 0/1 array/tensor, or ``None``.
        expected: Required shape.
        name: Name of the mask in error messages.
        reference: Name of the array whose shape the mask must match.

    Returns:
        np.ndarray | None: Bool array of shape ``expected``.
    """
    if mask is None:
        return None
    mask = to_numpy(mask, name)
    check_shape(mask, expected, name, reference)
    return mask.astype(bool, copy=False)
