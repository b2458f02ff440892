"""Mutation: the six transformations of Jozefowicz, Zaremba & Sutskever 2015 (section 3.1).

Each operator takes a genome and a :class:`random.Random`, and returns the changed genome with a
one-line description, or ``None`` when it does not apply (no node of the kind it needs):

====================== =========================================================================
swap_activation        an activation becomes another of tanh, sigmoid, relu, Linear(0,·),
                       Linear(1,·), Linear(0.9,·), Linear(1.1,·); Linear(a, v) = W v + b with a
                       added to W's diagonal (the ``linear`` op with ``diag=a``)
swap_elementwise       an elementwise op becomes another of +, ×, − (``add``, ``mul``, ``sub``)
insert_activation      a new activation between a node and one of its inputs
remove_node            a node with one input and one consumer is bypassed
replace_by_ancestor    every use of a node reads one of its ancestors instead
replace_by_combination every use of a node reads (a ∘ b), ∘ ∈ {+, ×, −}, a an ancestor of the node
                       and b an ancestor of another node
====================== =========================================================================

Four more, not in the paper, lead towards the modern cells (:data:`MODERN_OPERATORS`, chosen
by name; :func:`mutate` draws from the paper's six unless told otherwise):

====================== =========================================================================
drop_state_projection  a recurrent term of a sum goes (gates reading x only: minGRU / minLSTM)
stabilised_exp_gates   a gated memory gets xLSTM's exponential gates, normaliser and stabiliser
headwise_projection    a recurrent projection becomes head-wise (block diagonal) or dense again
matrix_memory          a stabilised memory becomes the mLSTM's head-wise matrix memory
====================== =========================================================================

Four lead towards the seed systems of genome format 2 (:data:`SEED_OPERATORS`, opt-in too):

====================== =========================================================================
attend_state           a state's projections read an attention context over its last K values
                       (LSTMN-style, Cheng et al. 2016)
attention_window       an attention node's window K changes
clock_state            a state's update is clocked in modules (Clockwork RNN, Koutník et al.)
depth_gate             a gated memory gets a depth gate on the layer below's memory
                       (``below:``; Depth-Gated LSTM, Yao et al. 2015)
====================== =========================================================================

``depth_gate`` changes what a cell computes only in a stack of several layers (a first layer's
``below:`` reads zeros, so a one-layer model merely gains the gate's unused weights): give it
to searches whose model has ``num_layers`` > 1.

:func:`mutate` applies 1-3 of them (as the paper draws 1-3), prunes dead nodes and redraws until
the result is valid and differs from the parent (by :func:`~lstm_search.genome.genome_id`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lstm_search.genome._canonical import genome_id
from lstm_search.genome._genome import Genome, Node
from lstm_search.genome._ops import BELOW, OPS, X
from lstm_search.genome._random import as_rng, prune
from lstm_search.genome._shapes import hidden_multiple
from lstm_search.genome._validate import validate

# (op, params) of each activation Jozefowicz et al. 2015 swap between.
ACTIVATION_CHOICES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("tanh", {}),
    ("sigmoid", {}),
    ("relu", {}),
    ("linear", {}),  # Linear(0, ·); diag=0 is the default, so no parameter is written
    ("linear", {"diag": 1.0}),
    ("linear", {"diag": 0.9}),
    ("linear", {"diag": 1.1}),
)
ELEMENTWISE_CHOICES: tuple[str, ...] = ("add", "mul", "sub")
_UNARY_ACTIVATIONS = ("tanh", "sigmoid", "relu", "leaky_relu", "identity")

Result = tuple[Genome, str] | None


@dataclass(frozen=True)
class Mutation:
    """A mutated genome and the transformations applied to its parent, in order."""

    genome: Genome
    applied: tuple[str, ...]
    parent_id: str

    @property
    def ops(self) -> tuple[str, ...]:
        """The operator names applied (``applied`` without the details)."""
        return tuple(a.split(":", 1)[0] for a in self.applied)


# -- helpers -----------------------------------------------------------------------------------


def _fresh(genome: Genome, stem: str) -> str:
    taken = {X, *genome.states, *(n.name for n in genome.nodes)}
    k = 0
    while f"{stem}{k}" in taken:
        k += 1
    return f"{stem}{k}"


def _ancestors(genome: Genome, name: str) -> set[str]:
    """Every value ``name`` depends on within a step (x, states and nodes), itself excluded."""
    nmap = genome.node_map
    seen: set[str] = set()
    todo = list(nmap[name].inputs) if name in nmap else []
    while todo:
        v = todo.pop()
        if v in seen:
            continue
        seen.add(v)
        if v in nmap:
            todo.extend(nmap[v].inputs)
    return seen


def _descendants(genome: Genome, name: str) -> set[str]:
    """Every node that depends on ``name``, itself excluded."""
    users: dict[str, list[str]] = {}
    for n in genome.nodes:
        for i in n.inputs:
            users.setdefault(i, []).append(n.name)
    out: set[str] = set()
    todo = list(users.get(name, ()))
    while todo:
        v = todo.pop()
        if v not in out:
            out.add(v)
            todo.extend(users.get(v, ()))
    return out


def _consumers(genome: Genome, name: str) -> list[tuple[str, int]]:
    """(node, input slot) pairs that read ``name``."""
    return [(n.name, k) for n in genome.nodes for k, i in enumerate(n.inputs) if i == name]


def _sink_roles(genome: Genome, name: str) -> int:
    return (genome.output == name) + sum(v == name for v in genome.new_states.values())


def _redirect(genome: Genome, old: str, new: str, *, sinks: bool = True) -> Genome:
    """Every read of ``old`` reads ``new`` instead (and, if ``sinks``, so do output/new states)."""
    nodes = tuple(
        Node(n.name, n.op, tuple(new if i == old else i for i in n.inputs), n.params)
        if n.name != new else n
        for n in genome.nodes
    )
    if not sinks:
        return genome.replace(nodes=nodes)
    return genome.replace(
        nodes=nodes,
        new_states={s: (new if v == old else v) for s, v in genome.new_states.items()},
        output=new if genome.output == old else genome.output,
    )


def _describe_act(op: str, params: dict[str, Any]) -> str:
    if op == "linear":
        return f"Linear({float(params.get('diag', 0.0)):g},·)"
    return op


def _insert_before(genome: Genome, anchor: str, new_nodes: list[Node]) -> tuple[Node, ...]:
    out: list[Node] = []
    for n in genome.nodes:
        if n.name == anchor:
            out.extend(new_nodes)
        out.append(n)
    return tuple(out)


# -- the six operators ---------------------------------------------------------------------------


def swap_activation(genome: Genome, rng: random.Random) -> Result:
    """An activation (tanh, sigmoid, relu, ..., or a Linear(a,·) of an n-wide value) becomes
    another of :data:`ACTIVATION_CHOICES`."""
    cands = [n for n in genome.nodes
             if n.op in _UNARY_ACTIVATIONS or (n.op == "linear" and n.inputs[0] != X)]
    if not cands:
        return None
    node = rng.choice(cands)
    current = (node.op, {k: float(v) for k, v in node.params.items() if k == "diag" and v})
    choices = [c for c in ACTIVATION_CHOICES if c != current]
    op, params = rng.choice(choices)
    new = Node(node.name, op, node.inputs, params)
    nodes = tuple(new if n.name == node.name else n for n in genome.nodes)
    desc = (f"swap_activation: {node.name!r} "
            f"{_describe_act(node.op, dict(node.params))} -> {_describe_act(op, params)}")
    return genome.replace(nodes=nodes), desc


def swap_elementwise(genome: Genome, rng: random.Random) -> Result:
    """An elementwise op (+, ×, −) becomes another of them (− only where there are 2 inputs)."""
    cands = [n for n in genome.nodes if n.op in ELEMENTWISE_CHOICES]
    if not cands:
        return None
    node = rng.choice(cands)
    choices = [o for o in ELEMENTWISE_CHOICES
               if o != node.op and OPS[o].min_arity <= len(node.inputs) <= OPS[o].max_arity]
    if not choices:
        return None
    op = rng.choice(choices)
    new = Node(node.name, op, node.inputs)
    nodes = tuple(new if n.name == node.name else n for n in genome.nodes)
    return genome.replace(nodes=nodes), f"swap_elementwise: {node.name!r} {node.op} -> {op}"


def insert_activation(genome: Genome, rng: random.Random) -> Result:
    """A new activation node between a node and one of its inputs (its parent)."""
    # attention's memory (its second input) must stay a state (format 2)
    edges = [(n, k) for n in genome.nodes for k in range(len(n.inputs))
             if not (n.op == "attention" and k == 1)]
    if not edges:
        return None
    node, k = rng.choice(edges)
    parent = node.inputs[k]
    choices = list(ACTIVATION_CHOICES)
    if parent == X:  # only a plain projection may read the m-wide input
        choices = [("linear", {})]
    op, params = rng.choice(choices)
    name = _fresh(genome, "act")
    act = Node(name, op, (parent,), params)
    changed = Node(node.name, node.op,
                   tuple(name if j == k else i for j, i in enumerate(node.inputs)), node.params)
    nodes = _insert_before(genome, node.name, [act])
    nodes = tuple(changed if n.name == node.name else n for n in nodes)
    desc = (f"insert_activation: {_describe_act(op, params)} {name!r} between "
            f"{parent!r} and {node.name!r}")
    return genome.replace(nodes=nodes), desc


def remove_node(genome: Genome, rng: random.Random) -> Result:
    """A node with one input and one consumer is removed; the consumer reads its input."""
    cands = []
    for n in genome.nodes:
        uses = len(_consumers(genome, n.name)) + _sink_roles(genome, n.name)
        if len(n.inputs) == 1 and uses == 1:
            source = n.inputs[0]
            # the output and new states must name nodes; x may only go where it fits
            if _sink_roles(genome, n.name) and source not in genome.node_map:
                continue
            cands.append(n)
    if not cands:
        return None
    node = rng.choice(cands)
    g = _redirect(genome, node.name, node.inputs[0])
    g = g.replace(nodes=tuple(n for n in g.nodes if n.name != node.name))
    return g, f"remove_node: {node.name!r} ({node.op}), its reader now reads {node.inputs[0]!r}"


def replace_by_ancestor(genome: Genome, rng: random.Random) -> Result:
    """Every use of a node reads one of the node's ancestors instead."""
    nmap = genome.node_map
    pairs = []
    for n in genome.nodes:
        anc = sorted(_ancestors(genome, n.name))
        if _sink_roles(genome, n.name):
            anc = [a for a in anc if a in nmap]
        pairs.extend((n.name, a) for a in anc)
    if not pairs:
        return None
    name, anc = rng.choice(pairs)
    return _redirect(genome, name, anc), f"replace_by_ancestor: {name!r} -> {anc!r}"


def replace_by_combination(genome: Genome, rng: random.Random) -> Result:
    """Every use of a node reads ``a ∘ b`` instead, ∘ ∈ {+, ×, −}: ``a`` an ancestor of the
    node, ``b`` an ancestor of another node (never the node or anything it feeds: no cycle)."""
    nodes = [n.name for n in genome.nodes]
    anc = {u: _ancestors(genome, u) for u in nodes}
    everything = set().union(*anc.values()) if anc else set()
    choices = []  # (node, its ancestors a may be, the values b may be)
    for u in nodes:
        a_cands = sorted(a for a in anc[u] if a != X)
        below = _descendants(genome, u) | {u}
        # ancestors of some other node: those of u only count if another node has them too
        others = everything if any(u in anc[o] for o in nodes) else set().union(
            *(anc[o] for o in nodes if o != u))
        b_cands = sorted(others - below - {X})
        if a_cands and b_cands:
            choices.append((u, a_cands, b_cands))
    if not choices:
        return None
    target, a_cands, b_cands = rng.choice(choices)
    node = genome.node_map[target]
    a, b = rng.choice(a_cands), rng.choice(b_cands)
    op = rng.choice(ELEMENTWISE_CHOICES)
    name = _fresh(genome, op)
    combo = Node(name, op, (a, b))
    g = genome.replace(nodes=_insert_before(genome, node.name, [combo]))
    g = _redirect(g, node.name, name)
    sym = {"add": "+", "mul": "×", "sub": "−"}[op]
    return g, f"replace_by_combination: {node.name!r} -> {name!r} = {a!r} {sym} {b!r}"


# -- three towards the modern cells (opt-in: not among Jozefowicz et al.'s six) -------------


def _recurrent_term(genome: Genome, name: str) -> bool:
    """A recurrent projection, or a gated one (the GRU's ``r ⊙ (U h + b)``)."""
    node = genome.node_map.get(name)
    return node is not None and (_recurrent_projection(genome, name) or (
        node.op == "mul" and any(_recurrent_projection(genome, i) for i in node.inputs)))


def _state_projection(genome: Genome, name: str) -> bool:
    """Whether node ``name`` is a projection of a previous state (``W s``)."""
    node = genome.node_map.get(name)
    return node is not None and node.op == "linear" and node.inputs[0] in genome.states


def _recurrent_projection(genome: Genome, name: str) -> bool:
    """Whether node ``name`` projects a value that reads a previous state (``W s``, or the
    GRU's ``U (r ⊙ h)``)."""
    node = genome.node_map.get(name)
    return (node is not None and node.op == "linear" and node.inputs[0] != X
            and bool(({node.inputs[0]} | _ancestors(genome, name)) & set(genome.states)))


def drop_state_projection(genome: Genome, rng: random.Random) -> Result:
    """A sum ``a + W v`` whose projected value v reads a previous state (``W h``,
    ``U (r ⊙ h)``, or the gated ``r ⊙ (U h + b)`` of torch's GRU) loses that term: the value (a
    gate's pre-activation, a candidate) then reads the input side alone. Applied to every such
    sum of the LSTM or GRU it gives minLSTM- and minGRU-like cells (Feng et al. 2024, section
    3): gates and candidates that read x only, a state update affine in the state, the
    compiler's scan path."""
    cands = []
    for n in genome.nodes:
        if n.op != "add" or len(n.inputs) != 2:
            continue
        for k in (0, 1):
            proj, other = n.inputs[k], n.inputs[1 - k]
            if (_recurrent_term(genome, proj) and other != X
                    and not (_sink_roles(genome, n.name) and other not in genome.node_map)):
                cands.append((n, proj, other))
    if not cands:
        return None
    node, proj, other = rng.choice(cands)
    g = _redirect(genome, node.name, other)
    g = prune(g.replace(nodes=tuple(n for n in g.nodes if n.name != node.name)))
    # a state no node reads any more carries nothing across steps: it goes (the LSTM's h,
    # once no gate reads it: minLSTM's only state is c)
    read = {i for n in g.nodes for i in n.inputs}
    gone = [s for s in g.states if s not in read]
    if gone and len(gone) < len(g.states):
        g = g.replace(states=tuple(s for s in g.states if s not in gone),
                      new_states={s: v for s, v in g.new_states.items() if s not in gone})
    return g, f"drop_state_projection: {node.name!r} = {other!r} without {proj!r}"


def _namer(genome: Genome) -> Callable[[str], str]:
    """A function giving fresh names (``stem``, then ``stem1`` ...), none given twice."""
    taken = {X, *genome.states, *(n.name for n in genome.nodes)}

    def fresh(stem: str) -> str:
        name, k = stem, 0
        while name in taken:
            k += 1
            name = f"{stem}{k}"
        taken.add(name)
        return name

    return fresh


def _gated_memories(genome: Genome) -> list[tuple[str, str, str, str, str, str]]:
    """Every gated memory ``c' = f ⊙ c + i ⊙ z`` with f and i two distinct sigmoid gates, as
    (state c, its new value c', the node f ⊙ c, the node i ⊙ z, f, i)."""
    nmap = genome.node_map
    found = []
    for state, new in genome.new_states.items():
        node = nmap.get(new)
        if node is None or node.op != "add" or len(node.inputs) != 2:
            continue
        for k in (0, 1):
            fc, iz = nmap.get(node.inputs[k]), nmap.get(node.inputs[1 - k])
            if fc is None or iz is None or fc.op != "mul" or iz.op != "mul":
                continue
            if len(fc.inputs) != 2 or len(iz.inputs) != 2 or state not in fc.inputs:
                continue
            f = fc.inputs[1 - fc.inputs.index(state)]
            for i in iz.inputs:
                if (f != i and nmap.get(f) is not None and nmap[f].op == "sigmoid"
                        and nmap.get(i) is not None and nmap[i].op == "sigmoid"):
                    found.append((state, new, fc.name, iz.name, f, i))
    return found


def stabilised_exp_gates(genome: Genome, rng: random.Random) -> Result:
    """A gated memory ``c' = σ(f̃) ⊙ c + σ(ĩ) ⊙ z`` gets xLSTM's exponential gating (Beck et al.
    2024, eq. 8-17, the sLSTM's): a stabiliser state m and a normaliser state n, with

        m' = max(log σ(f̃) + m, ĩ),   i = exp(ĩ − m'),   f = exp(log σ(f̃) + m − m')
        c' = f ⊙ c + i ⊙ z,   n' = f ⊙ n + i

    and every other reader of c' reads c' / n' (the sLSTM's ĥ = c / n), so that exp never
    overflows however large ĩ grows. Applies to the LSTM and its variants with separate input
    and forget gates (not to the CIFG or the GRU, whose gates are coupled)."""
    if genome.values:
        return None
    found = _gated_memories(genome)
    if not found:
        return None
    state, c_new, fc, iz, f, i = rng.choice(found)
    nmap = genome.node_map
    pf, pi = nmap[f].inputs[0], nmap[i].inputs[0]
    fresh = _namer(genome)
    n_state, m_state = fresh(f"{state}_n"), fresh(f"{state}_m")
    g = genome.replace(states=(*genome.states, n_state, m_state))
    names = {stem: fresh(stem) for stem in ("log_f", "log_f_m", "m_new", "i_log", "i_exp",
                                            "f_log", "f_exp", "fn", "n_new", "c_norm")}
    gates = [
        Node(names["log_f"], "logsigmoid", (pf,)),
        Node(names["log_f_m"], "add", (m_state, names["log_f"])),
        Node(names["m_new"], "max", (pi, names["log_f_m"])),
        Node(names["i_log"], "sub", (pi, names["m_new"])),
        Node(names["i_exp"], "exp", (names["i_log"],)),
        Node(names["f_log"], "sub", (names["log_f_m"], names["m_new"])),
        Node(names["f_exp"], "exp", (names["f_log"],)),
        Node(names["fn"], "mul", (names["f_exp"], n_state)),
        Node(names["n_new"], "add", (names["fn"], names["i_exp"])),
    ]
    # one pass: f ⊙ c and i ⊙ z read the exponential gates, every other reader of c' reads
    # c' / n' (inserted right after c')
    swaps = {fc: {f: names["f_exp"]}, iz: {i: names["i_exp"]}}
    first = min(fc, iz, key=[n.name for n in g.nodes].index)
    out: list[Node] = []
    for n in _insert_before(g, first, gates):
        rename = {} if n.name == c_new else {c_new: names["c_norm"], **swaps.get(n.name, {})}
        out.append(Node(n.name, n.op, tuple(rename.get(v, v) for v in n.inputs), n.params))
        if n.name == c_new:
            out.append(Node(names["c_norm"], "div", (c_new, names["n_new"])))
    new_states = {s: (names["c_norm"] if v == c_new and s != state else v)
                  for s, v in g.new_states.items()}
    new_states.update({n_state: names["n_new"], m_state: names["m_new"]})
    output = names["c_norm"] if g.output == c_new else g.output
    g = g.replace(nodes=tuple(out), new_states=new_states, output=output)
    return g, (f"stabilised_exp_gates: {state!r} gets exponential gates {i!r}, {f!r} with "
               f"normaliser {n_state!r} and stabiliser {m_state!r}")


def _stabilised_memories(genome: Genome) -> list[dict[str, str]]:
    """Every stabilised memory as :func:`stabilised_exp_gates` makes it: a memory state c, a
    normaliser n and a stabiliser m with ``m' = max(ĩ, log σ(f̃) + m)``, ``f = exp(log σ(f̃) + m
    − m')``, ``i = exp(ĩ − m')``, ``c' = f ⊙ c + i ⊙ z``, ``n' = f ⊙ n + i`` and the read-out
    ``c' / n'``; as the names of those nodes and states."""
    nmap, news = genome.node_map, genome.new_states

    def node(name: str, op: str, n_in: int) -> Node | None:
        nd = nmap.get(name)
        return nd if nd is not None and nd.op == op and len(nd.inputs) == n_in else None

    def other(pair: tuple[str, ...], one: str) -> str | None:
        return pair[1 - pair.index(one)] if one in pair else None

    found = []
    for m_state in genome.states:
        mx = node(news.get(m_state, ""), "max", 2)
        if mx is None:
            continue
        for a_name in mx.inputs:
            a = node(a_name, "add", 2)
            lf = node(other(a.inputs, m_state) or "", "logsigmoid", 1) if a else None
            pi = other(mx.inputs, a_name)
            if a is None or lf is None or pi is None:
                continue
            exps = {}
            for nd in genome.nodes:  # exp(a − m'), exp(ĩ − m')
                sub = node(nd.inputs[0], "sub", 2) if nd.op == "exp" else None
                if sub is not None and sub.inputs[1] == mx.name:
                    exps[sub.inputs[0]] = nd.name
            f, i = exps.get(a_name), exps.get(pi)
            if f is None or i is None:
                continue
            mem: dict[str, str] = {}
            for state, new in news.items():
                add = node(new, "add", 2)
                if add is None:
                    continue
                terms = [nmap.get(t) for t in add.inputs]
                decay = next((t for t in terms if t is not None and t.op == "mul"
                              and sorted(t.inputs) == sorted((f, state))), None)
                rest = next((t for t in add.inputs if decay is None or t != decay.name), None)
                if decay is None or rest is None:
                    continue
                feed = node(rest, "mul", 2)
                if rest == i:
                    mem["n"], mem["n_new"] = state, new
                elif feed is not None and i in feed.inputs:
                    mem["c"], mem["c_new"], mem["iz"] = state, new, feed.name
                    mem["z"] = other(feed.inputs, i) or ""
            if "c" not in mem or "n" not in mem:
                continue
            norm = next((nd.name for nd in genome.nodes if nd.op == "div"
                         and nd.inputs == (mem["c_new"], mem["n_new"])), None)
            if norm is None:
                continue
            found.append({**mem, "m": m_state, "m_new": mx.name, "a": a_name, "log_f": lf.name,
                          "pi": pi, "f": f, "i": i, "norm": norm})
    return found


def matrix_memory(genome: Genome, rng: random.Random) -> Result:
    """A stabilised memory (what :func:`stabilised_exp_gates` makes: the sLSTM's) becomes the
    mLSTM's head-wise matrix memory (Beck et al. 2024, "xLSTM", eq. 19-27), with k heads (k in
    :data:`HEADS_CHOICES`)::

        f̃, ĩ = w_fᵀ x + b_f, w_iᵀ x + b_i   (one per head, from x; b_f starts at 3)
        q, k = W_q x, W_k x / √d            (new projections of x)
        C' = f C + i z kᵀ,   n' = f n + i k   (the candidate z becomes the stored value)
        c' / n'  becomes  C' q / (max(|n'ᵀ q|, exp(−m')) + 1e-6)

    with m, f and i as before. The cell becomes head-wise (genome format 2's ``values``);
    where z and q read x alone and no gate reads the memory otherwise, the compiler runs it on
    the chunkwise path. The hidden size must be divisible by k."""
    if genome.values:
        return None
    found = _stabilised_memories(genome)
    if not found:
        return None
    mem = rng.choice(found)
    heads = rng.choice(HEADS_CHOICES)
    fresh = _namer(genome)
    nm = {stem: fresh(stem) for stem in (
        "q", "k_raw", "k", "f_raw", "i_raw", "vk", "ik", "nq", "abs_nq", "neg_m", "exp_neg_m",
        "denom", "Cq")}
    front = [Node(nm["q"], "linear", (X,), {"bias": False}),
             Node(nm["k_raw"], "linear", (X,), {"bias": False}),
             Node(nm["k"], "scale", (nm["k_raw"],), {"by": 1.0, "dim_power": -0.5}),
             Node(nm["f_raw"], "head_linear", (X,), {"bias_init": 3.0}),
             Node(nm["i_raw"], "head_linear", (X,))]
    read_out = [Node(nm["nq"], "dot", (mem["n_new"], nm["q"])),
                Node(nm["abs_nq"], "abs", (nm["nq"],)),
                Node(nm["neg_m"], "scale", (mem["m_new"],), {"by": -1.0}),
                Node(nm["exp_neg_m"], "exp", (nm["neg_m"],)),
                Node(nm["denom"], "max", (nm["abs_nq"], nm["exp_neg_m"])),
                Node(nm["Cq"], "matvec", (mem["c_new"], nm["q"]))]
    out: list[Node] = list(front)
    for n in genome.nodes:
        inputs = n.inputs
        if n.name == mem["log_f"]:
            inputs = (nm["f_raw"],)
        elif n.name == mem["m_new"] or (n.op == "sub" and n.inputs == (mem["pi"], mem["m_new"])):
            inputs = tuple(nm["i_raw"] if v == mem["pi"] else v for v in inputs)
        if n.name == mem["iz"]:
            out.append(Node(nm["vk"], "outer", (mem["z"], nm["k"])))
            inputs = (mem["i"], nm["vk"])
        elif n.name == mem["n_new"]:
            out.append(Node(nm["ik"], "mul", (mem["i"], nm["k"])))
            inputs = tuple(nm["ik"] if v == mem["i"] else v for v in inputs)
        if n.name == mem["norm"]:
            out.extend(read_out)
            out.append(Node(n.name, "div", (nm["Cq"], nm["denom"]), {"eps": 1e-6}))
            continue
        out.append(Node(n.name, n.op, inputs, n.params))
    g = prune(genome.replace(nodes=tuple(out), values={"kind": "heads", "heads": heads}))
    return g, (f"matrix_memory: {mem['c']!r} becomes a {heads}-head matrix memory "
               f"{mem['c']} = f {mem['c']} + i {mem['z']} {nm['k']}ᵀ read by {nm['q']!r}")


HEADS_CHOICES: tuple[int, ...] = (2, 4)


def headwise_projection(genome: Genome, rng: random.Random) -> Result:
    """A projection of a previous state ``W s`` becomes head-wise (``heads = k``, k in
    :data:`HEADS_CHOICES`: W block diagonal, k blocks of (n/k, n/k), xLSTM's recurrent matrix),
    or a head-wise one dense again. The hidden size must be divisible by k (the compiler says
    so where it is not)."""
    if genome.values:
        return None
    cands = [n for n in genome.nodes if _state_projection(genome, n.name)]
    if not cands:
        return None
    node = rng.choice(cands)
    params = dict(node.params)
    old = int(params.get("heads", 1))
    heads = 1 if old > 1 else rng.choice(HEADS_CHOICES)
    if heads == 1:
        params.pop("heads", None)
    else:
        params["heads"] = heads
    new = Node(node.name, node.op, node.inputs, params)
    nodes = tuple(new if n.name == node.name else n for n in genome.nodes)
    return genome.replace(nodes=nodes), f"headwise_projection: {node.name!r} heads {old} -> {heads}"


# -- three towards the seed systems (opt-in): attention over a state's tape, its window, clocks --

WINDOW_CHOICES: tuple[int, ...] = (1, 2, 4, 8, 16, 0)  # attention windows; 0: every step
CLOCK_CHOICES: tuple[int, ...] = (2, 4, 8)  # modules of a clocked state (periods 2^i)


def attend_state(genome: Genome, rng: random.Random) -> Result:
    """The projections ``W s`` of a previous state s read instead an attention context over
    s's last K values (K from :data:`WINDOW_CHOICES`), queried by a new projection of s::

        q = W_q s,   s̃ = Σ_i softmax(vᵀ tanh(W_k s_i + q)) s_i,   W s  →  W s̃

    Applied to the LSTM's h it gives an LSTMN-style cell (Cheng, Dong & Lapata 2016, eq. 3-5;
    the zoo's ``lstm_attention``, whose query also reads x). Not in spatial or head-wise cells,
    and not for a state already attended over."""
    if genome.values:
        return None
    attended = {n.inputs[1] for n in genome.nodes if n.op == "attention"}
    by_state: dict[str, list[Node]] = {}
    for n in genome.nodes:
        if _state_projection(genome, n.name) and n.inputs[0] not in attended:
            by_state.setdefault(n.inputs[0], []).append(n)
    if not by_state:
        return None
    state = rng.choice(sorted(by_state))
    projections = {n.name for n in by_state[state]}
    fresh = _namer(genome)
    q, ctx = fresh(f"{state}_query"), fresh(f"{state}_tilde")
    window = rng.choice(WINDOW_CHOICES)
    new_nodes = [Node(q, "linear", (state,), {"bias": False}),
                 Node(ctx, "attention", (q, state), {"window": window} if window else {})]
    first = next(n.name for n in genome.nodes if n.name in projections)
    nodes = tuple(
        Node(n.name, n.op, (ctx, *n.inputs[1:]), n.params) if n.name in projections else n
        for n in _insert_before(genome, first, new_nodes))
    return genome.replace(nodes=nodes), (
        f"attend_state: {', '.join(sorted(projections))} read {ctx!r}, attention over the "
        f"last {window or 'all'} values of {state!r}")


def attention_window(genome: Genome, rng: random.Random) -> Result:
    """An attention node's window K becomes another of :data:`WINDOW_CHOICES` (Daniluk et al.
    2017 find the useful span of a language model's attention short: 5-10 steps)."""
    cands = [n for n in genome.nodes if n.op == "attention"]
    if not cands:
        return None
    node = rng.choice(cands)
    old = int(node.params.get("window", 0))
    window = rng.choice([w for w in WINDOW_CHOICES if w != old])
    params = {k: v for k, v in node.params.items() if k != "window"}
    if window:
        params["window"] = window
    new = Node(node.name, node.op, node.inputs, params)
    nodes = tuple(new if n.name == node.name else n for n in genome.nodes)
    return genome.replace(nodes=nodes), (
        f"attention_window: {node.name!r} window {old or 'all'} -> {window or 'all'}")


def clock_state(genome: Genome, rng: random.Random) -> Result:
    """A state's update is clocked as in the Clockwork RNN (Koutník et al. 2014, eq. 1-2): its
    units split into g modules (g from :data:`CLOCK_CHOICES`), module i taking the new value
    only at steps t with t mod 2^i = 0 and keeping its old value otherwise; every reader of
    the new value reads the clocked one. Not in spatial or head-wise cells, nor for a state
    already clocked or whose new value is not computed by a node of the cell."""
    if genome.values:
        return None
    nmap = genome.node_map
    cands = sorted(s for s, v in genome.new_states.items()
                   if v in nmap and nmap[v].op != "clock")
    if not cands:
        return None
    state = rng.choice(cands)
    value = genome.new_states[state]
    modules = rng.choice(CLOCK_CHOICES)
    clocked = _namer(genome)(f"{state}_clocked")
    g = _redirect(genome, value, clocked)
    nodes: list[Node] = []
    for n in g.nodes:
        nodes.append(n)
        if n.name == value:
            nodes.append(Node(clocked, "clock", (value, state), {"modules": modules}))
    return g.replace(nodes=tuple(nodes)), (
        f"clock_state: {state!r} updated through {clocked!r}, {modules} modules of periods "
        f"1..{2 ** (modules - 1)}")


def depth_gate(genome: Genome, rng: random.Random) -> Result:
    """A gated memory ``c' = f ⊙ c + i ⊙ z`` (sigmoid gates f and i) reads the layer below's
    new memory ``c^L_t`` (``below:c``) through a depth gate, as in the Depth-Gated LSTM (Yao,
    Cohn, Vylomova, Duh & Dyer 2015, arXiv:1508.03790, eq. 5-6)::

        d  = σ(W_d x + p_cd ⊙ c + p_ld ⊙ c^L_t + b_d)
        c' = d ⊙ c^L_t + f ⊙ c + i ⊙ z

    Applied to the peephole LSTM (the zoo's ``vanilla``) it gives the zoo's ``depth_gated``.
    Not in spatial or head-wise cells, nor for a memory that already reads the layer below."""
    if genome.values:
        return None
    read = {i for n in genome.nodes for i in n.inputs}
    found = [m for m in _gated_memories(genome) if BELOW + m[0] not in read]
    if not found:
        return None
    state, c_new, *_ = rng.choice(found)
    below = BELOW + state
    fresh = _namer(genome)
    x_d, p_cd, p_ld = fresh("x_d"), fresh(f"p_{state}d"), fresh("p_ld")
    d_pre, d, dc = fresh("d_pre"), fresh("d_gate"), fresh(f"d{state}_below")
    gate = [Node(x_d, "linear", (X,)), Node(p_cd, "diag", (state,)),
            Node(p_ld, "diag", (below,)), Node(d_pre, "add", (x_d, p_cd, p_ld)),
            Node(d, "sigmoid", (d_pre,)), Node(dc, "mul", (d, below))]
    nodes = tuple(Node(n.name, n.op, (dc, *n.inputs), n.params) if n.name == c_new else n
                  for n in _insert_before(genome, c_new, gate))
    return genome.replace(nodes=nodes), (
        f"depth_gate: {c_new!r} adds {dc!r}, the layer below's {state!r} through the depth "
        f"gate {d!r}")


JOZEFOWICZ_OPERATORS: tuple[str, ...] = (
    "swap_activation", "swap_elementwise", "insert_activation", "remove_node",
    "replace_by_ancestor", "replace_by_combination")
MODERN_OPERATORS: tuple[str, ...] = (
    "drop_state_projection", "stabilised_exp_gates", "headwise_projection", "matrix_memory")
SEED_OPERATORS: tuple[str, ...] = ("attend_state", "attention_window", "clock_state",
                                   "depth_gate")

OPERATORS: dict[str, Callable[[Genome, random.Random], Result]] = {
    "swap_activation": swap_activation,
    "swap_elementwise": swap_elementwise,
    "insert_activation": insert_activation,
    "remove_node": remove_node,
    "replace_by_ancestor": replace_by_ancestor,
    "replace_by_combination": replace_by_combination,
    "drop_state_projection": drop_state_projection,
    "stabilised_exp_gates": stabilised_exp_gates,
    "headwise_projection": headwise_projection,
    "matrix_memory": matrix_memory,
    "attend_state": attend_state,
    "attention_window": attention_window,
    "clock_state": clock_state,
    "depth_gate": depth_gate,
}


def mutate(
    genome: Genome,
    rng: int | random.Random,
    n_ops: int | None = None,
    *,
    operators: tuple[str, ...] | None = None,
    max_nodes: int = 64,
    max_tries: int = 1000,
    name: str = "",
    hidden_size: int | None = None,
) -> Mutation:
    """A valid mutant of ``genome`` (Jozefowicz et al. 2015's mutation step).

    ``n_ops`` transformations (drawn uniformly from 1-3 when ``None``) are chosen uniformly from
    ``operators`` (default: the paper's six, :data:`JOZEFOWICZ_OPERATORS`; add
    :data:`MODERN_OPERATORS` to reach exponential gates, input-only gates and head-wise
    recurrences) and applied in turn; dead nodes are pruned. Attempts that
    give an invalid genome (e.g. x fed to an elementwise op), more than ``max_nodes`` nodes, or
    a cell with the parent's genome_id are discarded and redrawn from the same generator, so the
    result depends only on the parent and the seed. With ``hidden_size`` (the width the mutant
    will be built at), mutants whose head counts do not divide it (:func:`hidden_multiple`:
    ``headwise_projection`` and ``matrix_memory`` draw 2 or 4 heads) are discarded too, so a
    search at a fixed width spends no trial on a cell the compiler must refuse.
    """
    rng = as_rng(rng)
    names = JOZEFOWICZ_OPERATORS if operators is None else tuple(operators)
    for o in names:
        if o not in OPERATORS:
            raise ValueError(f"unknown mutation operator {o!r} (known: {', '.join(OPERATORS)})")
    if n_ops is not None and n_ops < 1:
        raise ValueError(f"n_ops must be >= 1, got {n_ops}")
    if hidden_size is not None and (isinstance(hidden_size, bool)
                                    or not isinstance(hidden_size, int) or hidden_size < 1):
        raise ValueError(f"hidden_size must be a positive int, got {hidden_size!r}")
    problems = validate(genome)
    if problems:
        raise ValueError(f"cannot mutate an invalid genome: {problems[0]}")
    parent_id = genome_id(genome)
    for _ in range(max_tries):
        k = rng.randint(1, 3) if n_ops is None else n_ops
        g, applied = genome, []
        for _ in range(k):
            op = rng.choice(names)
            res = OPERATORS[op](g, rng)
            if res is None:
                break
            g, desc = res
            g = prune(g)
            applied.append(desc)
        if len(applied) != k:
            continue
        if validate(g, max_nodes=max_nodes) or genome_id(g) == parent_id:
            continue
        if hidden_size is not None and hidden_size % hidden_multiple(g):
            continue
        return Mutation(g.replace(name=name), tuple(applied), parent_id)
    raise RuntimeError(f"no valid mutant of {genome.name or 'genome'} in {max_tries} tries "
                       f"with operators {names}")
