"""Import NAS-Bench-NLP recipes (Klyuchnikov et al. 2020) as genomes.

A recipe is a JSON object ``node_name -> {"op": OP, "input": [names]}``. Inputs are ``x`` and
``h_prev_0``, ``h_prev_1``, ...; the nodes ``h_new_0`` (the cell's output and new hidden state)
and ``h_new_1``, ... (extra recurrent states, e.g. the LSTM cell) are the results. Ops:

======================== =======================================================================
recipe op                genome
======================== =======================================================================
linear [i1, ..., ik]     ``Σ_k W_k i_k + b`` with ONE bias: ``add(linear(i1), linear(i2,
                         bias=False), ...)``, the bias on x's projection when x is an input
                         (so the order of the inputs does not change the genome_id), else on
                         the first; one input: ``linear``
blend [z, a, b]          ``blend`` (z ⊙ a + (1 − z) ⊙ b)
elementwise_prod / _sum  ``mul`` / ``add`` (chained when more than 8 inputs; one input passes
                         through as ``identity``)
activation_tanh / _sigm  ``tanh`` / ``sigmoid``
activation_leaky_relu    ``leaky_relu`` (slope 0.01, PyTorch's default)
======================== =======================================================================

Choices where the format leaves room:

* Recipe names may be any string. Each node gets an identifier built from its name (characters
  outside ``[A-Za-z0-9_]`` become ``_``, made unique); :func:`from_nasbench_with_names` returns
  the mapping. State ``k`` is named ``h`` (k = 0), ``c`` (k = 1), then ``s2``, ``s3``, ...
* ``x`` fed directly to an op that needs an n-wide value (anything but ``linear``) is first
  passed through ``fit`` (x itself when the input and hidden sizes are equal, else a learned
  projection), as Jozefowicz et al. 2015 do when they add x to an n-wide vector.
* What cannot change the output is dropped: dead nodes (reaching no ``h_new_k``), a state
  ``h_new_k`` whose ``h_prev_k`` nothing reads (state 0 too: ``h_new_0`` stays the output, but
  it is no state of the genome when no node on the output's path reads ``h_prev_0``), and a
  state whose value never reaches ``h_new_0`` at any later step. They would only fail
  validation (rule ``dead-node``) or carry a value nobody reads; a ``h_prev_k`` read without
  its ``h_new_k`` is an error.
* x may reach the output one step later, through a state: ``h_new_0`` reading only
  ``h_prev_1`` whose new value reads x is a valid cell (validation's ``no-input-path`` rule
  looks across steps).

Parameter counts. The benchmark's interpreter (``CustomRNNCell`` in the NAS-Bench-NLP
repository) builds a ``MultiLinear`` (one weight per input and ONE bias) for every ``linear``
node of the recipe, dead or alive, and its logs' ``num_params`` count them all. The genome
keeps only what computes, so :func:`~lstm_search.genome.n_params` of the genome counts the live
parts; :func:`nasbench_cell_params` counts the recipe the way the benchmark does (dead parts
included) and :func:`nasbench_model_params` reproduces a log's ``num_params`` for the whole
AWD-style model (embedding tied to the decoder, decoder bias, ``nlayers`` cells). The two cell
counts agree for every recipe without dead ``linear`` nodes.

The interpreter folds an ``elementwise_*`` node of three or more inputs with a loop that
reads an undefined name (it would raise); the importer takes the evident meaning (the sum or
product of all inputs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from lstm_search.genome._genome import Genome, Node
from lstm_search.genome._ops import X
from lstm_search.genome._random import prune
from lstm_search.genome._validate import GenomeError, Problem, validate

_PREV = re.compile(r"^h_prev_(\d+)$")
_NEW = re.compile(r"^h_new_(\d+)$")
_ACTS = {"activation_tanh": "tanh", "activation_sigm": "sigmoid",
         "activation_leaky_relu": "leaky_relu"}
_ELEMENTWISE = {"elementwise_prod": "mul", "elementwise_sum": "add"}
RECIPE_OPS: tuple[str, ...] = ("linear", "blend", *_ELEMENTWISE, *_ACTS)
_MAX_ARITY = 8


def _state_name(k: int) -> str:
    return ("h", "c")[k] if k < 2 else f"s{k}"


def _identifier(raw: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", raw)[:48] or "node"
    if not re.match(r"[A-Za-z_]", s):
        s = f"n_{s}"
    return s


def _reaching_output(recipe: Mapping[str, Any]) -> set[int]:
    """The states k whose previous value reaches ``h_new_0`` at this step or a later one: the
    output's inputs closed over the states' updates. State 0 is among them only when something
    on the way reads ``h_prev_0``; ``h_new_0`` is the output either way."""

    def ancestors(root: str) -> set[str]:
        seen: set[str] = set()
        todo = [root]
        while todo:
            v = todo.pop()
            if v in seen:
                continue
            seen.add(v)
            spec = recipe.get(v)
            if isinstance(spec, Mapping) and isinstance(spec.get("input"), list):
                todo.extend(str(i) for i in spec["input"])
        return seen

    deps = ancestors("h_new_0")
    states: set[int] = set()
    while True:
        more = {int(m.group(1)) for v in deps if (m := _PREV.match(v))} - states
        if not more:
            return states
        states |= more
        for k in more:
            deps |= ancestors(f"h_new_{k}")


def from_nasbench_with_names(recipe: Mapping[str, Any] | str, name: str = "",
                             ) -> tuple[Genome, dict[str, str]]:
    """Like :func:`from_nasbench`, also returning recipe node name -> genome node name (for the
    nodes kept; a recipe ``linear`` with several inputs maps to its final sum)."""
    problems: list[Problem] = []

    def bad(where: str, rule: str, msg: str) -> None:
        problems.append(Problem(where, rule, msg))

    if isinstance(recipe, str):
        try:
            recipe = json.loads(recipe)
        except json.JSONDecodeError as e:
            raise GenomeError([Problem("recipe", "json", f"malformed JSON: {e.msg} (line "
                                       f"{e.lineno} column {e.colno})")], name or "recipe") from e
    if not isinstance(recipe, Mapping) or not recipe:
        raise GenomeError([Problem("recipe", "format", "expected a non-empty JSON object "
                                   "node_name -> {'op': ..., 'input': [...]}")], name or "recipe")
    # -- states: h_prev_k read, h_new_k produced ---------------------------------------------------
    produced: dict[int, str] = {}
    for raw in recipe:
        m = _NEW.match(str(raw))
        if m:
            produced[int(m.group(1))] = str(raw)
    if 0 not in produced:
        bad("h_new_0", "output-missing", "the recipe has no node 'h_new_0' (the cell output)")
    read: set[int] = set()
    for spec in recipe.values():
        if isinstance(spec, Mapping) and isinstance(spec.get("input"), list):
            for i in spec["input"]:
                m = _PREV.match(str(i))
                if m:
                    read.add(int(m.group(1)))
    for k in sorted(read - set(produced)):
        bad(f"h_prev_{k}", "state-missing", f"read, but the recipe has no node 'h_new_{k}' giving "
            "its new value")
    kept = sorted(k for k in _reaching_output(recipe) if k in produced)
    states = {k: _state_name(k) for k in kept}
    # -- node names ----------------------------------------------------------------------------
    taken = {X, *states.values()}
    rename: dict[str, str] = {}
    for raw in recipe:
        base = _identifier(str(raw))
        cand, j = base, 1
        while cand in taken:
            cand, j = f"{base}_{j}", j + 1
        taken.add(cand)
        rename[str(raw)] = cand

    def fresh(stem: str) -> str:
        cand, j = stem, 1
        while cand in taken:
            cand, j = f"{stem}_{j}", j + 1
        taken.add(cand)
        return cand

    nodes: list[Node] = []
    fitted: dict[str, str] = {}

    def ref(raw: Any, where: str) -> str:
        raw = str(raw)
        if raw == X:
            return X
        m = _PREV.match(raw)
        if m:
            return states.get(int(m.group(1)), raw)
        if raw in rename:
            return rename[raw]
        bad(where, "undefined-input", f"input {raw!r} is not x, h_prev_k or a recipe node")
        return raw

    def n_wide(v: str) -> str:
        if v != X:
            return v
        if X not in fitted:
            fitted[X] = fresh("x_fit")
            nodes.append(Node(fitted[X], "fit", (X,)))
        return fitted[X]

    def sum_of(terms: list[str], out: str, op: str) -> None:
        """``op`` over ``terms`` named ``out``, chained in groups of at most 8."""
        while len(terms) > _MAX_ARITY:
            part = fresh(f"{out}_part")
            nodes.append(Node(part, op, tuple(terms[:_MAX_ARITY])))
            terms = [part, *terms[_MAX_ARITY:]]
        if len(terms) == 1:
            nodes.append(Node(out, "identity", (terms[0],)))
        else:
            nodes.append(Node(out, op, tuple(terms)))

    for raw, spec in recipe.items():
        raw = str(raw)
        where = f"recipe node {raw!r}"
        if not isinstance(spec, Mapping) or not isinstance(spec.get("input"), list):
            bad(where, "format", "must be an object {'op': ..., 'input': [names]}")
            continue
        op, ins = spec.get("op"), [ref(i, where) for i in spec["input"]]
        out = rename[raw]
        if not ins:
            bad(where, "arity", "has no inputs")
            continue
        if op == "linear":
            if len(ins) == 1:
                nodes.append(Node(out, "linear", (ins[0],)))
            else:  # one bias shared by all the inputs: only one projection has one
                terms = []
                biased = ins.index(X) if X in ins else 0
                for k, v in enumerate(ins):
                    t = fresh(f"{out}_w{k}")
                    nodes.append(Node(t, "linear", (v,), {} if k == biased else {"bias": False}))
                    terms.append(t)
                sum_of(terms, out, "add")
        elif op == "blend":
            if len(ins) != 3:
                bad(where, "arity", f"'blend' takes 3 inputs (z, a, b), got {len(ins)}")
                continue
            nodes.append(Node(out, "blend", tuple(n_wide(v) for v in ins)))
        elif op in _ELEMENTWISE:
            sum_of([n_wide(v) for v in ins], out, _ELEMENTWISE[op])
        elif op in _ACTS:
            if len(ins) != 1:
                bad(where, "arity", f"{op!r} takes 1 input, got {len(ins)}")
                continue
            nodes.append(Node(out, _ACTS[op], (n_wide(ins[0]),)))
        else:
            bad(where, "unknown-op", f"unknown recipe op {op!r} (known: {', '.join(RECIPE_OPS)})")
    if problems:
        raise GenomeError(problems, name or "recipe")
    if not kept:
        raise GenomeError([Problem("output", "no-recurrence", "h_new_0 reads no h_prev_k, at "
                                   "this step or through another state: this is a feed-forward "
                                   "layer, not a recurrent cell")], name or "recipe")
    state_names = tuple(states[k] for k in kept)
    new_states = {states[k]: rename[produced[k]] for k in kept}
    g = prune(Genome(state_names, tuple(nodes), new_states, rename[produced[0]], name))
    problems = validate(g)
    if problems:
        raise GenomeError(problems, name or "recipe")
    live = {n.name for n in g.nodes}
    mapping = {raw: new for raw, new in rename.items() if new in live}
    return g, mapping


def from_nasbench(recipe: Mapping[str, Any] | str, name: str = "") -> Genome:
    """The genome of a NAS-Bench-NLP recipe (see the module docstring for the mapping).

    Raises :class:`~lstm_search.genome.GenomeError` listing every problem of a recipe that
    cannot be imported (unknown op, undefined input, no ``h_new_0``, ...) or whose cell is not
    valid (e.g. its output does not depend on x).
    """
    return from_nasbench_with_names(recipe, name)[0]


def import_nasbench_nlp(recipe: Mapping[str, Any] | str, name: str = "") -> Genome:
    """The genome of a NAS-Bench-NLP recipe (Klyuchnikov et al. 2020): a JSON object
    ``node -> {"op", "input"}`` or its JSON text (a benchmark log's ``recepie`` field).

    The genome computes what the benchmark's ``CustomRNNCell`` computes (its output and the
    states that reach it); parts that cannot change the output are dropped (see
    :mod:`lstm_search.genome._nasbench`). :func:`nasbench_cell_params` gives the benchmark's own
    parameter count, dead parts included. Raises :class:`~lstm_search.genome.GenomeError`
    listing every problem of a recipe that cannot be imported.

    >>> g = import_nasbench_nlp({"a": {"op": "linear", "input": ["x", "h_prev_0"]},
    ...                          "h_new_0": {"op": "activation_tanh", "input": ["a"]}})
    >>> g.states
    ('h',)
    """
    return from_nasbench(recipe, name)


def _recipe_object(recipe: Mapping[str, Any] | str) -> Mapping[str, Any]:
    if isinstance(recipe, str):
        recipe = json.loads(recipe)
    if not isinstance(recipe, Mapping):
        raise TypeError(f"expected a recipe object, got {type(recipe).__name__}")
    return recipe


def nasbench_cell_params(recipe: Mapping[str, Any] | str, input_size: int,
                         hidden_size: int) -> int:
    """Parameters of one benchmark cell as ``CustomRNNCell`` builds it: for EVERY ``linear``
    node (dead ones too), one (n × width) weight per input (width m for x, else n) and one
    n-wide bias."""
    total = 0
    for spec in _recipe_object(recipe).values():
        if isinstance(spec, Mapping) and spec.get("op") == "linear":
            ins = spec.get("input") or []
            total += sum(hidden_size * (input_size if i == X else hidden_size) for i in ins)
            total += hidden_size
    return total


def nasbench_model_params(recipe: Mapping[str, Any] | str, ntokens: int, emsize: int = 400,
                          nhid: int = 600, nlayers: int = 3, tied: bool = True) -> int:
    """A benchmark log's ``num_params``: the AWD-style model of NAS-Bench-NLP
    (``AWDRNNModel``): an embedding (ntokens × emsize), ``nlayers`` cells (layer 0 reads
    emsize; the last one is emsize wide when tied), a decoder bias, and the decoder weight
    unless tied to the embedding. Defaults are the benchmark's (emsize 400, nhid 600, 3 layers,
    tied); ``ntokens`` is 33,278 for WikiText-2 and 10,000 for PTB."""
    total = ntokens * emsize + ntokens + (0 if tied else ntokens * nhid)
    for k in range(nlayers):
        m = emsize if k == 0 else nhid
        n = (emsize if tied else nhid) if k == nlayers - 1 else nhid
        total += nasbench_cell_params(recipe, m, n)
    return total
