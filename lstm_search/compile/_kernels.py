"""Backends: objects that run one layer's planned computation over a whole sequence.

``eager``    :func:`~._eager.run_eager`, the reference, autograd through plain PyTorch ops.
``script``   the generated TorchScript program (:mod:`._codegen`). With ``fused_backward``
             (the default) training runs ``forward_save`` inside a ``torch.autograd.Function``
             whose backward is the generated reverse loop: weight gradients are then one matrix
             product over the whole sequence, and on CPU float32 every product uses oneDNN with
             weights packed once per call (:mod:`._gemm`). Without it, autograd runs through the
             TorchScript forward. Inference (no gradient needed) always runs ``forward``.
             A spatial plan (genome format 2's ``values``) runs its generated forward with
             convolutions under autograd (no generated backward, no oneDNN packing).
``compile``  ``torch.compile`` of the eager interpreter (autograd through inductor's graph).
``native``   C++ generated for the layer (:mod:`._native`): the script backend's calling
             convention and generated backward, with every pointwise op of a step fused into
             one loop; built once per machine and cached (:mod:`._native_build`). On CUDA
             tensors the CUDA kernels of the same generator (nvcc, built on first use). A plan
             it does not cover, a machine without g++ and ninja, or CUDA tensors without nvcc
             run the script backend instead, with one warning naming why.

A plan whose recurrence is diagonal and linear (:attr:`Plan.scannable`: minGRU, minLSTM, HGRN,
RG-LRU ...) runs in the eager and script backends as a scan over the whole sequence
(:class:`ScanKernel`, :mod:`._scan`) instead of the step loop, unless ``scan=False``; the
compile backend keeps the loop, and so does the native one (its fused loop is the faster,
see :func:`_native_or_script`), unless it cannot run the plan (HGRN's norm): then the scan.
A head-wise plan that is xLSTM's stabilised matrix memory (:attr:`Plan.chunkwise`: the mLSTM)
runs in every backend in chunks of products (:class:`MemoryKernel`, :mod:`._memory`) instead
of the step loop, unless ``scan=False``.

Every kernel takes ``params``: the layer's parameters by name (``weight_x``, ``bias_s0``,
``diag_v3`` ...; block-triangular weights dense, :func:`~._params.dense_params`), and for
genome format 2 the layer below's values ``below`` (None: zeros), the clock's first step
``t0`` and the dropout masks drawn for the call (:attr:`Plan.masks`; None: evaluation, no
dropout); it returns ``(outputs (T, B, n), [final states (B, n)], [values (T, B, n) of the
states in plan.below, for the layer above])``.
"""

from __future__ import annotations

import functools
import os
import types
import warnings
from typing import Any

import torch
from torch import Tensor

from lstm_search.compile import _gemm
from lstm_search.compile._codegen import Layout, layout, program_source
from lstm_search.compile._eager import diag_weight, full_bias, group_weight, run_eager
from lstm_search.compile._memory import run_memory
from lstm_search.compile._native import native_layout, native_refusal, native_source
from lstm_search.compile._plan import Plan, clock_mask
from lstm_search.compile._scan import affine_scan, run_scan, scripted_scan
from lstm_search.genome import module_sizes

BACKENDS: tuple[str, ...] = ("eager", "script", "compile", "native")


@functools.lru_cache(maxsize=1024)
def script_unit(source: str) -> Any:
    """Compile generated source into a TorchScript CompilationUnit (cached by source)."""
    with warnings.catch_warnings():
        # TorchScript warns that it is deprecated (torch >= 2.13); it still works.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*(TorchScript|torch\\.jit).*")
        return torch.jit.CompilationUnit(source)


def clear_kernel_cache() -> None:
    """Forget the compiled TorchScript units, so that the next layer compiles cold (the
    compile latency a benchmark reports)."""
    script_unit.cache_clear()


def _weights(plan: Plan, lay: Layout, params: dict[str, Tensor]) -> list[Tensor]:
    """Arguments of the generated code in :class:`Layout` order (biases padded to full rows)."""
    out: list[Tensor] = []
    n = plan.hidden_size
    for g in plan.groups:
        out.append(group_weight(g, params))  # head-wise blocks assembled: autograd carries back
        if g.n_bias:
            b = full_bias(params[g.bias_name], len(g.members) * n)
            assert b is not None
            out.append(b)
    # the diagonal itself (σ(p), softplus(p) ... for a diag with such a weight): autograd
    # carries its gradient back to the learned vector p
    weight = {s.pos: s.weight for s in plan.steps if s.op == "diag"}
    out += [diag_weight(params[f"diag_v{k}"], weight[k]) for k in plan.diags]
    for st in plan.attentions:  # format 2: W_k and v of each attention
        out += [params[f"key_v{st.pos}"], params[f"score_v{st.pos}"]]
    for st in plan.steps:  # format 2, head-wise values: each head_linear's rows and bias
        if st.op == "hproj":
            out.append(params[f"hweight_v{st.pos}"])
            if st.bias:
                out.append(params[f"hbias_v{st.pos}"])
    return out


class _FromPlan:
    """A kernel that copies and pickles rebuild from its plan and backend name (compiled code
    is not copyable)."""

    plan: Plan
    name: str

    def __reduce__(self) -> tuple[Any, ...]:
        return (make_kernel, (self.plan, self.name))


class EagerKernel(_FromPlan):
    name = "eager"

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def __call__(self, x: Tensor, states: list[Tensor], params: dict[str, Tensor],
                 below: list[Tensor] | None = None, t0: int = 0,
                 dropout: list[Tensor] | None = None
                 ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        return run_eager(self.plan, params, x, states, below, t0, dropout)


# the torch.compile backend of the "compile" kernels (tests use "eager", dynamo alone)
_TORCH_COMPILE_BACKEND = "inductor"


def _own_function(plan: Plan) -> Any:
    """``run_eager`` bound to ``plan`` as a function with a code object of its own.

    Dynamo keeps the graphs it compiled per code object, and only ``recompile_limit`` (8) of
    them; past that it runs the function uncompiled, with one warning. Kernels sharing one
    function (a ``functools.partial`` of ``run_eager``: every kernel's frame is then dynamo's
    one wrapper of partials) stop being compiled after eight cells or shapes in a process, as
    a search compiling many genomes soon does. A fresh code object per kernel gives each
    kernel its own cache (up to eight shapes each).
    """
    def call(params: dict[str, Tensor], x: Tensor, states: list[Tensor],
             below: list[Tensor] | None, t0: int, masks: list[Tensor] | None = None
             ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        return run_eager(plan, params, x, states, below, t0, masks)

    return types.FunctionType(call.__code__.replace(), call.__globals__, call.__name__,
                              call.__defaults__, call.__closure__)


class CompileKernel(_FromPlan):
    """``torch.compile`` of the eager interpreter; the first call per shape takes tens of
    seconds on CPU (inductor generates and builds C++). Each kernel compiles a function of
    its own (see :func:`_own_function`)."""

    name = "compile"

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.target = _own_function(plan)
        self._fn = torch.compile(self.target, dynamic=False, backend=_TORCH_COMPILE_BACKEND)

    def __call__(self, x: Tensor, states: list[Tensor], params: dict[str, Tensor],
                 below: list[Tensor] | None = None, t0: int = 0,
                 dropout: list[Tensor] | None = None
                 ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        below = list(below or [])
        inputs = [x, *states, *below, *params.values()]
        if torch.is_grad_enabled() and any(t.requires_grad for t in inputs):
            meta = (self, len(states), len(below), list(params), t0, dropout)
            out = _CompiledLayer.apply(meta, *inputs)
            n = len(states)
            return out[0], list(out[1:1 + n]), list(out[1 + n:])
        y, s, e = self._fn(params, x, states, below or None, t0, dropout)
        return y, list(s), list(e)

    def run(self, fn: Any, inputs: tuple[Tensor, ...], meta: tuple[Any, ...]) -> list[Tensor]:
        """``fn`` (the compiled function or the eager interpreter) on flat ``inputs``: the
        outputs flat, (y, *states, *values for the layer above)."""
        _, n_states, n_below, names, t0, dropout = meta
        x = inputs[0]
        states = list(inputs[1:1 + n_states])
        below = list(inputs[1 + n_states:1 + n_states + n_below])
        params = dict(zip(names, inputs[1 + n_states + n_below:], strict=True))
        y, s, e = fn(params, x, states, below or None, t0, dropout)
        return [y, *s, *e]


class _CompiledLayer(torch.autograd.Function):
    """The compiled forward with inductor's backward, and, for a backward taken with
    ``create_graph=True`` (gradient penalties, ``gradgradcheck``), the eager interpreter's
    forward recomputed and differentiated by autograd: inductor's graphs have no double
    backward ("torch.compile with aot_autograd does not currently support double backward")."""

    @staticmethod
    def forward(ctx: Any, meta: tuple[Any, ...], *inputs: Tensor) -> tuple[Tensor, ...]:
        kernel = meta[0]
        with torch.enable_grad():  # the compiled graph, kept for the first-order backward
            leaves = tuple(t.detach().requires_grad_(t.requires_grad) for t in inputs)
            outs = kernel.run(kernel._fn, leaves, meta)
        ctx.meta, ctx.leaves, ctx.outs = meta, leaves, outs
        ctx.save_for_backward(*inputs)
        return tuple(o.detach() for o in outs)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Any, ...]:
        inputs = ctx.saved_tensors
        want = [i for i, t in enumerate(inputs) if ctx.needs_input_grad[1 + i]]
        if torch.is_grad_enabled():  # create_graph: the eager forward, differentiable again
            outs = ctx.meta[0].run(ctx.meta[0].target, inputs, ctx.meta)
            sources = [inputs[i] for i in want]
        else:
            outs, sources = ctx.outs, [ctx.leaves[i] for i in want]
        pairs = [(o, g) for o, g in zip(outs, grads, strict=True)
                 if g is not None and o.requires_grad]
        got = torch.autograd.grad([o for o, _ in pairs], sources, [g for _, g in pairs],
                                  create_graph=torch.is_grad_enabled(), allow_unused=True)
        result: list[Any] = [None] * len(inputs)
        for i, g in zip(want, got, strict=True):
            result[i] = g
        return (None, *result)


class ScriptKernel:
    name = "script"

    def __init__(self, plan: Plan, fused_backward: bool = True) -> None:
        self.plan = plan
        self.layout = layout(plan)
        # format 2's attention, spatial and head-wise values have no generated backward:
        # autograd runs through the TorchScript forward (as with fused_backward=False); a
        # spatial plan's products are convolutions, and neither is packed for oneDNN
        self.fused_backward = (fused_backward and not plan.attentions and not plan.kernel
                               and not plan.heads)
        self.onednn = _gemm.onednn_available() and not plan.kernel and not plan.heads
        self.source = program_source(plan, onednn=self.onednn, backward=self.fused_backward)
        self.unit = script_unit(self.source)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_make_script, (self.plan, self.fused_backward))

    @property
    def recompute_unit(self) -> Any:
        """The program whose forward a differentiable backward (``create_graph=True``)
        recomputes under autograd: TorchScript's."""
        return self.unit

    def can_pack(self, x: Tensor) -> bool:
        """Whether this call's products take the packed oneDNN path (:mod:`._gemm`)."""
        return _gemm.can_pack(x)

    def packed_weights(self, weights: list[Tensor], batch: int, steps: int) -> list[Tensor]:
        """Weights with every matrix packed for oneDNN (x's for T·B rows, others for B)."""
        out = list(weights)
        i = 0
        for g in self.plan.groups:
            out[i] = _gemm.pack(weights[i], steps * batch if g.hoisted else batch)
            i += 2 if g.n_bias else 1
        return out

    def row_slices(self, weights: list[Tensor], batch: int, packed: bool,
                   transposed: bool = False) -> list[list[Tensor]]:
        """For each sleepy group (:attr:`Plan.sleepy`), its weight's first rows for 1, 2, ...
        g active modules (``transposed``: their transposes, for the backward), each packed
        for oneDNN when ``packed``."""
        out: list[list[Tensor]] = []
        w_of = dict(zip(self.layout.weights, weights, strict=True))
        for gid, _ in self.plan.sleepy:
            w = w_of[f"w{gid}"]
            rows = [w[:r].t() if transposed else w[:r] for r in self._prefixes(gid)]
            out.append([_gemm.pack(r, batch) for r in rows] if packed else rows)
        return out

    def _prefixes(self, gid: int) -> list[int]:
        """Active rows of a sleepy group with 1, 2, ... g modules active."""
        g = self.plan.groups[gid]
        sizes = module_sizes(self.plan.hidden_size, g.blocks)
        return [max(1, sum(sizes[:a])) for a in range(1, len(sizes) + 1)]

    def schedule(self, T: int, t0: int, device: torch.device) -> list[Any]:
        """The clocks' arguments of the generated code: each clock's (T, 1, n) schedule, then
        for the clocks of sleepy groups the active rows and modules (less one) per step."""
        plan = self.plan
        masks = [clock_mask(c, plan.hidden_size, T, t0, device).unsqueeze(1)
                 for c in plan.clocks]
        out: list[Any] = list(masks)
        by_pos = {c.pos: m for c, m in zip(plan.clocks, masks, strict=True)}
        for pos in sorted({pos for _, pos in plan.sleepy}):
            rows = by_pos[pos][:, 0].sum(1).tolist()  # a prefix of the units (module_sizes)
            gid = next(g for g, p in plan.sleepy if p == pos)
            prefixes = self._prefixes(gid)
            out += [rows, [prefixes.index(max(r, 1)) for r in rows]]
        return out

    def __call__(self, x: Tensor, states: list[Tensor], params: dict[str, Tensor],
                 below: list[Tensor] | None = None, t0: int = 0,
                 dropout: list[Tensor] | None = None
                 ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        weights = _weights(self.plan, self.layout, params)
        plan = self.plan
        T, B = x.shape[0], x.shape[1]
        # format 2: the layer below's values (zeros in the first layer), the clocks' schedules,
        # then the dropout masks (ones in evaluation)
        if below is None:
            below = [x.new_zeros(T, B, plan.hidden_size) for _ in plan.below]
        masks = self.schedule(T, t0, x.device)
        masks += list(dropout) if dropout is not None else [
            x.new_ones(B, m.width) for m in plan.masks]
        grad = torch.is_grad_enabled() and (
            x.requires_grad or any(t.requires_grad for t in (*states, *below, *weights)))
        if grad and self.fused_backward:
            out = _FusedLayer.apply(self, masks, x, *states, *below, *weights)
        elif grad and (plan.attentions or plan.kernel or plan.masks or plan.heads):
            out = self._forward_attention(x, states, below, masks, weights)
        else:
            packed = not grad and not plan.kernel and not plan.heads and self.can_pack(x)
            ws = self.packed_weights(weights, B, T) if packed else weights
            out = self.unit.forward(x, *states, *below, *masks,
                                    *self.row_slices(weights, B, packed), *ws, packed)
        ns = plan.n_states
        return out[0], list(out[1:1 + ns]), list(out[1 + ns:1 + ns + len(plan.below)])


    def _forward_attention(self, x: Tensor, states: list[Tensor], below: list[Tensor],
                           masks: list[Any], weights: list[Tensor]) -> Any:
        """The TorchScript forward of a plan with attention (or spatial or head-wise values),
        differentiated by autograd op by op: run without the graph executor's optimisations,
        whose differentiable subgraphs return gradients of the wrong shape from the second
        call on for a fused state product with a bias on some rows only (a mutant of
        lstm_attention, the same fault as noted for ``fused_backward=False`` in
        tests/compile/test_compile_seed_systems.py)."""
        with torch.jit.optimized_execution(False):
            return self.unit.forward(x, *states, *below, *masks,
                                     *self.row_slices(weights, x.shape[1], False), *weights,
                                     False)


class _FusedLayer(torch.autograd.Function):
    """One layer over the whole sequence with the generated backward.

    Inputs: the kernel, the clocks' schedules, x (T, B, m), the states (B, n) each, the layer
    below's values (T, B, n) each (format 2), the weights in Layout order. Outputs: y
    (T, B, n), the final states and the values emitted for the layer above (format 2). The
    generated backward is not itself differentiable; when the gradient is asked with
    ``create_graph=True`` (double backward, gradient penalties, ``gradgradcheck``) the backward
    instead differentiates a recomputation of the TorchScript forward, which autograd can
    differentiate again.
    """

    @staticmethod
    def forward(ctx: Any, kernel: ScriptKernel, masks: list[Tensor], x: Tensor,
                *rest: Tensor) -> tuple[Tensor, ...]:
        plan = kernel.plan
        ns, nb = plan.n_states, len(plan.below)
        states, below = list(rest[:ns]), list(rest[ns:ns + nb])
        weights = list(rest[ns + nb:])
        packed = kernel.can_pack(x)
        ws = kernel.packed_weights(weights, x.shape[1], x.shape[0]) if packed else weights
        out = kernel.unit.forward_save(x, *states, *below, *masks,
                                       *kernel.row_slices(weights, x.shape[1], packed), *ws,
                                       packed)
        ctx.kernel = kernel
        ctx.packed = packed
        ctx.masks = masks
        ctx.save_for_backward(x, *weights, *out[1 + ns + nb:], *states, *below)
        return tuple(out[:1 + ns + nb])

    @staticmethod
    def backward(ctx: Any, dy: Tensor | None, *dstates: Tensor | None) -> tuple[Any, ...]:
        if torch.is_grad_enabled():  # create_graph=True: a differentiable backward
            return _FusedLayer._backward_by_recompute(ctx, dy, dstates)
        return _FusedLayer._backward_generated(ctx, dy, dstates)

    @staticmethod
    def _backward_by_recompute(ctx: Any, dy: Tensor | None,
                               dstates: tuple[Tensor | None, ...]) -> tuple[Any, ...]:
        kernel: ScriptKernel = ctx.kernel
        lay, ns = kernel.layout, kernel.plan.n_states
        saved = ctx.saved_tensors
        x = saved[0]
        weights = list(saved[1:1 + len(lay.weights)])
        rest = list(saved[1 + len(lay.weights) + len(lay.saved):])
        states, below = rest[:ns], rest[ns:]
        with torch.enable_grad():
            out = kernel.recompute_unit.forward(x, *states, *below, *ctx.masks,
                                      *kernel.row_slices(weights, x.shape[1], False),
                                      *weights, False)
            pairs = [(o, d) for o, d in zip(out, (dy, *dstates), strict=True)
                     if d is not None]
            inputs = [x, *states, *below, *weights]
            wanted = [i for i in inputs if i.requires_grad]
            grads = iter(torch.autograd.grad([o for o, _ in pairs], wanted,
                                             [d for _, d in pairs], create_graph=True,
                                             allow_unused=True) if wanted and pairs else ())
        return (None, None, *(next(grads) if i.requires_grad else None for i in inputs))

    @staticmethod
    def _backward_generated(ctx: Any, dy: Tensor | None,
                            dstates: tuple[Tensor | None, ...]) -> tuple[Any, ...]:
        kernel: ScriptKernel = ctx.kernel
        plan, lay = kernel.plan, kernel.layout
        n = plan.hidden_size
        saved = ctx.saved_tensors
        x = saved[0]
        weights = list(saved[1:1 + len(lay.weights)])
        stash = dict(zip(lay.saved, saved[1 + len(lay.weights):1 + len(lay.weights)
                                          + len(lay.saved)], strict=True))
        for r in lay.from_input:  # saved as the input itself, not a copy
            stash[r] = x
        w_of = dict(zip(lay.weights, weights, strict=True))
        T, B = x.shape[0], x.shape[1]
        like = stash[lay.saved[0]] if lay.saved else x.new_zeros(T, B, n)
        dy = dy if dy is not None else like.new_zeros(T, B, n)
        ns, nb = plan.n_states, len(plan.below)
        ds = [d if d is not None else like.new_zeros(B, n) for d in dstates[:ns]]
        dem = [d.contiguous() if d is not None else like.new_zeros(T, B, n)
               for d in dstates[ns:ns + nb]]
        packed = ctx.packed
        wts = []
        for gid in lay.step_groups:  # dq @ W, as a product with the weight W^T (in, K·n)
            wt = w_of[f"w{gid}"].t()
            wts.append(_gemm.pack(wt, B) if packed else wt)
        ps = [w_of[f"p{k}"] for k in plan.diags]
        if lay.loop_bias:  # the x group's bias, read where the loop reads its products
            ps.append(w_of[f"b{plan.x_group.gid}"])  # type: ignore[union-attr]
        res = kernel.unit.backward(dy.contiguous(), *ds, *dem,
                                   *[stash[r] for r in lay.saved], *wts, *ps, *ctx.masks,
                                   *kernel.row_slices(weights, B, packed, transposed=True),
                                   packed)
        dxp = res[0]
        dxt: Tensor | None = res[1] if plan.uses_xt else None
        dstate0 = list(res[2:2 + ns])
        dqs = dict(zip(lay.step_groups, res[2 + ns:2 + ns + len(lay.step_groups)], strict=True))
        k = 2 + ns + len(lay.step_groups)
        dps = dict(zip(plan.diags, res[k:k + len(plan.diags)], strict=True))
        k += len(plan.diags)
        dbias = res[k] if lay.loop_bias else None  # summed by the loop
        dbelow = list(res[k + (1 if lay.loop_bias else 0):])
        grads: dict[str, Tensor] = {}
        dx = None
        xg = plan.x_group
        # format 2: the dropout masks (B, width), last of the clocks' arguments
        drop = list(ctx.masks[len(ctx.masks) - len(plan.masks):]) if plan.masks else []
        if xg is not None:
            wx = w_of[f"w{xg.gid}"]
            dxp2 = dxp.reshape(T * B, -1)  # (T·B, Kx·n): one product over the sequence
            xin = x
            if dxt is not None and not packed and xg.mask < 0:
                # the raw input's own gradient (fresh from the backward) takes the product's
                # in place (beta = 1): no new tensor and no separate add (RG-LRU, hidden 200,
                # 35 steps, 1 thread, both orders of the pair, 3 times: 2 % faster)
                dx = dxt.view(T * B, -1).addmm_(dxp2, wx).view(T, B, -1)
                dxt = None
            else:
                dx = _gemm.linear(dxp2, _gemm.pack(wx.t(), T * B) if packed else wx.t(), None,
                                  packed).reshape(T, B, -1)
            if xg.mask >= 0:  # the product read x ⊙ mask
                dx = dx * drop[xg.mask]
                xin = x * drop[xg.mask]
            grads[f"w{xg.gid}"] = dxp2.t().mm(xin.reshape(T * B, -1))
            if xg.n_bias:
                grads[f"b{xg.gid}"] = dxp2.sum(0) if dbias is None else dbias
        if dxt is not None:
            dx = dxt if dx is None else dx + dxt
        for g in plan.step_groups:
            dq2 = dqs[g.gid].reshape(T * B, -1)  # (T·B, K·n)
            src = stash[g.source]  # the product's input at every step (times its mask)
            src = (src * drop[g.mask] if g.mask >= 0 else src).reshape(T * B, -1)
            grads[f"w{g.gid}"] = dq2.t().mm(src)
            if g.n_bias:
                grads[f"b{g.gid}"] = dq2.sum(0)
        for k in plan.diags:
            grads[f"p{k}"] = dps[k]
        return (None, None, dx, *dstate0, *dbelow, *(grads[w] for w in lay.weights))


class ScanKernel(_FromPlan):
    """A scannable plan (:attr:`Plan.scannable`) run without a step loop
    (:func:`~._scan.run_scan`): the scan in Python ops (``eager``) or in TorchScript
    (``script``); autograd gives the backward."""

    def __init__(self, plan: Plan, backend: str) -> None:
        if not plan.scannable:
            raise ValueError(f"this plan runs the step loop ({plan.path})")
        self.plan = plan
        self.name = backend
        self.path = "scan"  # what RecurrentLayer.path reports (every other kernel: the loop)
        self.scan = scripted_scan() if backend == "script" else affine_scan

    def __call__(self, x: Tensor, states: list[Tensor], params: dict[str, Tensor],
                 below: list[Tensor] | None = None, t0: int = 0,
                 dropout: list[Tensor] | None = None
                 ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        return run_scan(self.plan, params, x, states, self.scan)  # no masks: not scannable


class MemoryKernel(_FromPlan):
    """A chunkwise plan (:attr:`Plan.chunkwise`: xLSTM's stabilised matrix memory, or a
    gated memory of :mod:`._gated`) run in chunks instead of a step loop
    (:func:`~._memory.run_memory`): the same torch ops in every
    backend (batched products per chunk; nothing per step is left for TorchScript or the
    native backend to fuse); autograd gives the backward."""

    def __init__(self, plan: Plan, backend: str) -> None:
        if not plan.chunkwise:
            raise ValueError(f"this plan runs the step loop ({plan.path})")
        self.plan = plan
        self.name = backend
        self.path = "chunkwise"  # what RecurrentLayer.path reports

    def __call__(self, x: Tensor, states: list[Tensor], params: dict[str, Tensor],
                 below: list[Tensor] | None = None, t0: int = 0,
                 dropout: list[Tensor] | None = None
                 ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        return run_memory(self.plan, params, x, states)  # no masks: not chunkwise


class _NativeUnit:
    """The native library's operators behind the TorchScript program's calling convention
    (flat arguments in :class:`~._codegen.Layout` order), so that :class:`ScriptKernel`'s
    paths and :class:`_FusedLayer` run it unchanged."""

    def __init__(self, ops: Any, plan: Plan, lay: Layout) -> None:
        self.ops = ops
        # the states, then (format 2) the layer below's values; in the backward the states'
        # gradients, then those of the values emitted for the layer above
        self.ns = plan.n_states + len(plan.below)
        self.nsv = len(lay.saved)
        self.ng = len(lay.step_groups)

    def forward(self, x: Tensor, *rest: Any) -> list[Tensor]:
        return self.ops.forward(x, list(rest[:self.ns]), list(rest[self.ns:-1]), rest[-1])

    def forward_save(self, x: Tensor, *rest: Any) -> list[Tensor]:
        return self.ops.forward_save(x, list(rest[:self.ns]), list(rest[self.ns:-1]), rest[-1])

    def backward(self, dy: Tensor, *rest: Any) -> list[Tensor]:
        a, b = self.ns, self.ns + self.nsv
        c = b + self.ng
        return self.ops.backward(dy, list(rest[:a]), list(rest[a:b]), list(rest[b:c]),
                                 list(rest[c:-1]), rest[-1])


class NativeKernel(ScriptKernel):
    """The generated C++ of :mod:`._native` (see the ``native`` backend above) for a
    ``target`` of :data:`~._native.TARGETS`. A CPU kernel given CUDA tensors runs the CUDA
    kernels of the same plan where nvcc and a device are there (built on first use), else the
    script kernel, with one warning."""

    name = "native"

    def __init__(self, plan: Plan, target: str = "cpu") -> None:
        from lstm_search.compile import _native_build
        reason = native_refusal(plan)
        if reason is not None:
            raise _native_build.NativeUnavailable(f"the native backend does not cover {reason}")
        self.plan = plan
        self.target = target
        self.layout = native_layout(plan, target)
        self.fused_backward = True
        self.library, ops = _native_build.load(plan, target)
        self.source = native_source(plan, self.library, target)  # what `show` prints
        self.unit = _NativeUnit(ops, plan, self.layout)
        self._script: ScriptKernel | None = None
        self._cuda: NativeKernel | None = None
        self._cuda_problem = ""

    def __reduce__(self) -> tuple[Any, ...]:
        if self.target != "cpu":
            return (NativeKernel, (self.plan, self.target))
        return (make_kernel, (self.plan, self.name))

    @property
    def script(self) -> ScriptKernel:
        """The script kernel of the same plan (CUDA tensors; a differentiable backward)."""
        if self._script is None:
            self._script = ScriptKernel(self.plan, fused_backward=False)
        return self._script

    @property
    def recompute_unit(self) -> Any:
        return self.script.unit

    def can_pack(self, x: Tensor) -> bool:
        """Packed oneDNN products only where ``LSTM_SEARCH_ONEDNN=1`` asks for them: with the
        step's pointwise work fused, ``F.linear`` was the faster path for the native backend on
        the 2-core AMD EPYC where packing helps the script backend (lstm at hidden 200:
        1.05x torch.nn.LSTM against 1.20x packed at 1 thread, 1.13x against 1.41x at 2; at
        650 1.22x against 1.21x at 1 thread, 1.27x against 1.17x at 2;
        benchmarks/results/gemm_path-2026-12-07-native.md). Never for the CUDA targets."""
        return (self.target == "cpu" and _gemm.can_pack(x)
                and os.environ.get("LSTM_SEARCH_ONEDNN") == "1")

    def cuda_kernel(self) -> NativeKernel | None:
        """The CUDA kernels of this plan (built on first use), or None where they cannot be
        built here (the reason in :attr:`cuda_problem`)."""
        from lstm_search.compile._native_build import NativeUnavailable
        if self._cuda is None and not self._cuda_problem:
            try:
                self._cuda = NativeKernel(self.plan, "cuda")
            except NativeUnavailable as e:
                self._cuda_problem = str(e)
        return self._cuda

    @property
    def cuda_problem(self) -> str:
        return self._cuda_problem

    def __call__(self, x: Tensor, states: list[Tensor], params: dict[str, Tensor],
                 below: list[Tensor] | None = None, t0: int = 0,
                 dropout: list[Tensor] | None = None
                 ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        if x.device.type == "cuda" and self.target == "cpu":
            cuda = self.cuda_kernel()
            if cuda is not None:
                return cuda(x, states, params, below, t0, dropout)
            _warn_once(f"the native backend's CUDA kernels cannot be built here "
                       f"({self._cuda_problem}): CUDA tensors run the script backend's kernel")
            return self.script(x, states, params, below, t0, dropout)
        if x.device.type != "cpu" and self.target != "cuda":
            _warn_once(f"the native backend runs {x.device.type} tensors with the script "
                       "backend's kernel")
            return self.script(x, states, params, below, t0, dropout)
        return super().__call__(x, states, params, below, t0, dropout)


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def _native_or_script(plan: Plan, fused_backward: bool, scan: bool = True) -> Any:
    """The native kernel of ``plan``, or where it cannot run (see :class:`NativeKernel`), the
    script backend's kernel (its scan for a scannable plan) with one warning naming why.

    A scannable plan too runs the native step loop: one fused loop per step beat the scan
    path at every size measured (minGRU, batch 16, forward + backward, 2 threads: T = 1024
    H = 64 2.2x the input projections' time against 3.6x, H = 256 1.14x against 1.84x; T = 64
    1.9x against 3.0x; benchmarks/results/scan_vs_loop-2026-12-07.md)."""
    from lstm_search.compile._native_build import NativeUnavailable
    try:
        return NativeKernel(plan)
    except NativeUnavailable as e:
        _warn_once(f"{e}: this layer runs the script backend")
        if scan and plan.scannable:
            return ScanKernel(plan, "script")
        return ScriptKernel(plan, fused_backward)


def _make_script(plan: Plan, fused_backward: bool) -> ScriptKernel:
    return ScriptKernel(plan, fused_backward)


def make_kernel(plan: Plan, backend: str, *, fused_backward: bool = True,
                scan: bool = True) -> Any:
    """The kernel running ``plan`` with ``backend`` (one of :data:`BACKENDS`). A scannable
    plan (:attr:`Plan.scannable`) gets the scan path in the eager and script backends unless
    ``scan`` is False (then, as every other plan, the step loop)."""
    if scan and plan.scannable and backend in ("eager", "script"):
        return ScanKernel(plan, backend)
    if scan and plan.chunkwise and backend in ("eager", "script", "compile", "native"):
        return MemoryKernel(plan, backend)
    if backend == "eager":
        return EagerKernel(plan)
    if backend == "script":
        return ScriptKernel(plan, fused_backward)
    if backend == "compile":
        return CompileKernel(plan)
    if backend == "native":
        return _native_or_script(plan, fused_backward, scan)
    raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
