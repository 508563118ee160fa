"""SparseOcc's Sparse Latent Diffuser: the sparse 3D encoder over the lifted volume.

Each stage (as the paper, Sec. 3.2, and the official ``SparseLatentDiffuser``) runs

1. **context aggregation**: SubM convs with decomposed kernels, two branches over the three
   planes -- ``(1, 3, 3)`` (ground plane) -> ``(3, 1, 3)`` and ``(3, 3, 1)`` -> ``(1, 3, 3)`` in
   ``(z, y, x)`` order -- summed with the input (residual); the active set is kept;
2. **completion**: *regular* stride-1 sparse convs with decomposed kernels, ``n`` ground-plane
   layers then ``(3, 1, 3)`` and ``(3, 3, 1)`` (coarse stages: ground plane only), each growing
   the active set by the kernel's reach into empty space (``n + 1`` voxels in y and x, 2 in z);
3. optional **pruning** of voxels predicted empty (a per-voxel occupancy logit, i.e. a SubM
   1x1x1 conv, kept where ``sigmoid >= prune_threshold`` but at least ``min_keep_ratio`` of
   every sample's voxels, the top-k by logit); the logits are returned for the prune loss;
4. a regular ``k3 s2 p1`` sparse conv down to the next stage (grid ``ceil(n / 2)`` per axis).

Differences from the official code: any batch size; pruning is offered (the official never
prunes, the paper does); the down conv has norm and activation; the context block is the same
three-plane block in every stage (the official uses 2D ``(5, 5, 1)`` blocks in stages 3-4).

Pruning is **off by default** (``prune_stages=()``): its logits only mean "occupied" once the
detector's ``loss_prune`` trains them; a diffuser used without that loss would prune at random.

Two opt-in options make the latent sparse where the defaults (measured at the paper
resolution) do not: the lift fills 44 % of the grid and the stage-0 completion grows that to
98 % before any pruning runs.

* ``mass_channel`` (with ``LSSVoxelTransform(append_mass=True)``): the volume's last channel
  is the lifted depth mass; it is stripped from the features and selects the initial active
  set (``min_mass`` / ``keep_mass_ratio``, :func:`.sparse_latent.mass_active_mask`) instead of
  "every voxel with a non-zero feature".
* ``prune_before_completion``: a pruning stage scores and prunes right after the context
  aggregation, so its completion grows from the pruned set.
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from spconv.pytorch import SparseConvTensor
from torch import Tensor, nn

from mmdet3d_plugin.registry import MODELS
from .sparse_blocks import DEFAULT_ACT, DEFAULT_NORM, SparseConvModule, SparseNormAct
from .sparse_latent import SparseLatent, mass_active_mask, volume_to_sparse

#: Decomposed kernels in ``(z, y, x)`` order.
GROUND, XZ, YZ = (1, 3, 3), (3, 1, 3), (3, 3, 1)


class ContextAggregation(nn.Module):
    """Residual SubM context block: ``act(x + b1(x) + b2(x))``, the active set is kept.

    ``b1`` = ground plane -> xz plane, ``b2`` = yz plane -> ground plane (conv-norm-act-conv-
    norm). SubM layers with the same kernel share an indice key (same voxels, same pairs).

    Args:
        channels: ``C``.
        key: Prefix of the indice keys, unique per active set.
        norm_cfg / act_cfg: see :class:`SparseConvModule`.
    """

    def __init__(self, channels: int, key: str, norm_cfg: dict = DEFAULT_NORM,
                 act_cfg: dict = DEFAULT_ACT) -> None:
        super().__init__()

        def subm(kernel, act):
            name = ''.join(str(k) for k in kernel)
            return SparseConvModule('SubMConv3d', channels, channels, kernel,
                                    indice_key=f'{key}_{name}', norm_cfg=norm_cfg,
                                    act_cfg=act_cfg if act else None)

        self.branch1 = nn.Sequential(subm(GROUND, True), subm(XZ, False))
        self.branch2 = nn.Sequential(subm(YZ, True), subm(GROUND, False))
        self.post = SparseNormAct(channels, None, act_cfg)

    def forward(self, x: SparseConvTensor) -> SparseConvTensor:
        feats = x.features + self.branch1(x).features + self.branch2(x).features
        return self.post(x.replace_feature(feats))


class SparseCompletion(nn.Sequential):
    """Regular stride-1 sparse convs that grow the active set (conv-norm-act each).

    Args:
        channels: ``C``.
        num_layers: Ground-plane ``(1, 3, 3)`` layers.
        xy_only: Only those; otherwise then ``(3, 1, 3)`` and ``(3, 3, 1)``.
        norm_cfg / act_cfg: see :class:`SparseConvModule`.

    Reach: ``+-(num_layers + 1)`` voxels in y and x and ``+-2`` in z (``+-num_layers`` in y, x
    and none in z when ``xy_only``), clipped at the grid.
    """

    def __init__(self, channels: int, num_layers: int, xy_only: bool,
                 norm_cfg: dict = DEFAULT_NORM, act_cfg: dict = DEFAULT_ACT) -> None:
        kernels = [GROUND] * int(num_layers) + ([] if xy_only else [XZ, YZ])
        super().__init__(*[
            SparseConvModule('SparseConv3d', channels, channels, k, norm_cfg=norm_cfg,
                             act_cfg=act_cfg) for k in kernels])
        self.kernels = tuple(kernels)


def prune_voxels(x: SparseConvTensor, logits: Tensor, threshold: float,
                 min_keep_ratio: float) -> Tuple[SparseConvTensor, Tensor]:
    """Drop voxels predicted empty, keeping at least ``min_keep_ratio`` of each sample's.

    Args:
        x: ``N`` voxels of ``B`` samples.
        logits: ``(N, )`` occupancy logits.
        threshold: Keep voxels with ``sigmoid(logit) >= threshold``.
        min_keep_ratio: Also keep the ``ceil(min_keep_ratio * N_b)`` highest-logit voxels of
            every sample ``b`` (ties broken by index).

    Returns:
        tuple: the kept voxels (a new tensor, no indice pairs carried over; rows in their
        original order) and the ``(N, )`` bool keep mask.
    """
    with torch.no_grad():
        batch = x.indices[:, 0].long()
        counts = torch.bincount(batch, minlength=x.batch_size)
        quota = torch.ceil(counts.double() * min_keep_ratio - 1e-6).long()  # no fp round-up
        order = torch.argsort(logits, descending=True, stable=True)
        order = order[torch.argsort(batch[order], stable=True)]  # by sample, then logit
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.empty_like(batch)
        rank[order] = torch.arange(len(order), device=batch.device) - starts[batch[order]]
        keep = (torch.sigmoid(logits) >= threshold) | (rank < quota[batch])
    kept = SparseConvTensor(x.features[keep], x.indices[keep], x.spatial_shape, x.batch_size)
    return kept, keep


@MODELS.register_module()
class SparseLatentDiffuser(BaseModule):
    """Sparse 3D encoder: lifted volume -> multi-scale :class:`SparseLatent`.

    Args:
        in_channels: ``C`` of the lifted volume.
        channels: Channels of each stage (its level's ``C_i``).
        completion_layers: Ground-plane completion layers per stage (official ``3, 2, 2, 1``).
        completion_xy_only: Per stage, whether completion uses the ground plane only.
        prune_stages: Stages that prune after completion; ``()`` (default) disables pruning.
        prune_threshold: Keep voxels with ``sigmoid(logit) >=`` this.
        min_keep_ratio: Keep at least this fraction of every sample's voxels per pruning.
        prune_before_completion: Prune right after the context aggregation instead, before
            the completion convs (which then grow from the pruned set); the logits (of the
            voxels after the context aggregation) are returned for ``loss_prune`` as before.
            Needs ``prune_stages``. Default False.
        mass_channel: The volume has ``in_channels + 1`` channels, the last one the lifted
            depth mass (``LSSVoxelTransform(append_mass=True)``): it is stripped from the
            features and selects the active voxels (mass > 0, ``min_mass``,
            ``keep_mass_ratio``). Default False: ``in_channels`` channels, the active voxels
            those with a non-zero feature.
        keep_mass_ratio: With ``mass_channel``: keep only the top share in ``(0, 1]`` by mass
            of each sample's voxels with mass > 0 (at least one voxel per sample that has any);
            None (default): no such limit.
        min_mass: With ``mass_channel``: keep only voxels with mass >= this (> 0); None
            (default): no threshold.
        norm_cfg: mmcv norm config for the ``(N, C)`` features. Defaults to BN1d.
        act_cfg: mmcv activation config. Defaults to LeakyReLU.
        init_cfg: mmengine init config.

    Shapes:
        ``(B, C, Z, Y, X)`` (``C = in_channels``, ``in_channels + 1`` with ``mass_channel``)
        -> ``SparseLatent`` with levels of ``channels[i]`` features on
        ``(Z_i, Y_i, X_i)``, ``Z_0 = Z`` and ``Z_{i+1} = ceil(Z_i / 2)`` (same for Y, X);
        ``prune`` holds one ``(N, 1)`` logit tensor per pruning stage, on that stage's grid.
    """

    def __init__(self, in_channels: int, channels: Sequence[int] = (128, 256, 512, 1024),
                 completion_layers: Sequence[int] = (3, 2, 2, 1),
                 completion_xy_only: Sequence[bool] = (False, False, True, True),
                 prune_stages: Sequence[int] = (), prune_threshold: float = 0.5,
                 min_keep_ratio: float = 0.25, norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None, prune_before_completion: bool = False,
                 mass_channel: bool = False, keep_mass_ratio: Optional[float] = None,
                 min_mass: Optional[float] = None, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        num = len(channels)
        if num < 1 or not num == len(completion_layers) == len(completion_xy_only):
            raise ValueError(
                f'SparseLatentDiffuser: channels {tuple(channels)}, completion_layers '
                f'{tuple(completion_layers)} and completion_xy_only {tuple(completion_xy_only)} '
                'must have one entry per stage (at least one stage)')
        if min(channels) < 1 or min(completion_layers) < 0:
            raise ValueError(f'SparseLatentDiffuser: channels {tuple(channels)} must be >= 1 and '
                             f'completion_layers {tuple(completion_layers)} >= 0')
        if any(not 0 <= s < num for s in prune_stages):
            raise ValueError(f'SparseLatentDiffuser: prune_stages {tuple(prune_stages)} must '
                             f'index the {num} stages')
        if not 0.0 <= prune_threshold <= 1.0 or not 0.0 <= min_keep_ratio <= 1.0:
            raise ValueError(f'SparseLatentDiffuser: prune_threshold ({prune_threshold}) and '
                             f'min_keep_ratio ({min_keep_ratio}) must be in [0, 1]')
        if prune_before_completion and not prune_stages:
            raise ValueError('SparseLatentDiffuser: prune_before_completion=True needs '
                             'prune_stages (no stage prunes)')
        if not mass_channel and (keep_mass_ratio is not None or min_mass is not None):
            raise ValueError(f'SparseLatentDiffuser: keep_mass_ratio ({keep_mass_ratio}) and '
                             f'min_mass ({min_mass}) need mass_channel=True (and the view '
                             'transform\'s append_mass=True)')
        if keep_mass_ratio is not None and not 0.0 < keep_mass_ratio <= 1.0:
            raise ValueError(f'SparseLatentDiffuser: keep_mass_ratio must be in (0, 1], got '
                             f'{keep_mass_ratio}')
        if min_mass is not None and not min_mass > 0.0:
            raise ValueError(f'SparseLatentDiffuser: min_mass must be > 0, got {min_mass}')
        norm_cfg = DEFAULT_NORM if norm_cfg is None else norm_cfg
        act_cfg = DEFAULT_ACT if act_cfg is None else act_cfg
        self.in_channels = int(in_channels)
        self.out_channels = [int(c) for c in channels]
        self.prune_stages = tuple(sorted(int(s) for s in prune_stages))
        self.prune_threshold = float(prune_threshold)
        self.min_keep_ratio = float(min_keep_ratio)
        self.prune_before_completion = bool(prune_before_completion)
        self.mass_channel = bool(mass_channel)
        self.keep_mass_ratio = None if keep_mass_ratio is None else float(keep_mass_ratio)
        self.min_mass = None if min_mass is None else float(min_mass)

        self.stem = None
        if self.in_channels != self.out_channels[0]:
            self.stem = SparseConvModule('SubMConv3d', self.in_channels, self.out_channels[0], 1,
                                         norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.context = nn.ModuleList(
            ContextAggregation(c, f'sld{i}', norm_cfg, act_cfg)
            for i, c in enumerate(self.out_channels))
        self.completion = nn.ModuleList(
            SparseCompletion(c, n, bool(xy), norm_cfg, act_cfg)
            for c, n, xy in zip(self.out_channels, completion_layers, completion_xy_only))
        self.occupancy = nn.ModuleDict()
        for stage in self.prune_stages:
            head = nn.Linear(self.out_channels[stage], 1)  # = a SubM 1x1x1 conv on (N, C)
            nn.init.constant_(head.bias, math.log(9.0))  # sigmoid 0.9: untrained keeps all
            self.occupancy[str(stage)] = head
        self.downsample = nn.ModuleList(
            SparseConvModule('SparseConv3d', c_in, c_out, 3, stride=2, padding=1,
                             norm_cfg=norm_cfg, act_cfg=act_cfg)
            for c_in, c_out in zip(self.out_channels[:-1], self.out_channels[1:]))

    @property
    def volume_channels(self) -> int:
        """Channels of the expected input volume: ``in_channels`` (+ 1 with ``mass_channel``)."""
        return self.in_channels + int(self.mass_channel)

    def input_mask(self, volume: Tensor) -> Tensor:
        """The voxels of ``volume`` the latent starts from.

        Args:
            volume: ``(B, volume_channels, Z, Y, X)``.

        Returns:
            Tensor: ``(B, Z, Y, X)`` bool: with ``mass_channel`` the mass selection
            (:func:`.sparse_latent.mass_active_mask`), otherwise the voxels with a non-zero
            feature.
        """
        self._check_volume(volume)
        if not self.mass_channel:
            return volume.detach().abs().sum(1) > 0
        return mass_active_mask(volume[:, -1], self.keep_mass_ratio, self.min_mass)

    def _check_volume(self, volume: Tensor) -> None:
        if not isinstance(volume, Tensor) or volume.dim() != 5 or \
                volume.shape[1] != self.volume_channels:
            shape = tuple(volume.shape) if isinstance(volume, Tensor) else type(volume).__name__
            mass = ' (in_channels + the mass channel)' if self.mass_channel else ''
            raise ValueError(f'SparseLatentDiffuser: volume must be (B, {self.volume_channels}'
                             f'{mass}, Z, Y, X), got {shape}')

    def forward(self, volume: Tensor) -> SparseLatent:
        """Encode the lifted volume.

        Args:
            volume: ``(B, volume_channels, Z, Y, X)``; voxels with all-zero features are
                empty; with ``mass_channel`` the last channel is the lifted mass (not a
                feature) and selects the voxels (:meth:`input_mask`).

        Returns:
            SparseLatent: levels finest first, prune logits of the pruning stages.
        """
        self._check_volume(volume)
        if self.mass_channel:  # the features of the selected voxels keep their gradients
            x = volume_to_sparse(volume[:, :-1], self.input_mask(volume))
        else:
            x = volume_to_sparse(volume)
        if self.stem is not None:
            x = self.stem(x)
        levels: List[SparseConvTensor] = []
        prune: List[SparseConvTensor] = []
        for stage, (context, completion) in enumerate(zip(self.context, self.completion)):
            if stage > 0:
                x = self.downsample[stage - 1](x)
            x = context(x)
            prunes = stage in self.prune_stages
            if prunes and self.prune_before_completion:
                x = self._prune(stage, x, prune)
            x = completion(x)
            if prunes and not self.prune_before_completion:
                x = self._prune(stage, x, prune)
            levels.append(x)
        return SparseLatent(levels=levels, prune=prune)

    def _prune(self, stage: int, x: SparseConvTensor,
               prune: List[SparseConvTensor]) -> SparseConvTensor:
        """Score ``x``'s voxels (logits appended to ``prune``) and keep the predicted occupied."""
        logits = self.occupancy[str(stage)](x.features)  # (N, 1)
        prune.append(x.replace_feature(logits))
        x, _ = prune_voxels(x, logits[:, 0].detach(), self.prune_threshold, self.min_keep_ratio)
        return x
