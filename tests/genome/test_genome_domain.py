"""Domains of log, sqrt and div: validate proves them from the ranges of values, or names the
node and the range its input may take (rule ``domain``); parameters of the new ops."""

from __future__ import annotations

import math

import pytest

from lstm_search.genome import Builder, Genome, GenomeError, Node, validate
from lstm_search.genome._canonical import topo_order
from lstm_search.genome._domain import ANY, Range, add, mul, value_ranges


def one_state(build) -> Genome:
    """``h' = tanh(build(b, pre))`` with ``pre = W x + U h``."""
    b = Builder(["h"])
    pre = b.add(b.linear("x"), b.linear("h"), name="pre")
    b.set_state("h", b.tanh(build(b, pre), name="h_new"))
    return b.build()


OK = {
    "log of sigmoid": lambda b, p: b.log(b.sigmoid(p), name="bad"),
    "log of exp": lambda b, p: b.log(b.exp(p), name="bad"),
    "log of softplus": lambda b, p: b.log(b.softplus(p), name="bad"),
    "log of 1 - sigmoid": lambda b, p: b.log(b.one_minus(b.sigmoid(p)), name="bad"),
    "log of 1 - tanh": lambda b, p: b.log(b.one_minus(b.tanh(p)), name="bad"),
    "log of sigmoid * exp": lambda b, p: b.log(b.mul(b.sigmoid(p), b.exp(p)), name="bad"),
    "log of abs + softplus": lambda b, p: b.log(b.add(b.abs(p), b.softplus(p)), name="bad"),
    "log of max(sigmoid, p)": lambda b, p: b.log(b.maximum(b.sigmoid(p), p), name="bad"),
    "log of a softplus diag": lambda b, p: b.log(b.diag(b.exp(p), weight="softplus"),
                                                 name="bad"),
    "sqrt of relu": lambda b, p: b.sqrt(b.relu(p), name="bad"),
    "sqrt of abs": lambda b, p: b.sqrt(b.abs(p), name="bad"),
    "sqrt of 1 - sigmoid^2": lambda b, p: b.sqrt(
        b.one_minus(b.mul(b.sigmoid(p), b.sigmoid(p))), name="bad"),
    "div by softplus": lambda b, p: b.div(p, b.softplus(p), name="bad"),
    "div by relu + eps": lambda b, p: b.div(p, b.relu(p), eps=1e-6, name="bad"),
    "div by -exp": lambda b, p: b.div(p, b.scale(b.exp(p), -2.0), name="bad"),
    "div by sigmoid + sigmoid": lambda b, p: b.div(p, b.add(b.sigmoid(p), b.sigmoid("h")),
                                                   name="bad"),
}
BAD = {
    "log of a projection": (lambda b, p: b.log(p, name="bad"), "(−∞, ∞)"),
    "log of relu": (lambda b, p: b.log(b.relu(p), name="bad"), "[0, ∞)"),
    "log of tanh": (lambda b, p: b.log(b.tanh(p), name="bad"), "(−1, 1)"),
    "log of min(sigmoid, p)": (lambda b, p: b.log(b.minimum(b.sigmoid(p), p), name="bad"),
                               "(−∞, 1)"),
    "log of a free diag": (lambda b, p: b.log(b.diag(b.exp(p)), name="bad"), "(−∞, ∞)"),
    "sqrt of tanh": (lambda b, p: b.sqrt(b.tanh(p), name="bad"), "(−1, 1)"),
    "sqrt of logsigmoid": (lambda b, p: b.sqrt(b.logsigmoid(p), name="bad"), "(−∞, 0)"),
    "div by relu": (lambda b, p: b.div(p, b.relu(p), name="bad"), "[0, ∞)"),
    "div by tanh + eps": (lambda b, p: b.div(p, b.tanh(p), eps=0.5, name="bad"),
                          "(−0.5, 1.5)"),
    "div by sigmoid - 0.5": (lambda b, p: b.div(p, b.sub(b.sigmoid(p), b.sigmoid("h")),
                                                name="bad"), "(−0.731059, 0.731059)"),
}


@pytest.mark.parametrize("case", sorted(OK))
def test_values_in_their_domain_are_accepted(case: str) -> None:
    assert validate(one_state(OK[case])) == []


@pytest.mark.parametrize("case", sorted(BAD))
def test_values_that_may_leave_the_domain_are_named(case: str) -> None:
    build, shown = BAD[case]
    problems = validate(one_state(build))
    assert [(p.where, p.rule) for p in problems] == [("node 'bad'", "domain")]
    assert shown in problems[0].message
    with pytest.raises(GenomeError, match="domain"):
        one_state(build).check()


def test_states_start_at_zero_and_are_closed_over_the_steps() -> None:
    # xLSTM's normaliser: n' = f ⊙ n + i with f = σ(·) and i = exp(·) > 0; n itself starts at 0
    b = Builder(["c", "n"])
    i = b.exp(b.linear("x"), name="i")
    f = b.sigmoid(b.linear("x"), name="f")
    n_new = b.add(b.mul(f, "n"), i, name="n_new")
    c_new = b.add(b.mul(f, "c"), b.mul(i, b.tanh(b.linear("x"))), name="c_new")
    b.set_state("n", n_new)
    b.set_state("c", c_new)
    good = b.build(output=b.div(c_new, n_new, name="h"))
    assert validate(good) == []
    ranges, _ = value_ranges(good, topo_order(good))
    assert ranges["n"] == Range(0.0, math.inf, False, True)  # 0 at the first step
    assert ranges["n_new"].positive
    # dividing by the previous n divides by 0 at the first step
    bad = good.replace(nodes=tuple(
        Node("h", "div", ("c_new", "n")) if n.name == "h" else n for n in good.nodes))
    problems = validate(bad)
    assert [(p.where, p.rule) for p in problems] == [("node 'h'", "domain")]


def test_a_state_that_grows_without_bound_is_widened() -> None:
    # s' = s + softplus(·): its range grows every round until widened to [0, ∞)
    b = Builder(["s"])
    s_new = b.add("s", b.softplus(b.linear("x")), name="s_new")
    b.set_state("s", s_new)
    g = b.build(output=b.log(b.add(b.sigmoid(b.linear("s")), s_new), name="out"))
    assert validate(g) == []
    ranges, _ = value_ranges(g, topo_order(g))
    assert ranges["s"] == Range(0.0, math.inf, False, True)


def test_interval_arithmetic() -> None:
    unit = Range(0.0, 1.0, True, True)
    pos = Range(0.0, math.inf, True, True)
    assert mul(unit, pos) == pos
    assert mul(unit, Range(-1.0, 1.0, True, True)) == Range(-1.0, 1.0, True, True)
    assert mul(Range(0.0, 0.0), ANY) == Range(0.0, 0.0)
    assert add(unit, Range(2.0, 3.0)) == Range(2.0, 4.0, True, True)
    assert mul(Range(-2.0, 3.0), Range(-1.0, 4.0)) == Range(-8.0, 12.0)


def test_parameters_of_the_new_ops_are_checked() -> None:
    def cell(op, **params):
        b = Builder(["h"])
        p = b.add(b.linear("x"), b.linear("h"))
        v = b.node(op, p, b.softplus(b.linear("h")), name="v", **params) if op == "div" \
            else b.node(op, p, name="v", **params)
        b.set_state("h", b.tanh(v))
        return b.build()

    def rules(g):
        return [(p.where, p.rule) for p in validate(g)]

    assert rules(cell("div", eps=-1e-3)) == [("node 'v'", "param")]
    assert rules(cell("div", eps=math.inf)) == [("node 'v'", "param")]
    assert rules(cell("scale", by=math.nan)) == [("node 'v'", "param")]
    assert rules(cell("scale", by="2")) == [("node 'v'", "param")]
    assert rules(cell("diag", weight="tanh")) == [("node 'v'", "param")]
    assert rules(cell("diag", weight=1)) == [("node 'v'", "param")]
    assert rules(cell("exp", base=2.0)) == [("node 'v'", "param")]
    assert rules(cell("scale", by=-8)) == []
    problems = validate(cell("diag", weight="tanh"))
    assert "free, sigmoid, softplus, exp" in problems[0].message


def test_genomes_with_the_new_ops_round_trip_through_json() -> None:
    g = one_state(OK["div by relu + eps"])
    assert Genome.from_json(g.to_json()) == g
    b = Builder(["h"])
    b.set_state("h", b.tanh(b.diag(b.scale(b.linear("x"), 0.5), weight="sigmoid")))
    g = b.build()
    assert Genome.from_json(g.to_json()) == g


def test_check_command_reports_domains_and_head_counts(tmp_path, capsys) -> None:
    from lstm_search import zoo
    from lstm_search.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text(one_state(BAD["log of relu"][0]).to_json())
    assert main(["check", str(bad)]) == 2
    out = capsys.readouterr()
    assert "node 'bad': log needs a value > 0; its input may be in [0, ∞) [domain]" in \
        out.out + out.err
    heads = tmp_path / "slstm_h4.json"
    heads.write_text(zoo.slstm(4).to_json())
    assert main(["check", str(heads), "--input-size", "8", "--hidden-size", "8"]) == 0
    assert main(["check", str(heads), "--input-size", "8", "--hidden-size", "6"]) == 2
    out = capsys.readouterr()
    assert "4 heads do not divide the hidden size 6 [width]" in out.out + out.err
