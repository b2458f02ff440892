"""validate(): each rule caught alone, named by node and rule; every problem listed at once."""

from __future__ import annotations

import json

import pytest

from lstm_search import zoo
from lstm_search.genome import Genome, GenomeError, Node, Problem, n_params, validate

INJECTION = 'a"); import os; os.system("touch pwned"); ("'


def base() -> Genome:
    """A valid tanh RNN: h' = tanh(W x + b + U h + b')."""
    return Genome(
        states=("h",),
        nodes=(
            Node("xh", "linear", ("x",)),
            Node("hh", "linear", ("h",)),
            Node("s", "add", ("xh", "hh")),
            Node("h_new", "tanh", ("s",)),
        ),
        new_states={"h": "h_new"},
        output="h_new",
    )


def with_node(g: Genome, node: Node) -> Genome:
    """``g`` with the node of the same name replaced (or ``node`` appended)."""
    names = [n.name for n in g.nodes]
    if node.name in names:
        return g.replace(nodes=tuple(node if n.name == node.name else n for n in g.nodes))
    return g.replace(nodes=(*g.nodes, node))


def only(problems: list[Problem], rule: str) -> Problem:
    """The single problem, checked to break ``rule``."""
    assert [p.rule for p in problems] == [rule], problems
    return problems[0]


def test_base_is_valid() -> None:
    assert validate(base()) == []
    assert base().check() == base()


def test_malformed_json() -> None:
    with pytest.raises(GenomeError) as e:
        Genome.from_json('{"states": ["h"], "nodes": [')
    (p,) = e.value.problems
    assert p.rule == "json" and "line 1" in p.where
    assert "malformed JSON" in str(e.value)


def test_malformed_structure_lists_every_field() -> None:
    data = json.loads(base().to_json())
    data["nodes"] = "not a list"
    data["states"] = [1]
    data["colour"] = "blue"
    with pytest.raises(GenomeError) as e:
        Genome.from_dict(data, source="cell.json")
    wheres = {p.where for p in e.value.problems}
    assert {"nodes", "states", "colour"} <= wheres
    assert all(p.rule == "format" for p in e.value.problems)
    assert str(e.value).startswith("cell.json: 3 problem(s)")


def test_wrong_format_version() -> None:
    data = json.loads(base().to_json())
    data["version"] = 99
    with pytest.raises(GenomeError) as e:
        Genome.from_dict(data)
    assert [(p.where, p.rule) for p in e.value.problems] == [("version", "format")]


def test_unknown_op() -> None:
    p = only(validate(with_node(base(), Node("s", "frobnicate", ("xh", "hh")))), "unknown-op")
    assert p.where == "node 's'" and "frobnicate" in p.message


def test_reserved_op() -> None:
    p = only(validate(with_node(base(), Node("s", "conv", ("xh", "hh")))), "reserved-op")
    assert p.where == "node 's'" and "ConvLSTM" in p.message


def test_wrong_arity() -> None:
    p = only(validate(with_node(base(), Node("h_new", "tanh", ("s", "hh")))), "arity")
    assert p.where == "node 'h_new'" and "got 2" in p.message
    p = only(validate(with_node(base(), Node("s", "add", ("xh",)))), "arity")
    assert p.where == "node 's'" and "2 to 8" in p.message


@pytest.mark.parametrize("params", [{"gain": 2.0}, {"bias": "yes"}, {"diag": float("nan")},
                                    {"bias_init": True}])
def test_bad_param(params: dict) -> None:
    p = only(validate(with_node(base(), Node("hh", "linear", ("h",), params))), "param")
    assert p.where == "node 'hh'"
    assert next(iter(params)) in p.message


def test_dangling_input() -> None:
    p = only(validate(with_node(base(), Node("s", "add", ("xh", "nowhere")))), "undefined-input")
    assert p.where == "node 's'" and "'nowhere'" in p.message


def test_reserved_input() -> None:
    p = only(validate(with_node(base(), Node("s", "add", ("xh", "hh", "above:h")))),
             "reserved-input")
    assert p.where == "node 's'" and "Grid LSTM" in p.message


def test_cyclic_inputs() -> None:
    g = with_node(base(), Node("s", "add", ("xh", "hh", "h_new")))  # s -> h_new -> s
    problems = validate(g)
    assert {p.rule for p in problems} == {"cycle"}
    assert sorted(p.where for p in problems) == ["node 'h_new'", "node 's'"]


def test_x_fed_to_elementwise_op() -> None:
    p = only(validate(with_node(base(), Node("s", "add", ("xh", "hh", "x")))), "width")
    assert p.where == "node 's'" and "m-wide" in p.message


def test_x_fed_to_linear_with_diag() -> None:
    p = only(validate(with_node(base(), Node("xh", "linear", ("x",), {"diag": 1.0}))), "width")
    assert p.where == "node 'xh'"


def test_missing_new_state() -> None:
    p = only(validate(base().replace(new_states={})), "state-missing")
    assert p.where == "state 'h'"
    p = only(validate(base().replace(new_states={"h": "h_new", "q": "h_new"})), "state-missing")
    assert p.where == "new_states 'q'"
    p = only(validate(base().replace(new_states={"h": "ghost"})), "state-missing")
    assert p.where == "state 'h'" and "'ghost'" in p.message


def test_missing_output() -> None:
    p = only(validate(base().replace(output="")), "output-missing")
    assert p.where == "output"
    p = only(validate(base().replace(output="ghost")), "output-missing")
    assert "'ghost'" in p.message


def test_output_missing_from_json() -> None:
    data = json.loads(base().to_json())
    del data["output"]
    with pytest.raises(GenomeError) as e:
        Genome.from_dict(data)
    assert [(p.where, p.rule) for p in e.value.problems] == [("output", "output-missing")]


def test_unused_state() -> None:
    g = base().replace(states=("h", "c"), new_states={"h": "h_new", "c": "s"})
    p = only(validate(g), "unused-state")
    assert p.where == "state 'c'"


def test_dead_node() -> None:
    p = only(validate(with_node(base(), Node("junk", "sigmoid", ("h",)))), "dead-node")
    assert p.where == "node 'junk'"


def test_no_path_from_x() -> None:
    g = Genome(("h",), (Node("hh", "linear", ("h",)), Node("h_new", "tanh", ("hh",))),
               {"h": "h_new"}, "h_new")
    p = only(validate(g), "no-input-path")
    assert p.where == "output"


def test_no_recurrence() -> None:
    # The states feed each other, but the output reads only x: a feed-forward layer.
    g = Genome(
        ("h", "c"),
        (Node("xh", "linear", ("x",)), Node("h_new", "tanh", ("xh",)),
         Node("hc", "linear", ("h",)), Node("cc", "linear", ("c",)),
         Node("c_new", "add", ("hc", "cc"))),
        {"h": "h_new", "c": "c_new"}, "h_new",
    )
    p = only(validate(g), "no-recurrence")
    assert p.where == "output"


def test_over_node_budget() -> None:
    p = only(validate(base(), max_nodes=3), "budget")
    assert p.where == "nodes" and "4 nodes" in p.message and "3" in p.message
    assert validate(base(), max_nodes=4) == []


def test_over_parameter_budget() -> None:
    count = n_params(base(), 10, 20)
    assert count == 20 * 10 + 20 + 20 * 20 + 20
    p = only(validate(base(), input_size=10, hidden_size=20, max_params=count - 1), "budget")
    assert p.where == "genome" and f"{count:,}" in p.message
    assert validate(base(), input_size=10, hidden_size=20, max_params=count) == []


def test_three_faults_listed_at_once() -> None:
    g = base().replace(nodes=(
        Node("xh", "linear", ("x",)),
        Node("hh", "frobnicate", ("h",)),         # unknown op
        Node("s", "add", ("xh", "hh", "ghost")),  # dangling input
        Node("h_new", "tanh", ("s", "s")),        # arity
    ))
    problems = validate(g)
    assert sorted((p.where, p.rule) for p in problems) == [
        ("node 'h_new'", "arity"), ("node 'hh'", "unknown-op"), ("node 's'", "undefined-input")]
    with pytest.raises(GenomeError) as e:
        g.check()
    assert len(e.value.problems) == 3 and "3 problem(s)" in str(e.value)


@pytest.mark.parametrize("bad", [INJECTION, "1abc", "x", "h", "a b", "é" * 3, "n" * 65])
def test_bad_node_names_rejected(bad: str) -> None:
    """Names that are not identifiers, or that shadow the input or a state, are rejected."""
    g = base()
    g = g.replace(nodes=tuple(Node(bad if n.name == "s" else n.name, n.op,
                                   tuple(bad if i == "s" else i for i in n.inputs))
                              for n in g.nodes))
    problems = validate(g)
    names = [p for p in problems if p.rule == "name"]
    assert len(names) == 1 and names[0].where.startswith("node ")
    if bad not in ("x", "h"):  # shadowing x or h also rewires the graph; others change nothing
        assert problems == names


def test_injection_names_rejected_from_json(tmp_path) -> None:
    data = json.loads(base().to_json())
    data["states"] = [INJECTION]
    data["new_states"] = {INJECTION: "h_new"}
    data["nodes"][1]["inputs"] = [INJECTION]
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(data))
    g = Genome.load(str(path))  # loading only parses; nothing runs
    problems = validate(g)
    assert [p.rule for p in problems] == ["name"]
    assert problems[0].where.startswith("state 'a\"); import os")
    assert not (tmp_path / "pwned").exists()


def test_duplicate_names() -> None:
    g = with_node(base(), Node("s", "add", ("xh", "hh")))
    g = g.replace(nodes=(*g.nodes, Node("s", "tanh", ("h",))))
    assert "name" in {p.rule for p in validate(g)}
    g = base().replace(states=("h", "h"))
    assert [(p.where, p.rule) for p in validate(g)] == [("state 'h'", "name")]


@pytest.mark.parametrize("name", zoo.names())
def test_zoo_cells_validate(name: str) -> None:
    assert validate(zoo.get(name)) == []


def test_node_budget_does_not_hide_other_rules() -> None:
    g = with_node(base(), Node("junk", "sigmoid", ("h",)))
    problems = validate(g, max_nodes=2, input_size=10, hidden_size=20, max_params=10)
    assert sorted((p.where, p.rule) for p in problems) == [
        ("genome", "budget"), ("node 'junk'", "dead-node"), ("nodes", "budget")]


def test_graph_rules_are_checked_alongside_local_problems() -> None:
    g = with_node(base(), Node("xh", "linear", ("x",), {"gain": 1.0}))  # a local problem
    g = with_node(g, Node("junk", "frobnicate", ("h",)))                # another, dead too
    assert sorted((p.where, p.rule) for p in validate(g)) == [
        ("node 'junk'", "dead-node"), ("node 'junk'", "unknown-op"), ("node 'xh'", "param")]


def test_graph_rules_left_out_when_their_verdict_hangs_on_something_unknown() -> None:
    # a dangling input might be the node that looks dead: no dead-node / unused-state guess
    g = with_node(base(), Node("s", "add", ("xh", "hhh")))
    assert [p.rule for p in validate(g)] == ["undefined-input"]
    # a name used twice: which node is meant is unknown
    g = base().replace(nodes=(*base().nodes, Node("s", "sigmoid", ("h",))))
    assert {p.rule for p in validate(g)} == {"name"}


def test_validate_json_lists_structure_and_genome_problems_at_once() -> None:
    from lstm_search.genome import validate_json

    data = json.loads(base().to_json())
    data["colour"] = "blue"
    data["nodes"][2]["op"] = "frobnicate"
    genome, problems = validate_json(json.dumps(data))
    assert genome is not None
    assert [(p.where, p.rule) for p in problems] == [("colour", "format"),
                                                     ("node 's'", "unknown-op")]
    assert validate_json(base().to_json()) == (base(), [])
    genome, problems = validate_json("[1, 2]")
    assert genome is None and [p.rule for p in problems] == ["format"]
    genome, problems = validate_json('{"states": [')
    assert genome is None and [p.rule for p in problems] == ["json"]
    with pytest.raises(GenomeError):  # from_dict still refuses the file as a whole
        Genome.from_dict(data)
