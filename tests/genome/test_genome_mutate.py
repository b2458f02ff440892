"""Mutation: each of Jozefowicz et al. 2015's six operators, and mutate() as a whole."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from lstm_search import zoo
from lstm_search.genome import (
    JOZEFOWICZ_OPERATORS,
    OPERATORS,
    Genome,
    Node,
    genome_id,
    mutate,
    random_genome,
    validate,
)
from lstm_search.genome._mutate import (
    ACTIVATION_CHOICES,
    _ancestors,
    insert_activation,
    remove_node,
    replace_by_ancestor,
    replace_by_combination,
    swap_activation,
    swap_elementwise,
)


def small() -> Genome:
    """h' = tanh(W x + U h) ⊙ σ(V h)."""
    return Genome(
        ("h",),
        (Node("xh", "linear", ("x",)), Node("hh", "linear", ("h",)),
         Node("s", "add", ("xh", "hh")), Node("a", "tanh", ("s",)),
         Node("gh", "linear", ("h",)), Node("g", "sigmoid", ("gh",)),
         Node("h_new", "mul", ("a", "g"))),
        {"h": "h_new"}, "h_new",
    )


def changed(before: Genome, after: Genome) -> tuple[dict[str, Node], dict[str, Node]]:
    """Nodes only in ``before`` and only in ``after`` (by value)."""
    b, a = set(before.nodes), set(after.nodes)
    return {n.name: n for n in b - a}, {n.name: n for n in a - b}


def readers(g: Genome, name: str) -> set[str]:
    return {n.name for n in g.nodes if name in n.inputs}


def act_of(n: Node) -> tuple[str, dict]:
    return n.op, {k: float(v) for k, v in n.params.items() if k == "diag" and v}


def test_swap_activation() -> None:
    seen = set()
    for seed in range(60):
        g, desc = swap_activation(small(), random.Random(seed))
        old, new = changed(small(), g)
        assert len(old) == len(new) == 1 and old.keys() == new.keys()
        (name,) = new
        assert name in {"a", "g", "hh", "gh"}  # activations, and Linear(a,·) of n-wide values
        assert new[name].inputs == old[name].inputs
        assert act_of(new[name]) in ACTIVATION_CHOICES
        assert act_of(new[name]) != act_of(old[name])
        assert desc.startswith(f"swap_activation: {name!r}")
        seen.add((new[name].op, new[name].params.get("diag", 0.0)))
    assert seen == {(op, p.get("diag", 0.0)) for op, p in ACTIVATION_CHOICES}


def test_swap_elementwise() -> None:
    ops = set()
    for seed in range(30):
        g, _ = swap_elementwise(small(), random.Random(seed))
        old, new = changed(small(), g)
        assert len(new) == 1
        (name,) = new
        assert new[name].op in {"add", "mul", "sub"} - {old[name].op}
        assert new[name].inputs == old[name].inputs
        ops.add((name, new[name].op))
    assert ops == {("s", "mul"), ("s", "sub"), ("h_new", "add"), ("h_new", "sub")}
    # a 3-input sum cannot become a difference
    three = Genome(("h",), (Node("xh", "linear", ("x",)), Node("hh", "linear", ("h",)),
                            Node("s", "add", ("xh", "hh", "h"))), {"h": "s"}, "s")
    for seed in range(10):
        g, _ = swap_elementwise(three, random.Random(seed))
        assert g.node_map["s"].op == "mul"


def test_insert_activation() -> None:
    for seed in range(40):
        g, desc = insert_activation(small(), random.Random(seed))
        assert len(g.nodes) == len(small().nodes) + 1
        (new,) = [n for n in g.nodes if n.name not in small().node_map]
        (parent,) = new.inputs
        (child,) = readers(g, new.name)
        before, after = small().node_map[child], g.node_map[child]
        # the child reads the new node where it read the parent
        assert [new.name if i == parent else i for i in before.inputs] == list(after.inputs) or \
            sum(i == new.name for i in after.inputs) == 1
        assert act_of(new) in ACTIVATION_CHOICES
        if parent == "x":
            assert act_of(new) == ("linear", {})
        assert "insert_activation" in desc
        # inserted before its reader: the node list stays in dependency order
        names = [n.name for n in g.nodes]
        assert names.index(new.name) < names.index(child)


def test_remove_node() -> None:
    removed = set()
    for seed in range(40):
        g, _ = remove_node(small(), random.Random(seed))
        (gone,) = set(small().node_map) - set(g.node_map)
        node = small().node_map[gone]
        assert len(node.inputs) == 1
        (reader,) = readers(small(), gone)
        assert node.inputs[0] in g.node_map[reader].inputs
        removed.add(gone)
    # h_new is the output and a new state, s has two inputs: never removed
    assert removed == {"xh", "hh", "a", "gh", "g"}


def test_replace_by_ancestor() -> None:
    for seed in range(40):
        g, desc = replace_by_ancestor(small(), random.Random(seed))
        name, anc = (part.strip("'") for part in desc.split(": ", 1)[1].split(" -> "))
        assert anc in _ancestors(small(), name)
        for r in readers(small(), name):
            assert name not in g.node_map[r].inputs and anc in g.node_map[r].inputs
        if name == small().output:
            assert g.output == anc and g.new_states["h"] == anc


def test_replace_by_combination() -> None:
    pattern = re.compile(r"'(\w+)' -> '(\w+)' = '(\w+)' (.) '(\w+)'$")
    for seed in range(40):
        g, desc = replace_by_combination(small(), random.Random(seed))
        target, name, a, sym, b = pattern.search(desc).groups()
        combo = g.node_map[name]
        assert name not in small().node_map and combo.inputs == (a, b)
        assert combo.op == {"+": "add", "×": "mul", "−": "sub"}[sym]
        assert a in _ancestors(small(), target)
        assert any(b in _ancestors(small(), n.name) for n in small().nodes if n.name != target)
        assert b != target and target not in _ancestors(small(), b)  # no cycle
        for r in readers(small(), target):  # every reader of the node reads the combination
            assert target not in g.node_map[r].inputs and name in g.node_map[r].inputs
        if target == small().output:
            assert g.output == name == g.new_states["h"]


def test_operators_return_none_when_not_applicable() -> None:
    bare = Genome(("h",), (Node("xh", "linear", ("x",)), Node("hh", "linear", ("h",)),
                           Node("s", "mul", ("xh", "hh"))), {"h": "s"}, "s")
    assert swap_activation(bare.replace(nodes=(
        Node("xh", "linear", ("x",)), Node("s", "mul", ("xh", "h")))), random.Random(0)) is None
    no_elementwise = Genome(("h",), (Node("xh", "linear", ("x",)), Node("t", "tanh", ("xh",)),
                                     ), {"h": "t"}, "t")
    assert swap_elementwise(no_elementwise, random.Random(0)) is None
    assert swap_elementwise(bare, random.Random(0)) is not None


@pytest.mark.parametrize("name", zoo.names())
def test_mutants_of_zoo_cells_are_valid(name: str) -> None:
    parent = zoo.get(name)
    for seed in range(8):
        m = mutate(parent, seed)
        assert validate(m.genome) == []
        assert genome_id(m.genome) != genome_id(parent) == m.parent_id
        assert 1 <= len(m.applied) <= 3
        assert set(m.ops) <= set(OPERATORS)


def test_mutants_of_random_cells_are_valid_and_deterministic() -> None:
    counts: Counter[int] = Counter()
    ops: Counter[str] = Counter()
    for seed in range(150):
        parent = random_genome(seed)
        m = mutate(parent, seed)
        assert validate(m.genome) == []
        assert mutate(parent, seed) == m
        assert mutate(parent, random.Random(seed)) == m
        counts[len(m.applied)] += 1
        ops.update(m.ops)
    assert set(counts) == {1, 2, 3}
    assert set(ops) == set(JOZEFOWICZ_OPERATORS), "the default is the paper's six"
    every: Counter[str] = Counter()
    for seed in range(150):  # the nine, the modern three included
        parent = random_genome(seed)
        m = mutate(parent, seed, operators=tuple(OPERATORS))
        assert validate(m.genome) == []
        assert mutate(parent, seed, operators=tuple(OPERATORS)) == m
        every.update(m.ops)
    assert set(every) >= set(JOZEFOWICZ_OPERATORS) | {"drop_state_projection",
                                                        "headwise_projection"}


def test_n_ops_and_operator_subset() -> None:
    for seed in range(20):
        m = mutate(zoo.get("gru"), seed, n_ops=2, operators=("swap_activation",))
        assert m.ops == ("swap_activation", "swap_activation")
    m = mutate(zoo.get("lstm"), 1, 3)
    assert len(m.applied) == 3


def test_repeated_mutation_stays_valid() -> None:
    g = zoo.get("lstm")
    rng = random.Random(5)
    for _ in range(40):
        g = mutate(g, rng).genome
        assert validate(g) == []


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown mutation operator"):
        mutate(zoo.get("gru"), 0, operators=("crossover",))
    with pytest.raises(ValueError, match="invalid genome"):
        mutate(zoo.get("gru").replace(output="nope"), 0)
    with pytest.raises(ValueError, match="n_ops"):
        mutate(zoo.get("gru"), 0, n_ops=0)
