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
param            an unknown parameter, or a value of the wrong type
undefined-input  an input that is neither ``x``, a state, nor a node (``reserved-input``:
                 ``below:c`` style references kept for a later version)
cycle            nodes that depend on themselves within one step
width            ``x`` (m wide) fed to an op that needs n-wide values
state-missing    a state without a new value, or a new value for an unknown state
output-missing   no output, or an output that is not a node
unused-state     a state whose previous value no node reads
dead-node        a node that reaches neither a new state nor the output
no-input-path    the output does not depend on ``x``
no-recurrence    the output does not depend on any previous state
budget           more nodes (or parameters, when sizes are given) than allowed
================ ==================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lstm_search.genome._genome import Genome
from lstm_search.genome._ops import (
    OPS,
    RESERVED_INPUT_PREFIXES,
    RESERVED_OPS,
    X,
    linear_param_count,
)

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
DEFAULT_MAX_NODES = 128


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
    return repr(name) if len(name) <= 40 else repr(name[:37] + "...")


def validate(
    genome: Genome,
    *,
    max_nodes: int = DEFAULT_MAX_NODES,
    input_size: int | None = None,
    hidden_size: int | None = None,
    max_params: int | None = None,
) -> list[Problem]:
    """Return every problem of ``genome`` (an empty list means it is valid)."""
    problems: list[Problem] = []

    def bad(where: str, rule: str, message: str) -> None:
        problems.append(Problem(where, rule, message))

    # -- names ------------------------------------------------------------------------------
    if not genome.states:
        bad("states", "state-missing", "a recurrent cell needs at least one state")
    seen: set[str] = set()
    for s in genome.states:
        if not NAME_RE.match(s):
            bad(f"state {_show(s)}", "name", "state names must be identifiers "
                "([A-Za-z_][A-Za-z0-9_]*, at most 64 characters)")
        if s == X:
            bad(f"state {_show(s)}", "name", "'x' is the cell input and cannot name a state")
        if s in seen:
            bad(f"state {_show(s)}", "name", "state declared twice")
        seen.add(s)
    node_names: set[str] = set()
    for n in genome.nodes:
        where = f"node {_show(n.name)}"
        if not NAME_RE.match(n.name):
            bad(where, "name", "node names must be identifiers "
                "([A-Za-z_][A-Za-z0-9_]*, at most 64 characters)")
        if n.name == X or n.name in seen:
            bad(where, "name", "a node cannot take the name of the input or of a state "
                "(inputs read a state's previous value by its name)")
        if n.name in node_names:
            bad(where, "name", "node name used twice")
        node_names.add(n.name)
    if len(genome.nodes) > max_nodes:
        bad("nodes", "budget", f"{len(genome.nodes)} nodes, over the budget of {max_nodes}")

    # -- ops, arity, params, inputs ----------------------------------------------------------
    sources = {X, *genome.states}
    for n in genome.nodes:
        where = f"node {_show(n.name)}"
        spec = OPS.get(n.op)
        if spec is None:
            if n.op in RESERVED_OPS:
                bad(where, "reserved-op", f"op {n.op!r} ({RESERVED_OPS[n.op]}) is reserved for "
                    "a later genome format version")
            else:
                bad(where, "unknown-op", f"unknown op {_show(n.op)} (known: "
                    f"{', '.join(sorted(OPS))})")
        else:
            k = len(n.inputs)
            if not spec.min_arity <= k <= spec.max_arity:
                want = (str(spec.min_arity) if spec.min_arity == spec.max_arity
                        else f"{spec.min_arity} to {spec.max_arity}")
                bad(where, "arity", f"op {n.op!r} takes {want} input(s), got {k}")
            for key, value in n.params.items():
                p = spec.params.get(key)
                if p is None:
                    allowed = ", ".join(spec.params) or "none"
                    bad(where, "param", f"op {n.op!r} has no parameter {_show(str(key))} "
                        f"(allowed: {allowed})")
                elif p.kind is float:
                    if isinstance(value, bool) or not isinstance(value, int | float) or (
                            value != value or abs(value) == float("inf")):
                        bad(where, "param", f"parameter {key!r} must be a finite number, "
                            f"got {value!r}")
                elif not isinstance(value, p.kind):
                    bad(where, "param", f"parameter {key!r} must be {p.kind.__name__}, "
                        f"got {value!r}")
            if spec.name == "linear" and X in n.inputs and n.param("diag") != 0:
                bad(where, "width", "'diag' adds a·I to W, which needs an n-wide input; "
                    "x is m-wide")
            if not spec.reads_x and X in n.inputs:
                bad(where, "width", f"op {n.op!r} needs n-wide inputs; x is m-wide: project it "
                    "first with 'linear' or 'fit'")
        for inp in n.inputs:
            if inp in sources or inp in node_names:
                continue
            prefix = inp.split(":", 1)[0] if ":" in inp else None
            if prefix in RESERVED_INPUT_PREFIXES:
                bad(where, "reserved-input", f"input {_show(inp)} refers to "
                    f"{RESERVED_INPUT_PREFIXES[prefix]}, reserved for a later format version")
            else:
                bad(where, "undefined-input", f"input {_show(inp)} is not x, a state or a node")

    # -- cycles (within one step) -------------------------------------------------------------
    nmap = {n.name: n for n in genome.nodes}
    state: dict[str, int] = {}  # 1 = visiting, 2 = done
    in_cycle: set[str] = set()
    for start in nmap:
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = []
        while stack:
            name, i = stack.pop()
            if i == 0:
                state[name] = 1
                path.append(name)
            deps = [d for d in nmap[name].inputs if d in nmap]
            if i < len(deps):
                stack.append((name, i + 1))
                d = deps[i]
                if state.get(d) == 1:
                    in_cycle.update(path[path.index(d):])
                elif not state.get(d):
                    stack.append((d, 0))
            else:
                state[name] = 2
                path.pop()
    for name in sorted(in_cycle):
        bad(f"node {_show(name)}", "cycle", "depends on itself within one step (use a state "
            "to carry a value to the next step)")

    # -- states and output --------------------------------------------------------------------
    for s in genome.states:
        target = genome.new_states.get(s)
        if target is None:
            bad(f"state {_show(s)}", "state-missing", "no node gives this state's new value "
                "(add it to new_states)")
        elif target not in nmap:
            bad(f"state {_show(s)}", "state-missing", f"its new value {_show(target)} is not a "
                "node")
    for s in genome.new_states:
        if s not in genome.states:
            bad(f"new_states {_show(s)}", "state-missing", "not a declared state")
    if not genome.output:
        bad("output", "output-missing", "the genome names no output node")
    elif genome.output not in nmap:
        bad("output", "output-missing", f"{_show(genome.output)} is not a node")

    # Graph-level rules only make sense on a well-formed graph (a node budget over is no reason
    # to stop: the parameter budget and the graph rules are still reported with it).
    if any(p.rule != "budget" for p in problems):
        return problems

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

    sinks = [genome.output, *genome.new_states.values()]
    live = ancestors(sinks)
    for n in genome.nodes:
        if n.name not in live:
            bad(f"node {_show(n.name)}", "dead-node", "reaches neither a new state nor the "
                "output (remove it)")
    for s in genome.states:
        if s not in live:
            bad(f"state {_show(s)}", "unused-state", "no node reads this state's previous "
                "value, so it carries nothing across steps")
    out_deps = ancestors([genome.output])
    # A state reaches the output if it is read directly, or through another state's chain.
    reach = {s for s in genome.states if s in out_deps}
    if X not in out_deps:
        bad("output", "no-input-path", "the output does not depend on x")
    if not reach:
        bad("output", "no-recurrence", "the output does not depend on any previous state; "
            "this is a feed-forward layer, not a recurrent cell")

    if input_size is not None and hidden_size is not None:
        count = n_params(genome, input_size, hidden_size)
        if max_params is not None and count > max_params:
            bad("genome", "budget", f"{count:,} parameters at input {input_size}, hidden "
                f"{hidden_size}: over the budget of {max_params:,}")
    return problems


def n_params(genome: Genome, input_size: int, hidden_size: int) -> int:
    """Learned parameters of one layer of the cell (``input_size`` = m, ``hidden_size`` = n)."""
    total = 0
    for n in genome.nodes:
        width = input_size if n.inputs and n.inputs[0] == X else hidden_size
        if n.op == "linear":
            total += linear_param_count(width, hidden_size, bool(n.param("bias")))
        elif n.op == "fit":
            total += 0 if width == hidden_size else hidden_size * width
        elif n.op == "diag":
            total += hidden_size
    return total
