"""The eager backend: the plan interpreted step by step with plain PyTorch ops and autograd.

A spatial plan (genome format 2's ``values``; Shi et al. 2015, eq. 3) runs the same loop over
(B, C, H, W) maps: every product is a 'same'-padded ``conv2d`` (:func:`product`), peepholes
are Hadamard products with (C, H, W) weights, the other ops pointwise.

A head-wise plan (genome format 2's ``values`` of kind ``heads``; xLSTM's mLSTM) carries
states of their own shapes, (B, n), (B, h) and (B, h, d, d): :func:`head_outer`,
:func:`head_matvec` and :func:`head_dot` work per head, :func:`broadcast` spreads a per-head
scalar over its head's units in pointwise ops.

This is the reference semantics of every op (see ``lstm_search.genome._ops``); the generated
TorchScript code and the generated backward are checked against it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lstm_search.compile._plan import Group, Plan, Step, clock_mask


def full_bias(bias: Tensor | None, rows: int) -> Tensor | None:
    """The bias of a fused group: ``bias`` covers the leading rows, zeros the rest."""
    if bias is None or bias.numel() == rows:
        return bias
    return F.pad(bias, (0, rows - bias.numel()))


def product(plan: Plan, a: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    """A fused group's product: ``a wᵀ + b`` for vectors ((R, width) by (rows, width)), a
    'same'-padded K×K convolution for a spatial plan ((R, width, H, W) by (rows, width, K,
    K))."""
    if plan.kernel:
        return F.conv2d(a, w, b, padding=plan.kernel // 2)
    return F.linear(a, w, b)


def leaky(v: Tensor, slope: float) -> Tensor:
    """``max(v, slope·v)`` exactly as the op vocabulary defines it, for any slope."""
    if slope <= 1.0:
        return F.leaky_relu(v, slope)
    return torch.where(v > 0, v * slope, v)


def group_weight(g: Group, params: dict[str, Tensor]) -> Tensor:
    """The (K·n, width) matrix of a fused group: the parameter itself, or for a head-wise
    group (K, heads, n/heads, n/heads) the K block-diagonal matrices stacked by rows."""
    w = params[g.weight_name]
    if g.heads == 1:
        return w
    return torch.cat([torch.block_diag(*blocks.unbind(0)) for blocks in w.unbind(0)], 0)


def norm(v: Tensor, heads: int, eps: float, center: bool) -> Tensor:
    """``norm``: (B, n) normalised over each of ``heads`` groups of units, centred first for
    a layer norm (``center``), divided by the root of the mean square plus ``eps``."""
    g = v.reshape(v.shape[0], heads, -1)  # (B, heads, n/heads)
    if center:
        g = g - g.mean(-1, keepdim=True)
    return (g * torch.rsqrt(g.square().mean(-1, keepdim=True) + eps)).reshape(v.shape)


def diag_weight(p: Tensor, weight: str) -> Tensor:
    """The diagonal of a ``diag`` node from its learned vector ``p`` (``weight``: free,
    sigmoid, softplus or exp; see :mod:`lstm_search.genome._ops`)."""
    if weight == "free":
        return p
    if weight == "sigmoid":
        return torch.sigmoid(p)
    if weight == "softplus":
        return F.softplus(p)
    if weight == "exp":
        return torch.exp(p)
    raise ValueError(f"unknown diag weight {weight!r}")  # pragma: no cover


def attend(q: Tensor, mem: Tensor, keys: Tensor, v: Tensor) -> Tensor:
    """``attention`` (format 2): the context Σ_i α_i s_i over the memory ``mem`` (B, c, n) of
    earlier values s_i with keys ``keys`` (B, c, n) = W_k s_i, α = softmax_i(vᵀ tanh(k_i + q));
    zeros when the memory is empty (the first step)."""
    if mem.shape[1] == 0:
        return torch.zeros_like(q)
    alpha = torch.softmax(torch.matmul(torch.tanh(keys + q.unsqueeze(1)), v), 1)  # (B, c)
    return torch.bmm(alpha.unsqueeze(1), mem).squeeze(1)


def push(buf: Tensor, v: Tensor, window: int) -> Tensor:
    """The memory ``buf`` (B, c, n) with ``v`` (B, n) appended as its newest entry, the
    oldest dropped once it holds more than ``window`` (0: never)."""
    buf = torch.cat([buf, v.unsqueeze(1)], 1)
    if window > 0 and buf.shape[1] > window:
        buf = buf[:, 1:]
    return buf


def head_outer(a: Tensor, b: Tensor, heads: int) -> Tensor:
    """``outer`` (format 2, head-wise): ``a bᵀ`` per head, (B, n) × (B, n) → (B, h, d, d)."""
    B = a.shape[0]
    return a.reshape(B, heads, -1, 1) * b.reshape(B, heads, 1, -1)


def head_matvec(c: Tensor, q: Tensor) -> Tensor:
    """``matvec`` (format 2, head-wise): ``C q`` per head, (B, h, d, d) × (B, n) → (B, n)."""
    B, h, d = c.shape[0], c.shape[1], c.shape[2]
    return torch.matmul(c, q.reshape(B, h, d, 1)).reshape(B, h * d)


def head_dot(a: Tensor, b: Tensor, heads: int) -> Tensor:
    """``dot`` (format 2, head-wise): ``aᵀ b`` per head, (B, n) × (B, n) → (B, h)."""
    B = a.shape[0]
    return (a.reshape(B, heads, -1) * b.reshape(B, heads, -1)).sum(-1)


def broadcast(v: Tensor, arg_shape: str, shape: str, head_dim: int) -> Tensor:
    """A per-head scalar (B, h) spread over the units of its head: (B, n) for a vector,
    (B, h, 1, 1) against a matrix; any other value as it is."""
    if arg_shape != "scalar" or shape == "scalar":
        return v
    if shape == "matrix":
        return v.reshape(v.shape[0], v.shape[1], 1, 1)
    return v.repeat_interleave(head_dim, 1)


def apply_op(step: Step, a: list[Tensor]) -> Tensor:
    """Value of one pointwise step from its argument values."""
    op = step.op
    if op == "add":
        out = a[0]
        for v in a[1:]:
            out = out + v
        return out
    if op == "mean":
        out = a[0]
        for v in a[1:]:
            out = out + v
        return out / float(len(a))
    if op == "mul":
        out = a[0]
        for v in a[1:]:
            out = out * v
        return out
    if op == "sub":
        return a[0] - a[1]
    if op == "blend":
        return a[0] * a[1] + (1.0 - a[0]) * a[2]
    if op == "one_minus":
        return 1.0 - a[0]
    if op == "sigmoid":
        return torch.sigmoid(a[0])
    if op == "tanh":
        return torch.tanh(a[0])
    if op == "relu":
        return torch.relu(a[0])
    if op == "leaky_relu":
        return leaky(a[0], step.slope)
    if op == "copy":
        return a[0]
    # -- ops of the modern recurrences -----------------------------------------------------------
    if op == "exp":
        return torch.exp(a[0])
    if op == "log":
        return torch.log(a[0])
    if op == "softplus":
        return F.softplus(a[0])
    if op == "logsigmoid":
        return F.logsigmoid(a[0])
    if op == "max":
        return torch.maximum(a[0], a[1])
    if op == "min":
        return torch.minimum(a[0], a[1])
    if op == "div":
        return a[0] / (a[1] + step.const) if step.const else a[0] / a[1]
    if op == "sqrt":
        return torch.sqrt(a[0])
    if op == "abs":
        return torch.abs(a[0])
    if op == "scale":
        return a[0] * step.const
    if op == "norm":
        return norm(a[0], step.heads, step.const, step.weight == "layer")
    # -- end of the modern recurrences' ops --------------------------------------------------------
    raise ValueError(f"no eager rule for op {op!r}")  # pragma: no cover


def apply_head_op(step: Step, a: list[Tensor], heads: int, head_dim: int) -> Tensor:
    """Value of one parameter-free step of a head-wise plan (or of a vector one: heads 0):
    ``outer``, ``matvec`` and ``dot`` per head, a per-head scalar spread over its head's units
    where it meets a vector or a matrix, anything else as :func:`apply_op`."""
    op = step.op
    if op == "outer":
        return head_outer(a[0], a[1], heads)
    if op == "matvec":
        return head_matvec(a[0], a[1])
    if op == "dot":
        return head_dot(a[0], a[1], heads)
    if step.arg_shapes and "scalar" in step.arg_shapes:
        a = [broadcast(v, k, step.shape, head_dim)
             for v, k in zip(a, step.arg_shapes, strict=True)]
    return apply_op(step, a)


def run_eager(plan: Plan, params: dict[str, Tensor], x: Tensor, states: list[Tensor],
              below: list[Tensor] | None = None, t0: int = 0,
              masks: list[Tensor] | None = None
              ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """Run one layer over ``x`` (T, B, m) from ``states`` (each (B, n); spatial plans: x
    (T, B, m, H, W), states (B, n, H, W), outputs (T, B, n, H, W)); returns the outputs
    (T, B, n), the final states and (format 2) the values (T, B, n) at every step of the
    states in ``plan.below``, for the layer above. ``below`` holds, for each state in
    ``plan.below``, the layer below's values (T, B, n) (None: zeros, the first layer); ``t0``
    is the clock's step index of the first step. ``params`` are dense
    (:func:`~._params.dense_params`). ``masks`` (format 2): one (B, width) dropout mask per
    entry of ``plan.masks``, the same at every step (None: evaluation, no dropout)."""
    n = plan.hidden_size
    T, B = x.shape[0], x.shape[1]
    if below is None and plan.below:
        zero = x.new_zeros(B, n)
        below_t = [[zero] * T for _ in plan.below]
    else:
        below_t = [list(u.unbind(0)) for u in (below or [])]
    schedule = {c.pos: clock_mask(c, n, T, t0, x.device).unsqueeze(1) for c in plan.clocks}
    emitted: list[list[Tensor]] = [[] for _ in plan.below]
    xg = plan.x_group
    xp = None

    def source(g: Group, v: Tensor) -> Tensor:  # a group's input, times its dropout mask
        return v * masks[g.mask] if masks is not None and g.mask >= 0 else v

    if xg is not None:  # hoisted: one product over the whole sequence, (T, B, Kx·n)
        rows = len(xg.members) * n
        xp = product(plan, source(xg, x).flatten(0, 1), params[xg.weight_name],
                     full_bias(params.get(xg.bias_name), rows)).unflatten(0, (T, B))
    # per-step views made once: xp[t] in each step would, under autograd, write a zero-filled
    # copy of all of xp per step for that slice's gradient; unbind's gradient is one stack
    xp_t = xp.unbind(0) if xp is not None else ()
    x_t = x.unbind(0)
    groups = {g.gid: g for g in plan.groups}
    diag = {s.pos: diag_weight(params[f"diag_v{s.pos}"], s.weight)  # once per call, (n,)
            for s in plan.steps if s.op == "diag"}
    # format 2: each attention's memory of the state's earlier values and their keys, (B, c, n)
    memory = {st.pos: (x.new_zeros(B, 0, n), x.new_zeros(B, 0, n)) for st in plan.attentions}
    # format 2, head-wise values: each head_linear of x hoisted, (T, B, h)
    hx = {st.pos: F.linear(x, params[f"hweight_v{st.pos}"],
                           params.get(f"hbias_v{st.pos}")).unbind(0)
          for st in plan.steps if st.op == "hproj" and st.args[0] == "x"}
    hd = n // plan.heads if plan.heads else n
    outs: list[Tensor] = []
    for t in range(x.shape[0]):
        env: dict[str, Tensor] = {f"s{j}": s for j, s in enumerate(states)}
        env["xt"] = x_t[t]
        for i, j in enumerate(plan.below):
            env[f"u{j}"] = below_t[i][t]
        prods: dict[int, Tensor] = {}
        if plan.n_pairs:  # pre-added pairs r{i} = (W_i x)[t] + U_i s (see Plan)
            g = groups[plan.pair_group]
            prods[g.gid] = product(plan, source(g, env[g.source]), group_weight(g, params),
                                   full_bias(params.get(g.bias_name), len(g.members) * n))
            assert xp is not None
            for i in range(plan.n_pairs):
                cols = slice(i * n, (i + 1) * n)
                env[f"r{i}"] = xp_t[t][:, cols] + prods[g.gid][:, cols]
        for step in plan.steps:
            if step.op == "proj":
                g = groups[step.group]
                if g.hoisted:
                    assert xp is not None
                    prod = xp_t[t]
                else:
                    if g.gid not in prods:  # (B, K·n), once per step and source
                        rows = len(g.members) * n
                        prods[g.gid] = product(plan, source(g, env[g.source]),
                                               group_weight(g, params),
                                               full_bias(params.get(g.bias_name), rows))
                    prod = prods[g.gid]
                val = prod[:, step.slot * n:(step.slot + 1) * n]
                if step.diag_add != 0.0:  # Linear(a, v): (W + a·I) v
                    val = val + step.diag_add * source(g, env[g.source])
            elif step.op == "diag":
                val = diag[step.pos] * env[step.args[0]]
            elif step.op == "clock":  # (1, n) schedule of step t: cand where active, else prev
                val = torch.where(schedule[step.pos][t], env[step.args[0]],
                                  env[step.args[1]])
            elif step.op == "attention":  # over the memory of steps before t
                mem, keys = memory[step.pos]
                val = attend(env[step.args[0]], mem, keys, params[f"score_v{step.pos}"])
            elif step.op == "hproj":  # format 2: one scalar per head
                val = hx[step.pos][t] if step.pos in hx else F.linear(
                    env[step.args[0]], params[f"hweight_v{step.pos}"],
                    params.get(f"hbias_v{step.pos}"))
            else:  # pointwise, or a head-wise product (format 2)
                val = apply_head_op(step, [env[r] for r in step.args], plan.heads, hd)
            env[step.out] = val
        states = [env[r] for r in plan.new_states]
        for st in plan.attentions:  # this step's new value of the state enters the memory
            new = states[int(st.args[1][1:])]
            mem, keys = memory[st.pos]
            memory[st.pos] = (push(mem, new, st.window),
                              push(keys, F.linear(new, params[f"key_v{st.pos}"]), st.window))
        outs.append(env[plan.output])
        for i, j in enumerate(plan.below):
            emitted[i].append(states[j])
    return torch.stack(outs, 0), states, [torch.stack(e, 0) for e in emitted]
