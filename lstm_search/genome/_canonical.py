"""Canonical form and genome_id: the same cell written two ways gets the same id.

The canonical form renames internal nodes by structure (``n0``, ``n1``, ... in a topological
order broken by structural labels), renames states (``s0`` is the output's state, then by
structure; ``below:<state>`` inputs with their state), orders the inputs of commutative ops
(add, mul), drops the genome's name and the parameter values that do not change the compiled
module (values equal to the op's default;
``bias_init`` on a linear node without a bias; format 2's dropout ``mask`` when it is the
input's own; a kept ``mask`` names x or a state and is renamed with the states). An
explicit ``bias_init`` is kept whatever its value, 0.0 included: it makes the bias start at
that constant instead of uniform, so two cells that start differently never share an id.

Labels are computed by a few rounds of Weisfeiler-Lehman style refinement in
both directions (what a node computes from, and what consumes it), repeated until no class
splits; values still tied (symmetric ones, such as two gates built alike) are individualised one
at a time and refined again. This is exact for symmetric and asymmetric cells alike, except for
rare graphs where refinement ties values that are not interchangeable (the known limit of
Weisfeiler-Lehman refinement); the id is deterministic for all.

:func:`genome_id` is the first 16 hex digits of the SHA-256 of the canonical JSON.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable

from lstm_search.genome._genome import Genome, Node
from lstm_search.genome._ops import BELOW, OPS, X, below_state, dropout_mask


def _h(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _params(node: Node, mask_name: Callable[[str], str] | None = None) -> dict[str, object]:
    """The node's parameters that change the compiled module: every explicit value that differs
    from the op's default (so ``bias: true`` and ``diag: 0`` go) and an explicit ``bias_init``
    of any value, 0.0 included, since a set bias_init initialises the bias to that constant
    while an unset one draws it uniformly (:mod:`lstm_search.compile._params`). A linear node
    without a bias has nothing for ``bias_init`` to set, so it is dropped there; format 2's
    ``mask`` is dropped when it names the linear's own input (its default) and both
    ``dropout`` and ``mask`` when p is 0. ``mask_name`` renames a kept mask (its owner is x
    or a state, which the canonical form renames)."""
    spec = OPS[node.op]
    out: dict[str, object] = {}
    for k, v in node.params.items():
        p = spec.params[k]
        v = p.kind(v)
        if v != p.default:
            out[k] = v
    if node.op == "linear" and not bool(node.param("bias")):
        out.pop("bias_init", None)
    if node.op == "linear":  # format 2's dropout: a mask kept only when not the input's own
        if dropout_mask(node) is None:
            out.pop("dropout", None)
            out.pop("mask", None)
        elif out.get("mask") == (node.inputs[0] if node.inputs else None):
            del out["mask"]
        if "mask" in out and mask_name is not None:
            out["mask"] = mask_name(str(out["mask"]))
    return out


def topo_order(genome: Genome) -> list[Node]:
    """The nodes of ``genome`` in a topological order: every node after the nodes it reads,
    depth first from the nodes in the order they are listed."""
    nmap = genome.node_map
    order: list[Node] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        stack = [(name, False)]
        while stack:
            v, expanded = stack.pop()
            if v in done or v not in nmap:
                continue
            if expanded:
                done.add(v)
                order.append(nmap[v])
                continue
            stack.append((v, True))
            stack.extend((d, False) for d in reversed(nmap[v].inputs) if d not in done)

    for n in genome.nodes:
        visit(n.name)
    return order


def _labels(genome: Genome, marks: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Structural labels of values (bottom-up + top-down) and of states.

    Rounds repeat until the partition stops splitting: a state's label takes in the full label
    (both directions) of its new value, so states that are built alike but consumed differently
    (FGR's i and f gates) are told apart, and with them the nodes that read them. ``marks``
    individualises values that refinement alone cannot tell apart (see :func:`_final_labels`).
    """
    order = topo_order(genome)
    out_state = {s for s, v in genome.new_states.items() if v == genome.output}
    slabel = {s: _h("state", s in out_state, marks.get(s)) for s in genome.states}
    label: dict[str, str] = {}
    n_classes = -1
    below = {i: s for n in genome.nodes for i in n.inputs
             if (s := below_state(i)) is not None}  # format 2: "below:<state>" inputs
    for _ in range(len(genome.states) + len(genome.nodes) + 2):
        down: dict[str, str] = {X: "x", **slabel}
        mask_label = {X: "x", **slabel}.get  # a dropout mask by its owner's label
        down.update({i: _h("below", slabel[s]) for i, s in below.items()})
        for n in order:
            ins = [down[i] for i in n.inputs]
            if OPS[n.op].commutative:
                ins.sort()
            down[n.name] = _h(n.op, _params(n, lambda s, get=mask_label: get(s, s)), ins,
                              marks.get(n.name))
        # top-down: how each value is consumed
        up: dict[str, list[str]] = defaultdict(list)
        for s, v in genome.new_states.items():
            up[v].append(_h("new-state", slabel[s]))
        up[genome.output].append("output")
        for n in reversed(order):
            mine = _h(sorted(up[n.name]))
            for pos, i in enumerate(n.inputs):
                slot = "c" if OPS[n.op].commutative else pos
                up[i].append(_h(down[n.name], slot, mine))
        label = {v: _h(down[v], sorted(up[v])) for v in down}
        slabel = {s: _h("state", label[s], label[genome.new_states[s]]) for s in genome.states}
        classes = len(set(label.values())) + len(set(slabel.values()))
        if classes == n_classes:
            break
        n_classes = classes
    return label, slabel


def _final_labels(genome: Genome) -> tuple[dict[str, str], dict[str, str]]:
    """Labels with no ties among nodes or among states (individualisation-refinement).

    Values still tied after refinement are mostly symmetric (LSTM's i and g gates when both use
    tanh: either may come first). Marking one of the first tied class and refining again breaks
    the tie; when the tied values are truly interchangeable, any choice gives the same form.
    """
    marks: dict[str, str] = {}
    while True:
        label, slabel = _labels(genome, marks)
        classes: dict[str, list[str]] = defaultdict(list)
        for n in genome.nodes:
            classes[label[n.name]].append(n.name)
        for s in genome.states:
            classes["state:" + slabel[s]].append(s)
        tied = sorted((k, sorted(v)) for k, v in classes.items() if len(v) > 1)
        if not tied:
            return label, slabel
        marks[tied[0][1][0]] = _h("mark", len(marks))


def canonical(genome: Genome) -> Genome:
    """The canonical form of a valid genome (see the module docstring)."""
    return _canonical_and_renaming(genome)[0]


def _canonical_and_renaming(genome: Genome) -> tuple[Genome, dict[str, str]]:
    """The canonical form and the renaming that produced it (every node and state of
    ``genome``, and ``x``, to its canonical name)."""
    label, slabel = _final_labels(genome)
    out_state = [s for s in genome.states if genome.new_states[s] == genome.output]
    states = sorted(genome.states, key=lambda s: (s not in out_state, slabel[s], s))
    srename = {s: f"s{i}" for i, s in enumerate(states)}
    nmap = genome.node_map
    # Kahn's algorithm, ready nodes taken in label order
    indeg = {n.name: sum(1 for i in set(n.inputs) if i in nmap) for n in genome.nodes}
    users: dict[str, list[str]] = defaultdict(list)
    for n in genome.nodes:
        for i in set(n.inputs):
            if i in nmap:
                users[i].append(n.name)
    ready = sorted((label[v], v) for v, d in indeg.items() if d == 0)
    rename: dict[str, str] = {X: X, **srename}
    rename.update({i: BELOW + srename[s] for n in genome.nodes for i in n.inputs
                   if (s := below_state(i)) is not None and s in srename})
    order: list[str] = []
    while ready:
        _, v = ready.pop(0)
        rename[v] = f"n{len(order)}"
        order.append(v)
        for u in users[v]:
            indeg[u] -= 1
            if indeg[u] == 0:
                ready.append((label[u], u))
        ready.sort()
    nodes = []
    for v in order:
        n = nmap[v]
        ins = [rename[i] for i in n.inputs]
        if OPS[n.op].commutative:
            ins = [rename[i] for i in sorted(n.inputs, key=lambda i: (label[i], rename[i]))]
        nodes.append(Node(rename[v], n.op, tuple(ins), _params(n, lambda s: rename.get(s, s))))
    form = Genome(
        states=tuple(srename[s] for s in states),
        nodes=tuple(nodes),
        new_states={srename[s]: rename[genome.new_states[s]] for s in states},
        output=rename[genome.output],
        values=genome.values,
    )
    return form, rename


def correspondence(genome: Genome, reference: Genome) -> dict[str, str]:
    """Which name of ``genome`` plays the part of each node and state of ``reference``.

    The two must be the same cell (equal canonical forms, hence equal :func:`genome_id`) however
    written: nodes and states renamed, nodes listed in another order, inputs of commutative ops
    swapped. Both canonical renamings map onto the same canonical graph, so composing one with
    the other's inverse is an isomorphism; it is checked node by node (op, parameters, inputs)
    before it is returned. Raises ValueError when the cells differ.
    """
    form_g, ren_g = _canonical_and_renaming(genome)
    form_r, ren_r = _canonical_and_renaming(reference)
    if form_g != form_r:
        raise ValueError("the genomes are different cells (their canonical forms differ)")
    back = {c: v for v, c in ren_g.items()}
    out = {v: back[c] for v, c in ren_r.items()}
    below = {v: out[v] for v in out if below_state(v) is not None}  # follow their states
    for v in below:
        del out[v]
    gmap = genome.node_map
    for n in reference.nodes:
        m = gmap[out[n.name]]
        ins = [out.get(i, below.get(i, i)) for i in n.inputs]
        same_inputs = (sorted(ins) == sorted(m.inputs) if OPS[n.op].commutative
                       else tuple(ins) == m.inputs)
        if m.op != n.op or _params(m) != _params(n, lambda s: out.get(s, s)) \
                or not same_inputs:
            raise ValueError(f"no node-for-node match for {n.name!r} (a graph that "
                             "refinement cannot tell apart)")
    for s, v in reference.new_states.items():
        if genome.new_states.get(out[s]) != out[v]:
            raise ValueError(f"no match for the new value of state {s!r}")
    if genome.output != out[reference.output]:
        raise ValueError("no match for the output")
    return out


def genome_id(genome: Genome) -> str:
    """A 16-hex-digit id of the cell's structure, equal for equal cells however written."""
    g = canonical(genome)
    return hashlib.sha256(g.to_json(indent=None).encode()).hexdigest()[:16]


def cell_name(genome: Genome) -> str:
    """The name of a cell that has none (not a zoo cell): ``cell-<first 8 hex digits of its
    genome_id>``, or ``cell-invalid`` for a genome that does not validate."""
    from lstm_search.genome._validate import validate

    try:
        return "cell-invalid" if validate(genome) else f"cell-{genome_id(genome)[:8]}"
    except Exception:  # a broken genome may not canonicalise
        return "cell-invalid"
