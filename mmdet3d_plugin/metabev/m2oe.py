"""M²oE: MetaBEV's multi-task mixture-of-experts FFN, in the routing-experts (RE) and the
hierarchical-experts (HE) form, with a load-balancing loss and per-task routing statistics.

What the sources fix, and what they do not (see also ``configs/metabev/README.md``):

* The official repository (github.com/ChongjianGE/MetaBEV, commit 04d6c01) holds a README and a
  figure only -- no model code -- so nothing below is verified against the authors' code.
* The paper (arXiv 2304.09801) introduces M²oE in the BEV-Evolving decoder's FFN to reduce
  the detection / map-segmentation conflict of joint training, in two forms, RE-MoE and
  HE-MoE. The full paper text could not be retrieved here (only its abstract), so the exact
  router form, top-k, noise, expert counts, any balancing loss and its weight are *not*
  verified; the designs below are the standard ones these names denote in the multi-task MoE
  literature: RE = task-specific gates over one shared expert pool (MMoE, Ma et al., KDD
  2018, made sparse with top-k as in Shazeer et al., 2017); HE = shared experts plus experts
  private to each task, each task's gate choosing among the shared ones and its own (PLE,
  Tang et al., RecSys 2020).
* The balancing loss is Switch Transformer's (Fedus et al., 2021) ``E * sum_e f_e P_e`` or
  Shazeer et al.'s importance loss ``CV(sum_t p_t)^2``; both are this code's choice, off by
  default (``MetaBEV.moe_balance_weight = 0``).

Written by hand: no kept library (mmcv / mmdet / mmengine) has a multi-task, per-task-routed
MoE FFN.
"""
from typing import Dict, NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

VARIANTS = ('re', 'he')
BALANCE_LOSSES = ('switch', 'cv')


class Routing(NamedTuple):
    """One router's decision over the experts its task may use (``E_t`` of them).

    Attributes:
        probs: ``(T, E_t)`` softmax over all of the task's router logits.
        dispatch: ``(T, E_t)`` 1 where an expert is among the token's top-k, else 0.
        expert_ids: ``(E_t, )`` indices of those experts in the layer's expert bank.
    """
    probs: Tensor
    dispatch: Tensor
    expert_ids: Tensor


def switch_balance_loss(probs: Tensor, dispatch: Tensor) -> Tensor:
    """Switch Transformer's load-balancing loss ``E * sum_e f_e * P_e``.

    ``f_e`` is the share of the top-k slots that go to expert ``e`` and ``P_e`` its mean router
    probability. It is 1 when routing is uniform and grows to ``E / k`` as it collapses onto
    ``k`` experts; only ``P_e`` carries gradient.

    Args:
        probs: ``(T, E)`` router probabilities.
        dispatch: ``(T, E)`` 0/1 top-k mask (``k`` ones per row).

    Returns:
        Tensor: scalar.
    """
    share = dispatch.sum(0) / dispatch.sum().clamp(min=1)
    return probs.shape[-1] * (share * probs.mean(0)).sum()


def importance_cv_loss(probs: Tensor) -> Tensor:
    """Shazeer et al.'s importance loss: squared coefficient of variation of ``sum_t p_t``.

    Args:
        probs: ``(T, E)`` router probabilities.

    Returns:
        Tensor: scalar, 0 for uniform importance.
    """
    importance = probs.sum(0)
    return importance.var(unbiased=False) / importance.mean().pow(2).clamp(min=1e-10)


class MultiTaskMoEFFN(nn.Module):
    """A bank of expert FFNs with one top-k router per task (M²oE).

    * ``variant='re'`` (routing experts): ``num_experts`` experts shared by every task; each
      task's router picks its top-k among all of them.
    * ``variant='he'`` (hierarchical experts): ``num_experts`` shared experts plus
      ``num_task_experts`` private to each task; a task's router picks its top-k among the
      shared experts and its own, so another task's private experts never serve it.

    The bank is ordered ``[shared..., task 0's..., task 1's..., ...]``. Experts run densely
    (each expert a task may use, on every token, then the sparse gate): exact and simple for
    the few experts used here. :meth:`forward` records each task's :class:`Routing` in
    ``last_routing`` for the balancing loss and the usage statistics.

    Args:
        embed_dims: ``C``.
        ffn_channels: Hidden width ``F`` of each expert (``C -> F -> C``, GELU).
        num_experts: Shared experts (all experts for ``'re'``).
        top_k: Experts mixed per token and task.
        tasks: Task names, each with its own router.
        dropout: Dropout on the experts' hidden layer.
        variant: ``'re'`` or ``'he'``.
        num_task_experts: Private experts per task; ``'he'`` only (``>= 1``).
        router_noise_std: Std of Gaussian noise added to the router logits in training (a
            fixed-scale form of noisy top-k gating); 0 disables it.
        balance_loss: ``'switch'`` or ``'cv'`` (:meth:`balance_loss`).
    """

    def __init__(self, embed_dims: int, ffn_channels: int, num_experts: int, top_k: int,
                 tasks: Sequence[str], dropout: float = 0.0, variant: str = 're',
                 num_task_experts: int = 0, router_noise_std: float = 0.0,
                 balance_loss: str = 'switch') -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f'MultiTaskMoEFFN: variant={variant!r}, expected one of {VARIANTS}')
        if balance_loss not in BALANCE_LOSSES:
            raise ValueError(f'MultiTaskMoEFFN: balance_loss={balance_loss!r}, expected one of '
                             f'{BALANCE_LOSSES}')
        if variant == 're' and num_task_experts:
            raise ValueError(f"MultiTaskMoEFFN: num_task_experts={num_task_experts} needs "
                             "variant='he' (RE experts are all shared)")
        if variant == 'he' and num_task_experts < 1:
            raise ValueError("MultiTaskMoEFFN: variant='he' needs num_task_experts >= 1")
        self.tasks = tuple(tasks)
        self.variant = variant
        self.top_k = int(top_k)
        self.num_shared = int(num_experts)
        self.num_task_experts = int(num_task_experts)
        self.router_noise_std = float(router_noise_std)
        self.balance = balance_loss
        per_task = self.num_shared + self.num_task_experts
        if not 1 <= self.top_k <= per_task:
            raise ValueError(f'top_k={top_k} must be in [1, num_experts={per_task}] (experts '
                             'one task may use)')
        total = self.num_shared + len(self.tasks) * self.num_task_experts
        scale_in, scale_hidden = embed_dims**-0.5, ffn_channels**-0.5
        self.w_in = nn.Parameter(torch.randn(total, embed_dims, ffn_channels) * scale_in)
        self.b_in = nn.Parameter(torch.zeros(total, 1, ffn_channels))
        self.w_out = nn.Parameter(torch.randn(total, ffn_channels, embed_dims) * scale_hidden)
        self.b_out = nn.Parameter(torch.zeros(total, 1, embed_dims))
        self.routers = nn.ModuleDict({task: nn.Linear(embed_dims, per_task)
                                      for task in self.tasks})
        for index, task in enumerate(self.tasks):
            start = self.num_shared + index * self.num_task_experts
            ids = list(range(self.num_shared)) + list(range(start, start + self.num_task_experts))
            self.register_buffer(f'_ids_{task}', torch.tensor(ids, dtype=torch.long),
                                 persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.last_routing: Dict[str, Routing] = {}

    @property
    def num_total_experts(self) -> int:
        """Experts in the bank, ``E``."""
        return self.w_in.shape[0]

    def expert_ids(self, task: str) -> Tensor:
        """``(E_t, )`` bank indices of the experts ``task`` may use."""
        if task not in self.routers:
            raise KeyError(f'MultiTaskMoEFFN: unknown task {task!r}; tasks are {self.tasks}')
        return getattr(self, f'_ids_{task}')

    def route(self, tokens: Tensor, task: str) -> Routing:
        """Router probabilities and top-k mask of one task.

        Args:
            tokens: ``(T, C)``.
            task: One of ``tasks``.

        Returns:
            Routing: over the ``E_t`` experts of :meth:`expert_ids`.
        """
        ids = self.expert_ids(task)
        logits = self.routers[task](tokens)
        if self.training and self.router_noise_std > 0:
            logits = logits + torch.randn_like(logits) * self.router_noise_std
        top_index = logits.topk(self.top_k, dim=-1).indices
        dispatch = torch.zeros_like(logits).scatter(-1, top_index, 1.0)
        return Routing(logits.softmax(-1), dispatch, ids)

    @staticmethod
    def _sparse_gates(routing: Routing) -> Tensor:
        """``(T, E_t)``: softmax over each token's top-k logits, renormalised, 0 elsewhere."""
        gated = routing.probs * routing.dispatch
        return gated / gated.sum(-1, keepdim=True)

    def gates(self, tokens: Tensor, task: str) -> Tensor:
        """Sparse expert weights of one task's router over the whole bank.

        Args:
            tokens: ``(T, C)`` tokens.
            task: One of ``tasks``.

        Returns:
            Tensor: ``(T, E)``: a softmax over each token's top-k router logits, 0 elsewhere
            (always 0 on other tasks' private experts).
        """
        routing = self.route(tokens, task)
        full = tokens.new_zeros(tokens.shape[0], self.num_total_experts)
        return full.index_copy(1, routing.expert_ids, self._sparse_gates(routing))

    def _experts(self, tokens: Tensor, ids: Tensor) -> Tensor:
        """``(len(ids), T, C)``: the selected experts applied to every token."""
        hidden = torch.einsum('tc,ecf->etf', tokens, self.w_in[ids]) + self.b_in[ids]
        hidden = self.dropout(F.gelu(hidden))
        return torch.einsum('etf,efc->etc', hidden, self.w_out[ids]) + self.b_out[ids]

    def forward_tasks(self, x: Tensor, tasks: Sequence[str]) -> Dict[str, Tensor]:
        """Mix the experts for several tasks reading the same tokens (each expert runs once).

        Token ``t``'s output for task ``k`` is ``sum_e gate_k[t, e] * expert_e(x_t)``.

        Args:
            x: ``(..., C)`` tokens, e.g. ``(B, L, C)`` BEV queries.
            tasks: Tasks to compute, each one of ``tasks``.

        Returns:
            dict: ``{task: (..., C)}``, each the shape of ``x``.

        Raises:
            KeyError: A task has no router.
        """
        tokens = x.reshape(-1, x.shape[-1])
        routings = {task: self.route(tokens, task) for task in tasks}
        used = torch.unique(torch.cat([r.expert_ids for r in routings.values()]))
        experts = self._experts(tokens, used)  # (len(used), T, C)
        slot = torch.full((self.num_total_experts, ), -1, dtype=torch.long, device=used.device)
        slot[used] = torch.arange(len(used), device=used.device)
        out = {}
        for task, routing in routings.items():
            self.last_routing[task] = routing
            mixed = torch.einsum('te,etc->tc', self._sparse_gates(routing),
                                 experts[slot[routing.expert_ids]])
            out[task] = mixed.reshape(x.shape)
        return out

    def forward(self, x: Tensor, task: str) -> Tensor:
        """Mix the experts with the ``task`` router's top-k gates (see :meth:`forward_tasks`).

        Args:
            x: ``(..., C)`` tokens.
            task: One of ``tasks``; selects the router.

        Returns:
            Tensor: ``(..., C)``, the same shape as ``x``.

        Raises:
            KeyError: ``task`` has no router.
        """
        return self.forward_tasks(x, (task, ))[task]

    def balance_loss(self, routing: Routing) -> Tensor:
        """The configured balancing loss of one recorded routing (scalar)."""
        if self.balance == 'switch':
            return switch_balance_loss(routing.probs, routing.dispatch)
        return importance_cv_loss(routing.probs)

    def usage(self, routing: Optional[Routing] = None, task: Optional[str] = None) -> Tensor:
        """Share of the top-k slots each bank expert received (detached, sums to 1).

        Args:
            routing: A :class:`Routing`; default the last one recorded for ``task``.
            task: Task whose last routing to read when ``routing`` is None.

        Returns:
            Tensor: ``(E, )``; 0 for experts the task cannot use.
        """
        if routing is None:
            if task not in self.last_routing:
                raise KeyError(f'MultiTaskMoEFFN: no routing recorded for task {task!r}; '
                               'run forward first')
            routing = self.last_routing[task]
        counts = routing.dispatch.detach().sum(0)
        full = counts.new_zeros(self.num_total_experts)
        full = full.index_copy(0, routing.expert_ids, counts)
        return full / full.sum().clamp(min=1)
