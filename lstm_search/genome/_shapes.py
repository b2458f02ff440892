"""Shapes of the values of a head-wise cell (format 2's ``"values": {"kind": "heads"}``).

A head-wise cell (xLSTM's mLSTM, Beck et al. 2024, section 2.3) has values of three shapes:
``vector`` (n units), ``scalar`` (one number per head) and ``matrix`` (a d×d matrix per head);
see :mod:`lstm_search.genome._ops`. :func:`value_shapes` derives the shape of every node and
state from the ops: a state takes the shape of its new value, found by iterating the steps
from states of unknown shape until nothing changes: a pointwise op's value takes the widest
shape of its known inputs (scalar below vector and matrix), so the shapes only grow and the
iteration ends; a state that nothing fixes is a vector.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from lstm_search.genome._genome import Genome, Node
from lstm_search.genome._ops import X

VECTOR, SCALAR, MATRIX = "vector", "scalar", "matrix"
SHAPES: tuple[str, ...] = (VECTOR, SCALAR, MATRIX)
# ops whose inputs must all be vectors (their output: a vector, or for head_linear a scalar)
_VECTOR_ONLY = {"linear", "fit", "diag", "norm", "head_linear", "clock", "attention"}


def _node_shape(node: Node, ins: list[str | None]) -> tuple[str | None, str | None]:
    """The shape of ``node``'s value from its inputs' shapes (None: not known yet), and a
    message when the inputs' shapes do not fit the op."""
    op = node.op
    known = [s for s in ins if s is not None]
    if op in _VECTOR_ONLY:
        bad = [s for s in known if s != VECTOR]
        if bad:
            return None, f"op {op!r} takes vectors only, got a {bad[0]}"
        return (SCALAR if op == "head_linear" else VECTOR), None
    if op in ("outer", "dot"):
        bad = [s for s in known if s != VECTOR]
        if bad:
            return None, f"op {op!r} takes two vectors, got a {bad[0]}"
        return (MATRIX if op == "outer" else SCALAR), None
    if op == "matvec":
        a, b = [*ins, None, None][:2]
        if a is not None and a != MATRIX:
            return None, f"op 'matvec' takes a matrix first (C of C q), got a {a}"
        if b is not None and b != VECTOR:
            return None, f"op 'matvec' takes a vector second (q of C q), got a {b}"
        return VECTOR, None
    # pointwise: one shape, per-head scalars broadcast over vectors or matrices
    wide = sorted({s for s in known if s != SCALAR})
    if len(wide) > 1:
        return None, (f"op {op!r} mixes a vector and a matrix (only a per-head scalar "
                      "broadcasts)")
    if wide:
        return wide[0], None
    return (SCALAR if known else None), None  # the least shape the known inputs allow


def value_shapes(genome: Genome, order: Iterable[Node]
                 ) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """(shape of ``x``, of every state and node; problems as (where, message)) of a head-wise
    cell, over the nodes in topological ``order``. A state whose shape nothing fixes is a
    vector; the output must be a vector."""
    order = list(order)
    states: dict[str, str | None] = {s: None for s in genome.states}
    env: dict[str, str | None] = {}
    msgs: dict[str, str] = {}
    for _ in range(len(genome.states) + 2):
        env = {X: VECTOR, **states}
        msgs = {}
        for node in order:
            env[node.name], msg = _node_shape(node, [env.get(i) for i in node.inputs])
            if msg:
                msgs[node.name] = msg
        new = {s: env.get(genome.new_states.get(s, "")) or states[s] for s in states}
        if new == states:
            break
        states = new
    shapes = {k: v or VECTOR for k, v in env.items()}
    problems = [(f"node {name!r}", m) for name, m in msgs.items()]
    for s in genome.states:
        new_ref = genome.new_states.get(s)
        if new_ref in env and not msgs.get(new_ref or "") and shapes[new_ref or ""] != shapes[s]:
            problems.append((f"state {s!r}", f"its new value is a {shapes[new_ref or '']} but "
                             f"its previous value is read as a {shapes[s]}"))
    if genome.output in shapes and shapes[genome.output] != VECTOR:
        problems.append(("output", f"the output must be a vector (it feeds the layer above "
                         f"and the model's head), got a {shapes[genome.output]}"))
    return shapes, problems


def hidden_multiple(genome: Genome) -> int:
    """The number every hidden size of ``genome`` must be a multiple of: the least common
    multiple of its head counts (a head-wise ``linear``'s ``heads``, a ``norm``'s ``heads``, a
    head-wise cell's ``values.heads``); 1 for a cell without heads."""
    step = 1
    heads = [n.params.get("heads", 1) for n in genome.nodes if n.op in ("linear", "norm")]
    heads.append(genome.values.get("heads", 1) if genome.values else 1)
    for h in heads:
        if isinstance(h, int) and not isinstance(h, bool) and h > 1:
            step = math.lcm(step, h)
    return step
