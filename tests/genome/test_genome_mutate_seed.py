"""The opt-in mutation operators towards the seed systems (``SEED_OPERATORS``): ``attend_state``
turns the LSTM into the LSTMN-style cell built by hand, ``attention_window`` changes K,
``clock_state`` turns the SRN into a Clockwork RNN whose slow modules keep their values at
their sleeping steps; none applies where its construct cannot (spatial cells, an attended or
clocked state); ``mutate`` and the search config take them by name."""

from __future__ import annotations

import random

import pytest
import torch

from lstm_search import zoo
from lstm_search.experiment import SearchConfig
from lstm_search.genome import (
    OPERATORS,
    SEED_OPERATORS,
    Builder,
    genome_id,
    module_sizes,
    mutate,
    n_params,
    validate,
)
from lstm_search.nn import compile_rnn


def _apply(op: str, name: str, seed: int = 0):
    result = OPERATORS[op](zoo.get(name), random.Random(seed))
    assert result is not None, (op, name)
    genome, text = result
    assert validate(genome) == [], (op, name, validate(genome))
    assert genome_id(genome) != genome_id(zoo.get(name))
    return genome, text


def _lstmn_like(window: int):
    """torch's LSTM (both biases) whose four gates read an attention context over h, queried
    by W_q h."""
    b = Builder(states=("h", "c"))
    q = b.linear("h", bias=False, name="q")
    ctx = b.attention(q, "h", window=window, name="ctx")

    def pre(g: str) -> str:
        return b.add(b.linear("x", name=f"x_{g}"), b.linear(ctx, name=f"u_{g}"),
                     name=f"{g}_pre")

    i, f = b.sigmoid(pre("i"), name="i"), b.sigmoid(pre("f"), name="f")
    g, o = b.tanh(pre("g"), name="g"), b.sigmoid(pre("o"), name="o")
    c_new = b.add(b.mul(f, "c", name="fc"), b.mul(i, g, name="ig"), name="c_new")
    b.set_state("c", c_new)
    b.set_state("h", b.mul(o, b.tanh(c_new, name="tc"), name="h_new"))
    return b.build(output_state="h", name="lstmn_like")


@pytest.mark.parametrize("seed", range(6))
def test_attend_state_turns_the_lstm_into_the_lstmn_like_cell(seed: int) -> None:
    mutant, text = _apply("attend_state", "lstm", seed)
    window = next(n for n in mutant.nodes if n.op == "attention").params.get("window", 0)
    assert genome_id(mutant) == genome_id(_lstmn_like(window)), text
    m, n = 5, 8  # the LSTM's parameters, a query W_q (n²) and the attention's W_k, v (n² + n)
    assert n_params(mutant, m, n) == n_params(zoo.get("lstm"), m, n) + 2 * n * n + n
    assert OPERATORS["attend_state"](mutant, random.Random(seed)) is None  # h is attended
    y, _ = compile_rnn(mutant, m, n, num_layers=2, backend="script", seed=1)(
        torch.randn(7, 2, m))
    assert torch.isfinite(y).all()


def test_attention_window_reaches_every_choice() -> None:
    seen = set()
    for seed in range(40):
        mutant, _ = _apply("attention_window", "lstm_attention", seed)
        (node,) = [n for n in mutant.nodes if n.op == "attention"]
        seen.add(node.params.get("window", 0))
    assert seen == {1, 2, 4, 16, 0}  # every choice but the zoo's 8
    assert OPERATORS["attention_window"](zoo.get("lstm"), random.Random(0)) is None


def test_clock_state_makes_the_srn_a_clockwork_rnn_whose_slow_modules_sleep() -> None:
    for seed in range(10):
        mutant, text = _apply("clock_state", "rnn_tanh", seed)
        (clock,) = [n for n in mutant.nodes if n.op == "clock"]
        if clock.params["modules"] == 2:
            break
    else:
        pytest.fail("no 2-module clock in 10 draws")
    b = Builder(states=("h",))  # the Clockwork RNN with a full (not triangular) W_H
    pre = b.add(b.linear("x", name="a"), b.linear("h", name="u"), name="p")  # torch's 2 biases
    b.set_state("h", b.clock(b.tanh(pre, name="t"), "h", modules=2, name="k"))
    expected = b.build(output_state="h", name="cw")
    assert genome_id(mutant) == genome_id(expected), text
    n = 6
    rnn = compile_rnn(mutant, 3, n, backend="script", seed=2).double()
    y, _ = rnn(torch.randn(9, 2, 3, dtype=torch.float64))
    fast = module_sizes(n, 2)[0]  # units of module 0 (period 1); module 1 follows
    for t in range(1, 9):  # module 1 (period 2) takes new values at even steps only
        moved = (y[t, :, fast:] - y[t - 1, :, fast:]).abs().max().item()
        assert (moved == 0) == (t % 2 == 1), (t, moved)
        assert (y[t, :, :fast] - y[t - 1, :, :fast]).abs().max() > 0
    assert OPERATORS["clock_state"](mutant, random.Random(0)) is None  # h is clocked already


def test_clock_state_of_the_lstm_clocks_what_h_reads() -> None:
    mutant, _ = _apply("clock_state", "lstm", 1)
    (clock,) = [n for n in mutant.nodes if n.op == "clock"]
    state = clock.inputs[1]
    # nothing reads the unclocked value but the clock: the state and its readers agree
    readers = [n.name for n in mutant.nodes if clock.inputs[0] in n.inputs]
    assert readers == [clock.name] and mutant.new_states[state] == clock.name


@pytest.mark.parametrize("seed", range(3))
def test_depth_gate_turns_the_peephole_lstm_into_the_depth_gated_lstm(seed: int) -> None:
    mutant, text = _apply("depth_gate", "vanilla", seed)
    assert genome_id(mutant) == genome_id(zoo.get("depth_gated")), text
    m, n = 5, 8  # the depth gate's W_d, b_d and its two peepholes
    assert n_params(mutant, m, n) == n_params(zoo.get("vanilla"), m, n) + n * m + 3 * n
    assert OPERATORS["depth_gate"](mutant, random.Random(seed)) is None  # c reads below: c
    for name in ("gru", "cifg", "slstm"):  # no memory with separate sigmoid i and f gates
        assert OPERATORS["depth_gate"](zoo.get(name), random.Random(seed)) is None


def test_depth_gate_of_the_lstm_matters_in_a_stack_only() -> None:
    """The first layer's below:c reads zeros: there the depth gate's nm + 3n weights get no
    gradient (the layer computes an LSTM); a second layer's gate reads the first's memory and
    every one of its weights gets one."""
    mutant, _ = _apply("depth_gate", "lstm", 0)
    m, n = 4, 5
    x = torch.randn(6, 2, m, dtype=torch.float64)
    for layers in (1, 2):
        rnn = compile_rnn(mutant, m, n, num_layers=layers, backend="script", seed=3).double()
        y, _ = rnn(x)
        y.square().sum().backward()
        zeros = sum(int((p.grad == 0).sum()) for p in rnn.parameters())
        assert zeros == n * m + 3 * n, (layers, zeros)


@pytest.mark.parametrize("op", SEED_OPERATORS)
def test_no_seed_operator_applies_to_a_spatial_cell(op: str) -> None:
    assert OPERATORS[op](zoo.get("convlstm"), random.Random(0)) is None


def test_mutate_and_the_search_take_the_seed_operators_by_name() -> None:
    assert SearchConfig(mutation_operators=SEED_OPERATORS).mutation_operators == SEED_OPERATORS
    ops = set()
    for seed in range(12):
        m = mutate(zoo.get("lstm"), seed, operators=SEED_OPERATORS)
        assert validate(m.genome) == []
        ops |= {d.split(":")[0] for d in m.ops}
        compile_rnn(m.genome, 4, 8, backend="script")(torch.randn(5, 2, 4))
    assert {"attend_state", "clock_state", "depth_gate"} <= ops
