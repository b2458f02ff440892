"""NAS-Bench-NLP recipes imported as genomes (Klyuchnikov et al. 2020)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lstm_search import zoo
from lstm_search.genome import (
    GenomeError,
    from_nasbench,
    from_nasbench_with_names,
    genome_id,
    n_params,
    validate,
)

EXAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / \
    "nasbench_nlp_recipes_example.json"
SIZES = [(4, 4), (3, 5), (16, 8)]


def recipes() -> list[dict]:
    if not EXAMPLES.exists():
        pytest.skip(f"{EXAMPLES} is absent (shared reference files not mounted)")
    return json.loads(EXAMPLES.read_text())


def recipe_params(recipe: dict, m: int, n: int) -> int:
    """Parameters by the recipe's own semantics: a linear over k inputs is Σ_k W_k in_k + b,
    n·width(in_k) weights each and ONE n-wide bias; other ops have none. Only nodes that reach
    h_new_0 or a state h_new_k whose h_prev_k is read count (the others compute nothing used)."""
    read = {int(i[len("h_prev_"):]) for spec in recipe.values() for i in spec["input"]
            if i.startswith("h_prev_")}
    roots = ["h_new_0", *(f"h_new_{k}" for k in read if k)]
    live: set[str] = set()
    todo = list(roots)
    while todo:
        v = todo.pop()
        if v in live or v not in recipe:
            continue
        live.add(v)
        todo.extend(recipe[v]["input"])
    total = 0
    for name in live:
        spec = recipe[name]
        if spec["op"] == "linear":
            total += sum(n * (m if i == "x" else n) for i in spec["input"]) + n
    return total


def test_examples_import_validate_and_count() -> None:
    for k, recipe in enumerate(recipes()):
        g = from_nasbench(recipe, name=f"nb{k}")
        assert validate(g) == [], k
        assert g.name == f"nb{k}"
        for m, n in SIZES:
            assert n_params(g, m, n) == recipe_params(recipe, m, n), (k, m, n)


def test_example_lstm_and_rnn_shapes() -> None:
    rnn, lstm, gru = recipes()[:3]
    g = from_nasbench(rnn)
    assert g.states == ("h",) and n_params(g, 3, 5) == 5 * 3 + 5 * 5 + 5  # one shared bias
    g = from_nasbench(lstm)
    assert g.states == ("h", "c")
    assert g.output == "h_new_0" and g.new_states == {"h": "h_new_0", "c": "h_new_1"}
    # the recipe's LSTM has one bias per gate where torch's has two
    assert n_params(g, 3, 5) == n_params(zoo.get("lstm"), 3, 5) - 4 * 5
    g = from_nasbench(gru)
    assert [n.op for n in g.nodes].count("blend") == 1


def test_multi_input_linear_has_one_bias() -> None:
    g, names = from_nasbench_with_names(recipes()[4])
    node8 = g.node_map[names["node_8"]]
    assert node8.op == "add" and len(node8.inputs) == 3
    parts = [g.node_map[i] for i in node8.inputs]
    assert [p.op for p in parts] == ["linear"] * 3
    assert [p.param("bias") for p in parts] == [False, True, False]  # the bias goes with x
    assert [p.inputs[0] for p in parts] == [names["node_1"], "x", names["node_7"]]


def test_arbitrary_names_are_mapped_to_identifiers() -> None:
    evil = 'a"); import os; os.system("touch pwned"); ("'
    recipe = {
        evil: {"op": "linear", "input": ["x", "h_prev_0"]},
        "2 gate": {"op": "activation_sigm", "input": [evil]},
        "h": {"op": "elementwise_prod", "input": ["2 gate", "h_prev_0"]},
        "h_new_0": {"op": "activation_tanh", "input": ["h"]},
    }
    g, names = from_nasbench_with_names(recipe)
    assert validate(g) == []
    assert set(names) == set(recipe)
    ident = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
    assert all(ident.match(v) for v in names.values())
    assert len(set(names.values())) == len(names)
    assert names["h"] != "h"  # the state is called h: the node gets another name
    assert names["2 gate"] == "n_2_gate"


def test_dead_nodes_and_unread_states_are_dropped() -> None:
    recipe = {
        "a": {"op": "linear", "input": ["x", "h_prev_0"]},
        "unused": {"op": "activation_tanh", "input": ["a"]},
        "h_new_1": {"op": "linear", "input": ["a"]},  # h_prev_1 is never read
        "h_new_0": {"op": "activation_tanh", "input": ["a"]},
    }
    g, names = from_nasbench_with_names(recipe)
    assert g.states == ("h",)
    assert set(names) == {"a", "h_new_0"}
    assert n_params(g, 3, 5) == recipe_params(recipe, 3, 5) == 5 * 3 + 5 * 5 + 5


def test_x_into_elementwise_goes_through_fit() -> None:
    recipe = {
        "a": {"op": "linear", "input": ["h_prev_0"]},
        "s": {"op": "elementwise_sum", "input": ["a", "x"]},
        "h_new_0": {"op": "activation_leaky_relu", "input": ["s"]},
    }
    g = from_nasbench(recipe)
    fit = [n for n in g.nodes if n.op == "fit"]
    assert len(fit) == 1 and fit[0].inputs == ("x",)
    assert n_params(g, 5, 5) == 5 * 5 + 5
    assert n_params(g, 3, 5) == 5 * 5 + 5 + 5 * 3


def test_long_sums_are_chained() -> None:
    recipe = {f"l{k}": {"op": "linear", "input": ["x" if k == 0 else "h_prev_0"]}
              for k in range(11)}
    recipe["h_new_0"] = {"op": "elementwise_sum", "input": [f"l{k}" for k in range(11)]}
    g = from_nasbench(recipe)
    assert all(len(n.inputs) <= 8 for n in g.nodes)
    assert n_params(g, 3, 5) == recipe_params(recipe, 3, 5)


def test_errors_are_listed_together() -> None:
    recipe = {
        "a": {"op": "conv1d", "input": ["x"]},
        "b": {"op": "linear", "input": ["ghost", "h_prev_1"]},
        "out": {"op": "activation_tanh", "input": ["a"]},
    }
    with pytest.raises(GenomeError) as e:
        from_nasbench(recipe, name="bad")
    got = {(p.where, p.rule) for p in e.value.problems}
    assert got == {("h_new_0", "output-missing"), ("h_prev_1", "state-missing"),
                   ("recipe node 'a'", "unknown-op"), ("recipe node 'b'", "undefined-input")}
    assert str(e.value).startswith("bad: 4 problem(s)")


def test_invalid_cell_is_reported() -> None:
    # parses, but the output never reads h_prev_0: a feed-forward layer
    recipe = {"a": {"op": "linear", "input": ["x"]},
              "h_new_0": {"op": "activation_tanh", "input": ["a"]}}
    with pytest.raises(GenomeError) as e:
        from_nasbench(recipe)
    assert [(p.where, p.rule) for p in e.value.problems] == [("output", "no-recurrence")]


def test_ids_of_examples_are_distinct() -> None:
    ids = [genome_id(from_nasbench(r)) for r in recipes()]
    # examples 3 and 5 differ only in their activation; 0 and 3 only in input order
    assert ids[0] == ids[3]
    assert len(set(ids)) == len(ids) - 1


def test_examples_compile_and_run_one_step() -> None:
    try:
        from lstm_search.nn import compile_rnn
    except ImportError as e:  # the compiler is optional here
        pytest.skip(f"lstm_search.nn is not available: {e}")
    import torch

    for k, recipe in enumerate(recipes()):
        g = from_nasbench(recipe, name=f"nb{k}")
        rnn = compile_rnn(g, input_size=3, hidden_size=5, backend="eager", seed=k)
        assert sum(p.numel() for p in rnn.parameters()) == recipe_params(recipe, 3, 5)
        y, _ = rnn(torch.randn(1, 2, 3))  # one step, batch of 2
        assert y.shape == (1, 2, 5) and torch.isfinite(y).all()
