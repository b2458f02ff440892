"""The scan path: a layer whose recurrence is diagonal and linear run without a step loop.

When :func:`~._plan.scan_path` finds that every new state is ``s_t = a_t ⊙ s_{t-1} + b_t``
with ``a_t`` and ``b_t`` functions of ``x_t`` alone (minGRU, minLSTM: Feng et al. 2024, "Were
RNNs All We Needed?", section 3; HGRN: Qin et al. 2023; RG-LRU: De et al. 2024, eq. 4), the
layer is computed in three vectorised phases over all T steps at once:

1. the input projections as one product over (T·B, m), then every step of the plan over the
   (T·B) rows, where a value that reads states is kept as an affine form ``Σ_j c_j s_j + d``
   (:class:`Affine`): that yields ``a_t`` and ``b_t`` of each state for all steps;
2. each state's recurrence by :func:`affine_scan`: a chunked scan (Blelloch 1990, "Prefix
   sums and their applications", section 1.4: first-order linear recurrences), products and
   sums only (no division by a cumulative product, no logarithm: any sign and any ``a_t``,
   zeros too, is exact), with its backward written as the same scan backwards in time;
3. the steps that are nonlinear in the states but feed no new state (the output's: HGRN's
   norm of h') over the (T·B) rows, from the scanned states.

The numbers equal the step loop's up to the reassociation of the products (float rounding).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from lstm_search.compile._eager import apply_op, diag_weight, full_bias, group_weight
from lstm_search.compile._plan import Plan


def _doubling(a: Tensor, b: Tensor, need_a: bool) -> tuple[Tensor, Tensor]:
    """Inclusive scan along dim 0 of the maps ``s -> a_t s + b_t`` from ``s = 0``: returns
    (the products ``a_t ⋯ a_0`` when ``need_a``, else partial ones; the states). log2(L)
    rounds of whole-tensor ops (Hillis and Steele 1986)."""
    n = a.shape[0]
    d = 1
    while d < n:
        b = torch.cat([b[:d], a[d:] * b[:-d] + b[d:]], 0)
        if need_a or 2 * d < n:
            a = torch.cat([a[:d], a[d:] * a[:-d]], 0)
        d *= 2
    return a, b


def doubling_scan(a: Tensor, b: Tensor, s0: Tensor, chunk: int = 32) -> Tensor:
    """:func:`chunk_scan`'s result by differentiable whole-tensor ops: chunks of ``chunk``
    steps by a doubling scan each, then the chunks' end states the same way, carried into
    each chunk (about log2(chunk) + log2(T / chunk) + 2 rounds, O(T log T) work). Autograd
    differentiates it (any order); :func:`affine_scan` is faster on CPU."""
    T = a.shape[0]
    b = torch.cat([a[:1] * s0 + b[:1], b[1:]], 0)  # the initial state folded into b_0
    if chunk >= T:
        return _doubling(a, b, False)[1]
    nc = (T + chunk - 1) // chunk
    pad = nc * chunk - T
    if pad:
        a = torch.cat([a, a.new_ones(pad, a.shape[1])], 0)
        b = torch.cat([b, b.new_zeros(pad, b.shape[1])], 0)
    # (chunk, nc, N): the scan runs along dim 0, inside every chunk at once
    a3 = a.reshape(nc, chunk, -1).transpose(0, 1)
    b3 = b.reshape(nc, chunk, -1).transpose(0, 1)
    prod, local = _doubling(a3, b3, True)
    ends = _doubling(prod[-1], local[-1], False)[1]  # (nc, N): each chunk's last state
    carry = torch.cat([ends.new_zeros(1, ends.shape[1]), ends[:-1]], 0)
    states = prod * carry.unsqueeze(0) + local  # (chunk, nc, N)
    return states.transpose(0, 1).reshape(nc * chunk, -1)[:T]


def chunk_scan(a: Tensor, b: Tensor, s0: Tensor, chunk: int = 0) -> Tensor:
    """All states of ``s_t = a_t ⊙ s_{t-1} + b_t`` (t = 0 .. T-1) from ``s0``: ``a``, ``b``
    (T, N), ``s0`` (N); returns (T, N). Not differentiable (in-place): :func:`affine_scan`
    wraps it with its backward.

    The T steps are cut into chunks of ``chunk`` (0: about √T). A loop over the position in
    the chunk composes every chunk's maps at once (``prod``, ``local``: products and sums, no
    division), a loop over the chunks gives the state entering each, and a second loop over
    the position runs every chunk from its entering state (in-place ``addcmul``): about 3√T
    ops of T/√T rows each and O(T) work, instead of T ops of one step each."""
    T, N = a.shape[0], a.shape[1]
    C = chunk
    if C <= 0:
        C = max(1, int(math.ceil(math.sqrt(T))))  # noqa: RUF046 - TorchScript needs int
    nc = (T + C - 1) // C
    pad = nc * C - T
    if pad > 0:
        a = torch.cat([a, a.new_ones(pad, N)], 0)
        b = torch.cat([b, b.new_zeros(pad, N)], 0)
    a3 = a.reshape(nc, C, N)
    b3 = b.reshape(nc, C, N)
    carry = s0.unsqueeze(0)  # (nc, N): the state entering each chunk
    if nc > 1:  # pass 1: each chunk's map s -> prod ⊙ s + local over its steps
        local = b3[:, 0]
        prod = a3[:, 0]
        for i in range(1, C):
            local = torch.addcmul(b3[:, i], a3[:, i], local)
            prod = prod * a3[:, i]
        ins = [s0]
        for c in range(1, nc):
            ins.append(torch.addcmul(local[c - 1], prod[c - 1], ins[c - 1]))
        carry = torch.stack(ins, 0)
    out = b3.clone()  # pass 2: every chunk from its entering state, in place
    out[:, 0].addcmul_(a3[:, 0], carry)
    for i in range(1, C):
        out[:, i].addcmul_(a3[:, i], out[:, i - 1])
    return out.reshape(nc * C, N)[:T]


class _AffineScan(torch.autograd.Function):
    """:func:`chunk_scan` with its backward, itself a scan backwards in time: with ``g_t`` the
    gradient reaching ``s_t`` from outside, ``G_t = g_t + a_{t+1} ⊙ G_{t+1}``; then
    ``∂b_t = G_t``, ``∂a_t = G_t ⊙ s_{t-1}``, ``∂s0 = a_0 ⊙ G_0``. Under ``create_graph``
    the reverse scan is :func:`doubling_scan`, which autograd differentiates again."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Tensor, s0: Tensor, fn: Any) -> Tensor:
        s = fn(a.detach(), b.detach(), s0.detach(), 0)
        ctx.fn = fn
        ctx.save_for_backward(a, s0, s)
        return s

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, s0, s = ctx.saved_tensors
        ar = torch.cat([a[1:], a.new_zeros(1, a.shape[1])], 0).flip(0)
        zero = g.new_zeros(g.shape[1])
        if torch.is_grad_enabled():
            big = doubling_scan(ar, g.flip(0), zero).flip(0)
        else:
            big = ctx.fn(ar, g.flip(0).contiguous(), zero, 0).flip(0)
        prev = torch.cat([s0.unsqueeze(0), s[:-1]], 0)
        return big * prev, big, a[0] * big[0], None


def affine_scan(a: Tensor, b: Tensor, s0: Tensor, fn: Any = chunk_scan) -> Tensor:
    """All states of ``s_t = a_t ⊙ s_{t-1} + b_t`` from ``s0`` (``a``, ``b`` (T, N), ``s0``
    (N) -> (T, N)), differentiable: :func:`chunk_scan` (or ``fn``, its TorchScript version)
    forward and backward."""
    return _AffineScan.apply(a, b, s0, fn)


class Affine:
    """A value affine in the previous states: ``Σ_j coef[j] ⊙ s_j + const`` (each a tensor
    over the (T·B, n) rows or a number)."""

    __slots__ = ("coef", "const")

    def __init__(self, coef: dict[int, Any], const: Any) -> None:
        self.coef = coef
        self.const = const

    def map(self, f: Any) -> Affine:
        return Affine({j: f(c) for j, c in self.coef.items()}, f(self.const))

    def value(self, prev: list[Tensor]) -> Any:
        out = self.const
        for j, c in self.coef.items():
            out = _add(out, _mul(c, prev[j]))
        return out


def _mul(x: Any, y: Any) -> Any:
    """``x * y`` without an op for a factor that is the number 1 (a state's own form)."""
    if isinstance(x, float) and x == 1.0:
        return y
    if isinstance(y, float) and y == 1.0:
        return x
    return x * y


def _add(x: Any, y: Any) -> Any:
    """``x + y`` without an op for a term that is the number 0."""
    if isinstance(x, float) and x == 0.0:
        return y
    if isinstance(y, float) and y == 0.0:
        return x
    return x + y


def _lift(v: Any) -> Affine:
    return v if isinstance(v, Affine) else Affine({}, v)


def _sum(vals: list[Any]) -> Affine:
    coef: dict[int, Any] = {}
    const: Any = 0.0
    for v in vals:
        v = _lift(v)
        for j, c in v.coef.items():
            coef[j] = _add(coef[j], c) if j in coef else c
        const = _add(const, v.const)
    return Affine(coef, const)


def _affine_op(op: str, args: list[Any], const: float) -> Affine:
    """An op of the vocabulary on arguments of which some are :class:`Affine`
    (:func:`~._plan.scan_path` admits only the combinations that stay affine)."""
    if op == "add":
        return _sum(args)
    if op == "mean":
        return _sum(args).map(lambda c: c / float(len(args)))
    if op == "sub":
        return _sum([args[0], _lift(args[1]).map(lambda c: -c)])
    if op == "copy":
        return _lift(args[0])
    if op == "one_minus":
        v = _lift(args[0])
        return Affine({j: -c for j, c in v.coef.items()}, 1.0 - v.const)
    if op == "scale":
        return _lift(args[0]).map(lambda c: _mul(c, const))
    if op == "mul":
        k = next(i for i, v in enumerate(args) if isinstance(v, Affine))
        factor: Any = 1.0
        for i, v in enumerate(args):
            if i != k:
                factor = v if isinstance(factor, float) else factor * v
        return args[k].map(lambda c: _mul(c, factor))
    if op == "div":
        den = args[1] + const if const else args[1]
        return _lift(args[0]).map(lambda c: c / den)
    if op == "blend":
        g = args[0]
        u, v = _lift(args[1]), _lift(args[2])
        rest = 1.0 - g
        return _sum([u.map(lambda c: _mul(g, c)), v.map(lambda c: _mul(rest, c))])
    raise ValueError(f"op {op!r} is not affine")  # pragma: no cover - scan_path refuses it


def run_scan(plan: Plan, params: dict[str, Tensor], x: Tensor, states: list[Tensor],
             scan: Any = affine_scan) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """One layer of a scannable plan over ``x`` (T, B, m) from ``states`` (each (B, n)), with
    the step loop's results (outputs (T, B, n), final states, and no values for a layer
    above); ``scan`` is :func:`affine_scan` or its TorchScript version."""
    if not plan.scannable:
        raise ValueError(f"this plan runs the step loop, not a scan ({plan.path})")
    n = plan.hidden_size
    T, B = x.shape[0], x.shape[1]
    rows = T * B
    kinds = plan.scan_kinds
    env: dict[str, Any] = {f"s{j}": Affine({j: 1.0}, 0.0) for j in range(plan.n_states)}
    env["xt"] = env["x"] = x.reshape(rows, -1)
    xg = plan.x_group
    xp = None
    if xg is not None:  # one product over the whole sequence, (T·B, Kx·n)
        k_rows = len(xg.members) * n
        xp = F.linear(env["xt"], group_weight(xg, params),
                      full_bias(params.get(xg.bias_name), k_rows)).split(n, 1)
        # split once: a slice per member would, under autograd, write a zero-filled copy of
        # the whole product per member for its gradient; split's gradient is one cat
    groups = {g.gid: g for g in plan.groups}
    prods: dict[int, tuple[Tensor, ...]] = {}
    diag = {s.pos: diag_weight(params[f"diag_v{s.pos}"], s.weight)
            for s in plan.steps if s.op == "diag"}
    late = []
    for step in plan.steps:  # phase 1: free values as tensors, affine ones as forms
        kind = kinds[step.pos]
        if kind == "late":
            late.append(step)
            continue
        if step.op == "proj":
            g = groups[step.group]
            if g.hoisted:
                assert xp is not None
                val: Any = xp[step.slot]
            else:  # a group of a state-free internal value: one product over all rows
                if g.gid not in prods:  # once per group, not per member
                    prods[g.gid] = F.linear(env[g.source], group_weight(g, params),
                                            full_bias(params.get(g.bias_name),
                                                      len(g.members) * n)).split(n, 1)
                val = prods[g.gid][step.slot]
            if step.diag_add != 0.0:
                val = val + step.diag_add * env[g.source]
        elif kind == "affine":
            args = [env[r] for r in step.args]
            if step.op == "diag":
                val = args[0].map(lambda c, d=diag[step.pos]: _mul(d, c))
            else:
                val = _affine_op(step.op, args, step.const)
        elif step.op == "diag":
            val = diag[step.pos] * env[step.args[0]]
        else:
            val = apply_op(step, [env[r] for r in step.args])
        env[step.out] = val
    new: list[Tensor] = []  # phase 2: each state's scan, (T, B, n)
    for j, ref in enumerate(plan.new_states):
        form = _lift(env[ref])
        a = form.coef.get(j, 0.0)
        a = a if isinstance(a, Tensor) else x.new_full((1, n), float(a))
        b = form.const if isinstance(form.const, Tensor) else x.new_full((1, n),
                                                                          float(form.const))
        a = a.expand(rows, n).reshape(T, B * n)
        b = b.expand(rows, n).reshape(T, B * n)
        new.append(scan(a, b, states[j].reshape(B * n)).reshape(T, B, n))
    prev: list[Tensor] = []  # the previous states (T·B, n), made when a late step needs them
    done = {ref: s for ref, s in zip(plan.new_states, new, strict=True)}

    def concrete(ref: str) -> Tensor:
        v = env[ref]
        if isinstance(v, Affine):
            if not prev:
                prev.extend(torch.cat([s0.unsqueeze(0), s[:-1]], 0).reshape(rows, n)
                            for s0, s in zip(states, new, strict=True))
            v = v.value(prev)
            if not isinstance(v, Tensor):
                v = x.new_full((rows, n), float(v))
            env[ref] = v
        return v

    for step in late:  # phase 3: the nonlinear functions of the states, over all rows
        args = [concrete(r) for r in step.args]
        if step.op == "diag":
            env[step.out] = diag[step.pos] * args[0]
        else:
            env[step.out] = apply_op(step, args)
    if plan.output in done:
        y = done[plan.output]
    else:
        y = concrete(plan.output).expand(rows, n).reshape(T, B, n)
    return y, [s[-1] for s in new], []


_scripted: Any = None


def scripted_scan() -> Any:
    """:func:`affine_scan` with :func:`chunk_scan` compiled by TorchScript (once per
    process)."""
    global _scripted
    if _scripted is None:
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*(TorchScript|torch\\.jit).*")
            fn = torch.jit.script(chunk_scan)
        _scripted = functools.partial(affine_scan, fn=fn)
    return _scripted
