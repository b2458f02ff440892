"""random_genome: seeded, always valid; canonical form and id stable under renaming/shuffling."""

from __future__ import annotations

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_search.genome import (
    Genome,
    Node,
    canonical,
    genome_id,
    n_params,
    prune,
    random_genome,
    validate,
)
from lstm_search.genome._ops import OPS

seeds = st.integers(min_value=0, max_value=2**63)


def scramble(g: Genome, rng: random.Random) -> Genome:
    """The same cell with nodes and states renamed, nodes and states listed in another order and
    inputs of commutative ops permuted."""
    nodes = [n.name for n in g.nodes]
    new = [f"v{k}" for k in range(len(nodes))]
    rng.shuffle(new)
    states = list(g.states)
    snew = [f"st{k}" for k in range(len(states))]
    rng.shuffle(snew)
    m = dict(zip(nodes, new)) | dict(zip(states, snew))

    def r(v: str) -> str:
        return m.get(v, v)

    out = []
    for n in g.nodes:
        ins = [r(i) for i in n.inputs]
        if OPS[n.op].commutative:
            rng.shuffle(ins)
        out.append(Node(r(n.name), n.op, tuple(ins), n.params))
    rng.shuffle(out)
    st_order = [r(s) for s in g.states]
    rng.shuffle(st_order)
    return Genome(tuple(st_order), tuple(out), {r(s): r(v) for s, v in g.new_states.items()},
                  r(g.output))


@settings(max_examples=150, deadline=None)
@given(seed=seeds)
def test_always_valid_and_deterministic(seed: int) -> None:
    g = random_genome(seed)
    assert validate(g) == []
    assert 1 <= len(g.states) <= 2 and 4 <= len(g.nodes) <= 16
    assert random_genome(seed) == g
    assert random_genome(random.Random(seed)) == g


@settings(max_examples=100, deadline=None)
@given(seed=seeds)
def test_json_round_trip(seed: int) -> None:
    g = random_genome(seed, n_states=(1, 3), name="rand")
    assert Genome.from_json(g.to_json()) == g


# derandomized: the same 100 examples on every machine, so that a CI run does not fail on the
# known limit below by the luck of the draw (hypothesis found the example that xfails there)
@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(seed=seeds, shuffle_seed=seeds)
def test_canonical_idempotent_and_id_stable(seed: int, shuffle_seed: int) -> None:
    g = random_genome(seed, n_states=(1, 3), n_nodes=(3, 24))
    c = canonical(g)
    assert canonical(c) == c
    assert validate(c) == []
    g2 = scramble(g, random.Random(shuffle_seed))
    assert canonical(g2) == c
    assert genome_id(g2) == genome_id(g)


@pytest.mark.parametrize("n_states,n_nodes", [(1, 2), (2, (6, 6)), (3, (10, 30)), ((1, 4), 8)])
def test_sizes_respected(n_states, n_nodes) -> None:
    s_lo, s_hi = (n_states, n_states) if isinstance(n_states, int) else n_states
    lo, hi = (n_nodes, n_nodes) if isinstance(n_nodes, int) else n_nodes
    for seed in range(20):
        g = random_genome(seed, n_states=n_states, n_nodes=n_nodes)
        assert s_lo <= len(g.states) <= s_hi and lo <= len(g.nodes) <= hi
        assert validate(g) == [] and prune(g) == g


def test_seeds_give_different_cells() -> None:
    ids = {genome_id(random_genome(s)) for s in range(200)}
    assert len(ids) >= 190


def test_op_weights() -> None:
    weights = {"linear": 1.0, "mul": 1.0, "tanh": 1.0}
    for seed in range(30):
        g = random_genome(seed, op_weights=weights)
        assert {n.op for n in g.nodes} <= set(weights)
    g = random_genome(0, op_weights={"linear": 1.0, "add": 1.0, "blend": 5.0}, n_nodes=(8, 12))
    assert any(n.op == "blend" for n in g.nodes)
    assert n_params(g, 3, 5) > 0


def test_scan_draws_are_cells_the_compiler_scans() -> None:
    """``scan=1``: every draw is a diagonal affine recurrence with input-only gates, so the
    plan takes the parallel scan, and the scan computes what the step loop computes; with
    ``scan`` 0 the free draws reach that form about once in 150 (2 of these 300)."""
    from lstm_search.compile import build_plan
    from lstm_search.nn import compile_cell

    free = sum(build_plan(random_genome(seed), 5, 4).scannable for seed in range(300))
    assert free <= 5
    states, sizes = set(), set()
    for seed in range(60):
        g = random_genome(seed, scan=1.0, n_states=(1, 3), n_nodes=(4, 12))
        assert validate(g, max_nodes=12) == [] and 4 <= len(g.nodes) <= 12
        assert build_plan(g, 5, 4).scannable, (seed, build_plan(g, 5, 4).path)
        states.add(len(g.states))
        sizes.add(len(g.nodes))
        if seed % 10 == 0:  # the scan and the loop agree (float64)
            x = torch.randn(9, 2, 5, dtype=torch.float64)
            scan = compile_cell(g, 5, 4, "eager", seed=seed).double()
            loop = compile_cell(g, 5, 4, "eager", seed=seed, scan=False).double()
            assert scan.path == "scan" and loop.path != "scan"
            assert (scan(x)[0] - loop(x)[0]).abs().max() <= 1e-10
    assert states == {1, 2, 3} and len(sizes) >= 5
    half = sum(build_plan(random_genome(seed, scan=0.5), 5, 4).scannable
               for seed in range(100))
    assert 30 <= half <= 70
    assert random_genome(7, scan=1.0) == random_genome(7, scan=1.0)  # seeded
    for bad in (-0.1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="scan"):
            random_genome(0, scan=bad)
    with pytest.raises(ValueError, match="attention"):
        random_genome(0, scan=1.0, op_weights={"linear": 1.0, "attention": 1.0})


def test_memory_draws_are_matrix_memories_the_compiler_runs_in_chunks() -> None:
    """``memory=1``: every draw is a head-wise gated matrix memory of one of the three gate
    forms, on the chunkwise path, equal to its step loop (float64, gradients through the
    input); ``memory=0`` draws what it drew before; bad values are refused."""
    from lstm_search.compile import build_plan
    from lstm_search.genome import hidden_multiple
    from lstm_search.nn import RecurrentLayer

    forms, heads = set(), set()
    for seed in range(60):
        g = random_genome(seed, memory=1.0, heads=(2, 4), n_nodes=(4, 34))
        assert validate(g, max_nodes=34) == [] and 4 <= len(g.nodes) <= 34
        assert any(n.op == "outer" for n in g.nodes) and g.states[0] == "C"
        n = 2 * hidden_multiple(g)
        plan = build_plan(g, 5, n)
        assert plan.chunkwise, (seed, plan.path)
        # stabilised: m and two head-wise gates; sigmoid: two; a decay alone: one
        forms.add(("m" in g.states, sum(n.op == "head_linear" for n in g.nodes)))
        heads.add(g.values["heads"])
        if seed % 12 == 0:
            loop = RecurrentLayer(g, 5, n, backend="eager", scan=False).double()
            fast = RecurrentLayer(g, 5, n, backend="script").double()
            fast.load_state_dict(loop.state_dict())
            x = torch.randn(70, 2, 5, dtype=torch.float64)
            got = []
            for layer in (fast, loop):
                xx = x.clone().requires_grad_()
                y, _ = layer(xx)
                y.pow(2).sum().backward()
                got.append((y, xx.grad))
            for a, b in zip(*got, strict=True):
                torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
    assert heads == {2, 4} and forms == {(True, 2), (False, 2), (False, 1)}, forms
    # at most 16 nodes (the default) the stabilised form (27-30 nodes) does not fit
    assert not any("m" in random_genome(s, memory=1.0).states for s in range(30))
    assert random_genome(5, memory=0.0) == random_genome(5)
    assert random_genome(5, memory=1.0) == random_genome(5, memory=1.0)  # seeded
    assert random_genome(5, memory=1.0).values["heads"] == 1  # no head counts: one head
    for bad in (-0.1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="memory"):
            random_genome(0, memory=bad)


def test_head_wise_projections_when_asked_and_the_same_cells_when_not() -> None:
    from lstm_search.evaluate import hidden_multiple
    from lstm_search.nn import compile_rnn

    with_heads = 0
    for seed in range(30):
        plain, g = random_genome(seed), random_genome(seed, heads=(2, 4))
        assert not any("heads" in n.params for n in plain.nodes)
        counts = [n.params["heads"] for n in g.nodes if "heads" in n.params]
        assert set(counts) <= {2, 4}
        assert all(n.inputs[0] != "x" for n in g.nodes if "heads" in n.params)
        with_heads += bool(counts)
        n = 4 * hidden_multiple(g)  # a size the heads divide: it builds and runs
        rnn = compile_rnn(g, 3, n)
        assert sum(p.numel() for p in rnn.parameters()) == n_params(g, 3, n)
        rnn(torch.randn(2, 2, 3))
    assert with_heads >= 10
    # without heads no draw is added: seeds give the cells they gave before heads existed
    assert [genome_id(random_genome(s)) for s in range(5)] == [
        "2f3717ba6c31c499", "6288428e957846dc", "d9274d6fa5344dfe", "0c6b3f129986b945",
        "1c5537d755695c1e"]
    for bad in ((1,), (2.0,), (True,)):
        with pytest.raises(ValueError, match="heads"):
            random_genome(0, heads=bad)


def test_uses_no_global_random_state() -> None:
    random.seed(1)
    before = random.getstate()
    random_genome(3)
    assert random.getstate() == before


@pytest.mark.parametrize("kwargs,match", [
    ({"op_weights": {"conv": 1.0}}, "unknown op 'conv'"),
    ({"op_weights": {"linear": -1.0}}, ">= 0"),
    ({"n_nodes": (5, 2)}, "n_nodes"),
    ({"n_states": 0}, "n_states"),
])
def test_bad_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        random_genome(0, **kwargs)
    with pytest.raises(TypeError):
        random_genome("seed")  # type: ignore[arg-type]


def test_random_cells_and_mutants_compile_and_run() -> None:
    """Valid means usable: each compiles, has n_params parameters and runs two steps."""
    try:
        from lstm_search.nn import compile_rnn
    except ImportError as e:
        pytest.skip(f"lstm_search.nn is not available: {e}")
    import torch

    from lstm_search import zoo
    from lstm_search.genome import mutate

    for seed in range(30):
        g = random_genome(seed, n_states=(1, 3)) if seed % 2 else \
            mutate(zoo.get(zoo.names()[seed % len(zoo.names())]), seed).genome
        rnn = compile_rnn(g, input_size=3, hidden_size=5, backend="eager", seed=seed)
        assert sum(p.numel() for p in rnn.parameters()) == n_params(g, 3, 5)
        y, _ = rnn(torch.randn(2, 2, 3))  # (T, B, m)
        assert y.shape == (2, 2, 5) and torch.isfinite(y).all()


@pytest.mark.xfail(strict=True, reason="known limit of the canonical form (genome/_canonical.py:"
                   " refinement can tie values that are not interchangeable, and the tie is then"
                   " broken by node order): this 24-node random genome gets another id when its"
                   " nodes are listed in another order")
def test_canonical_form_of_a_genome_that_refinement_cannot_separate() -> None:
    g = random_genome(756_508_379_098, n_states=(1, 3), n_nodes=(3, 24))
    assert genome_id(scramble(g, random.Random(0))) == genome_id(g)
