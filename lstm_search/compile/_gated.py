"""The chunkwise path of a gated memory: a head-wise matrix memory whose decay and write
weight are any per-head scalars of the input and of scalar states, run without a step loop.

:mod:`._memory` recognises xLSTM's stabilised mLSTM exactly (its closed form keeps every
weight at most 1 over any length). Mutants of it, and gated linear memories in general
(gated linear attention: Yang et al. 2024, "Gated Linear Attention Transformers with
Hardware-Efficient Training", eq. 3-4; RetNet's decay; the unstabilised mLSTM), have the
same structure with other gates. :func:`gated_path` finds, in a head-wise plan:

- the scalar states S (one per head): each new value reads only x and S. They are stepped
  alone, per step on (B, h) tensors (cheap: no matrix, no vector of the memory), or, when
  every one is xLSTM's stabiliser ``m' = max(g + m, u)`` (most mutants of the mLSTM) or
  affine in itself, ``s' = a s + Σ c w``, with everything of x alone, computed over the
  sequence by :func:`._memory.chunk_memory` or the scan path's ``affine_scan``;
- the memories: every other state is, per head, ``M_t = a_t M_{t-1} + Σ_r c_{r,t} v_r k_rᵀ``
  (a matrix) or ``n_t = a_t n_{t-1} + Σ_r c_{r,t} w_r`` (a vector), with ``a``, ``c`` products
  of per-head scalars and constants, and v, k, w vectors, all of x and S alone (no gate reads
  a memory);
- the memories are read only as ``M_t q_t`` and ``n_tᵀ q_t`` (``matvec``, ``dot``) with
  queries of x and S.

Unrolled inside a chunk of L steps entering with M₀, with ``P_ti = a_{i+1} ⋯ a_t`` (i ≤ t)
and ``E_t = a_1 ⋯ a_t``::

    M_t q_t = E_t M₀ q_t + Σ_r Σ_{i≤t} P_ti c_{r,i} (k_{r,i}ᵀ q_t) v_{r,i}

the step loop's sum, reassociated: per chunk a (L, L) matrix of products (a cumulative
product down the columns of a masked matrix: any sign, zeros exact, no division and no
logarithm) and a few batched matrix products, as :mod:`._memory`'s chunks. Products of
gates above 1 grow as the loop's memory does; the stabilised form (:mod:`._memory`) is
taken first where it applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from lstm_search.compile._memory import (
    CHUNK,
    _chunks,
    _deps,
    _heads,
    _known_zero,
    chunk_memory,
    step_evaluator,
)

Coef = tuple[tuple[str, ...], float]  # a product of per-head scalar values and a constant
MatrixFeed = tuple[Coef, str, str]  # c v kᵀ: (c, v, k)
VectorFeed = tuple[Coef, str]  # c w


@dataclass(frozen=True)
class GatedSpec:
    """What :func:`gated_path` found (value references as in :class:`~._plan.Step`)."""

    scalars: tuple[int, ...]  # the scalar states S, stepped alone
    prelude: tuple[int, ...]  # step positions S's new values need (stepped with S)
    memories: tuple[tuple[int, Coef | None, tuple[Any, ...]], ...]  # (state, a, feeds)
    reads: tuple[tuple[str, int, str], ...]  # (step ref, state, query ref): M q or nᵀq
    # per step position: "free" (x alone), "prelude", "pre" (x and S: after the scalar
    # states), "internal" (a memory update: never computed), "after" (reads a read)
    kinds: tuple[str, ...]
    # when every scalar state is xLSTM's stabiliser m' = max(g + m, u) ("max", state, g, u)
    # or affine in itself, s' = a s + Σ c w ("affine", state, a, feeds), with everything of x
    # alone: computed over the sequence (no prelude loop)
    closed: tuple[tuple[Any, ...], ...] = ()


def gated_path(steps: Any, new_states: tuple[str, ...], state_kinds: tuple[str, ...],
               state_names: tuple[str, ...], node_names: tuple[str, ...]
               ) -> tuple[str, GatedSpec | None]:
    """``("chunkwise: ...", spec)`` when a head-wise plan is a gated memory of the module
    docstring, else ``("step loop: <why>", None)``."""
    by_ref = {s.out: s for s in steps}
    memo: dict[str, frozenset[int]] = {}

    def deps(ref: str) -> frozenset[int]:  # the states ref reads
        return _deps(ref, by_ref, memo)

    def shape(ref: str) -> str:
        if ref[0] == "s":
            return state_kinds[int(ref[1:])]
        s = by_ref.get(ref)
        return s.shape if s is not None and s.shape else "vector"

    def node(ref: str) -> str:
        return repr(node_names[int(ref[1:])]) if ref[0] == "v" else ref

    # S: the scalar states whose new values read only x and S (largest such set)
    scalars = {j for j, k in enumerate(state_kinds) if k == "scalar"}
    while True:
        keep = {j for j in scalars if deps(new_states[j]) <= scalars}
        if keep == scalars:
            break
        scalars = keep
    memories = [j for j in range(len(state_kinds)) if j not in scalars]
    if not any(state_kinds[j] == "matrix" for j in memories):
        return "step loop: no matrix state is a gated memory", None

    def pre(ref: str) -> bool:  # a value of x and S alone
        return deps(ref) <= scalars

    internal: set[str] = set()

    def coef_of(refs: list[str]) -> Coef | None:
        """The product of pre per-head scalars (None: a factor that is not one)."""
        if not all(pre(r) and shape(r) == "scalar" for r in refs):
            return None
        return tuple(refs), 1.0

    def times(c: Coef, d: Coef) -> Coef:
        return c[0] + d[0], c[1] * d[1]

    def rank_one(ref: str) -> tuple[MatrixFeed, ...] | None:
        """A pre matrix value as a sum of c v kᵀ."""
        s = by_ref.get(ref)
        if s is None or shape(ref) != "matrix":
            return None
        internal.add(ref)
        if s.op == "outer" and all(shape(a) == "vector" for a in s.args):
            return ((((), 1.0), s.args[0], s.args[1]),)
        if s.op in ("copy", "scale"):
            inner = rank_one(s.args[0])
            k = s.const if s.op == "scale" else 1.0
            return None if inner is None else tuple((times(c, ((), k)), v, w)
                                                    for c, v, w in inner)
        if s.op in ("add", "sub"):
            parts = [rank_one(a) for a in s.args]
            if any(p is None for p in parts) or (s.op == "sub" and len(parts) != 2):
                return None
            out: list[MatrixFeed] = []
            for i, p in enumerate(parts):
                sign = -1.0 if s.op == "sub" and i == 1 else 1.0
                out += [(times(c, ((), sign)), v, w) for c, v, w in p or ()]
            return tuple(out)
        if s.op == "mul":
            mats = [a for a in s.args if shape(a) == "matrix"]
            coef = coef_of([a for a in s.args if shape(a) != "matrix"])
            inner = rank_one(mats[0]) if len(mats) == 1 else None
            if inner is None or coef is None:
                return None
            return tuple((times(coef, c), v, w) for c, v, w in inner)
        return None

    def linear(ref: str, j: int) -> tuple[Coef | None, tuple[Any, ...]] | None:
        """``ref`` as a s_j + Σ feeds (a None: s_j does not appear); None: not so."""
        if ref == f"s{j}":
            return ((), 1.0), ()
        if j not in deps(ref):
            if not pre(ref):
                return None
            if state_kinds[j] == "matrix":
                feeds = rank_one(ref)
                return None if feeds is None else (None, feeds)
            return None, ((((), 1.0), ref),)
        s = by_ref.get(ref)
        if s is None:
            return None
        internal.add(ref)
        if s.op in ("copy", "scale"):
            inner = linear(s.args[0], j)
            if inner is None:
                return None
            k = ((), s.const if s.op == "scale" else 1.0)
            a, feeds = inner
            return (None if a is None else times(a, k)), tuple((times(f[0], k), *f[1:])
                                                               for f in feeds)
        if s.op in ("add", "sub"):
            if s.op == "sub" and len(s.args) != 2:
                return None
            total: Coef | None = None
            out: list[Any] = []
            for i, arg in enumerate(s.args):
                part = linear(arg, j)
                if part is None:
                    return None
                sign = ((), -1.0 if s.op == "sub" and i == 1 else 1.0)
                a, feeds = part
                if a is not None:
                    if total is not None:
                        return None  # s_j twice: a sum of decays is not kept
                    total = times(a, sign)
                out += [(times(f[0], sign), *f[1:]) for f in feeds]
            return total, tuple(out)
        if s.op == "mul":
            dep = [a for a in s.args if j in deps(a)]
            coef = coef_of([a for a in s.args if j not in deps(a)])
            if len(dep) != 1 or coef is None:
                return None
            inner = linear(dep[0], j)
            if inner is None:
                return None
            a, feeds = inner
            return (None if a is None else times(coef, a)), tuple((times(coef, f[0]), *f[1:])
                                                                  for f in feeds)
        return None

    for j in memories:
        if state_kinds[j] == "scalar":
            return (f"step loop: the scalar state {state_names[j]!r} reads a memory (its new "
                    "value is not of x and scalar states alone: it cannot be stepped alone)"), None
    found = []
    for j in memories:
        kind = state_kinds[j]
        got = linear(new_states[j], j)
        if got is None:
            what = "a M + Σ c v kᵀ" if kind == "matrix" else "a n + Σ c w"
            return (f"step loop: state {state_names[j]!r} is not {what} with per-head "
                    "scalars a, c and vectors of x and the scalar states alone"), None
        a, feeds = got
        for f in feeds:
            for r in f[0][0]:
                internal.discard(r)
        found.append((j, a, feeds))
    for _, a, feeds in found:  # the gates and vectors are computed, never internal
        for r in (a[0] if a else ()):
            internal.discard(r)
        for f in feeds:
            for r in f[1:]:
                internal.discard(r)
    memory_new = {new_states[j]: j for j in memories}
    needed: set[str] = set()  # the steps S's new values read, stepped with S

    def need(ref: str) -> None:
        s = by_ref.get(ref)
        if s is None or ref in needed or not deps(ref):
            return
        needed.add(ref)
        for a in s.args:
            need(a)

    for j in scalars:
        need(new_states[j])
    kinds = ["free"] * (1 + max((s.pos for s in steps), default=-1))
    reads = []
    for s in steps:
        if s.out in internal:
            kinds[s.pos] = "internal"
        elif not deps(s.out):
            kinds[s.pos] = "free"
        elif s.out in needed:
            kinds[s.pos] = "prelude"
        elif pre(s.out):
            kinds[s.pos] = "pre"
        else:
            kinds[s.pos] = "after"
            if s.op in ("matvec", "dot") and any(a in memory_new for a in s.args):
                mem = next(a for a in s.args if a in memory_new)
                q = s.args[1] if s.args[0] == mem else s.args[0]
                if not pre(q) or q in memory_new or shape(q) != "vector":
                    return (f"step loop: node {node(s.out)} reads a memory with a query "
                            f"that depends on a memory ({node(q)})"), None
                reads.append((s.out, memory_new[mem], q))
                continue
        for a in s.args:
            if kinds[s.pos] == "internal":
                break
            if a[0] == "s" and int(a[1:]) in memory_new.values():
                return (f"step loop: node {node(s.out)} reads state "
                        f"{state_names[int(a[1:])]!r} itself (only M q and nᵀq are "
                        "computed without the loop)"), None
            if a in internal or a in memory_new:
                return (f"step loop: node {node(s.out)} reads the memory update "
                        f"{node(a)} (only M q and nᵀq are computed without the loop)"), None
    closed: list[tuple[Any, ...]] = []
    kept = set(internal)  # linear() below marks what it walks: not for the kinds above
    for j in sorted(scalars):
        # m' = max(g + m, u), g and u of x alone: ("max", j, g, u)
        mx = by_ref.get(new_states[j])
        form: tuple[Any, ...] | None = None
        if mx is not None and mx.op == "max" and len(mx.args) == 2:
            for a_ref, u_ref in (mx.args, mx.args[::-1]):
                add = by_ref.get(a_ref)
                if (add is not None and add.op == "add" and len(add.args) == 2
                        and f"s{j}" in add.args and not deps(u_ref)):
                    g_ref = add.args[1] if add.args[0] == f"s{j}" else add.args[0]
                    if g_ref != f"s{j}" and not deps(g_ref):
                        form = ("max", j, g_ref, u_ref)
                        break
        if form is None:  # s' = a s + Σ c w, a, c and w of x alone: ("affine", j, a, feeds)
            lin = linear(new_states[j], j)
            decay = None if lin is None else lin[0] if lin[0] is not None else ((), 0.0)
            if lin is not None and decay is not None and not any(
                    deps(r) for r in (*decay[0], *(r for f in lin[1] for r in (*f[0][0],
                                                                              f[1])))):
                form = ("affine", j, decay, lin[1])
        if form is None:
            closed = []
            break
        closed.append(form)
    internal.clear()
    internal.update(kept)
    spec = GatedSpec(scalars=tuple(sorted(scalars)),
                     prelude=tuple(by_ref[r].pos for r in needed),
                     memories=tuple(found), reads=tuple(reads), kinds=tuple(kinds),
                     closed=tuple(closed))
    names = ", ".join(repr(state_names[j]) for j in memories)
    listed = ", ".join(repr(state_names[j]) for j in sorted(scalars))
    stepped = ("" if not scalars else f", the scalar states {listed} in closed form" if closed
               else f", the scalar states {listed} stepped alone")
    return (f"chunkwise: the gated memory {names} (decay and writes from x and scalar "
            f"states{stepped}) runs in chunks of {CHUNK} steps, M q read by products, not a "
            "step loop", spec)


def _rows_coef(c: Any, env: dict[str, Tensor]) -> Tensor | float:
    """A product of per-head scalars and a constant over all rows, (rows, h) (a constant
    alone: the float)."""
    refs, k = c
    if not refs:
        return k
    out = env[refs[0]]
    for r in refs[1:]:
        out = out * env[r]
    return out * k if k != 1.0 else out


def _per_head(v: Tensor, T: int, B: int, h: int) -> Tensor:
    """(T·B, h) rows → (B, h, T)."""
    return v.reshape(T, B, h).permute(1, 2, 0)


def _segment_products(a: Tensor) -> tuple[Tensor, Tensor]:
    """For ``a`` (..., L): ``P`` (..., L, L) with ``P[t, i] = a_{i+1} ⋯ a_t`` for i ≤ t (1 on
    the diagonal, 0 above it) and ``E`` (..., L) with ``E[t] = a_0 ⋯ a_t``.

    Positive gates (a sigmoid's, an exponential's: checked) take the log space, as
    :mod:`._memory` does: ``P[t, i] = exp(b_t − b_i)`` with ``b`` the cumulative sum of
    ``log a`` (cheap to differentiate). Any other sign, or a zero, takes cumulative
    products down the masked rows ``Q[i, t] = P[t, i]`` (contiguous; exact for zeros and any
    sign; torch's backward of a cumulative product is the costlier one)."""
    L = a.shape[-1]
    later = torch.ones(L, L, dtype=torch.bool, device=a.device).triu(1)  # [i, t]: t > i
    if bool((a > 0).all()):
        b = torch.cumsum(torch.log(a), -1)
        log_p = (b.unsqueeze(-1) - b.unsqueeze(-2)).masked_fill(later, float("-inf"))
        return torch.exp(log_p), torch.exp(b)
    rows = torch.where(later, a.unsqueeze(-2), torch.ones_like(a).unsqueeze(-2))
    Q = torch.cumprod(rows, -1).masked_fill(later.t(), 0.0)  # t < i: no weight
    return Q.transpose(-1, -2), torch.cumprod(a, -1)


def run_gated(plan: Any, params: dict[str, Tensor], x: Tensor, states: list[Tensor],
              chunk: int = CHUNK) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """One layer of a gated-memory plan (:func:`gated_path`) over ``x`` (T, B, m) from
    ``states``, with the step loop's results (outputs (T, B, n), final states, no values for
    a layer above)."""
    spec: GatedSpec = plan.memory
    n, h = plan.hidden_size, plan.heads
    hd = n // h
    T, B = x.shape[0], x.shape[1]
    rows = T * B
    env: dict[str, Tensor] = {"xt": x.reshape(rows, -1), "x": x.reshape(rows, -1)}
    evaluate = step_evaluator(plan, params)

    kinds = spec.kinds
    prods: dict[int, Any] = {}
    for step in plan.steps:  # x alone, over all rows
        if kinds[step.pos] == "free":
            env[step.out] = evaluate(step, env, prods)
    # the scalar states, stepped alone: (B, h) per step
    prelude = [s for s in plan.steps if s.pos in spec.prelude]
    cur: dict[int, Tensor] = {}
    if spec.closed:  # the scalar states over the sequence (stabilisers by _memory.chunk_memory,
        # affine ones by the scan path's affine_scan), then the prelude's steps over all rows
        from lstm_search.compile._scan import affine_scan  # (_scan imports _plan)

        for form in spec.closed:
            j = form[1]
            if form[0] == "max":
                m_all = chunk_memory(_per_head(env[form[2]], T, B, h),
                                     _per_head(env[form[3]], T, B, h), [], [],
                                     states[j].reshape(B, h), [], chunk)[0]
                s_all = m_all.permute(2, 0, 1).reshape(T, B * h)
            else:
                a = x.new_zeros(rows, h) + _rows_coef(form[2], env)
                b = x.new_zeros(rows, h)
                for c, w in form[3]:
                    b = b + env[w] * _rows_coef(c, env)
                a_t, b_t = a.reshape(T, B * h), b.reshape(T, B * h)
                s_all = affine_scan(a_t.contiguous(), b_t.contiguous(), states[j].reshape(B * h))
            env[f"s{j}"] = torch.cat([states[j].reshape(1, B * h), s_all[:-1]], 0
                                     ).reshape(rows, h)
        for step in prelude:
            env[step.out] = evaluate(step, env, prods)
        cur = {j: env[plan.new_states[j]].reshape(T, B, -1)[-1].reshape(states[j].shape)
               for j in spec.scalars}
    elif spec.scalars:
        # what the prelude reads of x's values, and new scalar states that are such values
        used = ({a for s in prelude for a in s.args if a in env}
                | {plan.new_states[j] for j in spec.scalars if plan.new_states[j] in env})
        per_t = {r: env[r].reshape(T, B, -1).unbind(0) for r in used}
        cur = {j: states[j] for j in spec.scalars}
        old: dict[int, list[Tensor]] = {j: [] for j in spec.scalars}
        vals: dict[str, list[Tensor]] = {s.out: [] for s in prelude}
        for t in range(T):
            at = {r: v[t] for r, v in per_t.items()} | {f"s{j}": c for j, c in cur.items()}
            step_prods: dict[int, Any] = {}
            for s in prelude:
                at[s.out] = evaluate(s, at, step_prods)
                vals[s.out].append(at[s.out])
            for j in spec.scalars:
                old[j].append(cur[j])
                cur[j] = at[plan.new_states[j]]
        for j in spec.scalars:
            env[f"s{j}"] = torch.stack(old[j], 0).reshape(rows, -1)
        for r, v in vals.items():
            env[r] = torch.stack(v, 0).reshape(rows, -1)
    for step in plan.steps:  # x and S, over all rows
        if kinds[step.pos] == "pre":
            env[step.out] = evaluate(step, env, prods)

    def coef(c: Any) -> Tensor | float:  # (B, h, T), or a constant
        out = _rows_coef(c, env)
        return _per_head(out, T, B, h) if isinstance(out, Tensor) else out

    viewed: dict[str, Tensor] = {}

    def heads(ref: str) -> Tensor:
        if ref not in viewed:
            v = env[ref]
            if v.shape[-1] == h and h != n:  # a per-head scalar written into a vector
                v = v.repeat_interleave(hd, 1)
            viewed[ref] = _heads(v, T, B, h)
        return viewed[ref]

    mems = {}
    decays: dict[Any, Tensor] = {}  # memories with the same decay share its weights
    for j, a, feeds in spec.memories:
        if a not in decays:
            decay = coef(a) if a is not None else 0.0
            decays[a] = decay if isinstance(decay, Tensor) else x.new_full((B, h, T), decay)
        fs = []
        for f in feeds:  # c folded into k (a matrix's) or w (a vector's): (B, h, T, d)
            c, last = coef(f[0]), heads(f[-1])
            c_last = last * (c.unsqueeze(-1) if isinstance(c, Tensor) else c) \
                if not (isinstance(c, float) and c == 1.0) else last
            fs.append((*[heads(r) for r in f[1:-1]], c_last))
        mems[j] = (decays[a], fs)
    finals, got = _run_chunks(mems, {j: states[j] for j in mems},
                          [(j, heads(q)) for _, j, q in spec.reads], B, h, hd, chunk)
    for (ref, _, _), val in zip(spec.reads, got, strict=True):
        env[ref] = (val.permute(2, 0, 1, 3) if val.dim() == 4 else val.permute(2, 0, 1)
                    ).reshape(rows, -1)
    for step in plan.steps:
        if kinds[step.pos] == "after" and step.out not in env:
            env[step.out] = evaluate(step, env, prods)
    new = list(states)
    for j in spec.scalars:
        new[j] = cur[j]
    for j, val in finals.items():
        new[j] = val.reshape(states[j].shape)
    return env[plan.output].reshape(T, B, -1), new, []


def _split(t: Any, chunk: int, dim: int, n: int) -> list[Any]:
    """:func:`._memory._chunks` of a tensor (a float: itself in each of the ``n`` chunks)."""
    return list(_chunks(t, chunk, dim)) if isinstance(t, Tensor) else [t] * n


def _run_chunks(mems: dict[int, Any], init: dict[int, Tensor],
                reads: list[tuple[int, Tensor]], B: int, h: int, hd: int, chunk: int
                ) -> tuple[dict[int, Tensor], list[Tensor]]:
    """Every memory over T steps, chunk by chunk: ``mems[j]`` = (a (B, h, T), feeds) with a
    feed (v, c k) of a matrix or (c w,) of a vector (B, h, T, d) each, c folded in;
    ``reads`` (memory, query (B, h, T, d)). Memories with the same decay tensor share its
    weights. Returns the final memories and the reads ((B, h, T, d) of a matrix, (B, h, T)
    of a vector)."""
    cur: dict[int, Tensor] = {}
    zero: dict[int, bool] = {}
    for j, s in init.items():
        cur[j] = s.reshape(B, h, hd, hd) if s.dim() == 4 else s.reshape(B, h, hd)
        zero[j] = _known_zero(s)
    T = next(iter(mems.values()))[0].shape[-1]
    nc = -(-T // chunk)
    cut: dict[int, list[Tensor]] = {}  # each tensor split once, by identity

    def split(t: Tensor, dim: int) -> list[Tensor]:
        if id(t) not in cut:
            cut[id(t)] = _split(t, chunk, dim, nc)
        return cut[id(t)]

    outs: list[list[Tensor]] = [[] for _ in reads]
    for c in range(nc):
        weights: dict[int, tuple[Tensor, Tensor]] = {}
        for a, _ in mems.values():
            if id(a) not in weights:
                weights[id(a)] = _segment_products(split(a, -1)[c])
        for r, (j, q) in enumerate(reads):
            qc = split(q, -2)[c]
            a, feeds = mems[j]
            P, E = weights[id(a)]
            matrix = cur[j].dim() == 4
            out = None
            for f in feeds:
                scores = torch.matmul(qc, split(f[-1], -2)[c].transpose(-1, -2)) * P
                term = torch.matmul(scores, split(f[0], -2)[c]) if matrix else scores.sum(-1)
                out = term if out is None else out + term
            if not zero[j]:
                if matrix:
                    term = E.unsqueeze(-1) * torch.matmul(qc, cur[j].transpose(-1, -2))
                else:
                    term = E * torch.matmul(qc, cur[j].unsqueeze(-1)).squeeze(-1)
                out = term if out is None else out + term
            if out is None:  # a memory never written, read from zero
                out = qc.new_zeros(qc.shape if matrix else qc.shape[:-1])
            outs[r].append(out)
        for j, (a, feeds) in mems.items():
            P, E = weights[id(a)]
            matrix = cur[j].dim() == 4
            new = None if zero[j] else (E[..., -1, None, None] if matrix
                                        else E[..., -1, None]) * cur[j]
            last = P[..., -1, :].unsqueeze(-1)  # (B, h, L, 1): each step's weight at the end
            for f in feeds:
                if matrix:
                    term = torch.matmul((split(f[0], -2)[c] * last).transpose(-1, -2),
                                        split(f[1], -2)[c])
                else:
                    term = (split(f[0], -2)[c] * last).sum(-2)
                new = term if new is None else new + term
            cur[j] = new if new is not None else torch.zeros_like(cur[j])
            zero[j] = False
    got = [o[0] if len(o) == 1 else torch.cat(o, -2 if o[0].dim() == 4 else -1) for o in outs]
    return cur, got
