"""The four opt-in mutation operators towards the modern cells (``MODERN_OPERATORS``): from the
LSTM and the GRU, a search reaches input-only gates on the scan path (minGRU / minLSTM),
xLSTM's stabilised exponential gating, head-wise recurrent matrices, and the mLSTM's matrix
memory on the chunkwise path."""

from __future__ import annotations

import random

import pytest
import torch

from lstm_search import zoo
from lstm_search.compile import build_plan
from lstm_search.config import ConfigError
from lstm_search.experiment import SearchConfig
from lstm_search.genome import (
    JOZEFOWICZ_OPERATORS,
    MODERN_OPERATORS,
    OPERATORS,
    Node,
    hidden_multiple,
    mutate,
    prune,
    validate,
)
from lstm_search.nn import compile_cell
from lstm_search.spaces import MutationSpace


def _apply_until_done(genome, op: str, seed: int = 0):
    """``op`` applied (and dead nodes pruned) until it no longer applies."""
    rng = random.Random(seed)
    for _ in range(50):
        res = OPERATORS[op](genome, rng)
        if res is None:
            return genome
        genome = prune(res[0])
        assert validate(genome) == []
    raise AssertionError(f"{op} still applies after 50 steps")


@pytest.mark.parametrize("parent", ["lstm", "gru"])
def test_dropping_every_recurrent_projection_gives_a_scannable_min_cell(parent: str) -> None:
    g = zoo.get(parent)
    assert not build_plan(g, 6, 8).scannable
    cell = _apply_until_done(g, "drop_state_projection")
    # no projection reads a state any more: minLSTM / minGRU (Feng et al. 2024)
    assert not [n for n in cell.nodes if n.op == "linear" and n.inputs[0] != "x"]
    assert build_plan(cell, 6, 8).scannable, "the compiler takes the scan path"
    layer = compile_cell(cell, 6, 8, "script", seed=0)
    y, _ = layer(torch.randn(5, 3, 6))
    assert y.shape == (5, 3, 8) and torch.isfinite(y).all()


def _exp_lstm():
    g = prune(OPERATORS["stabilised_exp_gates"](zoo.get("lstm"), random.Random(0))[0])
    assert validate(g) == []
    return g


def test_stabilised_exp_gates_gives_an_slstm_like_cell() -> None:
    g = _exp_lstm()
    ops = [n.op for n in g.nodes]
    assert {"exp", "logsigmoid", "max", "div"} <= set(ops) and ops.count("exp") == 2
    assert len(g.states) == 4, "h, c, the normaliser and the stabiliser"
    assert OPERATORS["stabilised_exp_gates"](zoo.get("gru"), random.Random(0)) is None
    assert OPERATORS["stabilised_exp_gates"](zoo.get("cifg"), random.Random(0)) is None


def test_the_stabiliser_changes_no_output() -> None:
    """With c and n starting at 0 the stabiliser m only rescales c and n: any starting m gives
    the same outputs (float64, 1e-10). A gate wired to the wrong side of the max would not."""
    g = _exp_lstm()
    layer = compile_cell(g, 5, 4, "eager", seed=1).double()
    x = torch.randn(30, 3, 5, dtype=torch.float64) * 3
    zero = [torch.zeros(3, 4, dtype=torch.float64) for _ in g.states]
    shifted = list(zero)
    shifted[g.states.index(g.states[-1])] = torch.full((3, 4), 7.5, dtype=torch.float64)
    y0, _ = layer(x, zero)
    y1, _ = layer(x, shifted)
    torch.testing.assert_close(y0, y1, rtol=1e-10, atol=1e-12)


def test_exponential_gates_stay_finite_in_float32_over_thousands_of_steps() -> None:
    g = _exp_lstm()
    layer = compile_cell(g, 5, 4, "script", seed=2)
    x = torch.randn(3000, 2, 5) * 40  # pre-activations far beyond exp's float32 range
    y, states = layer(x)
    assert torch.isfinite(y).all() and all(torch.isfinite(s).all() for s in states)


def test_headwise_projection_toggles_block_diagonal_recurrent_matrices() -> None:
    g = zoo.get("lstm")
    res = OPERATORS["headwise_projection"](g, random.Random(3))
    assert res is not None
    h, desc = res
    heads = [int(n.params.get("heads", 1)) for n in h.nodes]
    assert sorted(set(heads)) in ([1, 2], [1, 4]) and "heads 1 ->" in desc
    layer = compile_cell(h, 6, 8, "script", seed=0)
    k = max(heads)
    assert sum(p.numel() for p in layer.parameters()) == sum(
        p.numel() for p in compile_cell(g, 6, 8, "script").parameters()) - 8 * 8 * (k - 1) // k
    back = OPERATORS["headwise_projection"](h, random.Random(0))
    assert back is not None


def test_mutants_at_a_given_width_have_heads_that_divide_it() -> None:
    """``headwise_projection`` draws 2 or 4 heads; at hidden size 650 (even, not a multiple
    of 4) the mutants keep to 2, where without a width a quarter of the draws would need a
    multiple of 4; a width no head count divides leaves no mutant, and the compiler builds
    every one kept."""
    ops = ("headwise_projection",)
    free = {hidden_multiple(mutate(zoo.get("lstm"), seed, 1, operators=ops).genome)
            for seed in range(40)}
    assert free == {2, 4}
    for seed in range(40):
        g = mutate(zoo.get("lstm"), seed, 1, operators=ops, hidden_size=650).genome
        assert hidden_multiple(g) == 2
        build_plan(g, 650, 650)  # the compiler takes it
    with pytest.raises(RuntimeError, match="no valid mutant"):
        mutate(zoo.get("lstm"), 0, 1, operators=ops, hidden_size=7, max_tries=50)
    for bad in (0, -4, True, 6.0):
        with pytest.raises(ValueError, match="hidden_size must be a positive int"):
            mutate(zoo.get("lstm"), 0, operators=ops, hidden_size=bad)  # type: ignore[arg-type]


def test_a_mutation_space_at_a_fixed_width_proposes_only_heads_that_divide_it() -> None:
    """MutationSpace(hidden_size=650) redraws 4-head mutants (a sampled hidden_size takes its
    place); the field round-trips through the run's recorded space data; bad widths are
    refused with the space's name."""
    from lstm_search.spaces import space_from_json, space_to_json

    ops = ("headwise_projection",)
    free = MutationSpace(name="m", operators=ops, max_mutations=1)
    fixed = MutationSpace(name="m", operators=ops, max_mutations=1, hidden_size=650)
    params = [{"parent": "lstm", "n_mutations": 1, "mutation_seed": s} for s in range(40)]
    assert {hidden_multiple(free.build(p).genome) for p in params} == {2, 4}
    assert {hidden_multiple(fixed.build(p).genome) for p in params} == {2}
    sampled = {hidden_multiple(free.build({**p, "hidden_size": 650}).genome) for p in params}
    assert sampled == {2}
    assert {hidden_multiple(fixed.build({**p, "hidden_size": 256}).genome)
            for p in params} == {2, 4}  # the sampled width wins
    assert space_from_json(space_to_json(fixed)) == fixed
    for bad in (0, True, 6.5):
        with pytest.raises(ValueError, match="space 'm': hidden_size must be a positive int"):
            MutationSpace(name="m", hidden_size=bad)  # type: ignore[arg-type]


def test_hidden_multiple_counts_every_kind_of_head() -> None:
    g = zoo.get("lstm")
    assert hidden_multiple(g) == 1
    norm = g.replace(nodes=(*g.nodes, Node("hn", "norm", (g.output,), {"heads": 3})),
                     output="hn")
    assert hidden_multiple(norm) == 3
    heads2 = next(mutate(g, s, 1, operators=("headwise_projection",)).genome
                  for s in range(40)
                  if hidden_multiple(mutate(g, s, 1, operators=("headwise_projection",))
                                     .genome) == 2)
    both = heads2.replace(nodes=(*heads2.nodes, Node("hn", "norm", (heads2.output,),
                                                     {"heads": 3})), output="hn")
    assert hidden_multiple(both) == 6


def test_mutate_keeps_the_papers_six_unless_asked() -> None:
    assert tuple(OPERATORS)[:6] == JOZEFOWICZ_OPERATORS
    seen = set()
    for seed in range(40):
        seen.update(mutate(zoo.get("lstm"), seed).ops)
    assert seen <= set(JOZEFOWICZ_OPERATORS)
    modern = set()
    for seed in range(40):
        modern.update(mutate(zoo.get("lstm"), seed, operators=MODERN_OPERATORS).ops)
    assert modern == set(MODERN_OPERATORS)


def test_the_operators_are_chosen_by_name_in_a_space_and_a_search() -> None:
    space = MutationSpace(name="m", operators=("drop_state_projection",), max_mutations=2)
    p = space.build({"parent": "gru", "n_mutations": 2, "mutation_seed": 5, "lr": 0.01})
    assert validate(p.genome) == []
    with pytest.raises(ValueError, match="unknown mutation operators 'nope'"):
        MutationSpace(name="m", operators=("nope",))
    assert SearchConfig(sampler="evolution",
                        mutation_operators=MODERN_OPERATORS).mutation_operators
    with pytest.raises(ConfigError, match=r"search\.mutation_operators: unknown 'nope'"):
        SearchConfig(mutation_operators=("nope",))


def test_matrix_memory_takes_the_lstm_to_an_mlstm_like_cell_on_the_chunkwise_path() -> None:
    """LSTM → stabilised_exp_gates → matrix_memory → drop_state_projection until done: the
    mLSTM's equations (a head-wise matrix memory, per-head exponential gates from x), which
    the compiler runs in chunks, with the step loop's numbers."""
    from lstm_search.nn import RecurrentLayer

    assert OPERATORS["matrix_memory"](zoo.get("lstm"), random.Random(0)) is None  # no m yet
    res = OPERATORS["matrix_memory"](_exp_lstm(), random.Random(0))
    assert res is not None and res[1].startswith("matrix_memory: 'c' becomes a ")
    g = prune(res[0])
    assert validate(g, input_size=6, hidden_size=8) == []
    assert g.values["kind"] == "heads" and g.values["heads"] in (2, 4)
    assert {n.op for n in g.nodes} >= {"outer", "matvec", "dot", "head_linear"}
    assert OPERATORS["matrix_memory"](g, random.Random(0)) is None  # head-wise already
    assert OPERATORS["stabilised_exp_gates"](g, random.Random(0)) is None
    assert not build_plan(g, 6, 8).chunkwise  # gates still read h through matrices
    cell = _apply_until_done(g, "drop_state_projection")
    plan = build_plan(cell, 6, 8)
    assert plan.chunkwise, plan.path
    assert plan.state_kinds == ("matrix", "vector", "scalar")
    loop = RecurrentLayer(cell, 6, 8, backend="eager", scan=False).double()
    fast = RecurrentLayer(cell, 6, 8, backend="script").double()
    fast.load_state_dict(loop.state_dict())
    assert fast.path == "chunkwise"
    x = torch.randn(140, 2, 6, dtype=torch.float64)
    (y1, s1), (y2, s2) = fast(x), loop(x)
    torch.testing.assert_close(y1, y2, rtol=1e-10, atol=1e-10)
    for a, b in zip(s1, s2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_matrix_memory_with_recurrent_gates_runs_the_loop_and_trains() -> None:
    g = prune(OPERATORS["matrix_memory"](_exp_lstm(), random.Random(3))[0])
    layer = compile_cell(g, 6, 8, "script", seed=0)
    x = torch.randn(7, 3, 6, requires_grad=True)
    y, _ = layer(x)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
