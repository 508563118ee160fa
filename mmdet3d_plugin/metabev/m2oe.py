"""M²oE: a multi-task mixture-of-experts FFN (MetaBEV's answer to task conflict)."""
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MultiTaskMoEFFN(nn.Module):
    """``E`` expert FFNs shared by all tasks, one router per task choosing the top-k experts.

    Detection and map segmentation read the same BEV queries but want different features; with
    a router per task each task mixes its own experts, so the tasks share capacity without one
    FFN serving both (MetaBEV's routing-experts M²oE variant). Experts run densely (all experts
    on all tokens, then the sparse gate) -- simple and exact; ``E`` is small.

    Args:
        embed_dims: ``C``.
        ffn_channels: Hidden width ``F`` of each expert.
        num_experts: ``E``.
        top_k: Experts mixed per token and task.
        tasks: Task names, each with its own router.
        dropout: Dropout on the hidden layer.
    """

    def __init__(self, embed_dims: int, ffn_channels: int, num_experts: int, top_k: int,
                 tasks: Sequence[str], dropout: float = 0.0) -> None:
        super().__init__()
        if not 1 <= top_k <= num_experts:
            raise ValueError(f'top_k={top_k} must be in [1, num_experts={num_experts}]')
        self.tasks = tuple(tasks)
        self.top_k = int(top_k)
        scale_in, scale_hidden = embed_dims**-0.5, ffn_channels**-0.5
        self.w_in = nn.Parameter(torch.randn(num_experts, embed_dims, ffn_channels) * scale_in)
        self.b_in = nn.Parameter(torch.zeros(num_experts, 1, ffn_channels))
        self.w_out = nn.Parameter(torch.randn(num_experts, ffn_channels, embed_dims) *
                                  scale_hidden)
        self.b_out = nn.Parameter(torch.zeros(num_experts, 1, embed_dims))
        self.routers = nn.ModuleDict({task: nn.Linear(embed_dims, num_experts)
                                      for task in self.tasks})
        self.dropout = nn.Dropout(dropout)

    def gates(self, tokens: Tensor, task: str) -> Tensor:
        """Sparse expert weights of one task's router.

        Args:
            tokens: ``(T, C)`` tokens.
            task: One of ``tasks``.

        Returns:
            Tensor: ``(T, E)``, a softmax over each token's top-k router logits, 0 elsewhere.
        """
        if task not in self.routers:
            raise KeyError(f'MultiTaskMoEFFN: unknown task {task!r}; tasks are {self.tasks}')
        logits = self.routers[task](tokens)
        top_values, top_index = logits.topk(self.top_k, dim=-1)
        gates = torch.zeros_like(logits)
        return gates.scatter(-1, top_index, top_values.softmax(dim=-1))

    def forward(self, x: Tensor, task: str) -> Tensor:
        """Mix the experts' outputs with the ``task`` router's top-k gates.

        Every expert ``e`` is a two-layer GELU FFN ``C -> F -> C``; token ``t``'s output is
        ``sum_e gate[t, e] * expert_e(x_t)`` with :meth:`gates`' sparse weights.

        Args:
            x: ``(..., C)`` tokens, e.g. ``(B, L, C)`` BEV queries.
            task: One of ``tasks``; selects the router.

        Returns:
            Tensor: ``(..., C)``, the same shape as ``x``.

        Raises:
            KeyError: ``task`` has no router.
        """
        tokens = x.reshape(-1, x.shape[-1])
        hidden = self.dropout(F.gelu(torch.einsum('tc,ecf->etf', tokens, self.w_in) + self.b_in))
        experts = torch.einsum('etf,efc->etc', hidden, self.w_out) + self.b_out  # (E, T, C)
        out = torch.einsum('te,etc->tc', self.gates(tokens, task), experts)
        return out.reshape(x.shape)
