"""canonical() and genome_id(): the same cell written two ways gets the same id."""

from __future__ import annotations

import random

import pytest

from lstm_search import zoo
from lstm_search.genome import Builder, Genome, Node, canonical, genome_id
from lstm_search.genome._ops import OPS, X


def rename(g: Genome, nodes: dict[str, str] | None = None,
           states: dict[str, str] | None = None) -> Genome:
    """``g`` with nodes and states renamed (missing names kept)."""
    m = {**(nodes or {}), **(states or {})}

    def r(v: str) -> str:
        if v.startswith("below:"):  # format 2: the layer below's value of a state
            return "below:" + m.get(v[6:], v[6:])
        return m.get(v, v)

    return Genome(
        tuple(r(s) for s in g.states),
        tuple(Node(r(n.name), n.op, tuple(r(i) for i in n.inputs), n.params) for n in g.nodes),
        {r(s): r(v) for s, v in g.new_states.items()},
        r(g.output),
        g.name,
        g.values,  # format 2's value shape (mlstm's head-wise values) names no node or state
    )


def map_nodes(g: Genome, f) -> Genome:
    return g.replace(nodes=tuple(f(n) for n in g.nodes))


@pytest.mark.parametrize("name", zoo.names())
def test_renaming_internal_nodes_keeps_id(name: str) -> None:
    g = zoo.get(name)
    g2 = rename(g, nodes={n.name: f"q{k}_{n.name}" for k, n in enumerate(g.nodes)})
    assert g2 != g
    assert genome_id(g2) == genome_id(g)


@pytest.mark.parametrize("name", ["lstm", "vanilla", "fgr", "mut1"])
def test_renaming_states_keeps_id(name: str) -> None:
    g = zoo.get(name)
    g2 = rename(g, states={s: f"state_{s}_{k}" for k, s in enumerate(reversed(g.states))})
    assert genome_id(g2) == genome_id(g)
    # declaring the states in another order is the same cell too
    assert genome_id(g.replace(states=tuple(reversed(g.states)))) == genome_id(g)


@pytest.mark.parametrize("name", zoo.names())
def test_reordering_nodes_keeps_id(name: str) -> None:
    g = zoo.get(name)
    nodes = list(g.nodes)
    random.Random(7).shuffle(nodes)
    assert genome_id(g.replace(nodes=tuple(reversed(g.nodes)))) == genome_id(g)
    assert genome_id(g.replace(nodes=tuple(nodes))) == genome_id(g)


@pytest.mark.parametrize("name", ["lstm", "gru", "vanilla", "fgr"])
def test_reordering_commutative_inputs_keeps_id(name: str) -> None:
    g = zoo.get(name)
    flipped = map_nodes(g, lambda n: Node(n.name, n.op, tuple(reversed(n.inputs)), n.params)
                        if OPS[n.op].commutative else n)
    assert flipped != g
    assert genome_id(flipped) == genome_id(g)


def test_reordering_sub_inputs_changes_id() -> None:
    b = Builder(states=("h",))
    d = b.sub(b.linear("x"), b.linear("h"), name="d")
    b.set_state("h", b.tanh(d))
    g = b.build()
    flipped = map_nodes(g, lambda n: Node(n.name, n.op, n.inputs[::-1]) if n.op == "sub" else n)
    assert genome_id(flipped) != genome_id(g)


def test_reordering_blend_inputs_changes_id() -> None:
    g = zoo.get("gru")  # h' = blend(z, h, n)
    for order in ((0, 2, 1), (1, 0, 2)):
        swapped = map_nodes(g, lambda n, o=order: Node(n.name, n.op,
                                                       tuple(n.inputs[k] for k in o))
                            if n.op == "blend" else n)
        assert genome_id(swapped) != genome_id(g)


def test_name_and_default_params_do_not_change_id() -> None:
    g = zoo.get("rnn_tanh")
    explicit = map_nodes(g, lambda n: Node(n.name, n.op, n.inputs, {"bias": True, "diag": 0.0})
                         if n.op == "linear" and n.inputs != (X,) else n)
    assert genome_id(explicit) == genome_id(g) == genome_id(g.replace(name="other"))
    no_bias = map_nodes(g, lambda n: Node(n.name, n.op, n.inputs, {"bias": False})
                        if n.op == "linear" else n)
    assert genome_id(no_bias) != genome_id(g)


def _first_weights(g: Genome) -> list:
    from lstm_search.nn import compile_rnn

    return [p.detach().clone() for p in compile_rnn(g, 3, 4, seed=0, backend="eager")
            .parameters()]


def test_explicit_zero_bias_init_changes_id_because_it_changes_the_module() -> None:
    # an unset bias_init draws the bias uniformly; any explicit one (0.0 too) is a constant:
    # two cells that start differently must not share an id (search dedup)
    import torch

    g = zoo.get("rnn_tanh")
    zero = map_nodes(g, lambda n: Node(n.name, n.op, n.inputs, {"bias_init": 0.0})
                     if n.op == "linear" and n.param("bias") else n)
    assert zero != g
    assert not all(torch.equal(a, b) for a, b in zip(_first_weights(g), _first_weights(zero),
                                                      strict=True))
    assert genome_id(zero) != genome_id(g)
    assert "bias_init" in canonical(zero).to_json()
    # 0 and 0.0 are the same value
    zero_int = map_nodes(g, lambda n: Node(n.name, n.op, n.inputs, {"bias_init": 0})
                         if n.op == "linear" and n.param("bias") else n)
    assert genome_id(zero_int) == genome_id(zero)


def test_bias_init_without_a_bias_does_not_change_id() -> None:
    # bias=False leaves nothing for bias_init to set: same module, same id
    import torch

    g = zoo.get("lstm_b")
    unbiased = [n.name for n in g.nodes if n.op == "linear" and not n.param("bias")]
    assert unbiased
    noisy = map_nodes(g, lambda n: Node(n.name, n.op, n.inputs, {**n.params, "bias_init": 2.5})
                      if n.name in unbiased else n)
    assert all(torch.equal(a, b) for a, b in zip(_first_weights(g), _first_weights(noisy),
                                                  strict=True))
    assert genome_id(noisy) == genome_id(g)


def test_all_zoo_ids_distinct() -> None:
    ids = {name: genome_id(zoo.get(name)) for name in zoo.names()}
    assert len(set(ids.values())) == len(ids), ids
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids.values())


def test_jozefowicz_lstm_is_greff_np() -> None:
    """The plain LSTM of Jozefowicz et al. (no peepholes, one bias per gate) is Greff's NP:
    building it from Jozefowicz's LSTM factory gives NP's id, which is why the zoo has it once."""
    from lstm_search.zoo import _jozefowicz_lstm

    assert genome_id(_jozefowicz_lstm("lstm_j")) == genome_id(zoo.get("np"))
    assert genome_id(zoo.get("lstm_b")) != genome_id(zoo.get("np"))  # forget bias 1


@pytest.mark.parametrize("name", zoo.names())
def test_canonical_is_idempotent_and_valid(name: str) -> None:
    c = canonical(zoo.get(name))
    assert canonical(c) == c
    assert c.check() == c
    assert c.name == ""
    if zoo.get(name).output in zoo.get(name).new_states.values():  # not HGRN's gated output
        assert c.output == c.new_states["s0"]


@pytest.mark.parametrize("name", zoo.names())
def test_correspondence_of_a_rewritten_cell_is_a_checked_isomorphism(name: str) -> None:
    from lstm_search.genome import correspondence

    g = zoo.get(name)
    m = {n.name: f"q{i}" for i, n in enumerate(g.nodes)}
    m.update({s: f"t_{s}" for s in g.states})
    g2 = rename(g, nodes=m).replace(nodes=tuple(reversed(rename(g, nodes=m).nodes)))
    role = correspondence(g2, g)  # checked node by node inside
    assert sorted(role.values()) == sorted([X, *m.values()])
    # asymmetric nodes can only map one way: each to its own renamed self
    asym = [n.name for n in g.nodes
            if sum(1 for k in g.nodes if k.op == n.op and len(k.inputs) == len(n.inputs)) == 1]
    assert all(role[v] == m[v] for v in asym)
