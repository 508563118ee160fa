"""Semantic Mask2Former ground truth from an occupancy grid, and sampling of its voxels."""
from typing import Optional, Tuple

import torch
from torch import Tensor


class ValidVoxels:
    """The supervised voxels of one sample, grouped by label, for point sampling.

    The semantic targets are one binary mask per class present among the valid voxels (free
    space included): :attr:`classes`. Voxels labelled ``ignore_index`` (or outside the camera
    mask, already set to it) are left out.

    Args:
        target: ``(X, Y, Z)`` int64 labels.
        num_classes: ``K``; a label outside ``[0, K)`` other than ``ignore_index`` is an error.
        ignore_index: Label of unsupervised voxels.
        owner: Name used in error messages.
    """

    def __init__(self, target: Tensor, num_classes: int, ignore_index: int,
                 owner: str = 'ValidVoxels') -> None:
        self.grid_shape = tuple(target.shape)
        labels = target.reshape(-1)
        keep = labels != ignore_index
        flat = torch.nonzero(keep).squeeze(1)
        labels = labels[flat]
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise ValueError(f'{owner}: gt_occ labels must be in [0, {num_classes}) or '
                             f'ignore_index {ignore_index}, got values in '
                             f'[{int(labels.min())}, {int(labels.max())}]')
        order = torch.argsort(labels, stable=True)
        self.flat = flat[order]
        self.labels = labels[order]
        self.counts = torch.bincount(self.labels, minlength=num_classes)
        self.starts = torch.cumsum(self.counts, 0) - self.counts
        #: ``(G,)`` classes present, ascending: one GT mask each.
        self.classes = torch.nonzero(self.counts).squeeze(1)

    def __len__(self) -> int:
        return int(self.flat.numel())

    def sample(self, num: int, class_weights: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Draw ``num`` valid voxels with replacement.

        Uniform over the valid voxels, or with probability proportional to
        ``class_weights[label]`` (drawn as a class, then a voxel of it, which is the same law).

        Returns:
            tuple: ``(num,)`` flat voxel indices into ``(X, Y, Z)`` and their ``(num,)`` labels;
            both empty when the sample has no valid voxel.
        """
        device = self.flat.device
        if len(self) == 0 or num <= 0:
            empty = torch.zeros(0, dtype=torch.long, device=device)
            return empty, empty.clone()
        if class_weights is None:
            pick = torch.randint(len(self), (num, ), device=device)
        else:
            mass = self.counts.float() * class_weights.to(device).float()
            cls = torch.multinomial(mass, num, replacement=True)
            offset = (torch.rand(num, device=device) * self.counts[cls]).long()
            pick = self.starts[cls] + torch.minimum(offset, self.counts[cls] - 1)
        return self.flat[pick], self.labels[pick]


def flat_to_xyz(flat: Tensor, grid_shape: Tuple[int, int, int]) -> Tensor:
    """``(P,)`` flat indices of an ``(X, Y, Z)`` array -> ``(P, 3)`` ``[x, y, z]``."""
    _, size_y, size_z = grid_shape
    return torch.stack((flat // (size_y * size_z), (flat // size_z) % size_y, flat % size_z), 1)
