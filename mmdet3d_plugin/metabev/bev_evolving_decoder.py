"""MetaBEV's BEV-Evolving decoder: dense meta-BEV queries refined from whichever sensors exist."""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet3d_plugin.registry import MODELS
from .cross_modal_attention import CrossModalDeformableAttention
from .m2oe import MultiTaskMoEFFN

SHARED = 'shared'


class BEVEvolvingLayer(nn.Module):
    """Cross-modal deformable attention -> deformable self-attention -> FFN (or M²oE), pre-norm.

    Before the first M²oE layer the decoder carries one query stream; an M²oE layer splits it
    into one stream per task (each task's router), and later layers refine each task stream
    with shared attention weights.
    """

    def __init__(self, embed_dims: int, num_heads: int, num_modalities: int, num_points: int,
                 ffn_channels: int, moe: Optional[dict], tasks: Sequence[str],
                 dropout: float) -> None:
        super().__init__()
        self.cross_attn = CrossModalDeformableAttention(embed_dims, num_heads, num_modalities,
                                                        num_points, dropout)
        self.self_attn = CrossModalDeformableAttention(embed_dims, num_heads, 1, num_points,
                                                       dropout)
        self.norms = nn.ModuleList([nn.LayerNorm(embed_dims) for _ in range(3)])
        self.tasks = tuple(tasks)
        if moe is not None:
            self.ffn = MultiTaskMoEFFN(embed_dims, ffn_channels, tasks=self.tasks, dropout=dropout,
                                       **moe)
        else:
            self.ffn = nn.Sequential(nn.Linear(embed_dims, ffn_channels), nn.GELU(),
                                     nn.Dropout(dropout), nn.Linear(ffn_channels, embed_dims))
        self.is_moe = moe is not None

    def _attend(self, x: Tensor, pos: Tensor, reference: Tensor, maps: List[Tensor],
                present: Tensor, shape: Tuple[int, int]) -> Tensor:
        x = x + self.cross_attn(self.norms[0](x) + pos, reference, maps, present)
        normed = self.norms[1](x)
        query_map = normed.transpose(1, 2).reshape(x.shape[0], x.shape[2], *shape)
        always = present.new_ones(x.shape[0], 1)
        return x + self.self_attn(normed + pos, reference, [query_map], always)

    def forward(self, streams: Dict[str, Tensor], pos: Tensor, reference: Tensor,
                maps: List[Tensor], present: Tensor, shape: Tuple[int, int]) -> Dict[str, Tensor]:
        """Refine every stream; ``streams`` maps ``'shared'`` or task names to ``(B, L, C)``."""
        out = {}
        for name, x in streams.items():
            x = self._attend(x, pos, reference, maps, present, shape)
            if not self.is_moe:
                out[name] = x + self.ffn(self.norms[2](x))
                continue
            tasks = self.tasks if name == SHARED else (name, )
            mixed = self.ffn.forward_tasks(self.norms[2](x), tasks)  # experts run once
            out.update({task: x + mixed[task] for task in tasks})
        return out


@MODELS.register_module()
class BEVEvolvingDecoder(BaseModule):
    """Dense learnable meta-BEV queries evolved by cross-modal attention into the sensor BEVs.

    A fuser (same call as :class:`~mmdet3d_plugin.models.fusers.ConvFuser`): each modality's
    BEV map is projected to ``embed_dims`` and tagged with a learned modality embedding; the
    queries, one per BEV cell of ``bev_shape``, attend into the maps the sample *has*. A
    missing modality is simply not sampled: no zeros are mixed in, so the same weights serve
    camera+LiDAR, camera-only and LiDAR-only input.

    Args:
        in_channels: Channels of each modality's BEV map (camera, LiDAR).
        embed_dims: Query channels ``C`` (also the output channels).
        bev_shape: ``(Y, X)`` query grid; the modality maps must cover the same metric area
            (their resolution may differ).
        num_layers, num_heads, num_points: Decoder depth, heads, sampling points per head.
        ffn_channels: FFN / expert hidden width.
        moe_layers: Indices of layers whose FFN is M²oE; ``()`` gives a plain decoder with one
            output map.
        moe: Keyword arguments of the M²oE layers' :class:`MultiTaskMoEFFN` (``num_experts``,
            ``top_k``, ``variant`` ``'re'`` / ``'he'``, ``num_task_experts``,
            ``router_noise_std``, ``balance_loss``); default ``dict(num_experts=4, top_k=2)``,
            the routing-experts variant without noise.
        tasks: Task names of the per-task outputs.
        dropout: Dropout in attention and FFN.
        init_cfg: mmengine init config.

    Shapes:
        forward -> ``(B, C, Y, X)``, or ``{task: (B, C, Y, X)}`` when some layer is M²oE.

    After a forward, :meth:`moe_aux` gives the M²oE balancing loss and usage entropies of that
    forward (the detector adds them to its losses) and :meth:`routing_stats` each layer's
    expert usage per task.
    """

    def __init__(self, in_channels: Sequence[int], embed_dims: int, bev_shape: Sequence[int],
                 num_layers: int = 2, num_heads: int = 4, num_points: int = 4,
                 ffn_channels: int = 256, moe_layers: Sequence[int] = (),
                 moe: Optional[dict] = None, tasks: Sequence[str] = ('det', 'seg'),
                 dropout: float = 0.0, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = tuple(int(c) for c in in_channels)
        self.bev_shape = tuple(int(v) for v in bev_shape)
        moe_layers = tuple(int(i) for i in moe_layers)
        if any(not 0 <= i < num_layers for i in moe_layers):
            raise ValueError(f'moe_layers {moe_layers} must index the {num_layers} layers')
        moe = dict(num_experts=4, top_k=2) if moe is None else dict(moe)
        self.input_proj = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(c, embed_dims, 1), nn.GroupNorm(8, embed_dims))
             for c in self.in_channels])
        self.modality_embed = nn.Parameter(torch.zeros(len(self.in_channels), embed_dims))
        length = self.bev_shape[0] * self.bev_shape[1]
        self.meta_bev = nn.Parameter(torch.randn(length, embed_dims) * 0.02)
        self.pos_embed = nn.Sequential(nn.Linear(2, embed_dims), nn.ReLU(inplace=True),
                                       nn.Linear(embed_dims, embed_dims))
        self.layers = nn.ModuleList([
            BEVEvolvingLayer(embed_dims, num_heads, len(self.in_channels), num_points,
                             ffn_channels, moe if i in moe_layers else None, tasks, dropout)
            for i in range(num_layers)
        ])
        self.out_norm = nn.LayerNorm(embed_dims)
        rows, cols = self.bev_shape
        ys, xs = torch.meshgrid((torch.arange(rows) + 0.5) / rows,
                                (torch.arange(cols) + 0.5) / cols, indexing='ij')
        self.register_buffer('reference', torch.stack([xs, ys], -1).reshape(-1, 2),
                             persistent=False)

    def forward(self, feats: List[Tensor], present: Tensor) -> Union[Tensor, Dict[str, Tensor]]:
        """Evolve the meta-BEV queries.

        Args:
            feats: One ``(B, C_m, H_m, W_m)`` map per modality (zeros where absent).
            present: ``(B, M)`` bool, whether sample b has modality m.

        Returns:
            ``(B, C, Y, X)`` or ``{task: (B, C, Y, X)}``.
        """
        if len(feats) != len(self.in_channels) or any(f is None for f in feats):
            raise ValueError(f'BEVEvolvingDecoder: expected {len(self.in_channels)} modality '
                             'maps (zeros for an absent one)')
        for moe in self.moe_ffns().values():
            moe.last_routing = {}
        batch = present.shape[0]
        maps = [proj(f) + embed.view(1, -1, 1, 1)
                for proj, f, embed in zip(self.input_proj, feats, self.modality_embed)]
        pos = self.pos_embed(self.reference)[None]
        streams = {SHARED: self.meta_bev[None].expand(batch, -1, -1)}
        for layer in self.layers:
            streams = layer(streams, pos, self.reference, maps, present, self.bev_shape)
        outputs = {name: self.out_norm(x).transpose(1, 2).reshape(batch, -1, *self.bev_shape)
                   for name, x in streams.items()}
        return outputs[SHARED] if SHARED in outputs else outputs

    def moe_ffns(self) -> Dict[int, MultiTaskMoEFFN]:
        """``{layer index: M²oE FFN}`` of the M²oE layers."""
        return {i: layer.ffn for i, layer in enumerate(self.layers) if layer.is_moe}

    def routing_stats(self) -> Dict[str, Dict[str, Tensor]]:
        """Expert usage of the last forward: ``{'layer<i>': {task: (E, ) share of top-k slots}}``
        (detached; 0 for experts a task cannot use)."""
        return {f'layer{i}': {task: moe.usage(task=task) for task in moe.last_routing}
                for i, moe in self.moe_ffns().items()}

    def moe_aux(self) -> Optional[Dict[str, Union[Tensor, Dict[str, Tensor]]]]:
        """Balancing loss and routing summary of the last forward, or None without M²oE.

        Returns:
            dict: ``'balance'``: scalar, the mean over M²oE layers and tasks of each router's
            :meth:`MultiTaskMoEFFN.balance_loss` (with gradient); ``'usage_entropy'``:
            ``{task: scalar}``, the entropy of the task's expert usage divided by its maximum
            ``log E_t`` and averaged over layers (1 = even use, 0 = one expert; detached).
        """
        losses, entropy = [], {}
        for moe in self.moe_ffns().values():
            for task, routing in moe.last_routing.items():
                losses.append(moe.balance_loss(routing))
                share = moe.usage(routing)[routing.expert_ids]
                value = -(share * share.clamp(min=1e-12).log()).sum()
                value = value / max(math.log(len(share)), 1e-12)
                entropy.setdefault(task, []).append(value)
        if not losses:
            return None
        return dict(balance=torch.stack(losses).mean(),
                    usage_entropy={task: torch.stack(v).mean() for task, v in entropy.items()})
