"""The chunkwise path: a head-wise matrix memory with xLSTM's stabilised exponential gates
(mLSTM: Beck et al. 2024, "xLSTM: Extended Long Short-Term Memory", section 2.3, eq. 19-27)
run without a step loop.

:func:`memory_path` recognises, in a head-wise plan, the recurrence (per head; ``g_t``, ``u_t``
per-head scalars and ``v_t``, ``k_t`` vectors computed from ``x_t`` alone)::

    m_t = max(g_t + m_{t-1}, u_t)                 (the stabiliser, a scalar state)
    f_t = exp(g_t + m_{t-1} − m_t),   i_t = exp(u_t − m_t)
    C_t = f_t C_{t-1} + i_t v_t k_tᵀ              (any number of matrix states)
    n_t = f_t n_{t-1} + i_t k'_t                  (any number of vector states)

read only as ``C_t q_t`` and ``n_tᵀ q_t`` with queries ``q_t`` from ``x_t`` alone. Unrolled,
with ``b_t = g_1 + … + g_t`` inside a chunk and (C₀, n₀, m₀) the state entering it::

    m_t     = max(b_t + m₀, max_{j≤t} (b_t − b_j + u_j))
    D_tj    = exp(b_t − b_j + u_j − m_t)  (j ≤ t, else 0),   e_t = exp(b_t + m₀ − m_t)
    C_t q_t = e_t C₀ q_t + Σ_j D_tj (k_jᵀ q_t) v_j,   n_tᵀ q_t = e_t n₀ᵀ q_t + Σ_j D_tj k'_jᵀ q_t

which is the loop's ``C_t q_t`` exactly (the stabiliser telescopes: every weight is at most
1, so no exponential overflows over any length). This is the official parallel form
(NX-AI/xlstm ``xlstm/blocks/mlstm/backends.py``, ``parallel_stabilized_simple``) cut into
chunks of :data:`CHUNK` steps with the states carried between them, as its chunkwise kernels
do: per chunk a few batched matrix products of (L, L) and (L, d) blocks instead of L steps of
d×d elementwise work, and autograd differentiates it (the loop's memory of every step's C is
never stored). The other steps run over all T·B rows at once: those of the input before the
chunks, those reading the stabiliser or the reads after them.

A memory gated otherwise (any per-head scalar decay and write weight of x and of scalar
states) takes the general form of :mod:`._gated` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

CHUNK = 64
"""Steps per chunk: (L, L) weights per chunk against a d×d state carried per chunk. The mLSTM,
forward + backward at T = 1024, batch 16, 1 thread (Intel Xeon), medians of 5 interleaved
runs: L = 32, 64, 128, 256 took 137, 117, 132, 180 ms at hidden 64 (one head) and 556, 582,
685, 946 ms at hidden 256 (four heads); a gated memory (:mod:`._gated`, sigmoid gates) 185,
197, 249 ms (L = 32, 64, 128) at hidden 64 and 633, 625, 667 ms at 256. At 35 steps one
chunk of L ≥ 35."""


@dataclass(frozen=True)
class MemorySpec:
    """What :func:`memory_path` found (value references as in :class:`~._plan.Step`)."""

    m: int  # the stabiliser's state index
    g: str  # the per-head log forget gate g_t (free)
    u: str  # the per-head log input gate u_t (free)
    m_new: str  # max(g_t + m_{t-1}, u_t)
    matrices: tuple[tuple[int, str, str], ...]  # (state, v ref, k ref) of each C
    vectors: tuple[tuple[int, str], ...]  # (state, k' ref) of each n
    reads: tuple[tuple[str, int, str], ...]  # (step ref, state, query ref): C q or nᵀq
    # per step position: "free" (x alone: before the chunks), "internal" (a memory update:
    # never computed) or "after" (reads the stabiliser or a read: after the chunks)
    kinds: tuple[str, ...]


def memory_path(steps: Any, new_states: tuple[str, ...], state_kinds: tuple[str, ...],
                state_names: tuple[str, ...], node_names: tuple[str, ...]
                ) -> tuple[str, MemorySpec | None]:
    """``("chunkwise: ...", spec)`` when a head-wise plan is the stabilised matrix memory of
    the module docstring, else ``("step loop: <why>", None)``."""
    by_ref = {s.out: s for s in steps}
    n_pos = 1 + max((s.pos for s in steps), default=-1)

    memo: dict[str, frozenset[int]] = {}
    free = {s.out for s in steps if not _deps(s.out, by_ref, memo)}

    def is_free(ref: str) -> bool:
        return ref in ("x", "xt") or ref in free

    def step_of(ref: str, op: str) -> Any:
        s = by_ref.get(ref)
        return s if s is not None and s.op == op else None

    def node(ref: str) -> str:
        return repr(node_names[int(ref[1:])]) if ref[0] == "v" else ref

    loop = "step loop: head-wise values run the step loop unless they are xLSTM's stabilised "
    # the stabiliser: m' = max(g + m, u)
    found = None
    for j, kind in enumerate(state_kinds):
        if kind != "scalar":
            continue
        mx = step_of(new_states[j], "max")
        if mx is None or len(mx.args) != 2:
            continue
        for a_ref, u_ref in (mx.args, mx.args[::-1]):
            add = step_of(a_ref, "add")
            if add is None or len(add.args) != 2 or f"s{j}" not in add.args or not is_free(u_ref):
                continue
            g_ref = add.args[1] if add.args[0] == f"s{j}" else add.args[0]
            if is_free(g_ref):
                found = (j, g_ref, u_ref, a_ref, mx.out)
                break
        if found:
            break
    if found is None:
        return loop + "matrix memory (no state is m' = max(g + m, u) with g, u from x alone)", None
    m, g_ref, u_ref, a_ref, m_ref = found

    def exp_of_sub(first: str) -> str | None:
        for s in steps:
            if s.op == "sub" and s.args == (first, m_ref):
                e = next((t for t in steps if t.op == "exp" and t.args == (s.out,)), None)
                if e is not None:
                    return e.out
        return None

    f_ref, i_ref = exp_of_sub(a_ref), exp_of_sub(u_ref)
    if f_ref is None or i_ref is None:
        return loop + "matrix memory (no gates f = exp(g + m − m'), i = exp(u − m'))", None
    internal: set[str] = set()  # steps of the memory updates: never computed by this path
    matrices, vectors = [], []
    for j, kind in enumerate(state_kinds):
        if j == m:
            continue
        add = step_of(new_states[j], "add")
        terms = [by_ref.get(a) for a in add.args] if add is not None and len(add.args) == 2 else []
        decay = next((t for t in terms if t is not None and t.op == "mul"
                      and sorted(t.args) == sorted((f_ref, f"s{j}"))), None)
        feed = next((t for t in terms if t is not None and t is not decay and t.op == "mul"
                     and len(t.args) == 2 and i_ref in t.args), None)
        other = None if feed is None else feed.args[1] if feed.args[0] == i_ref else feed.args[0]
        why = (f"state {state_names[j]!r} is not f ⊙ {state_names[j]} + i ⊙ "
               + ("v kᵀ" if kind == "matrix" else "k") + " with v, k from x alone")
        if decay is None or other is None:
            return f"step loop: {why}", None
        if kind == "matrix":
            outer = step_of(other, "outer")
            if outer is None or not all(is_free(a) for a in outer.args):
                return f"step loop: {why}", None
            matrices.append((j, outer.args[0], outer.args[1]))
            internal.add(outer.out)
        elif kind == "vector" and is_free(other):
            vectors.append((j, other))
        else:
            return f"step loop: {why}", None
        internal.update({add.out, decay.out, feed.out})
    memory_new = ({new_states[j]: j for j, _, _ in matrices}
                  | {new_states[j]: j for j, _ in vectors})
    reads = []
    kinds = ["free"] * n_pos
    for s in steps:
        if s.out in internal:
            kinds[s.pos] = "internal"
            continue
        if s.out in free:
            if any(a in internal for a in s.args):
                return (f"step loop: node {node(s.out)} reads the memory update "
                        f"{node(next(a for a in s.args if a in internal))}"), None
            continue
        kinds[s.pos] = "after"
        if s.op in ("matvec", "dot") and any(a in memory_new for a in s.args):
            mem = next(a for a in s.args if a in memory_new)
            q = s.args[1] if s.args[0] == mem else s.args[0]
            if not is_free(q):
                return (f"step loop: node {node(s.out)} reads a memory with a query that "
                        f"depends on a state ({node(q)})"), None
            reads.append((s.out, memory_new[mem], q))
            continue
        for a in s.args:
            if a[0] == "s" and int(a[1:]) != m:
                return (f"step loop: node {node(s.out)} reads state "
                        f"{state_names[int(a[1:])]!r} itself (only C q and nᵀq are "
                        "computed without the loop)"), None
            if a in internal or a in memory_new:
                return (f"step loop: node {node(s.out)} reads the memory update "
                        f"{node(a)} (only C q and nᵀq are computed without the loop)"), None
    names = ", ".join(repr(state_names[j]) for j, _, _ in matrices)
    spec = MemorySpec(m=m, g=g_ref, u=u_ref, m_new=m_ref, matrices=tuple(matrices),
                      vectors=tuple(vectors), reads=tuple(reads), kinds=tuple(kinds))
    if not matrices:
        return loop + "matrix memory (no matrix state)", None
    return (f"chunkwise: the matrix memory {names} with the stabiliser "
            f"{state_names[m]!r} (xLSTM's mLSTM) runs in chunks of {CHUNK} steps, "
            "C q read by products, not a step loop", spec)


def _deps(ref: str, by_ref: dict[str, Any], memo: dict[str, frozenset[int]]) -> frozenset[int]:
    """The states ``ref`` reads, through any number of steps."""
    if ref[0] == "s":
        return frozenset({int(ref[1:])})
    s = by_ref.get(ref)
    if s is None:
        return frozenset()
    if ref not in memo:
        memo[ref] = frozenset().union(*(_deps(a, by_ref, memo) for a in s.args)) \
            if s.args else frozenset()
    return memo[ref]


def _heads(v: Tensor, T: int, B: int, h: int) -> Tensor:
    """(T·B, h·w) rows → (B, h, T, w)."""
    return v.reshape(T, B, h, -1).permute(1, 2, 0, 3)


def chunk_memory(g: Tensor, u: Tensor, mats: list[tuple[Tensor, Tensor, Tensor]],
                 vecs: list[tuple[Tensor, Tensor]], m0: Tensor,
                 reads: list[tuple[int, Tensor]], chunk: int = CHUNK
                 ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """The recurrence of the module docstring over T steps, chunk by chunk.

    ``g``, ``u``: (B, h, T); ``mats``: (v, k, C₀) with v, k (B, h, T, d), C₀ (B, h, d, d);
    ``vecs``: (k', n₀) with k' (B, h, T, d), n₀ (B, h, d); ``m0``: (B, h); ``reads``:
    (memory index, query (B, h, T, d)) with the index over ``mats`` then ``vecs``. Returns
    m (B, h, T), each read ((B, h, T, d) for a matrix, (B, h, T) for a vector) and the final
    states (the matrices', then the vectors', then m's)."""
    n_mat = len(mats)
    Cs = [c0 for _, _, c0 in mats]
    ns = [n0 for _, n0 in vecs]
    # an initial memory known to be zero (the layer's default states) adds nothing to a read:
    # its products are skipped until the first chunk has written it (the same numbers)
    zero = [_known_zero(c) for c in [*Cs, *ns]]
    m_prev = m0
    ms: list[Tensor] = []
    outs: list[list[Tensor]] = [[] for _ in reads]
    # every tensor cut into its chunks once: a slice per chunk would, under autograd, write a
    # zero-filled tensor of the whole sequence per slice for its gradient; split's is one cat
    # (none at all for a sequence of one chunk)
    gs, us = _chunks(g, chunk, -1), _chunks(u, chunk, -1)
    vks = [(_chunks(v, chunk, -2), _chunks(k, chunk, -2)) for v, k, _ in mats]
    kns = [_chunks(k, chunk, -2) for k, _ in vecs]
    qs = [_chunks(q, chunk, -2) for _, q in reads]
    # a (query, key) pair read by several memories (mLSTM's C q and nᵀq share q and k) is
    # weighted once per chunk
    keys = [id(k) for _, k, _ in mats] + [id(k) for k, _ in vecs]
    for c, gc in enumerate(gs):
        L = gc.shape[-1]
        b = torch.cumsum(gc, -1)  # (B, h, L)
        causal = torch.ones(L, L, dtype=torch.bool, device=g.device).tril()
        log_d = (b.unsqueeze(-1) - b.unsqueeze(-2) + us[c].unsqueeze(-2)
                 ).masked_fill(~causal, float("-inf"))  # (B, h, L, L): t by j
        log_e = b + m_prev.unsqueeze(-1)
        m = torch.maximum(log_e, log_d.amax(-1))  # (B, h, L)
        d = torch.exp(log_d - m.unsqueeze(-1))
        e = torch.exp(log_e - m)
        weighted: dict[tuple[int, int], Tensor] = {}
        for r, (idx, q) in enumerate(reads):
            qc = qs[r][c]
            kc = vks[idx][1][c] if idx < n_mat else kns[idx - n_mat][c]
            pair = (id(q), keys[idx])
            if pair not in weighted:
                weighted[pair] = torch.matmul(qc, kc.transpose(-1, -2)) * d
            scores = weighted[pair]
            if idx < n_mat:
                out = torch.matmul(scores, vks[idx][0][c])
                if not zero[idx]:
                    out = out + e.unsqueeze(-1) * torch.matmul(qc, Cs[idx].transpose(-1, -2))
            else:
                out = scores.sum(-1)
                if not zero[idx]:
                    out = out + e * torch.matmul(qc, ns[idx - n_mat].unsqueeze(-1)).squeeze(-1)
            outs[r].append(out)
        last, e_last = d[..., -1, :].unsqueeze(-1), e[..., -1]  # (B, h, L, 1), (B, h)
        Cs = [torch.matmul((v[c] * last).transpose(-1, -2), k[c]) if z else
              e_last[..., None, None] * C + torch.matmul((v[c] * last).transpose(-1, -2), k[c])
              for C, (v, k), z in zip(Cs, vks, zero[:n_mat], strict=True)]
        ns = [(k[c] * last).sum(-2) if z else e_last.unsqueeze(-1) * n0 + (k[c] * last).sum(-2)
              for n0, k, z in zip(ns, kns, zero[n_mat:], strict=True)]
        zero = [False] * len(zero)
        m_prev = m[..., -1]
        ms.append(m)
    return (_joined(ms, -1), [_joined(o, -2 if reads[r][0] < n_mat else -1)
                              for r, o in enumerate(outs)], [*Cs, *ns, m_prev])


def _chunks(t: Tensor, chunk: int, dim: int) -> tuple[Tensor, ...]:
    """``t`` cut into chunks along ``dim``; itself when it is one chunk."""
    return (t,) if t.shape[dim] <= chunk else t.split(chunk, dim)


def _joined(parts: list[Tensor], dim: int) -> Tensor:
    """The chunks' results as one tensor (no copy for a single chunk)."""
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim)


def _known_zero(state: Tensor) -> bool:
    """Whether ``state`` is all zeros and needs no gradient, checked on the CPU only (on a
    GPU the check would wait for the device; there the products run whatever the state).
    One element decides a state carried over from an earlier batch and a broadcast zero
    (:meth:`RecurrentLayer.zero_states` of a chunkwise layer); only a stored state whose
    first element is zero is read whole."""
    if state.device.type != "cpu" or state.requires_grad or state.numel() == 0:
        return False
    if state[(0,) * state.dim()].item() != 0:
        return False
    return all(s == 0 for s in state.stride()) or not bool(state.any())


def step_evaluator(plan: Any, params: dict[str, Tensor]) -> Any:
    """``evaluate(step, env, prods)``: the value of one step of a head-wise plan from the
    values in ``env`` (rows: all T·B, or one step's B), a group's product made once per
    ``prods`` (one product over the rows, split per member: one cat as its gradient, not K
    slices)."""
    # here, not at the top: _plan imports this module's recogniser, and _eager imports _plan
    from lstm_search.compile._eager import apply_head_op, diag_weight, full_bias, group_weight

    n, h = plan.hidden_size, plan.heads
    hd = n // h
    groups = {g.gid: g for g in plan.groups}
    diag = {s.pos: diag_weight(params[f"diag_v{s.pos}"], s.weight)
            for s in plan.steps if s.op == "diag"}

    def evaluate(step: Any, env: dict[str, Tensor], prods: dict[int, Any]) -> Tensor:
        a = [env[r] for r in step.args]
        if step.op == "proj":
            g = groups[step.group]
            if g.gid not in prods:
                prods[g.gid] = F.linear(env[g.source], group_weight(g, params),
                                        full_bias(params.get(g.bias_name), len(g.members) * n)
                                        ).split(n, 1)
            val = prods[g.gid][step.slot]
            return val + step.diag_add * env[g.source] if step.diag_add != 0.0 else val
        if step.op == "hproj":
            return F.linear(a[0], params[f"hweight_v{step.pos}"], params.get(f"hbias_v{step.pos}"))
        if step.op == "diag":
            return diag[step.pos] * a[0]
        return apply_head_op(step, a, h, hd)

    return evaluate


def run_memory(plan: Any, params: dict[str, Tensor], x: Tensor, states: list[Tensor],
               chunk: int = CHUNK) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """One layer of a chunkwise plan (:attr:`~._plan.Plan.chunkwise`) over ``x`` (T, B, m)
    from ``states`` (the plan's state shapes), with the step loop's results (outputs
    (T, B, n), final states, no values for a layer above)."""
    from lstm_search.compile._gated import GatedSpec, run_gated

    if isinstance(plan.memory, GatedSpec):
        return run_gated(plan, params, x, states, chunk)
    spec: MemorySpec | None = plan.memory
    if spec is None:
        raise ValueError(f"this plan runs the step loop, not the chunkwise path ({plan.path})")
    n, h = plan.hidden_size, plan.heads
    hd = n // h
    T, B = x.shape[0], x.shape[1]
    rows = T * B
    env: dict[str, Tensor] = {}
    env["xt"] = env["x"] = x.reshape(rows, -1)
    prods: dict[int, Any] = {}
    evaluate = step_evaluator(plan, params)

    kinds = spec.kinds
    for step in plan.steps:  # the values of x alone, over all rows
        if kinds[step.pos] == "free":
            env[step.out] = evaluate(step, env, prods)
    viewed: dict[str, Tensor] = {}

    def heads(ref: str) -> Tensor:  # one view per value: chunk_memory shares equal (q, k) pairs
        if ref not in viewed:
            viewed[ref] = _heads(env[ref], T, B, h)
        return viewed[ref]

    mats = [(heads(v), heads(k), states[j]) for j, v, k in spec.matrices]
    vecs = [(heads(k), states[j].reshape(B, h, hd)) for j, k in spec.vectors]
    order = [j for j, _, _ in spec.matrices] + [j for j, _ in spec.vectors]
    reads = [(order.index(j), heads(q)) for _, j, q in spec.reads]
    gh = env[spec.g].reshape(T, B, h).permute(1, 2, 0)
    uh = env[spec.u].reshape(T, B, h).permute(1, 2, 0)
    m_all, got, final = chunk_memory(gh, uh, mats, vecs, states[spec.m], reads, chunk)
    # the stabiliser at every step and before it, as rows (T·B, h)
    m_steps = m_all.permute(2, 0, 1)  # (T, B, h)
    m_rows = m_steps.reshape(rows, h)
    env[f"s{spec.m}"] = torch.cat([states[spec.m].unsqueeze(0), m_steps[:-1]], 0).reshape(rows, h)
    for (ref, _, _), val in zip(spec.reads, got, strict=True):
        env[ref] = (val.permute(2, 0, 1, 3) if val.dim() == 4 else val.permute(2, 0, 1)
                    ).reshape(rows, -1)
    for step in plan.steps:  # the stabiliser's steps and the reads' consumers, over all rows
        if kinds[step.pos] == "after" and step.out not in env:
            env[step.out] = m_rows if step.out == spec.m_new else evaluate(step, env, prods)
    new = list(states)
    for j, val in zip([*order, spec.m], final, strict=True):
        new[j] = val.reshape(states[j].shape)
    y = env[plan.output].reshape(T, B, -1)
    return y, new, []
