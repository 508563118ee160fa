"""Which sensor modalities each sample of a batch has: metainfo flags and training-time drop.

A missing modality is an input state, not an error. The data pipeline records it in the
metainfo (``camera_missing`` / ``lidar_missing`` from the corruption transforms); an empty point
cloud or a batch without images means the same. During training a detector may also drop
modalities at random (MetaBEV's switched-modality training), from a generator of its own keyed
on (seed, rank, iteration) so that ranks differ and a rerun repeats them.
"""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.logging import MessageHub
from torch import Tensor

#: Modality order of every ``present`` mask.
MODALITIES = ('camera', 'lidar')


def flagged_present(data_samples: Sequence, device: torch.device) -> Tensor:
    """``(B, 2)`` bool: camera / LiDAR not flagged missing in each sample's metainfo."""
    rows = []
    for sample in data_samples:
        meta = sample.metainfo
        rows.append([not bool(meta.get('camera_missing', False)),
                     not bool(meta.get('lidar_missing', False))])
    return torch.tensor(rows, dtype=torch.bool, device=device).reshape(-1, len(MODALITIES))


def draw_modality_drop(present: Tensor, drop_prob: Sequence[float],
                       generator: Optional[torch.Generator] = None) -> Tensor:
    """Drop modalities at random, never leaving a sample with none of those it had.

    Args:
        present: ``(B, M)`` bool.
        drop_prob: Probability of dropping each modality, length M. Draws are exclusive: a
            sample loses at most one modality (camera with p_0, else LiDAR with p_1, ...).
        generator: Optional RNG.

    Returns:
        Tensor: ``(B, M)`` bool, ``present`` with the drawn modalities removed.
    """
    probs = torch.tensor([float(p) for p in drop_prob])
    if probs.numel() != present.shape[1] or (probs < 0).any() or probs.sum() > 1:
        raise ValueError(f'modality drop probabilities {list(drop_prob)} must be one per '
                         f'modality {MODALITIES[:present.shape[1]]}, >= 0, summing to <= 1')
    draws = torch.rand(present.shape[0], generator=generator)
    edges = torch.cumsum(probs, 0)
    choice = torch.searchsorted(edges, draws, right=True)  # M means "drop nothing"
    dropped = torch.zeros_like(present)
    rows = (choice < present.shape[1]).nonzero(as_tuple=True)[0]
    dropped[rows.to(present.device), choice[rows].to(present.device)] = True
    result = present & ~dropped
    # a sample whose only modality was drawn keeps it
    keep = ~result.any(dim=1) & present.any(dim=1)
    result[keep] = present[keep]
    return result


def drop_generator(seed: int, rank: int, iteration: int, draw: int = 0) -> torch.Generator:
    """A fresh CPU generator determined by ``(seed, rank, iteration, draw)`` alone.

    The four integers go through numpy's ``SeedSequence`` (a hash designed for nearby keys), so
    rank 0 and rank 1 of one iteration, or iterations k and k + 1 of one rank, get unrelated
    streams, and the same key always gives the same stream.

    Args:
        seed: The run's seed (mmengine's ``randomness.seed``).
        rank: Distributed rank.
        iteration: Training iteration (global, so a resumed run continues the sequence).
        draw: Index of the draw within the iteration (0 unless the model draws twice per step).

    Returns:
        torch.Generator: A seeded CPU generator.
    """
    key = [int(v) & (2**64 - 1) for v in (seed, rank, iteration, draw)]
    state = np.random.SeedSequence(key).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))


class ModalityDropSampler:
    """Switched-modality drop with its own RNG per ``(seed, rank, iteration)``.

    The global RNG cannot serve: mmengine seeds every rank with the same ``randomness.seed``
    (unless ``diff_rank_seed=True``), so every GPU would drop the same modality of the same
    batch position at every step, and any other consumer of the global RNG would shift the
    pattern. The key is read from the running mmengine job at every draw:

    * seed: the message hub's ``seed`` (the runner's seed, written by mmengine's
      ``RuntimeInfoHook``), else ``torch.initial_seed()`` outside a runner;
    * rank: :func:`mmengine.dist.get_rank`;
    * iteration: the message hub's ``iter`` (global training iteration, restored on resume),
      else the number of draws so far; a second draw within one iteration gets a new ``draw``
      index.

    Args:
        drop_prob: Probability of dropping each of :data:`MODALITIES` (see
            :func:`draw_modality_drop`).
    """

    def __init__(self, drop_prob: Sequence[float]) -> None:
        self.drop_prob = tuple(float(p) for p in drop_prob)
        draw_modality_drop(torch.ones(1, len(MODALITIES), dtype=torch.bool), self.drop_prob)
        self._draws = 0  # draws so far (the iteration outside a runner)
        self._last_iter = None
        self._draws_this_iter = 0

    @property
    def enabled(self) -> bool:
        """Whether any modality is ever dropped."""
        return any(p > 0 for p in self.drop_prob)

    def key(self) -> Tuple[int, int, int, int]:
        """``(seed, rank, iteration, draw)`` of the next draw (advances the draw counters)."""
        hub = MessageHub.get_current_instance()
        seed = hub.get_info('seed')
        seed = torch.initial_seed() if seed is None else int(seed)
        iteration = hub.get_info('iter')
        if iteration is None:
            iteration, draw = self._draws, 0
        else:
            iteration = int(iteration)
            draw = self._draws_this_iter + 1 if iteration == self._last_iter else 0
            self._last_iter, self._draws_this_iter = iteration, draw
        self._draws += 1
        return seed, get_rank(), iteration, draw

    def __call__(self, present: Tensor) -> Tensor:
        """Draw the drop for one batch.

        Args:
            present: ``(B, M)`` bool, the modalities each sample has.

        Returns:
            Tensor: ``(B, M)`` bool on ``present``'s device, see :func:`draw_modality_drop`.
        """
        kept = draw_modality_drop(present.cpu(), self.drop_prob, drop_generator(*self.key()))
        return kept.to(present.device)
