"""FLOPs of one forward pass, with spconv sparse convolutions counted by their voxel pairs.

mmengine's complexity counter (and fvcore's) counts dense modules only: a spconv layer is
invisible to it. :class:`FlopCounter` counts

* dense operators with the formulas of ``torch.utils.flop_counter.FlopCounterMode``
  (``convolution``, ``mm``, ``addmm``, ``bmm``, ``baddbmm``, the CUDA attention kernels), plus
  two it lacks: ``aten._scaled_dot_product_flash_attention_for_cpu`` (``F.scaled_dot_product_
  attention`` on CPU) and ``aten._native_multi_head_attention`` (``nn.MultiheadAttention``'s
  inference fast path), which FlopCounterMode counts as zero. Attention is counted by its
  matmuls: projections, ``Q K^T`` and ``softmax(.) V``;
* every spconv convolution (any ``spconv.pytorch.conv.SparseConvolution``: ``SubMConv3d``,
  ``SparseConv3d``, ``SparseInverseConv3d``, the device-aware layers of
  :mod:`mmdet3d_plugin.ops.sparse`) as ``pairs x Cin x Cout x 2``, ``pairs`` the (input voxel,
  output voxel, kernel offset) triples of its rulebook (:func:`.sparse_pairs.sparse_conv_pairs`).

Convention: FLOPs = 2 x multiply-adds (FlopCounterMode's: ``mm`` of ``(m, k) x (k, n)`` is
``2 m n k``). Bias additions, normalisation, activations, pooling, interpolation, grid sampling,
voxel scatter / BEV pooling and other element-wise work are not counted, for dense and sparse
layers alike. A dense conv counts every kernel tap of every output position, zero padding
included: ``out_positions x prod(kernel) x Cin / groups x Cout x 2``.

What FlopCounterMode sees of spconv: on CPU the Native algorithm gathers the input voxels of
each kernel offset and calls ``torch.mm`` (spconv's ``TorchSpconvMatmul``), so FlopCounterMode
counts ``2 x pairs x Cin x Cout`` as ``aten.mm``; 1x1 kernels run one ``torch.mm``. On CUDA
the rulebook GEMMs run in spconv's own kernels and FlopCounterMode sees nothing. The dense
operators that run inside a sparse conv are therefore never added to the total (that would
count the CPU path twice); they are kept in :attr:`FlopReport.replaced` for comparison.

Relation to a dense conv on a fully occupied grid: the rulebook holds the in-bounds taps only,
``prod over axes of sum_o #{k : 0 <= o * stride - pad + k * dilation < n}`` for a regular
conv (a sub-manifold conv is the regular conv with stride 1 and padding ``kernel // 2``), while
the dense conv also counts the taps that read zero padding. The two are equal exactly when no
tap reads padding (padding 0, or 1x1 kernels).
"""
from collections import defaultdict
from dataclasses import dataclass, field
from math import prod
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .sparse_pairs import sparse_conv_pairs

#: Name of the root module in the per-module tables.
ROOT = '(root)'
#: ``by_op`` key of the sparse-conv FLOPs.
SPARSE_OP = 'spconv'


def _sdpa_cpu_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """``softmax(Q K^T) V``: ``2 B L S E + 2 B L S Ev`` (``Q (..., L, E)``, ``V (..., S, Ev)``)."""
    batch, length, dim = prod(query_shape[:-2]), query_shape[-2], query_shape[-1]
    return 2 * batch * length * key_shape[-2] * (dim + value_shape[-1])


def _native_mha_flop(query_shape, key_shape, value_shape, embed_dim, num_head, qkv_weight_shape,
                     *args, out_shape=None, **kwargs) -> int:
    """``nn.MultiheadAttention`` fast path, batch first: ``query (B, L, E)``, ``key (B, S, E)``.

    In-projections ``2 B (L + 2 S) E^2``, ``Q K^T`` and ``softmax(.) V`` ``2 x 2 B L S E``
    (summed over the heads), out-projection ``2 B L E^2``.
    """
    batch, length, dim = query_shape
    source = key_shape[-2]
    return (2 * batch * (length + 2 * source) * dim * dim + 4 * batch * length * source * dim
            + 2 * batch * length * dim * dim)


#: Formulas FlopCounterMode lacks (its ``custom_mapping``; tensor arguments become shapes).
EXTRA_FORMULAS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flop,
    torch.ops.aten._native_multi_head_attention: _native_mha_flop,
}


def _sparse_conv_type() -> Optional[type]:
    """spconv's convolution base class, or None without spconv (no layer can then be one)."""
    try:
        from spconv.pytorch.conv import SparseConvolution
    except ImportError:
        return None
    return SparseConvolution


@dataclass
class FlopReport:
    """FLOPs of one counted forward (FLOPs = 2 x multiply-adds).

    Attributes:
        total (int): Every counted FLOP.
        by_module (dict): Qualified module name (:data:`ROOT` for the model's own code) ->
            FLOPs of the operators that module ran itself, not inside a child (exclusive).
        module_types (dict): Qualified module name -> class name, for every module that ran.
        by_op (dict): ``'aten.mm'``, ``'aten.convolution'``, ... and :data:`SPARSE_OP` -> FLOPs.
        sparse_pairs (dict): Qualified name of each spconv convolution -> rulebook pairs
            (summed over its calls).
        replaced (dict): Qualified name of each spconv convolution -> dense FLOPs its own
            operators showed the dispatcher (spconv's CPU ``torch.mm`` calls), not counted.
    """
    total: int = 0
    by_module: Dict[str, int] = field(default_factory=dict)
    module_types: Dict[str, str] = field(default_factory=dict)
    by_op: Dict[str, int] = field(default_factory=dict)
    sparse_pairs: Dict[str, int] = field(default_factory=dict)
    replaced: Dict[str, int] = field(default_factory=dict)

    @property
    def sparse(self) -> int:
        """FLOPs of the spconv convolutions."""
        return self.by_op.get(SPARSE_OP, 0)

    def by_type(self) -> Dict[str, int]:
        """Module class name -> FLOPs its instances ran themselves, largest first."""
        totals = defaultdict(int)
        for name, flops in self.by_module.items():
            totals[self.module_types.get(name, ROOT)] += flops
        return dict(sorted(totals.items(), key=lambda item: -item[1]))

    def by_top_level(self) -> Dict[str, int]:
        """Top-level submodule name -> FLOPs inside it (inclusive), in call order;
        :data:`ROOT` for the operators the model ran outside its submodules."""
        totals = defaultdict(int)
        for name, flops in self.by_module.items():
            totals[name.split('.', 1)[0]] += flops
        return dict(totals)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready summary (integers; GFLOPs = 1e9 FLOPs)."""
        return dict(total=self.total, gflops=self.total / 1e9, convention='2 x multiply-adds',
                    by_top_level=self.by_top_level(), by_type=self.by_type(),
                    by_op=dict(self.by_op), by_module=dict(self.by_module),
                    sparse_pairs=dict(self.sparse_pairs), replaced=dict(self.replaced))

    def format_table(self, max_types: int = 15) -> str:
        """Markdown tables: total, per top-level submodule, per module type with FLOPs."""
        def rows(title, items):
            lines = [f'| {title} | GFLOPs | % |', '|---|---:|---:|']
            for key, flops in items:
                share = 100.0 * flops / self.total if self.total else 0.0
                lines.append(f'| {key} | {flops / 1e9:.4f} | {share:.1f} |')
            return lines
        top = [(f'{name} ({self.module_types.get(name, "-")})' if name != ROOT else ROOT, flops)
               for name, flops in self.by_top_level().items()]
        types = [(name, flops) for name, flops in self.by_type().items() if flops]
        if len(types) > max_types:
            rest = sum(flops for _, flops in types[max_types:])
            types = types[:max_types] + [(f'{len(types) - max_types} other types', rest)]
        lines = [f'Total: {self.total / 1e9:.4f} GFLOPs (FLOPs = 2 x multiply-adds; '
                 f'{self.sparse / 1e9:.4f} of them in {len(self.sparse_pairs)} sparse convs)',
                 ''] + rows('Submodule', top) + [''] + rows('Module type', types)
        return '\n'.join(lines)


class _NoModuleTracker:
    """Stands in for FlopCounterMode's ``ModuleTracker``, which :class:`FlopCounter` does not
    need (it keeps its own module stack) and which fails on a module called under ``no_grad``
    with a view of a parameter (``requires_grad`` and no ``grad_fn``: ``query_feat.weight[None]
    .expand(...)`` in SparseOcc's head): "AssertionError: Expected gradient function to be set"
    from its multi-grad hook (torch 2.14)."""
    parents = ()

    def __enter__(self) -> '_NoModuleTracker':
        return self

    def __exit__(self, *exc) -> None:
        return None


class _DispatchCounter(FlopCounterMode):
    """FlopCounterMode whose counts go to :class:`FlopCounter` (which attributes them)."""

    def __init__(self, sink: Callable[[str, int], None]):
        super().__init__(display=False, custom_mapping=EXTRA_FORMULAS)
        self.mod_tracker = _NoModuleTracker()
        self._sink = sink

    def _count_flops(self, func_packet, out, args, kwargs):
        formula = self.flop_registry.get(func_packet)
        if formula is not None:
            self._sink(str(func_packet), int(formula(*args, **kwargs, out_val=out)))
        return out


class FlopCounter:
    """Context manager counting the FLOPs of ``model``'s forwards run inside it.

    Every operator is attributed to the innermost module of ``model`` running it (forward
    hooks keep the module stack); a spconv convolution counts ``pairs x Cin x Cout x 2`` and
    the dense operators inside it are set aside (see the module docstring).

    Args:
        model (nn.Module): The model; only its modules are hooked (and unhooked on exit).

    Example:
        >>> with FlopCounter(model) as counter, torch.no_grad():
        ...     model(x)
        >>> counter.report.total
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.report = FlopReport()
        self._stack: List[Tuple[str, nn.Module]] = []
        self._sparse_depth = 0
        self._handles = []
        self._mode: Optional[_DispatchCounter] = None

    def _current(self) -> str:
        return self._stack[-1][0] if self._stack else ROOT

    def _record(self, op: str, flops: int) -> None:
        if not flops:
            return
        name = self._current()
        report = self.report
        if self._sparse_depth:
            report.replaced[name] = report.replaced.get(name, 0) + flops
            return
        report.total += flops
        report.by_module[name] = report.by_module.get(name, 0) + flops
        report.by_op[op] = report.by_op.get(op, 0) + flops

    def _hooks(self, name: str, module: nn.Module, sparse: bool):
        def pre(mod, args):
            self._stack.append((name, mod))
            self.report.module_types.setdefault(name, type(mod).__name__)
            self.report.by_module.setdefault(name, 0)
            if sparse:
                self._sparse_depth += 1

        def post(mod, args, output):
            try:
                if sparse and output is not None:
                    self._count_sparse(name, mod, args[0], output)
            finally:
                if sparse:
                    self._sparse_depth -= 1
                self._stack.pop()
        return pre, post

    def _count_sparse(self, name: str, conv, inputs, outputs) -> None:
        pairs = sparse_conv_pairs(conv, inputs, outputs)
        report = self.report
        report.sparse_pairs[name] = report.sparse_pairs.get(name, 0) + pairs
        flops = 2 * pairs * conv.in_channels * conv.out_channels
        depth, self._sparse_depth = self._sparse_depth, 0
        try:
            self._record(SPARSE_OP, flops)
        finally:
            self._sparse_depth = depth

    def __enter__(self) -> 'FlopCounter':
        self.report = FlopReport(module_types={ROOT: type(self.model).__name__})
        sparse_type = _sparse_conv_type()
        for name, module in self.model.named_modules():
            sparse = sparse_type is not None and isinstance(module, sparse_type)
            pre, post = self._hooks(name or ROOT, module, sparse)
            self._handles.append(module.register_forward_pre_hook(pre))
            self._handles.append(module.register_forward_hook(post, always_call=True))
        self._mode = _DispatchCounter(self._record)
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._mode.__exit__(*exc)
        finally:
            self._mode = None
            for handle in self._handles:
                handle.remove()
            self._handles.clear()
            self._stack.clear()
            self._sparse_depth = 0


def count_flops(model: nn.Module, forward: Callable[[nn.Module], Any]) -> FlopReport:
    """FLOPs of ``forward(model)``, run once without gradients.

    Args:
        model (nn.Module): The model (hooked while counting).
        forward (callable): Runs the pass to count, e.g. ``lambda m: m(x)`` or
            ``lambda m: m(**batch, mode='tensor')``; its result is discarded.

    Returns:
        FlopReport: Total, per module, per type and per operator (FLOPs = 2 x multiply-adds).
    """
    with FlopCounter(model) as counter, torch.no_grad():
        forward(model)
    return counter.report
