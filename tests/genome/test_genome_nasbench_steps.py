"""NAS-Bench-NLP recipes whose x reaches the output only through a state (one or more steps
later), dead nodes, unread states: imported, validated across steps, and equal to the
benchmark's interpreter (tests/genome/nasbench_interpreter.py) in float64."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from nasbench_interpreter import copy_into, init_weights, random_recipe, run
from nasbench_interpreter import n_states as count_states

import lstm_search
from lstm_search.genome import (
    Genome,
    GenomeError,
    Node,
    from_nasbench_with_names,
    n_params,
    nasbench_cell_params,
    nasbench_model_params,
    validate,
)
from lstm_search.nn import compile_cell

EXAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / \
    "nasbench_nlp_recipes_example.json"

# h_new_0 reads x only through h_prev_1: x at step t reaches the output at t + 1
ONE_STEP_LATE = {
    "a": {"op": "linear", "input": ["h_prev_1", "h_prev_0"]},
    "h_new_0": {"op": "activation_tanh", "input": ["a"]},
    "b": {"op": "linear", "input": ["x", "h_prev_0"]},
    "h_new_1": {"op": "activation_sigm", "input": ["b"]},
}
# x -> state 2 -> state 1 -> output: two steps late; plus a dead linear node, a state (3)
# nobody reads, and a state (4) that feeds only itself (never reaching the output)
TWO_STEPS_LATE = {
    "a": {"op": "linear", "input": ["h_prev_1"]},
    "h_new_0": {"op": "elementwise_sum", "input": ["a", "h_prev_0"]},
    "b": {"op": "linear", "input": ["h_prev_2", "h_prev_0"]},
    "h_new_1": {"op": "activation_tanh", "input": ["b"]},
    "c": {"op": "linear", "input": ["x"]},
    "h_new_2": {"op": "activation_leaky_relu", "input": ["c"]},
    "dead": {"op": "linear", "input": ["x", "h_prev_1"]},
    "dead_act": {"op": "activation_sigm", "input": ["dead"]},
    "h_new_3": {"op": "linear", "input": ["h_prev_0"]},
    "loop": {"op": "linear", "input": ["h_prev_4", "x"]},
    "h_new_4": {"op": "blend", "input": ["loop", "h_prev_4", "h_prev_0"]},
}


def test_state_path_is_accepted_by_validation_itself() -> None:
    # not only the importer: a genome whose output reads x one step late is valid
    g = Genome(("h", "c"),
               (Node("hc", "linear", ("c",)), Node("h_new", "tanh", ("hc",)),
                Node("xc", "linear", ("x",)), Node("hh", "linear", ("h",)),
                Node("c_new", "add", ("xc", "hh"))),
               {"h": "h_new", "c": "c_new"}, "h_new")
    assert validate(g) == []
    # x reaches only a state that never reaches the output: still refused
    g2 = Genome(("h", "c"),
                (Node("hh", "linear", ("h",)), Node("h_new", "tanh", ("hh",)),
                 Node("xc", "linear", ("x",)), Node("cc", "linear", ("c",)),
                 Node("c_new", "add", ("xc", "cc"))),
                {"h": "h_new", "c": "c_new"}, "h_new")
    assert [p.rule for p in validate(g2)] == ["no-input-path"]


def test_imported_states_are_those_reaching_the_output() -> None:
    g, names = from_nasbench_with_names(TWO_STEPS_LATE)
    assert g.states == ("h", "c", "s2")  # 3 unread, 4 never reaches h_new_0
    assert {"dead", "dead_act", "h_new_3", "loop", "h_new_4"}.isdisjoint(names)
    assert validate(g) == []
    m, n = 3, 5
    live = n * n + n + (n * n + n * n + n) + (n * m + n)  # a, b, c
    assert n_params(g, m, n) == live
    # the benchmark builds every linear node: dead, 'h_new_3' and 'loop' too
    assert nasbench_cell_params(TWO_STEPS_LATE, m, n) == \
        live + (n * m + n * n + n) + (n * n + n) + (n * n + n * m + n)


@pytest.mark.parametrize("recipe", [ONE_STEP_LATE, TWO_STEPS_LATE], ids=["one", "two"])
def test_matches_the_interpreter_across_steps(recipe: dict) -> None:
    m, n, T, B = 3, 5, 6, 4
    g, names = from_nasbench_with_names(recipe)
    layer = compile_cell(g, m, n, backend="eager").double()
    weights = init_weights(recipe, m, n, torch.Generator().manual_seed(0))
    copy_into(layer, recipe, names, weights)
    xs = torch.randn(T, B, m, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    want, want_states = run(recipe, weights, xs, n)
    got, got_states = layer(xs)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got_states[0], want_states[0], rtol=1e-12, atol=1e-12)
    # x reaches the output late: the first output(s) ignore x, a later one does not
    delay = 1 if recipe is ONE_STEP_LATE else 2
    other = xs.clone()
    other[0] += 1.0
    changed, _ = layer(other)
    assert torch.equal(changed[:delay], got[:delay])
    assert not torch.allclose(changed[delay], got[delay])


def test_examples_match_the_interpreter_with_gradients() -> None:
    if not EXAMPLES.exists():
        pytest.skip(f"{EXAMPLES} is absent")
    m, n = 3, 4
    for k, recipe in enumerate(json.loads(EXAMPLES.read_text())):
        g, names = from_nasbench_with_names(recipe)
        layer = compile_cell(g, m, n, backend="eager").double()
        weights = init_weights(recipe, m, n, torch.Generator().manual_seed(k))
        copy_into(layer, recipe, names, weights)
        xs = torch.randn(5, 2, m, dtype=torch.float64,
                         generator=torch.Generator().manual_seed(k)).requires_grad_()
        want, _ = run(recipe, weights, xs, n)
        (gx_want,) = torch.autograd.grad(want.sum(), xs)
        got, _ = layer(xs)
        (gx_got,) = torch.autograd.grad(got.sum(), xs)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(gx_got, gx_want, rtol=1e-10, atol=1e-12)


def test_top_level_name_and_json_text() -> None:
    g = lstm_search.import_nasbench_nlp(json.dumps(ONE_STEP_LATE), name="late")
    assert g.name == "late" and g.states == ("h", "c")


def test_model_params_as_the_benchmark_logs_them() -> None:
    # AWD model, tied: embedding + decoder bias + cells 400->600, 600->600, 600->400
    rnn = {"a": {"op": "linear", "input": ["x", "h_prev_0"]},
           "h_new_0": {"op": "activation_tanh", "input": ["a"]}}
    V = 33278
    cells = (600 * 400 + 600 * 600 + 600) + (600 * 600 * 2 + 600) + (400 * 600 + 400 * 400 + 400)
    assert nasbench_model_params(rnn, V) == V * 400 + V + cells


def _changes(recipe: dict, weights: dict, xs, states, xs2, states2, n: int) -> bool:
    """Whether the outputs differ between two runs of the interpreter."""
    from nasbench_interpreter import step

    a, b = list(states), list(states2)
    for x, x2 in zip(xs, xs2, strict=True):
        a, b = step(recipe, weights, x, a), step(recipe, weights, x2, b)
        if not torch.allclose(a[0], b[0], rtol=0, atol=1e-12):
            return True
    return False


def test_random_recipes_import_exactly_when_the_output_depends_on_x_and_a_state() -> None:
    """An oracle independent of the validator: perturb every x (or the initial states) and
    watch the interpreter's outputs for n_states + 2 steps. A recipe imports iff both
    perturbations reach the output, and every imported one matches the interpreter."""
    m = n = 4  # the generator feeds x to any op, as the interpreter allows only when m == n
    B = 2
    rng = random.Random(0)
    counts = {"imported": 0, "late_x": 0, "refused": 0}
    for k in range(120):
        recipe = random_recipe(rng, rng.randint(1, 3), rng.randint(5, 12))
        S = count_states(recipe)
        gen = torch.Generator().manual_seed(k)
        weights = init_weights(recipe, m, n, gen)
        T = S + 2
        xs = torch.randn(T, B, m, dtype=torch.float64, generator=gen)
        s0 = [torch.randn(B, n, dtype=torch.float64, generator=gen) for _ in range(S)]
        x_path = _changes(recipe, weights, xs, s0, xs + 0.5, s0, n)
        recurrent = _changes(recipe, weights, xs, s0, xs, [s + 0.5 for s in s0], n)
        try:
            g, names = from_nasbench_with_names(recipe)
        except GenomeError as e:
            counts["refused"] += 1
            assert not (x_path and recurrent), (k, recipe, e)
            continue
        counts["imported"] += 1
        assert x_path and recurrent, (k, recipe)
        counts["late_x"] += int(not _reads_x_within_step(g))
        layer = compile_cell(g, m, n, backend="eager").double()
        copy_into(layer, recipe, names, weights)
        want, _ = run(recipe, weights, xs, n)
        got, _ = layer(xs)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # the generator is varied enough to exercise every branch
    assert counts["imported"] >= 20 and counts["refused"] >= 20 and counts["late_x"] >= 3, counts


def _reads_x_within_step(g) -> bool:
    from lstm_search.genome import X

    seen, todo = set(), [g.output]
    nmap = g.node_map
    while todo:
        v = todo.pop()
        if v in seen:
            continue
        seen.add(v)
        if v in nmap:
            todo.extend(nmap[v].inputs)
    return X in seen
