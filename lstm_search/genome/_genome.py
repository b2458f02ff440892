"""Genome and Node: a recurrent cell as a small graph of ops, a plain value.

A cell reads the input ``x`` and the previous value of each of its named states (``h``, ``c``,
...; referred to by the state's name), computes its nodes, and names which node becomes each new
state and which node is the cell's output. Variants of a cell are different Genome values, never
different classes.

JSON form (format version 1; version 2 adds ``below:<state>`` inputs, the ``clock`` and
``attention`` ops, ``linear``'s ``blocks`` and its variational ``dropout`` and ``mask``, see
:mod:`lstm_search.genome._ops`, and a
genome is written with the oldest version that holds it, so format-1 cells keep their files
and ids; version 2 also adds the top-level ``"values"`` object, the shape of every value,
e.g. ``{"kind": "spatial", "kernel": 3}`` for a convolutional cell, ``{"kind": "heads",
"heads": 4}`` for a cell of head-wise vectors, per-head scalars and matrices (xLSTM's mLSTM),
absent for vectors)::

    {"format": "lstm-search-genome", "version": 1, "name": "gru",
     "states": ["h"],
     "nodes": [{"name": "r_x", "op": "linear", "inputs": ["x"]}, ...,
               {"name": "h_new", "op": "blend", "inputs": ["z", "h", "k"]}],
     "new_states": {"h": "h_new"},
     "output": "h_new"}

Node parameters (``bias``, ``bias_init``, ``diag``, ``slope``) go in an optional ``"params"``
object of the node.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lstm_search.genome._frozen import FrozenMap
from lstm_search.genome._ops import (
    BELOW,
    FORMAT,
    FORMAT_VERSION,
    OPS,
    X,
    format_2_uses,
    format_version,
    spatial_kernel,
    value_heads,
)


@dataclass(frozen=True)
class Node:
    """One op applied to named inputs: ``x``, a state's previous value, or another node.

    A value: ``inputs`` is a tuple and ``params`` a read-only :class:`FrozenMap`, whatever
    sequence and mapping they were given as.
    """

    name: str
    op: str
    inputs: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "params", FrozenMap(self.params))

    def __hash__(self) -> int:
        return hash((self.name, self.op, self.inputs, tuple(sorted(self.params.items()))))

    def __repr__(self) -> str:
        extra = f", {dict(self.params)!r}" if self.params else ""
        return f"Node({self.name!r}, {self.op!r}, {self.inputs!r}{extra})"

    def param(self, key: str) -> Any:
        """The value of a parameter, or its default from the op's spec."""
        if key in self.params:
            return self.params[key]
        return OPS[self.op].params[key].default

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "op": self.op, "inputs": list(self.inputs)}
        if self.params:
            d["params"] = dict(sorted(self.params.items()))
        return d


@dataclass(frozen=True)
class Genome:
    """A recurrent cell: states, nodes, which node is each new state, and the output node.

    Build one directly, with :class:`lstm_search.genome.Builder`, or from JSON with
    :meth:`from_json`. Call :func:`lstm_search.genome.validate` (all problems at once) or
    :meth:`check` (raises :class:`GenomeError`) before use; the compiler does so itself.
    A value: ``states`` and ``nodes`` are tuples and ``new_states`` a read-only
    :class:`FrozenMap`, so a shared genome (a cached zoo cell) cannot be changed in place.
    """

    states: tuple[str, ...]
    nodes: tuple[Node, ...]
    new_states: Mapping[str, str]
    output: str
    name: str = ""
    # format 2: the shape of every value (see :mod:`lstm_search.genome._ops`); empty: vectors
    values: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "states", tuple(self.states))
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "new_states", FrozenMap(self.new_states))
        object.__setattr__(self, "values", FrozenMap(self.values))

    def __hash__(self) -> int:
        return hash((self.states, self.nodes, tuple(sorted(self.new_states.items())),
                     self.output, self.name, tuple(sorted(self.values.items()))))

    @property
    def kernel(self) -> int:
        """The convolution kernel K of a spatial cell (``values`` kind ``spatial``), else 0."""
        return spatial_kernel(self.values)

    @property
    def heads(self) -> int:
        """The heads h of a head-wise cell (``values`` kind ``heads``), else 0."""
        return value_heads(self.values)

    def __repr__(self) -> str:
        nodes = ",\n        ".join(repr(n) for n in self.nodes)
        name = f", name={self.name!r}" if self.name else ""
        name += f", values={dict(self.values)!r}" if self.values else ""
        return (f"Genome(states={self.states!r},\n    nodes=(\n        {nodes},\n    ),\n"
                f"    new_states={dict(self.new_states)!r}, output={self.output!r}{name})")

    # -- access -----------------------------------------------------------------------------
    @property
    def node_map(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    @property
    def inputs(self) -> tuple[str, ...]:
        """The names a node may read besides other nodes: ``x`` and every state."""
        return (X, *self.states)

    def replace(self, **changes: Any) -> Genome:
        fields = {"states": self.states, "nodes": self.nodes, "new_states": self.new_states,
                  "output": self.output, "name": self.name, "values": self.values}
        fields.update(changes)
        return Genome(**fields)

    def check(self, **budget: Any) -> Genome:
        """Validate and return self; raise :class:`GenomeError` listing every problem."""
        from lstm_search.genome._validate import GenomeError, validate

        problems = validate(self, **budget)
        if problems:
            raise GenomeError(problems, self.name or "genome")
        return self

    # -- JSON -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": FORMAT,
                             "version": format_version(self.nodes, self.values)}
        if self.name:
            d["name"] = self.name
        if self.values:
            d["values"] = dict(sorted(self.values.items()))
        d["states"] = list(self.states)
        d["nodes"] = [n.to_dict() for n in self.nodes]
        d["new_states"] = dict(self.new_states)
        d["output"] = self.output
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any, source: str = "genome") -> Genome:
        """Build from a parsed JSON object; structural problems raise GenomeError (all at once)."""
        from lstm_search.genome._validate import GenomeError

        genome, problems, _ = _parse(cls, data)
        if problems or genome is None:
            raise GenomeError(problems, source)
        return genome

    @classmethod
    def from_json(cls, text: str, source: str = "genome") -> Genome:
        from lstm_search.genome._validate import GenomeError, read_json

        data, problems = read_json(text)
        if problems:
            raise GenomeError(problems, source)
        return cls.from_dict(data, source)

    @classmethod
    def load(cls, path: str) -> Genome:
        from lstm_search.genome._validate import GenomeError, Problem

        with open(path, "rb") as f:
            raw = f.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise GenomeError([Problem(f"byte {e.start}", "json", "not UTF-8 text")],
                              str(path)) from None
        return cls.from_json(text, source=str(path))


def _parse(cls: type[Genome], data: Any) -> tuple[Genome | None, list[Any], set[str]]:
    """Read a parsed JSON object as far as it goes.

    Returns the genome built from every part that could be read (None only when ``data`` is not
    an object), every structural problem (rule ``format``, or ``output-missing``), and what the
    file has but could not be read: names of node entries that are malformed (skipped), and the
    fields ``states``, ``nodes``, ``new_states``, ``output`` when malformed or absent.
    :func:`lstm_search.genome.validate` takes that set as ``unreadable`` and then reports the
    rest of the genome's problems without repeating these.
    """
    from lstm_search.genome._validate import (
        MAX_FILE_NODES,
        MAX_INPUTS,
        MAX_NAME_CHARS,
        Problem,
        _show,
    )

    problems: list[Problem] = []
    unreadable: set[str] = set()

    def too_long(value: Any) -> bool:
        return isinstance(value, str) and len(value) > MAX_NAME_CHARS

    def bad(where: str, msg: str, rule: str = "format") -> None:
        problems.append(Problem(where, rule, msg))

    if not isinstance(data, Mapping):
        bad("genome", "expected a JSON object at the top level, got " + type(data).__name__)
        return None, problems, unreadable
    if data.get("format", FORMAT) != FORMAT:
        bad("format", f"expected {FORMAT!r}, got {data.get('format')!r}")
    version = data.get("version")
    if version is not None and (isinstance(version, bool) or version not in (1, 2)):
        bad("version", f"this lstm-search reads genome format versions 1 to {FORMAT_VERSION}, "
            f"the file has version {version!r}")
    known = {"format", "version", "name", "states", "nodes", "new_states", "output", "values"}
    for key in data:
        if key not in known:
            bad(str(key), f"unknown top-level key (known: {', '.join(sorted(known))})")
    states = data.get("states")
    if not isinstance(states, list) or not all(isinstance(s, str) for s in states):
        bad("states", "must be a list of state names (strings)")
        states = []
        unreadable.add("states")
    elif len(states) > MAX_FILE_NODES or any(too_long(s) for s in states):
        bad("states", f"at most {MAX_FILE_NODES:,} states of at most {MAX_NAME_CHARS} "
            "characters each", "budget")
        states = []
        unreadable.add("states")
    raw_nodes = data.get("nodes")
    nodes: list[Node] = []
    if not isinstance(raw_nodes, list):
        bad("nodes", "must be a list of node objects")
        raw_nodes = []
        unreadable.add("nodes")
    elif len(raw_nodes) > MAX_FILE_NODES:
        bad("nodes", f"{len(raw_nodes):,} nodes; a genome file may hold at most "
            f"{MAX_FILE_NODES:,}", "budget")
        raw_nodes = []
        unreadable.add("nodes")
    for i, rn in enumerate(raw_nodes):
        where = f"nodes[{i}]"
        if not isinstance(rn, Mapping):
            bad(where, "must be an object with name, op, inputs")
            unreadable.add("nodes")  # a node of unknown name: any reference may be to it
            continue
        name, op, inputs = rn.get("name"), rn.get("op"), rn.get("inputs", [])
        params = rn.get("params", {})
        where = f"node {_show(name)}" if isinstance(name, str) else where
        ok = True
        if too_long(name) or too_long(op):
            bad(where, f"a name or op of more than {MAX_NAME_CHARS} characters", "name")
            unreadable.add("nodes")  # its name is not kept: any reference may be to it
            continue
        if isinstance(inputs, list) and len(inputs) > MAX_INPUTS:
            bad(where, f"{len(inputs):,} inputs; a node may have at most {MAX_INPUTS} "
                "(ops take at most 8)", "arity")
            ok = False
            inputs = []  # not read further
        elif isinstance(inputs, list) and any(too_long(v) for v in inputs):
            bad(where, f"an input name of more than {MAX_NAME_CHARS} characters", "name")
            ok = False
        for key in rn:
            if key not in ("name", "op", "inputs", "params"):
                bad(where, f"unknown key {key!r} (known: name, op, inputs, params)")
        if not isinstance(name, str):
            bad(where, "missing or non-string 'name'")
            unreadable.add("nodes")
            ok = False
        if not isinstance(op, str):
            bad(where, "missing or non-string 'op'")
            ok = False
        if not isinstance(inputs, list) or not all(isinstance(s, str) for s in inputs):
            bad(where, "'inputs' must be a list of names")
            ok = False
        if not isinstance(params, Mapping):
            bad(where, "'params' must be an object")
            ok = False
        if ok:
            nodes.append(Node(name, op, tuple(inputs), dict(params)))
        elif isinstance(name, str):
            unreadable.add(name)
    new_states = data.get("new_states")
    if not isinstance(new_states, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in new_states.items()
    ):
        bad("new_states", "must be an object mapping each state to the node of its new value")
        new_states = {}
        unreadable.add("new_states")
    elif len(new_states) > MAX_FILE_NODES or any(too_long(k) or too_long(v)
                                                 for k, v in new_states.items()):
        bad("new_states", f"at most {MAX_FILE_NODES:,} entries, names of at most "
            f"{MAX_NAME_CHARS} characters", "budget")
        new_states = {}
        unreadable.add("new_states")
    output = data.get("output")
    if not isinstance(output, str):
        bad("output", "missing: name the node that is the cell's output", "output-missing")
        output = ""
        unreadable.add("output")
    elif too_long(output):
        bad("output", f"a name of more than {MAX_NAME_CHARS} characters", "name")
        output = ""
        unreadable.add("output")
    name = data.get("name", "")
    if not isinstance(name, str):
        bad("name", "must be a string")
        name = ""
    elif too_long(name):
        bad("name", f"at most {MAX_NAME_CHARS} characters, got {len(name):,}")
        name = ""
    values = data.get("values", {})
    if not isinstance(values, Mapping) or len(values) > 8 or not all(
            isinstance(k, str) and isinstance(v, str | int | float | bool)
            for k, v in values.items()):
        bad("values", "must be an object such as {\"kind\": \"spatial\", \"kernel\": 3}")
        values = {}
    if version == 1:  # a file that says 1 may not use what version 2 added
        for where, what in format_2_uses(nodes):
            bad(f"node {_show(where)}", f"{what} needs genome format version 2 (the file "
                "says version 1)")
        if values:
            bad("values", "a value shape needs genome format version 2 (the file says "
                "version 1)")
    genome = cls(tuple(states), tuple(nodes), dict(new_states), output, name, dict(values))
    return genome, problems, unreadable


class Builder:
    """Write a genome as code: each method adds a node and returns its name.

    >>> b = Builder(states=("h",))
    >>> z = b.sigmoid(b.add(b.linear("x"), b.linear("h")))
    >>> b.set_state("h", b.tanh(b.add(b.linear("x"), b.linear(b.mul(z, "h")))))
    >>> g = b.build(output_state="h", name="toy")
    """

    def __init__(self, states: Iterable[str]) -> None:
        self.states = tuple(states)
        self._nodes: list[Node] = []
        self._new_states: dict[str, str] = {}
        self._count: dict[str, int] = {}

    def node(self, op: str, *inputs: str, name: str | None = None, **params: Any) -> str:
        if name is None:
            k = self._count.get(op, 0)
            self._count[op] = k + 1
            name = f"{op}_{k}"
        self._nodes.append(Node(name, op, tuple(inputs), params))
        return name

    def linear(self, v: str, *, name: str | None = None, **params: Any) -> str:
        return self.node("linear", v, name=name, **params)

    def fit(self, v: str, *, name: str | None = None) -> str:
        return self.node("fit", v, name=name)

    def diag(self, v: str, *, name: str | None = None, weight: str | None = None) -> str:
        params = {} if weight is None else {"weight": weight}
        return self.node("diag", v, name=name, **params)

    def add(self, *vs: str, name: str | None = None) -> str:
        return self.node("add", *vs, name=name)

    def mul(self, *vs: str, name: str | None = None) -> str:
        return self.node("mul", *vs, name=name)

    def mean(self, *vs: str, name: str | None = None) -> str:
        return self.node("mean", *vs, name=name)

    def sub(self, a: str, b: str, *, name: str | None = None) -> str:
        return self.node("sub", a, b, name=name)

    def one_minus(self, v: str, *, name: str | None = None) -> str:
        return self.node("one_minus", v, name=name)

    def blend(self, z: str, a: str, b: str, *, name: str | None = None) -> str:
        return self.node("blend", z, a, b, name=name)

    def sigmoid(self, v: str, *, name: str | None = None) -> str:
        return self.node("sigmoid", v, name=name)

    def tanh(self, v: str, *, name: str | None = None) -> str:
        return self.node("tanh", v, name=name)

    def relu(self, v: str, *, name: str | None = None) -> str:
        return self.node("relu", v, name=name)

    def leaky_relu(self, v: str, *, name: str | None = None, slope: float = 0.01) -> str:
        return self.node("leaky_relu", v, name=name, slope=slope)

    def identity(self, v: str, *, name: str | None = None) -> str:
        return self.node("identity", v, name=name)

    def clock(self, cand: str, prev: str, *, modules: int, base: int = 2,
              name: str | None = None) -> str:
        """Format 2: per module, ``cand`` at its active steps, else ``prev`` (Clockwork)."""
        return self.node("clock", cand, prev, name=name, modules=modules, base=base)

    def attention(self, query: str, state: str, *, window: int | None = None,
                  name: str | None = None) -> str:
        """Format 2: additive attention of ``query`` over the earlier values of ``state``
        (the last ``window`` steps; None or 0: every earlier step). See
        :mod:`lstm_search.genome._ops`."""
        params = {} if not window else {"window": window}
        return self.node("attention", query, state, name=name, **params)

    @staticmethod
    def below(state: str) -> str:
        """Format 2: the reference to the layer below's new value of ``state``."""
        return BELOW + state

    # -- ops of the modern recurrences ---------------------------------------------------------

    def exp(self, v: str, *, name: str | None = None) -> str:
        return self.node("exp", v, name=name)

    def log(self, v: str, *, name: str | None = None) -> str:
        return self.node("log", v, name=name)

    def softplus(self, v: str, *, name: str | None = None) -> str:
        return self.node("softplus", v, name=name)

    def logsigmoid(self, v: str, *, name: str | None = None) -> str:
        return self.node("logsigmoid", v, name=name)

    def maximum(self, a: str, b: str, *, name: str | None = None) -> str:
        return self.node("max", a, b, name=name)

    def minimum(self, a: str, b: str, *, name: str | None = None) -> str:
        return self.node("min", a, b, name=name)

    def div(self, a: str, b: str, *, name: str | None = None, eps: float | None = None) -> str:
        params = {} if eps is None else {"eps": eps}
        return self.node("div", a, b, name=name, **params)

    def sqrt(self, v: str, *, name: str | None = None) -> str:
        return self.node("sqrt", v, name=name)

    def abs(self, v: str, *, name: str | None = None) -> str:
        return self.node("abs", v, name=name)

    def scale(self, v: str, by: float = 1.0, *, name: str | None = None,
              dim_power: float | None = None) -> str:
        """``by · v`` (format 2: times d^dim_power, d the units per head)."""
        params: dict[str, float] = {"by": by}
        if dim_power is not None:
            params["dim_power"] = dim_power
        return self.node("scale", v, name=name, **params)

    # -- head-wise values (format 2's "values": {"kind": "heads"}; xLSTM's mLSTM) ---------------

    def head_linear(self, v: str, *, name: str | None = None, **params: Any) -> str:
        """One learned scalar per head, ``w_hᵀ v + b_h`` (``bias``, ``bias_init``)."""
        return self.node("head_linear", v, name=name, **params)

    def outer(self, a: str, b: str, *, name: str | None = None) -> str:
        """``a bᵀ`` per head: a matrix of two vectors."""
        return self.node("outer", a, b, name=name)

    def matvec(self, c: str, q: str, *, name: str | None = None) -> str:
        """``C q`` per head: a vector of a matrix and a vector."""
        return self.node("matvec", c, q, name=name)

    def dot(self, a: str, b: str, *, name: str | None = None) -> str:
        """``aᵀ b`` per head: a scalar per head of two vectors."""
        return self.node("dot", a, b, name=name)

    def norm(self, v: str, *, name: str | None = None, kind: str | None = None,
             heads: int | None = None, eps: float | None = None) -> str:
        params = {k: p for k, p in (("kind", kind), ("heads", heads), ("eps", eps))
                  if p is not None}
        return self.node("norm", v, name=name, **params)

    # -- end of the modern recurrences' ops ----------------------------------------------------

    def set_state(self, state: str, node: str) -> None:
        self._new_states[state] = node

    def build(self, *, output: str | None = None, output_state: str | None = None,
              name: str = "", values: Mapping[str, Any] | None = None) -> Genome:
        """The genome; ``values`` its value shape (format 2, e.g. ``{"kind": "spatial",
        "kernel": 3}``; None: vectors)."""
        if output is None:
            output = self._new_states[output_state or self.states[0]]
        return Genome(self.states, tuple(self._nodes), dict(self._new_states), output, name,
                      dict(values or {}))
