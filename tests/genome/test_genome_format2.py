"""Genome format version 2: below:<state>, clock and linear's blocks read, validated (every
problem at once), canonicalised, written with the oldest version that holds them, drawn."""

from __future__ import annotations

import json

import pytest

from lstm_search import zoo
from lstm_search.genome import Builder, Genome, GenomeError, Node, genome_id, validate
from lstm_search.genome.draw import to_dot, to_equations


def clock_cell(**clock: object) -> Genome:
    b = Builder(states=("h",))
    pre = b.add(b.linear("x", name="xh"), b.linear("h", name="hh", bias=False, blocks=2),
                name="pre")
    b.set_state("h", b.node("clock", b.tanh(pre, name="cand"), "h", name="h_new", **clock))
    return b.build(name="clk")


def rules(problems: list) -> list[tuple[str, str]]:
    return sorted((p.where, p.rule) for p in problems)


def test_zoo_cells_of_format_2_validate_and_round_trip() -> None:
    for name in ("depth_gated", "grid_lstm", "clockwork", "lstm_attention",
                 "lstm_attentive_readout"):
        g = zoo.get(name)
        assert validate(g) == []
        data = json.loads(g.to_json())
        assert data["version"] == 2
        assert Genome.from_json(g.to_json()) == g
        assert genome_id(Genome.from_dict(data)) == genome_id(g)


def test_a_version_1_file_may_not_use_format_2_constructs() -> None:
    data = zoo.get("clockwork").to_dict()
    data["version"] = 1
    with pytest.raises(GenomeError) as e:
        Genome.from_dict(data, source="cw.json")
    got = rules(e.value.problems)
    assert got == [("node 'h_h'", "format"), ("node 'h_new'", "format")]
    assert all("needs genome format version 2" in p.message for p in e.value.problems)
    data = zoo.get("depth_gated").to_dict()
    data["version"] = 1
    with pytest.raises(GenomeError) as e:
        Genome.from_dict(data)
    assert {p.where for p in e.value.problems} == {"node 'p_ld'", "node 'dc_below'"}
    data["version"] = 3
    with pytest.raises(GenomeError) as e:
        Genome.from_dict(data)
    assert rules(e.value.problems) == [("version", "format")]
    assert "versions 1 to 2" in e.value.problems[0].message


def test_every_problem_of_format_2_at_once() -> None:
    b = Builder(states=("h", "c"))
    bad_below = b.add(b.linear("x", name="xh"), b.below("nope"), name="s1")  # not a state
    tri_x = b.linear("x", name="tri_x", blocks=2)  # blocks on the m-wide input
    neg = b.linear("h", name="neg", blocks=-1)
    clk = b.node("clock", b.add(bad_below, tri_x, neg, "c", name="s2"), "h", name="h_new")
    clk2 = b.node("clock", clk, "c", name="c_new", modules=0, base=1)
    b.set_state("h", clk)
    b.set_state("c", clk2)
    g = b.build(output="h_new")
    got = rules(validate(g))
    assert got == [("node 'c_new'", "param"), ("node 'c_new'", "param"),
                   ("node 'h_new'", "param"), ("node 'neg'", "param"),
                   ("node 's1'", "undefined-input"), ("node 'tri_x'", "width")]
    text = "\n".join(str(p) for p in validate(g))
    assert "'nope' is not a state" in text and "needs parameter 'modules'" in text
    assert "'modules' must be 1 to" in text and "'base' must be 2 to" in text


def test_wrong_types_of_format_2_parameters() -> None:
    for params in ({"modules": True}, {"modules": 2.0}, {"modules": 2, "base": "2"}):
        g = clock_cell(**params)
        assert [p.rule for p in validate(g)] == ["param"], params


def test_canonical_form_renames_below_with_its_state() -> None:
    g = zoo.get("depth_gated")
    swap = {"h": "hid", "c": "mem"}

    def r(v: str) -> str:
        return "below:" + swap[v[6:]] if v.startswith("below:") else swap.get(v, v)

    g2 = Genome(tuple(swap[s] for s in g.states),
                tuple(Node(n.name, n.op, tuple(r(i) for i in n.inputs), n.params)
                      for n in g.nodes),
                {swap[s]: v for s, v in g.new_states.items()}, g.output)
    assert validate(g2) == []
    assert genome_id(g2) == genome_id(g)
    # reading the layer below's h instead of its c is another cell
    g3 = g.replace(nodes=tuple(Node(n.name, n.op, tuple("below:h" if i == "below:c" else i
                                                        for i in n.inputs), n.params)
                               for n in g.nodes))
    assert validate(g3) == [] and genome_id(g3) != genome_id(g)


def test_clock_parameters_belong_to_the_id() -> None:
    ids = {genome_id(zoo.clockwork(g, base)) for g in (2, 4) for base in (2, 3)}
    assert len(ids) == 4
    assert genome_id(clock_cell(modules=2)) == genome_id(clock_cell(modules=2, base=2))
    # blocks=0 is a full matrix, i.e. format 1's linear: same id, written as version 1
    b = Builder(states=("h",))
    b.set_state("h", b.tanh(b.add(b.linear("x"), b.linear("h", blocks=0))))
    plain = b.build()
    assert plain.to_dict()["version"] == 2  # the file says what it holds
    assert genome_id(plain) == genome_id(zoo.get("rnn_tanh"))


def test_drawn_and_written_as_equations() -> None:
    eq = to_equations(zoo.get("depth_gated"))
    assert "below:c" in eq and "zeros in the first layer" in eq
    dot = to_dot(zoo.get("depth_gated"))
    assert '"in:below:c" -> "dc_below"' in dot and '"in:below:c" -> "p_ld"' in dot
    eq = to_equations(zoo.get("clockwork"))
    assert "W▲4·h" in eq and "4 modules" in eq and "t mod 2^i = 0" in eq
    dot = to_dot(zoo.get("clockwork"))
    assert '"cand" -> "h_new" [headlabel="on"' in dot
    assert '"in:h" -> "h_new" [headlabel="off"' in dot


def test_blocks_and_heads_are_two_structures_of_one_matrix() -> None:
    """linear's blocks (format 2, block upper triangular) and heads (block diagonal) on one
    node are refused; on two projections of the same value both are fine."""
    b = Builder(states=("h",))
    both = b.linear("h", name="both", bias=False, blocks=2, heads=2)
    b.set_state("h", b.tanh(b.add(b.linear("x", name="xh"), both, name="pre"), name="h_new"))
    got = validate(b.build(), input_size=3, hidden_size=8)
    assert rules(got) == [("node 'both'", "param")]
    assert "set one of them" in got[0].message
    b = Builder(states=("h",))
    pre = b.add(b.linear("x", name="xh"), b.linear("h", name="tri", bias=False, blocks=2),
                b.linear("h", name="heads", bias=False, heads=2), name="pre")
    b.set_state("h", b.tanh(pre, name="h_new"))
    assert validate(b.build(), input_size=3, hidden_size=8) == []


def test_domain_of_a_clock_is_the_hull_of_its_inputs() -> None:
    """A clock's value is its candidate or its previous value: with a σ candidate and the
    state starting at 0, h stays in [0, 1), so sqrt(h) is proven, log(h) is not (h may be 0)."""
    def cell(op: str) -> Genome:
        b = Builder(states=("h",))
        cand = b.sigmoid(b.add(b.linear("x", name="xh"), b.linear("h", name="hh"),
                               name="pre"), name="cand")
        h_new = b.clock(cand, "h", modules=2, name="h_new")
        b.set_state("h", h_new)
        return b.build(output=b.node(op, h_new, name="y"))

    assert validate(cell("sqrt")) == []
    got = validate(cell("log"))
    assert rules(got) == [("node 'y'", "domain")] and "[0, 1)" in got[0].message


def test_a_state_read_only_from_below_is_used() -> None:
    """Grid LSTM's depth memory: a state whose previous value no node reads is still used when
    the layer above reads it as below:<state>; read by nobody it is unused-state."""
    g = zoo.get("grid_lstm")
    assert "md" not in {i for n in g.nodes for i in n.inputs}
    assert validate(g) == []
    b = Builder(states=("h", "md"))
    h_new = b.tanh(b.add(b.linear("x", name="xh"), b.linear("h", name="hh")), name="h_new")
    b.set_state("h", h_new)
    b.set_state("md", b.tanh(b.linear("x", name="xm"), name="md_new"))
    assert rules(validate(b.build(output=h_new))) == [("state 'md'", "unused-state")]
