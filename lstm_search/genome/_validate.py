"""Validation: every problem of a genome at once, each naming where it is and the rule broken.

Nothing from a genome is executed or turned into code here; names are only compared as strings.
Node and state names must be identifiers (``[A-Za-z_][A-Za-z0-9_]*``, at most 64 characters),
which keeps error messages, diagrams and file names readable; the compiler never uses them in
generated source anyway.

Rules (the ``rule`` field of :class:`Problem`):

================ ==================================================================
json, format     malformed JSON or structure, wrong format name or version
name             a name that is not an identifier, reserved (``x``), or used twice
unknown-op       an op outside the vocabulary (``reserved-op``: kept for a later version)
arity            wrong number of inputs for the op
param            an unknown parameter, or a value of the wrong type or range (format 2's
                 dropout: p outside [0, 1), a mask that is not x or a state, two p for
                 one mask)
undefined-input  an input that is neither ``x``, a state, ``below:<state>`` nor a node
                 (``reserved-input``: ``above:c`` style references kept for a later version)
cycle            nodes that depend on themselves within one step
width            ``x`` (m wide) fed to an op that needs n-wide values (or a dropout mask
                 of the other width)
state-missing    a state without a new value, or a new value for an unknown state
output-missing   no output, or an output that is not a node
unused-state     a state whose previous value no node reads (format 2: nor the layer
                 above, as ``below:<state>``)
dead-node        a node that reaches neither a new state nor the output
no-input-path    the output does not depend on ``x``, at the same step or a later one (x may
                 reach the output one step later through a state's new value, as in
                 NAS-Bench-NLP cells whose output reads only a state that reads x)
no-recurrence    the output does not depend on any previous state
memory           ``attention``'s second input is not a state of the cell (its memory is
                 a state's earlier values)
values           format 2's value shape: an unknown kind, a kernel that is not an odd int
                 in 1..15, or a construct a spatial cell does not support (``clock``,
                 ``attention``, ``below:``, ``linear``'s ``blocks``, ``heads``, ``diag``,
                 ``dropout``);
                 in a head-wise cell (``"kind": "heads"``) a head count that is not an int
                 in 1..1024, ``clock``, ``attention``, ``below:``, ``blocks``, ``dropout``,
                 or values whose shapes do not fit their ops (vector, per-head scalar,
                 matrix); the head-wise ops outside a head-wise cell
budget           more nodes (or parameters, when sizes are given) than allowed
domain           ``log`` of a value that may be ≤ 0, ``sqrt`` of one that may be < 0,
                 ``div`` by one that may be 0 (:mod:`lstm_search.genome._domain`);
                 checked once the genome has no structural problem
================ ==================================================================

The graph-level rules (dead-node, unused-state, no-input-path, no-recurrence) are checked
together with the local ones whenever their verdict does not hang on something unknown: they
are left out when names are ambiguous (a name used twice, a node named like a state or ``x``) or
when an input refers to nothing known or an op has too few inputs (the missing value might be
what makes a node live);
dead-node is also left out when the output or a state's new value is missing; the output rules
when the output is. :func:`validate_json` reads a file's text and lists its structural problems
and the genome's together.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from lstm_search.genome._genome import Genome, Node
from lstm_search.genome._ops import (
    BELOW,
    HEAD_OPS,
    MAX_BASE,
    MAX_KERNEL,
    MAX_MODULES,
    OPS,
    RESERVED_INPUT_PREFIXES,
    RESERVED_OPS,
    X,
    attention_param_count,
    below_state,
    conv_param_count,
    linear_param_count,
    value_heads,
)

NAME_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]{0,63}\Z")  # \Z: "h\n" does not match
DEFAULT_MAX_NODES = 128
# Caps on what a genome file may hold, checked while it is read so that reading and validation
# stay linear in the file's size: far above any cell (ops take at most 8 inputs, a budget of
# 128 nodes is the default) and far below what makes a file expensive.
MAX_FILE_NODES = 10_000
MAX_INPUTS = 64
MAX_NAME_CHARS = 256
MAX_INT = 2**63
MAX_JSON_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a genome: where (a node, state or field), the rule, and a message."""

    where: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message} [{self.rule}]"


class GenomeError(ValueError):
    """A genome that cannot be used; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem], source: str = "genome") -> None:
        self.problems = list(problems)
        self.source = source
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s):\n{lines}")


def _show(name: str) -> str:
    """``name`` for a message: quoted with :func:`repr` (so a newline or an ANSI escape is
    shown as ``\\n``, ``\\x1b``, never sent raw to a terminal), cut at 40 characters."""
    return repr(name) if len(name) <= 40 else repr(name[:37] + "...")


def _finite(value: Any) -> bool:
    """A number a float can hold: not NaN, not infinite, not an integer past float's range."""
    if not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer of hundreds of digits
        return False


def validate(
    genome: Genome,
    *,
    max_nodes: int = DEFAULT_MAX_NODES,
    input_size: int | None = None,
    hidden_size: int | None = None,
    max_params: int | None = None,
    unreadable: Collection[str] = (),
) -> list[Problem]:
    """Return every problem of ``genome`` (an empty list means it is valid).

    ``unreadable`` names what the genome's file had but its parser could not read and has
    reported already (see :func:`validate_json`): node names, and the fields ``"states"``,
    ``"nodes"`` (a node entry without a readable name), ``"new_states"``, ``"output"``. They
    are not reported again as missing, and the rules whose verdict would hang on them are
    left out.
    """
    check = _Checker(genome, set(unreadable))
    check.names(max_nodes)
    check.nodes()
    check.values()
    check.cycles()
    output_ok, states_complete = check.states_and_output()
    # Graph-level rules: whenever their verdict does not hang on something unknown (see the
    # module docstring); a budget or a local fault of a node is no reason to leave them out.
    if not check.ambiguous and not check.unknown_ref:
        _graph_rules(genome, check.nmap, check.bad, output_ok=output_ok,
                     states_complete=states_complete, states_known="states" not in check.unread)
    # -- domains of the modern recurrences' ops (log, sqrt, div) --------------------------------
    if not any(p.rule in _STRUCTURAL for p in check.problems):
        from lstm_search.genome._canonical import topo_order
        from lstm_search.genome._domain import domain_problems

        for name, message in domain_problems(genome, topo_order(genome)):
            check.bad(f"node {_show(name)}", "domain", message)
    # -- end of domains ---------------------------------------------------------------------------
    if input_size is not None and hidden_size is not None:
        cell_heads = value_heads(genome.values)
        if cell_heads > 1 and hidden_size % cell_heads:
            check.bad("values", "width", f"{cell_heads} heads do not divide the hidden size "
                      f"{hidden_size}")
        for n in genome.nodes:  # head-wise projections split n into equal heads
            heads = n.params.get("heads", 1) if n.op in ("linear", "norm") else 1
            if isinstance(heads, int) and heads > 1 and hidden_size % heads:
                check.bad(f"node {_show(n.name)}", "width", f"{heads} heads do not divide the "
                          f"hidden size {hidden_size}")
        if genome.kernel and any(n.op == "diag" for n in genome.nodes):
            if max_params is not None:  # a spatial peephole's count needs the map size
                check.bad("genome", "budget", "a spatial cell's peepholes ('diag') have a "
                          "weight per position: its parameter count needs the map size "
                          "(n_params(..., spatial=(H, W))), which validate does not take")
            return check.problems
        count = n_params(genome, input_size, hidden_size)
        if max_params is not None and count > max_params:
            check.bad("genome", "budget", f"{count:,} parameters at input {input_size}, hidden "
                      f"{hidden_size}: over the budget of {max_params:,}")
    return check.problems


# rules after which a genome's graph is not known well enough to derive the ranges of its values
_STRUCTURAL = frozenset({"json", "format", "name", "unknown-op", "reserved-op", "arity", "param",
                         "undefined-input", "reserved-input", "cycle", "width", "state-missing",
                         "output-missing", "memory", "values"})


class _Checker:
    """The local rules of :func:`validate`, section by section, collecting problems."""

    def __init__(self, genome: Genome, unread: set[str]) -> None:
        self.genome, self.unread = genome, unread
        self.problems: list[Problem] = []
        self.ambiguous = False  # a name that means two things: no graph verdict is reliable
        self.unknown_ref = bool(unread)  # something a reference may point at is unknown
        self.nmap = {n.name: n for n in genome.nodes}
        self.known_names: set[str] = set()
        self.any_name_ok = "nodes" in unread  # a node of unknown name: any reference may be it

    def bad(self, where: str, rule: str, message: str) -> None:
        self.problems.append(Problem(where, rule, message))

    def names(self, max_nodes: int) -> None:
        """The genome's, the states' and the nodes' names; the node budget."""
        genome, bad, unread = self.genome, self.bad, self.unread
        if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in genome.name):
            bad("name", "name", f"the genome's name {_show(genome.name)} contains control "
                "characters (a line break, an escape sequence ...)")
        if not genome.states and "states" not in unread:
            bad("states", "state-missing", "a recurrent cell needs at least one state")
        seen: set[str] = set()
        for s in genome.states:
            if not NAME_RE.fullmatch(s):
                bad(f"state {_show(s)}", "name", "state names must be identifiers "
                    "([A-Za-z_][A-Za-z0-9_]*, at most 64 characters)")
            if s == X:
                bad(f"state {_show(s)}", "name", "'x' is the cell input and cannot name a state")
                self.ambiguous = True
            if s in seen:
                bad(f"state {_show(s)}", "name", "state declared twice")
                self.ambiguous = True
            seen.add(s)
        node_names: set[str] = set()
        for n in genome.nodes:
            where = f"node {_show(n.name)}"
            if not NAME_RE.fullmatch(n.name):
                bad(where, "name", "node names must be identifiers "
                    "([A-Za-z_][A-Za-z0-9_]*, at most 64 characters)")
            if n.name == X or n.name in seen:
                bad(where, "name", "a node cannot take the name of the input or of a state "
                    "(inputs read a state's previous value by its name)")
                self.ambiguous = True
            if n.name in node_names or n.name in unread:
                bad(where, "name", "node name used twice")
                self.ambiguous = True
            node_names.add(n.name)
        self.known_names = node_names | (unread - {"states", "nodes", "new_states", "output"})
        if len(genome.nodes) > max_nodes:
            bad("nodes", "budget", f"{len(genome.nodes)} nodes, over the budget of {max_nodes}")

    def nodes(self) -> None:
        """Each node's op, arity, parameters and inputs."""
        sources = {X, *self.genome.states}
        sources |= {f"below:{s}" for s in self.genome.states}  # format 2 (module docstring)
        for n in self.genome.nodes:
            where = f"node {_show(n.name)}"
            spec = OPS.get(n.op)
            if spec is None:
                if n.op in RESERVED_OPS:
                    self.bad(where, "reserved-op", f"op {n.op!r} ({RESERVED_OPS[n.op]}) is "
                             "reserved for a later genome format version")
                else:
                    self.bad(where, "unknown-op", f"unknown op {_show(n.op)} (known: "
                             f"{', '.join(sorted(OPS))})")
            else:
                self._op(n, spec, where)
            for inp in n.inputs:
                if inp not in sources and inp not in self.known_names:
                    self._unknown_input(inp, where)
        self._masks()

    def _masks(self) -> None:
        """Format 2's variational dropout on ``linear`` (:mod:`lstm_search.genome._ops`): p in
        [0, 1), a mask owned by x or a state, of the masked value's width, one p per mask."""
        states = set(self.genome.states)
        first: dict[str, tuple[str, float]] = {}  # mask owner -> (node, p) of its first use
        for n in self.genome.nodes:
            if n.op != "linear" or not ("dropout" in n.params or "mask" in n.params):
                continue
            where = f"node {_show(n.name)}"
            p, mask = n.params.get("dropout", 0.0), n.params.get("mask")
            if isinstance(p, bool) or not _finite(p) or (mask is not None
                                                         and not isinstance(mask, str)):
                continue  # the type is reported as a 'param' problem already
            if not 0.0 <= float(p) < 1.0:
                self.bad(where, "param", f"parameter 'dropout' is the probability of dropping "
                         f"a unit and must be in [0, 1), got {p!r}")
                continue
            if not p:
                if mask is not None:
                    self.bad(where, "param", f"parameter 'mask' ({_show(mask)}) names a "
                             "dropout mask, but 'dropout' is 0: set 'dropout' > 0 or drop "
                             "'mask'")
                continue
            owner = mask if mask is not None else (n.inputs[0] if n.inputs else None)
            if owner is None:
                continue  # an arity problem, reported already
            if owner != X and owner not in states:
                if mask is None:
                    self.bad(where, "param", f"dropout of {_show(owner)}, which is neither x "
                             "nor a state: give 'mask', naming x or the state whose dropout "
                             "mask it shares (a mask belongs to x or to a state)")
                else:
                    self.bad(where, "param", f"parameter 'mask' must name x or a state of the "
                             f"cell (whose dropout mask it is), got {_show(mask)} (states: "
                             f"{', '.join(self.genome.states) or 'none'})")
                continue
            inp = n.inputs[0] if n.inputs else None
            if owner == X and inp is not None and inp != X:
                self.bad(where, "width", f"x's dropout mask is m wide and multiplies x only; "
                         f"{_show(inp)} is n wide: use a state's mask")
                continue
            if owner != X and inp == X:
                self.bad(where, "width", f"state {_show(owner)}'s dropout mask is n wide; x is "
                         "m wide: use mask 'x'")
                continue
            if owner in first and first[owner][1] != float(p):
                self.bad(where, "param", f"the dropout mask of {_show(owner)} has p = "
                         f"{first[owner][1]:g} at node {_show(first[owner][0])} and "
                         f"{float(p):g} here: projections sharing a mask give the same p")
                continue
            first.setdefault(owner, (n.name, float(p)))

    def values(self) -> None:
        """Format 2's value shape (:mod:`lstm_search.genome._ops`): its kind and kernel (or
        heads), and the constructs a spatial or head-wise cell does not support."""
        v = self.genome.values
        kind = v.get("kind") if v else None
        if kind != "heads":
            for n in self.genome.nodes:
                if n.op in HEAD_OPS:
                    self.bad(f"node {_show(n.name)}", "values", f"op {n.op!r} needs head-wise "
                             "values (\"values\": {\"kind\": \"heads\", \"heads\": h})")
        if not v:
            return
        known = ("kind", "heads") if kind == "heads" else ("kind", "kernel")
        for key in v:
            if key not in known:
                self.bad("values", "values", f"unknown key {_show(str(key))} (known: "
                         f"{', '.join(known)})")
        if kind == "heads":
            self._heads()
            return
        if kind != "spatial":
            self.bad("values", "values", f"kind {_show(repr(kind))} is not read by this "
                     "version (known: spatial, heads)")
            return
        k = v.get("kernel")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_KERNEL \
                or k % 2 == 0:
            self.bad("values", "values", f"'kernel' must be an odd int in 1..{MAX_KERNEL} "
                     f"(a 'same'-padded K×K convolution), got {_show(repr(k))}")
        for n in self.genome.nodes:
            where = f"node {_show(n.name)}"
            if n.op in ("clock", "attention"):
                self.bad(where, "values", f"op {n.op!r} is not supported in a spatial cell")
            if n.op == "linear":
                for key in ("blocks", "heads", "diag", "dropout"):
                    if key in n.params and n.params[key] != OPS["linear"].params[key].default:
                        self.bad(where, "values", f"parameter {key!r} of 'linear' is not "
                                 "supported in a spatial cell (a convolution)")
            for inp in n.inputs:
                if isinstance(inp, str) and inp.startswith(BELOW):
                    self.bad(where, "values", f"input {_show(inp)} is not supported in a "
                             "spatial cell")

    def _heads(self) -> None:
        """A head-wise cell (xLSTM's mLSTM): its head count, the constructs it does not
        support, and the shapes of its values (:mod:`lstm_search.genome._shapes`)."""
        h = self.genome.values.get("heads")
        if isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= MAX_MODULES:
            self.bad("values", "values", f"'heads' must be an int in 1..{MAX_MODULES}, got "
                     f"{_show(repr(h))}")
        for n in self.genome.nodes:
            where = f"node {_show(n.name)}"
            if n.op in ("clock", "attention"):
                self.bad(where, "values", f"op {n.op!r} is not supported in a head-wise cell")
            if n.op == "linear":
                for key in ("blocks", "dropout"):
                    if n.params.get(key, 0):
                        self.bad(where, "values", f"parameter {key!r} of 'linear' is not "
                                 "supported in a head-wise cell")
            for inp in n.inputs:
                if isinstance(inp, str) and inp.startswith(BELOW):
                    self.bad(where, "values", f"input {_show(inp)} is not supported in a "
                             "head-wise cell")
        if self.problems or self.ambiguous or self.unknown_ref:
            return  # shapes need a well-formed graph
        from lstm_search.genome._canonical import topo_order
        from lstm_search.genome._shapes import value_shapes

        for where, message in value_shapes(self.genome, topo_order(self.genome))[1]:
            self.bad(where, "values", message)

    def _op(self, n: Node, spec: Any, where: str) -> None:
        bad = self.bad
        k = len(n.inputs)
        if not spec.min_arity <= k <= spec.max_arity:
            want = (str(spec.min_arity) if spec.min_arity == spec.max_arity
                    else f"{spec.min_arity} to {spec.max_arity}")
            bad(where, "arity", f"op {n.op!r} takes {want} input(s), got {k}")
            self.unknown_ref = self.unknown_ref or k < spec.min_arity  # an input is missing
        for key, value in n.params.items():
            p = spec.params.get(key)
            if p is None:
                allowed = ", ".join(spec.params) or "none"
                bad(where, "param", f"op {n.op!r} has no parameter {_show(str(key))} "
                    f"(allowed: {allowed})")
            elif p.kind is float:
                if isinstance(value, bool) or not _finite(value):
                    bad(where, "param", f"parameter {key!r} must be a finite number, "
                        f"got {_show(repr(value))}")
            elif not isinstance(value, p.kind) or (p.kind is int and isinstance(value, bool)) \
                    or (isinstance(value, int) and abs(value) > MAX_INT):
                bad(where, "param", f"parameter {key!r} must be {p.kind.__name__}"
                    f"{' (at most 2**63)' if isinstance(value, int) else ''}, "
                    f"got {_show(repr(value))}")
            elif p.choices and value not in p.choices:
                bad(where, "param", f"parameter {key!r} must be one of "
                    f"{', '.join(map(str, p.choices))}, got {_show(repr(value))}")
        if spec.name == "div" and _finite(n.params.get("eps", 0.0)) \
                and not isinstance(n.params.get("eps", 0.0), bool) \
                and float(n.params.get("eps", 0.0)) < 0:
            bad(where, "param", "div's 'eps' is added to the denominator and must be ≥ 0")
        if spec.name == "norm" and _finite(n.params.get("eps", 1.0)) \
                and not isinstance(n.params.get("eps", 1.0), bool) \
                and float(n.params.get("eps", 1.0)) <= 0:
            bad(where, "param", "norm's 'eps' keeps the denominator away from 0 and must be > 0")
        heads = n.params.get("heads", 1)
        if spec.name in ("linear", "norm") and isinstance(heads, int) \
                and not isinstance(heads, bool):
            if heads < 1:
                bad(where, "param", f"'heads' must be ≥ 1, got {heads}")
            elif heads > 1 and X in n.inputs:
                bad(where, "width", "a head-wise ('heads' > 1) projection needs an n-wide "
                    "input; x is m-wide")
        if spec.name == "linear" and X in n.inputs and n.param("diag") != 0:
            bad(where, "width", "'diag' adds a·I to W, which needs an n-wide input; "
                "x is m-wide")
        self._counts(n, spec, where)
        if not spec.reads_x and X in n.inputs:
            bad(where, "width", f"op {n.op!r} needs n-wide inputs; x is m-wide: project it "
                "first with 'linear' or 'fit'")

    def _counts(self, n: Node, spec: Any, where: str) -> None:
        """Format 2's integer parameters: clock's modules (required) and base, linear's
        blocks; only values of the right type are checked here (wrong types: ``param``)."""
        def number(key: str) -> int | None:
            v = n.params.get(key)
            return v if isinstance(v, int) and not isinstance(v, bool) else None

        if spec.name == "clock":
            g, base = number("modules"), number("base")
            if "modules" not in n.params:
                self.bad(where, "param", "op 'clock' needs parameter 'modules' (the number "
                         "of modules g)")
            elif g is not None and not 1 <= g <= MAX_MODULES:
                self.bad(where, "param", f"parameter 'modules' must be 1 to {MAX_MODULES}, "
                         f"got {g}")
            if base is not None and not 2 <= base <= MAX_BASE:
                self.bad(where, "param", f"parameter 'base' must be 2 to {MAX_BASE}, "
                         f"got {base}")
        if spec.name == "attention":
            window = number("window")
            if window is not None and window < 0:
                self.bad(where, "param", f"parameter 'window' must be ≥ 1 (the last K steps) "
                         f"or 0 (every earlier step), got {window}")
            memory = n.inputs[1] if len(n.inputs) == 2 else None
            known = {X, *self.known_names, *(f"below:{s}" for s in self.genome.states)}
            if memory is not None and memory not in self.genome.states and memory in known:
                self.bad(where, "memory", f"attention's second input {_show(n.inputs[1])} must "
                         "name a state of the cell: the memory holds that state's values at "
                         f"earlier steps (states: {', '.join(self.genome.states) or 'none'})")
        if spec.name == "linear":
            blocks = number("blocks")
            if blocks is not None and not 0 <= blocks <= MAX_MODULES:
                self.bad(where, "param", f"parameter 'blocks' must be 0 (a full matrix) to "
                         f"{MAX_MODULES}, got {blocks}")
            elif blocks and X in n.inputs:
                self.bad(where, "width", "'blocks' makes W block triangular, which needs an "
                         "n-wide input; x is m-wide")
            heads = number("heads")
            if blocks and heads is not None and heads > 1:
                self.bad(where, "param", "'blocks' (block upper triangular W) and 'heads' "
                         "(block diagonal W) are two structures of W: set one of them")

    def _unknown_input(self, inp: str, where: str) -> None:
        self.unknown_ref = True
        if self.any_name_ok and ":" not in inp:
            return
        prefix = inp.split(":", 1)[0] if ":" in inp else None
        if below_state(inp) is not None:
            self.bad(where, "undefined-input", f"input {_show(inp)}: "
                     f"{_show(below_state(inp) or '')} is not a state of this cell "
                     "(below:<state> reads the layer below's new value of one of its states)")
        elif prefix in RESERVED_INPUT_PREFIXES:
            self.bad(where, "reserved-input", f"input {_show(inp)} refers to "
                     f"{RESERVED_INPUT_PREFIXES[prefix]}, reserved for a later format version")
        else:
            self.bad(where, "undefined-input", f"input {_show(inp)} is not x, a state or a node")

    def cycles(self) -> None:
        """Nodes that depend on themselves within one step. Linear in nodes + inputs: each
        node's distinct node inputs are listed once, and a node's place on the current path
        is looked up, not searched for."""
        nmap = self.nmap
        deps_of = {name: [d for d in dict.fromkeys(n.inputs) if d in nmap]
                   for name, n in nmap.items()}
        state: dict[str, int] = {}  # 1 = visiting, 2 = done
        in_cycle: set[str] = set()
        for start in nmap:
            if state.get(start):
                continue
            stack: list[tuple[str, int]] = [(start, 0)]
            path: list[str] = []
            at: dict[str, int] = {}  # node -> its index in path
            while stack:
                name, i = stack.pop()
                if i == 0:
                    state[name] = 1
                    at[name] = len(path)
                    path.append(name)
                deps = deps_of[name]
                if i < len(deps):
                    stack.append((name, i + 1))
                    d = deps[i]
                    if state.get(d) == 1:
                        in_cycle.update(path[at[d]:])
                    elif not state.get(d):
                        stack.append((d, 0))
                else:
                    state[name] = 2
                    path.pop()
                    del at[name]
        for name in sorted(in_cycle):
            self.bad(f"node {_show(name)}", "cycle", "depends on itself within one step (use a "
                     "state to carry a value to the next step)")

    def states_and_output(self) -> tuple[bool, bool]:
        """Every state's new value and the output; returns (output is a node, every state
        has a node as its new value)."""
        genome, nmap, unread, bad = self.genome, self.nmap, self.unread, self.bad
        states_complete = "new_states" not in unread
        for s in genome.states:
            target = genome.new_states.get(s)
            if target is None:
                states_complete = False
                if "new_states" not in unread:
                    bad(f"state {_show(s)}", "state-missing", "no node gives this state's new "
                        "value (add it to new_states)")
            elif target not in nmap:
                states_complete = False
                if target not in self.known_names and not self.any_name_ok:
                    bad(f"state {_show(s)}", "state-missing", f"its new value {_show(target)} "
                        "is not a node")
        if "states" not in unread:
            for s in genome.new_states:
                if s not in genome.states:
                    bad(f"new_states {_show(s)}", "state-missing", "not a declared state")
        if "output" in unread:
            pass  # reported by the parser
        elif not genome.output:
            bad("output", "output-missing", "the genome names no output node")
        elif genome.output not in nmap and genome.output not in self.known_names \
                and not self.any_name_ok:
            bad("output", "output-missing", f"{_show(genome.output)} is not a node")
        return genome.output in nmap, states_complete


def _graph_rules(genome: Genome, nmap: dict[str, Node], bad: Any, *, output_ok: bool,
                 states_complete: bool, states_known: bool) -> None:
    """dead-node, unused-state, no-input-path, no-recurrence (see :func:`validate`)."""

    def ancestors(roots: list[str]) -> set[str]:
        seen_: set[str] = set()
        todo = list(roots)
        while todo:
            v = todo.pop()
            if v in seen_:
                continue
            seen_.add(v)
            if v in nmap:
                todo.extend(nmap[v].inputs)
        return seen_

    def across_steps(deps: set[str]) -> set[str]:
        """``deps`` (what the output reads within one step) closed over the steps before: a
        state read means everything its new value reads one step earlier, and so on."""
        deps = set(deps)
        done: set[str] = set()
        while True:
            todo = [s for s in genome.states if s in deps and s not in done
                    and genome.new_states.get(s) is not None]
            if not todo:
                return deps
            for s in todo:
                done.add(s)
                deps |= ancestors([genome.new_states[s]])

    sinks = [genome.output, *genome.new_states.values()]
    live = ancestors(sinks)
    if output_ok and states_complete:
        for n in genome.nodes:
            if n.name not in live:
                bad(f"node {_show(n.name)}", "dead-node", "reaches neither a new state nor the "
                    "output (remove it)")
    if states_known:
        for s in genome.states:
            # format 2: a state read only as below:<state> carries its new value up to the
            # layer above (the Grid LSTM's depth memory), not across steps
            if s not in live and BELOW + s not in live:
                bad(f"state {_show(s)}", "unused-state", "no node reads this state's previous "
                    "value, so it carries nothing across steps")
    if not output_ok:
        return
    out_deps = ancestors([genome.output])
    # A state reaches the output if it is read directly, or through another state's chain.
    reach = {s for s in genome.states if s in out_deps}
    if X not in across_steps(out_deps):
        bad("output", "no-input-path", "the output does not depend on x, at this step or any "
            "later one (through the states)")
    if states_known and genome.states and not reach:
        bad("output", "no-recurrence", "the output does not depend on any previous state; "
            "this is a feed-forward layer, not a recurrent cell")


def validate_json(text: str, **budget: Any) -> tuple[Genome | None, list[Problem]]:
    """Read a genome file's text and list every problem at once: malformed JSON (alone, since
    nothing else can be read), then the structural problems of the JSON object (unknown keys,
    fields of the wrong type) together with every problem :func:`validate` finds in what could
    be read. ``budget`` takes :func:`validate`'s keywords (``max_nodes``, sizes,
    ``max_params``). Returns the genome (None when the text is not a JSON object) and the
    problems; an empty list means the genome is valid."""
    from lstm_search.genome._genome import _parse

    data, problems = read_json(text)
    if problems:
        return None, problems
    genome, problems, unreadable = _parse(Genome, data)
    if genome is None:
        return None, problems
    return genome, problems + validate(genome, unreadable=unreadable, **budget)


def read_json(text: str) -> tuple[Any, list[Problem]]:
    """``text`` parsed as JSON, or a ``json`` problem: malformed JSON, a file over
    :data:`MAX_JSON_BYTES`, nesting too deep for the parser, or an integer literal too long
    for Python (``ValueError: Exceeds the limit ... for integer string conversion``)."""
    if len(text) > MAX_JSON_BYTES:
        return None, [Problem("file", "json", f"{len(text):,} characters; a genome file may "
                              f"have at most {MAX_JSON_BYTES:,}")]
    try:
        return json.loads(text), []
    except json.JSONDecodeError as e:
        return None, [Problem(f"line {e.lineno} column {e.colno}", "json",
                              f"malformed JSON: {e.msg}")]
    except RecursionError:
        return None, [Problem("file", "json", "JSON nested too deeply to read")]
    except ValueError as e:  # an integer literal past Python's int-string limit
        text = str(e) if len(str(e)) <= 120 else str(e)[:117] + "..."
        return None, [Problem("file", "json", f"unreadable JSON value ({text})")]


def n_params(genome: Genome, input_size: int, hidden_size: int,
             spatial: tuple[int, int] | None = None) -> int:
    """Learned parameters of one layer of the cell (``input_size`` = m, ``hidden_size`` = n).

    A spatial cell (format 2's ``values``, kernel K) counts m, n as channels: each ``linear``
    ``n·width·K² [+ n]``, each ``diag`` ``n·H·W`` for ``spatial = (H, W)`` (needed then:
    ValueError without it)."""
    k = genome.kernel
    total = 0
    for n in genome.nodes:
        width = input_size if n.inputs and n.inputs[0] == X else hidden_size
        if k and n.op == "linear":
            total += conv_param_count(width, hidden_size, k, bool(n.param("bias")))
        elif k and n.op == "fit":
            total += 0 if width == hidden_size else hidden_size * width * k * k
        elif k and n.op == "diag":
            if spatial is None:
                raise ValueError("a spatial cell's peephole ('diag') has a weight per "
                                 "position: give its parameter count the map size, "
                                 "spatial=(H, W)")
            total += hidden_size * spatial[0] * spatial[1]
        elif n.op == "linear":
            total += linear_param_count(width, hidden_size, bool(n.param("bias")),
                                        int(n.param("blocks")), int(n.param("heads")))
        elif n.op == "fit":
            total += 0 if width == hidden_size else hidden_size * width
        elif n.op == "diag":
            total += hidden_size
        elif n.op == "attention":
            total += attention_param_count(hidden_size)
        elif n.op == "head_linear":  # one weight row (and bias) per head
            h = value_heads(genome.values)
            total += h * width + (h if n.param("bias") else 0)
    return total
