"""Seeded random genomes, in the spirit of NAS-Bench-NLP's random cells.

Klyuchnikov et al. 2020 (NAS-Bench-NLP) sample a cell by adding nodes one at a time, each an op
drawn from a small vocabulary (linear, blend, elementwise product and sum, tanh, sigmoid, leaky
ReLU) reading earlier values, then keep the part that reaches the new hidden state.
:func:`random_genome` does the same over this package's op vocabulary and redraws until the
result passes :func:`~lstm_search.genome.validate`, so it always returns a valid cell.

Every random choice comes from one :class:`random.Random` built from the seed (or passed in), so
the same seed always gives the same genome and no global random state is touched.

With ``scan`` the generator also draws cells of the form the compiler runs as a parallel scan
(:func:`lstm_search.compile.scan_path`): a random graph over the input alone computes, for each
state s, a gate a in (0, 1) and an input b, and s' = a ⊙ s + b, a ⊙ s + i ⊙ b or the blend
a ⊙ s + (1 − a) ⊙ b (minGRU's and minLSTM's forms, Feng et al. 2024, "Were RNNs All We
Needed?", eq. 5 and 9; HGRN's and RG-LRU's recurrences are of the first); the output is the sum
of the new states, sometimes through an output gate, σ(W x) ⊙ tanh(·), that no state reads.

With ``memory`` it also draws head-wise gated matrix memories, the form the compiler runs in
chunks (:mod:`lstm_search.compile._memory`, :mod:`lstm_search.compile._gated`): a random graph
over the input alone, then per head ``C' = f C + i v kᵀ`` read as ``C' q`` (q, k, v
projections and the gates' per-head pre-activations of x or of that graph), with sigmoid
gates, xLSTM's stabilised exponential gates (Beck et al. 2024, eq. 19-27: a stabiliser state
m and the normaliser n) or a decay alone (i = 1: gated linear attention with one gate per
head); maybe a normaliser n' = f n + i k dividing the read by |nᵀq| + 1, and an output gate
σ(W ·) ⊙ ·.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

from lstm_search.genome._genome import Builder, Genome, Node
from lstm_search.genome._ops import MAX_MODULES, OPS, X
from lstm_search.genome._validate import validate

# NAS-Bench-NLP's vocabulary plus sub and one_minus; the weights are this package's choice,
# favouring projections, sums, products and gates.
DEFAULT_OP_WEIGHTS: dict[str, float] = {
    "linear": 0.30,
    "add": 0.14,
    "mul": 0.14,
    "sigmoid": 0.12,
    "tanh": 0.12,
    "blend": 0.06,
    "leaky_relu": 0.04,
    "relu": 0.02,
    "sub": 0.03,
    "one_minus": 0.03,
}
STATE_NAMES: tuple[str, ...] = ("h", "c", "s2", "s3", "s4", "s5", "s6", "s7")


def _as_range(value: int | tuple[int, int], what: str) -> tuple[int, int]:
    lo, hi = (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))
    if lo < 1 or hi < lo:
        raise ValueError(f"{what} must be a positive int or a range (lo, hi) with 1 <= lo <= hi, "
                         f"got {value!r}")
    return lo, hi


def as_rng(seed_or_rng: int | random.Random) -> random.Random:
    """``seed_or_rng`` itself if it is a :class:`random.Random`, else a new one seeded with it."""
    if isinstance(seed_or_rng, random.Random):
        return seed_or_rng
    if isinstance(seed_or_rng, bool) or not isinstance(seed_or_rng, int):
        raise TypeError(f"expected an int seed or a random.Random, got {seed_or_rng!r}")
    return random.Random(seed_or_rng)


def prune(genome: Genome) -> Genome:
    """Drop every node that reaches neither a new state nor the output (order kept)."""
    nmap = genome.node_map
    live: set[str] = set()
    todo = [genome.output, *genome.new_states.values()]
    while todo:
        v = todo.pop()
        if v in live or v not in nmap:
            continue
        live.add(v)
        todo.extend(nmap[v].inputs)
    return genome.replace(nodes=tuple(n for n in genome.nodes if n.name in live))


def _draw(rng: random.Random, states: tuple[str, ...], n_nodes: int,
          ops: list[str], weights: list[float]) -> Genome:
    """One attempt: ``n_nodes`` nodes, each reading earlier values; may be invalid."""
    nodes = _grow(rng, states, n_nodes, ops, weights)
    node_names = [n.name for n in nodes]
    output = node_names[-1]
    # Other states take their new value from one of the later nodes.
    new_states = {states[0]: output}
    for s in states[1:]:
        new_states[s] = rng.choice(node_names[len(node_names) // 2:])
    return Genome(states, tuple(nodes), new_states, output)


# the recurrences of the scan-able form (see the module's docstring)
SCAN_FORMS: tuple[str, ...] = ("decay", "gated", "blend")


def _draw_scan(rng: random.Random, states: tuple[str, ...], n_nodes: int,
               ops: list[str], weights: list[float]) -> Genome:
    """One attempt at a scan-able cell: ``n_nodes`` nodes over x alone, then each state's
    affine update and the output (see the module's docstring); may be invalid."""
    free = _grow(rng, (), n_nodes, ops, weights)
    names = [n.name for n in free]
    nodes = list(free)
    unread = [v for v in names if not any(v in n.inputs for n in free)]

    def pick() -> str:  # a value of the input graph, preferably one nothing reads yet
        v = rng.choice(unread) if unread and rng.random() < 0.6 else rng.choice(names)
        if v in unread:
            unread.remove(v)
        return v

    new_states: dict[str, str] = {}
    for s in states:
        form = rng.choice(SCAN_FORMS)
        a = Node(f"{s}_a", "sigmoid", (pick(),))
        b = pick()
        nodes.append(a)
        if form == "blend":
            nodes.append(Node(f"{s}_new", "blend", (a.name, s, b)))
        else:
            nodes.append(Node(f"{s}_as", "mul", (a.name, s)))
            if form == "gated":
                i = Node(f"{s}_i", "sigmoid", (pick(),))
                ib = Node(f"{s}_ib", "mul", (i.name, b))
                nodes += [i, ib]
                b = ib.name
            nodes.append(Node(f"{s}_new", "add", (f"{s}_as", b)))
        new_states[s] = f"{s}_new"
    output = new_states[states[0]]
    if len(states) > 1:
        output = "sum_new"
        nodes.append(Node(output, "add", tuple(new_states.values())))
    if rng.random() < 0.5:  # an output gate no state reads
        o = Node("out_gate", "sigmoid", (pick(),))
        nodes += [o, Node("out_tanh", "tanh", (output,)),
                  Node("out", "mul", (o.name, "out_tanh"))]
        output = "out"
    return Genome(states, tuple(nodes), new_states, output)


# the gates of a memory draw (see the module's docstring)
MEMORY_GATES: tuple[str, ...] = ("sigmoid", "stabilised", "decay")


def _draw_memory(rng: random.Random, n_hi: int, ops: list[str], weights: list[float],
                 heads: tuple[int, ...]) -> Genome:
    """One attempt at a gated matrix memory of at most about ``n_hi`` nodes: a gate form from
    :data:`MEMORY_GATES`, maybe a normaliser and an output gate, then a graph over x alone of
    as many nodes as that leaves (maybe none), whose values (or x) q, k, v and the gates'
    per-head pre-activations read (the module's docstring). May be invalid."""
    form = rng.choice(MEMORY_GATES)
    normaliser = form == "stabilised" or rng.random() < 0.5
    gate = rng.random() < 0.5
    base = len(_memory_cell(form, normaliser, gate, [], lambda: "x", 1).nodes)
    free = _grow(rng, (), rng.randint(0, max(0, n_hi - base)), ops, weights)
    names = ["x", *(n.name for n in free)]
    return _memory_cell(form, normaliser, gate, free, lambda: rng.choice(names),
                        rng.choice(heads or (1,)))


def _memory_cell(form: str, normaliser: bool, gate: bool, free: list[Node],
                 pick: Callable[[], str], heads: int) -> Genome:
    """Per head C' = f C + i v kᵀ read as C' q with gates of ``form``, after the nodes
    ``free``; ``pick`` names the value each projection reads."""
    states = ("C", "n", "m") if form == "stabilised" else ("C", "n") if normaliser else ("C",)
    b = Builder(states=states)
    for node in free:
        b.node(node.op, *node.inputs, name=node.name, **dict(node.params))
    q = b.linear(pick(), name="q", bias=False)
    k = b.scale(b.linear(pick(), name="k_raw", bias=False), 1.0, dim_power=-0.5, name="k")
    v = b.linear(pick(), name="v", bias=False)
    f_raw = b.head_linear(pick(), name="f_raw", bias_init=3.0)
    i = ""
    if form == "stabilised":  # xLSTM's mLSTM (Beck et al. 2024, eq. 19-27)
        i_raw = b.head_linear(pick(), name="i_raw")
        a = b.add(b.logsigmoid(f_raw, name="log_f"), "m", name="log_f_plus_m")
        m_new = b.maximum(a, i_raw, name="m_new")
        f = b.exp(b.sub(a, m_new, name="f_log"), name="f")
        i = b.exp(b.sub(i_raw, m_new, name="i_log"), name="i")
        b.set_state("m", m_new)
    else:
        f = b.sigmoid(f_raw, name="f")
        if form == "sigmoid":
            i = b.sigmoid(b.head_linear(pick(), name="i_raw"), name="i")
    vk = b.outer(v, k, name="vk")
    b.set_state("C", b.add(b.mul(f, "C", name="fC"), b.mul(i, vk, name="ivk") if i else vk,
                           name="C_new"))
    read = b.matvec("C_new", q, name="Cq")
    if normaliser:
        n_new = b.add(b.mul(f, "n", name="fn"), b.mul(i, k, name="ik") if i else k,
                      name="n_new")
        b.set_state("n", n_new)
        qn = b.abs(b.dot(n_new, q, name="nq"), name="abs_nq")
        if form == "stabilised":  # max(|nᵀq|, exp(−m)), as the official code
            den = b.maximum(qn, b.exp(b.scale("m_new", -1.0, name="neg_m"), name="exp_neg_m"),
                            name="denom")
            read = b.div(read, den, eps=1e-6, name="h_tilde")
        else:  # |nᵀq| + 1
            read = b.div(read, qn, eps=1.0, name="h_tilde")
    if gate:  # an output gate
        read = b.mul(b.sigmoid(b.linear(pick(), name="o_raw"), name="o"), read, name="h")
    return b.build(output=read, values={"kind": "heads", "heads": heads})


def _grow(rng: random.Random, states: tuple[str, ...], n_nodes: int,
          ops: list[str], weights: list[float]) -> list[Node]:
    """``n_nodes`` nodes ``n0``, ``n1`` ..., each an op drawn by ``weights`` reading earlier
    values (the input, ``states``, earlier nodes); the first projects the input."""
    values: list[str] = [X, *states]  # what a node may read
    unread: list[str] = [X, *states]  # values no node reads yet: preferred, to limit dead nodes
    nodes: list[Node] = []

    def pick(n_wide: bool, taken: list[str]) -> str:
        def ok(v: str) -> bool:
            return not (n_wide and v == X) and v not in taken

        pool = [v for v in unread if ok(v)]
        if pool and rng.random() < 0.6:
            v = rng.choice(pool)
        else:
            v = rng.choice([v for v in values if ok(v)] or [v for v in values if v != X])
        if v in unread:
            unread.remove(v)
        return v

    for k in range(n_nodes):
        # The first node projects x so that the cell always sees its input.
        op = "linear" if k == 0 else rng.choices(ops, weights)[0]
        spec = OPS[op]
        # add / mul: mostly two inputs, sometimes three
        fixed = spec.min_arity == spec.max_arity
        arity = spec.min_arity if fixed else rng.choice((2, 2, 2, 3))
        if k == 0:
            inputs = [X]
            unread.remove(X)
        else:
            inputs: list[str] = []
            for _ in range(arity):
                inputs.append(pick(not spec.reads_x, inputs))
            if op == "attention":  # its memory is a state's earlier values (format 2)
                inputs[1] = rng.choice(states)
        name = f"n{k}"
        nodes.append(Node(name, op, tuple(inputs)))
        values.append(name)
        unread.append(name)
    return nodes


def _renumber(genome: Genome) -> Genome:
    """Name the nodes n0, n1, ... in their order (gaps left by pruning closed)."""
    rename = {n.name: f"n{i}" for i, n in enumerate(genome.nodes)}

    def r(v: str) -> str:
        return rename.get(v, v)

    return Genome(genome.states,
                  tuple(Node(rename[n.name], n.op, tuple(r(i) for i in n.inputs), n.params)
                        for n in genome.nodes),
                  {s: r(v) for s, v in genome.new_states.items()}, r(genome.output),
                  values=genome.values)


def _headwise(genome: Genome, rng: random.Random, heads: tuple[int, ...]) -> Genome:
    """Each projection of an n-wide value (a state or a value computed in the step, not the
    input) head-wise with probability 1/2 (its head count drawn from ``heads``)."""
    nodes = []
    for n in genome.nodes:
        if n.op == "linear" and n.inputs[0] != X and rng.random() < 0.5:
            n = Node(n.name, n.op, n.inputs, {**n.params, "heads": rng.choice(heads)})
        nodes.append(n)
    return genome.replace(nodes=tuple(nodes))


def random_genome(
    seed_or_rng: int | random.Random,
    *,
    n_states: int | tuple[int, int] = (1, 2),
    n_nodes: int | tuple[int, int] = (4, 16),
    op_weights: Mapping[str, float] | None = None,
    heads: tuple[int, ...] = (),
    scan: float = 0.0,
    memory: float = 0.0,
    name: str = "",
    max_tries: int = 10_000,
) -> Genome:
    """A random valid cell.

    ``n_states`` (count or inclusive range) states named ``h``, ``c``, ``s2``...; ``h`` is the
    output's state. ``n_nodes`` (count or inclusive range) bounds the node count after dead nodes
    are pruned. ``op_weights`` maps ops of the vocabulary to sampling weights (default
    :data:`DEFAULT_OP_WEIGHTS`). ``heads`` (head counts, e.g. ``(2, 4)``; default none): each
    projection of an n-wide value (not of the input) then becomes head-wise with probability
    1/2, its count drawn from ``heads`` (a block-diagonal recurrent matrix: the heads of Beck et
    al. 2024's sLSTM); the hidden size must be a multiple of the counts drawn (a search's
    parameter budget picks one: :func:`hidden_multiple`). Draws are
    repeated with the same generator until one is valid, so the result depends only on the seed
    (or the generator's state); without ``heads`` no draw is added, so a seed gives the cell it
    gave before.

    ``scan`` (0 to 1; default 0): the chance that a draw is of the scan-able form (see the
    module's docstring; 1: every cell is), ``n_nodes`` bounding the whole cell as for the other
    draws. Its input graph's ops must not read a state (no ``attention``). With ``scan`` 0 no
    draw is added, so a seed gives the cell it gave before.

    ``memory`` (0 to 1; default 0): the chance that a draw is a gated matrix memory (see the
    module's docstring), head-wise with a count drawn from ``heads`` (one head without them);
    its states are its own (``C``, and ``n``, ``m`` by its form: ``n_states`` does not apply)
    and ``n_nodes`` bounds the whole cell (10 to 22 nodes without an input graph; the
    stabilised form 27 to 30: it is drawn only when ``n_nodes`` allows that many). With
    ``memory`` 0 no draw is added.
    """
    rng = as_rng(seed_or_rng)
    s_lo, s_hi = _as_range(n_states, "n_states")
    if s_hi > len(STATE_NAMES):
        raise ValueError(f"at most {len(STATE_NAMES)} states, got n_states={n_states!r}")
    n_lo, n_hi = _as_range(n_nodes, "n_nodes")
    weights_map = dict(DEFAULT_OP_WEIGHTS if op_weights is None else op_weights)
    for op, w in weights_map.items():
        if op not in OPS:
            raise ValueError(f"op_weights: unknown op {op!r} (known: {', '.join(sorted(OPS))})")
        if not w >= 0:
            raise ValueError(f"op_weights: weight of {op!r} must be >= 0, got {w!r}")
    if "linear" not in weights_map and "fit" not in weights_map:
        weights_map["linear"] = 0.0  # the first node is always a projection of x
    ops = sorted(weights_map)
    weights = [float(weights_map[o]) for o in ops]
    if sum(weights) <= 0:
        raise ValueError("op_weights: at least one op needs a positive weight")
    if isinstance(scan, bool) or not isinstance(scan, int | float) or not 0 <= scan <= 1:
        raise ValueError(f"scan must be a number in [0, 1], got {scan!r}")
    if isinstance(memory, bool) or not isinstance(memory, int | float) or not 0 <= memory <= 1:
        raise ValueError(f"memory must be a number in [0, 1], got {memory!r}")
    if (scan or memory) and weights_map.get("attention", 0) > 0:
        raise ValueError("scan, memory: their input graphs cannot attend over earlier states; "
                         "give attention no weight")
    heads = tuple(heads)
    if not all(isinstance(k, int) and not isinstance(k, bool) and 2 <= k <= MAX_MODULES
               for k in heads):
        raise ValueError(f"heads: head counts must be ints in 2..{MAX_MODULES}, got {heads!r}")
    for _ in range(max_tries):
        states = STATE_NAMES[: rng.randint(s_lo, s_hi)]
        if memory and rng.random() < memory:  # the memory adds 8-20 nodes to its input graph
            g = prune(_draw_memory(rng, n_hi, ops, weights, heads))
            if n_lo <= len(g.nodes) <= n_hi and not validate(g, max_nodes=max(n_hi, 1)):
                return _renumber(g).replace(name=name)
            continue
        if scan and rng.random() < scan:  # the input graph; the recurrences add 2-5 per state
            g = prune(_draw_scan(rng, states, rng.randint(1, n_hi), ops, weights))
        else:
            # Draw a few more nodes than wanted: pruning removes the dead ones.
            size = rng.randint(n_lo, n_hi)
            g = prune(_draw(rng, states, size + len(states), ops, weights))
        if not n_lo <= len(g.nodes) <= n_hi:
            continue
        if heads:
            g = _headwise(g, rng, heads)
        if not validate(g, max_nodes=max(n_hi, 1)):
            return _renumber(g).replace(name=name)
    raise RuntimeError(f"no valid genome in {max_tries} draws with n_states={n_states!r}, "
                       f"n_nodes={n_nodes!r}, op_weights={weights_map!r}")
