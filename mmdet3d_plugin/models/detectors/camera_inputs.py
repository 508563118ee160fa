"""What the camera branch of every detector reads off its data samples.

Shared by the BEV detectors and the occupancy detectors: the per-sample metainfo matrices
stacked into batch tensors, and the LiDAR depth targets of the LSS depth supervision (who is
supervised: every sample that packed ``gt_depth``, except a sample flagged ``camera_missing``
and the views listed in its ``dropped_views``, whose images are blank).
"""
from typing import Sequence, Tuple

import numpy as np
import torch
from mmengine.logging import MMLogger
from torch import Tensor

#: Metainfo keys that mean the identity when a sample lacks them (see ``bev_meta``).
IDENTITY_WHEN_ABSENT = ('img_aug_matrix', 'lidar_aug_matrix')


def stack_meta(data_samples: Sequence, key: str, shape: Tuple[int, ...],
               device: torch.device) -> Tensor:
    """Stack metainfo ``key`` of every sample into a ``(B, *shape)`` float32 tensor.

    Args:
        data_samples: ``B`` data samples.
        key: Metainfo key, e.g. ``'cam2img'`` ``(N, 4, 4)`` or ``'lidar2occ'`` ``(4, 4)``.
        shape: Expected shape of one sample's value.
        device: Device of the result.

    Returns:
        Tensor: ``(B, *shape)``; the identity where a key of :data:`IDENTITY_WHEN_ABSENT` is
        absent.

    Raises:
        KeyError: a sample lacks ``key`` (and it has no identity default), naming it.
        ValueError: a value of the wrong shape, naming the key and the sample.
    """
    rows = []
    for index, sample in enumerate(data_samples):
        value = sample.metainfo.get(key)
        if value is None:
            if key in IDENTITY_WHEN_ABSENT:
                value = np.broadcast_to(np.eye(4), shape)
            else:
                raise KeyError(f"data sample {index} has no metainfo '{key}' (expected "
                               f'{shape}); add it to Pack3DDetBEVInputs meta_keys')
        value = torch.as_tensor(np.asarray(value), dtype=torch.float32)
        if tuple(value.shape) != shape:
            raise ValueError(f"metainfo '{key}' of data sample {index} has shape "
                             f'{tuple(value.shape)}, expected {shape}')
        rows.append(value)
    return torch.stack(rows).to(device)


def camera_matrices(data_samples: Sequence, views: int,
                    device: torch.device) -> Tuple[Tensor, Tensor, Tensor]:
    """``cam2img``, ``lidar2cam`` and ``img_aug_matrix``, each ``(B, N, 4, 4)``."""
    return tuple(stack_meta(data_samples, key, (views, 4, 4), device)
                 for key in ('cam2img', 'lidar2cam', 'img_aug_matrix'))


def depth_targets(depth: Tensor, data_samples: Sequence) -> Tuple[Tensor, Tensor, bool]:
    """The packed LiDAR depth of each sample and which views it supervises.

    Args:
        depth: ``(B, N, D, h, w)`` predicted depth probabilities (for shapes and device).
        data_samples: ``B`` samples; ``gt_depth`` ``(N, h, w)`` where packed.

    Returns:
        tuple: ``(B, N, h, w)`` depth in metres (0 = no return, or not packed), ``(B, N)``
        bool supervised views, and whether any sample packed ``gt_depth``.
    """
    batch, views = depth.shape[:2]
    gt = depth.new_zeros((batch, views) + tuple(depth.shape[3:]))
    valid = torch.zeros((batch, views), dtype=torch.bool, device=depth.device)
    packed = False
    for index, sample in enumerate(data_samples):
        if 'gt_depth' not in sample:
            continue
        packed = True
        gt[index] = sample.gt_depth.to(gt)
        if not sample.metainfo.get('camera_missing', False):
            valid[index] = True
            dropped = [int(v) for v in sample.metainfo.get('dropped_views') or ()]
            valid[index, dropped] = False
    return gt, valid, packed


class DepthSupervisionMixin:
    """``depth_loss`` for detectors whose ``view_transform`` has a LiDAR depth loss.

    The detector sets ``self._warned_depth = False`` in ``__init__``; a batch in which no sample
    packed ``gt_depth`` logs one warning (the depth loss is 0 then).
    """

    def depth_loss(self, depth: Tensor, data_samples: Sequence) -> Tensor:
        """The view transform's depth loss against the packed ``gt_depth`` of each sample.

        Args:
            depth: ``(B, N, D, h, w)`` depth probabilities.
            data_samples: ``B`` samples; ``gt_depth`` ``(N, h, w)`` where packed.

        Returns:
            Tensor: scalar ``loss_depth`` (who is supervised: the module docstring).
        """
        gt, valid, packed = depth_targets(depth, data_samples)
        if not packed and not self._warned_depth:
            MMLogger.get_current_instance().warning(
                'view_transform.loss_depth_weight > 0 but no data sample has gt_depth: add '
                "MultiViewDepthGT after ImageAug3D and 'gt_depth' to Pack3DDetBEVInputs keys "
                'in the train pipeline (loss_depth is 0 meanwhile)')
            self._warned_depth = True
        return self.view_transform.loss_depth(depth, gt, valid)
