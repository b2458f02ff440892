"""Import DARTS recurrent genotypes (Liu et al. 2019, section 2.1 and appendix A.1.2) as genomes.

A genotype is ``Genotype(recurrent=[(act, pred), ...], concat=...)`` as in DARTS' ``rnn/
genotypes.py``: node i = 1..N picks a predecessor ``pred`` < i and an activation among tanh, relu,
sigmoid, identity; ``concat`` lists the nodes averaged into the output. DARTS' ``DARTSCell``
computes, with no biases anywhere:

* ``[c0, h0] = [x, h] W0`` (W0: (m + n) × 2n), ``s0 = h + σ(c0) ⊙ (tanh(h0) − h)``;
* ``[c, k] = s_pred W_i`` (W_i: n × 2n), ``s_i = s_pred + σ(c) ⊙ (act(k) − s_pred)``;
* ``h' = mean(s_j for j in concat)``, which is both the output and the new state.

In the genome each half of a product is one bias-free ``linear`` (``c0_x``/``c0_h``,
``h0_x``/``h0_h``, ``c{i}_w``, ``k{i}_w``), each highway update a ``blend(σ(c), act(k), s_pred)``
(``z ⊙ a + (1 − z) ⊙ b`` is the same value), the output a ``mean``. Parameters: DARTS' count,
2n(m + n) + 2n²·N, whenever every node reaches the output (true of DARTS_V1, DARTS_V2 and
ENAS); a node that does not is dropped (it computes nothing used), and
:func:`darts_params` gives DARTS' own count, which keeps its W_i.

DARTS applies variational dropout inside the cell while training (``DARTSCell.forward``:
``x_mask = mask2d(B, m, keep_prob=1 − dropoutx)`` and ``h_mask = mask2d(B, n, keep_prob=1 −
dropouth)``, drawn once per call, i.e. per sequence, in training mode only): ``[x ⊙ x_mask,
h ⊙ h_mask] W0`` and ``(s_pred ⊙ h_mask) W_i``, one h mask for h and every node; in
evaluation there are no masks. ``import_darts(genotype, dropout_x=p_x, dropout_h=p_h)`` writes
this with genome format 2's ``dropout`` on the projections (:mod:`lstm_search.genome._ops`):
``c0_x``/``h0_x`` take x's mask (p_x), ``c0_h``/``h0_h`` h's (p_h), and every ``c{i}_w`` and
``k{i}_w`` h's as well (``mask="h"``); the compiled cell then draws both masks once per call
while training, x's first as DARTS does, each as DARTS' ``mask2d`` draws it (DARTS' final PTB
model trains with p_x = 0.75 and p_h = 0.25). With both at 0 (the default) the genome is the
format-1 cell of the evaluation, its id unchanged; in evaluation the two genomes compute the
same values.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lstm_search.genome._genome import Builder, Genome
from lstm_search.genome._random import prune
from lstm_search.genome._validate import GenomeError, Problem, validate

DARTS_ACTIVATIONS: tuple[str, ...] = ("tanh", "relu", "sigmoid", "identity")
_MAX_CONCAT = 8  # the mean op takes 2..8 inputs


@dataclass(frozen=True)
class DartsGenotype:
    """A recurrent genotype: ``recurrent`` (activation, predecessor) per node, ``concat`` the
    nodes averaged into the output."""

    recurrent: tuple[tuple[str, int], ...]
    concat: tuple[int, ...]


# DARTS' rnn/genotypes.py (Liu et al. 2019): the first- and second-order searches' cells and
# ENAS' cell (Pham et al. 2018) written in the same format
DARTS_V1 = DartsGenotype(
    (("relu", 0), ("relu", 1), ("tanh", 2), ("relu", 3), ("relu", 4), ("identity", 1),
     ("relu", 5), ("relu", 1)), tuple(range(1, 9)))
DARTS_V2 = DartsGenotype(
    (("sigmoid", 0), ("relu", 1), ("relu", 1), ("identity", 1), ("tanh", 2), ("sigmoid", 5),
     ("tanh", 3), ("relu", 5)), tuple(range(1, 9)))
ENAS = DartsGenotype(
    (("tanh", 0), ("tanh", 1), ("relu", 1), ("tanh", 3), ("tanh", 3), ("relu", 3), ("relu", 4),
     ("relu", 7), ("relu", 8), ("relu", 8), ("relu", 8)), (2, 5, 6, 9, 10, 11))


def _literal(node: ast.AST, where: str) -> Any:
    """A list/tuple/str/int literal, or ``range(a[, b])`` of ints, read from the syntax tree
    (nothing is evaluated)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id == "range" and not node.keywords and 1 <= len(node.args) <= 2:
        bounds = [_literal(a, where) for a in node.args]
        if all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
            return list(range(*bounds))
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise GenomeError([Problem(where, "format", "expected a literal list of (activation, "
                                   "predecessor) pairs or of ints, or range(a, b)")],
                          "genotype") from None


def parse_genotype(text: str) -> DartsGenotype:
    """``Genotype(recurrent=[...], concat=range(1, 9))`` (or a JSON-like
    ``{"recurrent": ..., "concat": ...}``) read without evaluating anything."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
        raise GenomeError([Problem("genotype", "format", f"not a genotype expression: {e.msg}")],
                          "genotype") from None
    fields: dict[str, Any] = {}
    if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) \
            and tree.func.id == "Genotype" and len(tree.args) <= 2:
        for key, arg in zip(("recurrent", "concat"), tree.args, strict=False):
            fields[key] = _literal(arg, key)
        for kw in tree.keywords:
            if kw.arg not in ("recurrent", "concat"):
                raise GenomeError([Problem("genotype", "format", f"unknown field {kw.arg!r}")],
                                  "genotype")
            fields[kw.arg] = _literal(kw.value, kw.arg)
    elif isinstance(tree, ast.Dict):
        fields = _literal(tree, "genotype")
    else:
        raise GenomeError([Problem("genotype", "format", "expected Genotype(recurrent=[...], "
                                   "concat=...)")], "genotype")
    return as_genotype(fields)


def as_genotype(genotype: Any) -> DartsGenotype:
    """A :class:`DartsGenotype` from one, from DARTS' namedtuple (anything with ``recurrent``
    and ``concat``), a mapping with those keys, or the text of one."""
    if isinstance(genotype, DartsGenotype):
        return genotype
    if isinstance(genotype, str):
        return parse_genotype(genotype)
    if isinstance(genotype, Mapping):
        rec, cat = genotype.get("recurrent"), genotype.get("concat")
    else:
        rec, cat = getattr(genotype, "recurrent", None), getattr(genotype, "concat", None)
    problems: list[Problem] = []
    pairs: list[tuple[str, int]] = []
    if not isinstance(rec, Iterable) or isinstance(rec, str | bytes):
        problems.append(Problem("recurrent", "format", "expected a list of (activation, "
                                "predecessor) pairs"))
        rec = []
    for i, item in enumerate(rec, start=1):
        where = f"recurrent node {i}"
        if not (isinstance(item, list | tuple) and len(item) == 2):
            problems.append(Problem(where, "format", f"expected (activation, predecessor), got "
                                    f"{item!r}"))
            continue
        act, pred = item
        if act not in DARTS_ACTIVATIONS:
            problems.append(Problem(where, "unknown-op", f"activation {act!r} is not one of "
                                    f"{', '.join(DARTS_ACTIVATIONS)}"))
        if isinstance(pred, bool) or not isinstance(pred, int) or not 0 <= pred < i:
            problems.append(Problem(where, "undefined-input", f"predecessor {pred!r} must be an "
                                    f"int in [0, {i - 1}]"))
        pairs.append((str(act), pred if isinstance(pred, int) else -1))
    try:
        concat = tuple(cat)  # type: ignore[arg-type]
    except TypeError:
        concat = ()
        problems.append(Problem("concat", "format", "expected a list of node numbers"))
    n = len(pairs)
    for j in concat:
        if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j <= n:
            problems.append(Problem("concat", "undefined-input", f"node {j!r} is not in "
                                    f"[0, {n}]"))
    if not concat and not any(p.where == "concat" for p in problems):
        problems.append(Problem("concat", "output-missing", "no node is averaged into the "
                                "output"))
    if len(concat) > _MAX_CONCAT:
        problems.append(Problem("concat", "arity", f"{len(concat)} nodes averaged; at most "
                                f"{_MAX_CONCAT} are supported"))
    if problems:
        raise GenomeError(problems, "genotype")
    return DartsGenotype(tuple(pairs), tuple(int(j) for j in concat))


def import_darts(genotype: Any, name: str = "", *, dropout_x: float = 0.0,
                 dropout_h: float = 0.0) -> Genome:
    """The genome of a DARTS recurrent genotype with ``DARTSCell``'s semantics (see the module
    docstring). ``genotype``: DARTS' ``Genotype`` namedtuple, a mapping with
    ``recurrent`` and ``concat``, a :class:`DartsGenotype`, or the text
    ``"Genotype(recurrent=[...], concat=range(1, 9))"`` (read, never evaluated).
    ``dropout_x``, ``dropout_h``: DARTS' ``dropoutx`` and ``dropouth``, the probabilities of
    its in-cell variational dropout masks on x and on h and the nodes' inputs (0: no mask,
    the default). Raises :class:`~lstm_search.genome.GenomeError` listing every problem.

    >>> from lstm_search.genome import n_params
    >>> g = import_darts(DARTS_V2, name="darts_v2")
    >>> n_params(g, 850, 850) == 2 * 850 * (850 + 850) + 8 * 2 * 850 ** 2
    True
    """
    gt = as_genotype(genotype)
    bad = [Problem(key, "param", f"{key} is a dropout probability, in [0, 1); got {p!r}")
           for key, p in (("dropout_x", dropout_x), ("dropout_h", dropout_h))
           if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p < 1]
    if bad:
        raise GenomeError(bad, name or "genotype")
    # DARTS' masks (format 2; none at p = 0): x's on x, h's on h and on every node's input
    drop_x = {"dropout": float(dropout_x)} if dropout_x else {}
    drop_h = {"dropout": float(dropout_h)} if dropout_h else {}
    drop_s = {**drop_h, "mask": "h"} if dropout_h else {}
    b = Builder(states=("h",))
    # s0 = h + σ(c0) ⊙ (tanh(h0) − h), [c0, h0] = [x ⊙ x_mask, h ⊙ h_mask] W0
    c0 = b.sigmoid(b.add(b.linear("x", bias=False, name="c0_x", **drop_x),
                         b.linear("h", bias=False, name="c0_h", **drop_h), name="c0_pre"),
                   name="c0")
    h0 = b.tanh(b.add(b.linear("x", bias=False, name="h0_x", **drop_x),
                      b.linear("h", bias=False, name="h0_h", **drop_h), name="h0_pre"),
                name="h0")
    s = [b.blend(c0, h0, "h", name="s0")]
    for i, (act, pred) in enumerate(gt.recurrent, start=1):
        prev = s[pred]  # [c, k] = (s_pred ⊙ h_mask) W_i
        c = b.sigmoid(b.linear(prev, bias=False, name=f"c{i}_w", **drop_s), name=f"c{i}")
        k = b.linear(prev, bias=False, name=f"k{i}_w", **drop_s)
        if act != "identity":
            k = b.node(act, k, name=f"k{i}")
        s.append(b.blend(c, k, prev, name=f"s{i}"))
    parts = [s[j] for j in gt.concat]
    out = b.mean(*parts, name="h_new") if len(parts) > 1 else \
        b.node("identity", parts[0], name="h_new")
    b.set_state("h", out)
    g = prune(b.build(output_state="h", name=name))
    problems = validate(g)
    if problems:
        raise GenomeError(problems, name or "genotype")
    return g


def darts_params(genotype: Any, input_size: int, hidden_size: int) -> int:
    """Parameters of ``DARTSCell`` for ``genotype``: W0 ((m + n) × 2n) and one n × 2n matrix
    per node, used or not."""
    gt = as_genotype(genotype)
    n = hidden_size
    return (input_size + n) * 2 * n + len(gt.recurrent) * n * 2 * n
