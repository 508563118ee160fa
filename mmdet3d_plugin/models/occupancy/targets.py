"""Occupancy ground truth as the heads read it off the data samples."""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor


def read_occupancy_targets(data_samples: Sequence, grid_shape: Tuple[int, int, int],
                           mask_key: Optional[str], ignore_index: int, device: torch.device,
                           owner: str) -> Tensor:
    """``(B, X, Y, Z)`` int64 GT labels with ``ignore_index`` outside ``mask_key``.

    Reads ``gt_occ`` (and ``mask_key``, e.g. Occ3D's ``mask_camera``) from each data sample:
    the targets of every occupancy head.

    Raises:
        KeyError / ValueError: naming the sample and the missing or misshapen field.
    """
    rows = []
    for index, sample in enumerate(data_samples):
        if 'gt_occ' not in sample:
            raise KeyError(f"{owner}: data sample {index} has no 'gt_occ' (pack it with "
                           'Pack3DDetBEVInputs keys)')
        gt = torch.as_tensor(sample.gt_occ, device=device).long()
        if tuple(gt.shape) != tuple(grid_shape):
            raise ValueError(f'{owner}: gt_occ of data sample {index} has shape '
                             f'{tuple(gt.shape)}, expected grid_shape {tuple(grid_shape)}')
        if mask_key is not None:
            if mask_key not in sample:
                raise KeyError(f"{owner}: data sample {index} has no '{mask_key}' (mask_key); "
                               'pack it or set mask_key=None')
            mask = torch.as_tensor(sample.get(mask_key), device=device).bool()
            if tuple(mask.shape) != tuple(grid_shape):
                raise ValueError(f"{owner}: '{mask_key}' of data sample {index} has shape "
                                 f'{tuple(mask.shape)}, expected {tuple(grid_shape)}')
            gt = gt.masked_fill(~mask, ignore_index)
        rows.append(gt)
    return torch.stack(rows)
