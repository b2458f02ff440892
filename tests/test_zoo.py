"""The zoo: parameter counts against the formulas of shared/reference/cells.md, validity."""

from __future__ import annotations

import pytest

from lstm_search import zoo
from lstm_search.genome import n_params, validate

SIZES = [(7, 7), (3, 5), (128, 64), (10, 200)]  # (m, n), equal and unequal widths


def vanilla(m: int, n: int) -> int:
    return 4 * n * m + 4 * n * n + 4 * n + 3 * n


def three_gate(m: int, n: int) -> int:  # NIG, NFG, NOG, CIFG: one gate and its peephole fewer
    return 3 * n * m + 3 * n * n + 3 * n + 2 * n


def fit(m: int, n: int) -> int:
    """Jozefowicz et al. 2015: adding x to an n-wide vector projects x only when m != n."""
    return 0 if m == n else n * m


FORMULAS = {
    "rnn_tanh": lambda m, n: n * m + n * n + 2 * n,
    "lstm": lambda m, n: 4 * n * m + 4 * n * n + 8 * n,
    "gru": lambda m, n: 3 * n * m + 3 * n * n + 6 * n,
    "vanilla": vanilla,
    "nig": three_gate,
    "nfg": three_gate,
    "nog": three_gate,
    "cifg": three_gate,
    "niaf": vanilla,
    "noaf": vanilla,
    "np": lambda m, n: 4 * n * m + 4 * n * n + 4 * n,
    "fgr": lambda m, n: vanilla(m, n) + 9 * n * n,
    "lstm_b": lambda m, n: 4 * n * m + 4 * n * n + 4 * n,
    "lstm_f": lambda m, n: 3 * n * m + 3 * n * n + 3 * n,
    "lstm_i": lambda m, n: 3 * n * m + 3 * n * n + 3 * n,
    "lstm_o": lambda m, n: 3 * n * m + 3 * n * n + 3 * n,
    # MUT1: z = σ(W_xz x + b_z) [nm + n]; r = σ(W_xr x + W_hr h + b_r) [nm + n² + n];
    #       h' = tanh(W_hh (r ⊙ h) + tanh(x) + b_h) ... [n² + n, + nm for x when m != n]
    "mut1": lambda m, n: (n * m + n) + (n * m + n * n + n) + (n * n + n) + fit(m, n),
    # MUT2: z = σ(W_xz x + W_hz h + b_z) [nm + n² + n]; r = σ(x + W_hr h + b_r) [n² + n + fit];
    #       h' = tanh(W_hh (r ⊙ h) + W_xh x + b_h) ... [n² + nm + n]
    "mut2": lambda m, n: (n * m + n * n + n) + (n * n + n + fit(m, n)) + (n * n + n * m + n),
    # MUT3: z = σ(W_xz x + W_hz tanh(h) + b_z) [nm + n² + n]; r = σ(W_xr x + W_hr h + b_r)
    #       [nm + n² + n]; h' = tanh(W_hh (r ⊙ h) + W_xh x + b_h) ... [n² + nm + n]
    "mut3": lambda m, n: 3 * (n * m + n * n + n),
    # DARTSCell: W0 (m + n) x 2n, one n x 2n matrix per node, no biases
    "darts_v1": lambda m, n: 2 * n * (m + n) + 8 * 2 * n * n,
    "darts_v2": lambda m, n: 2 * n * (m + n) + 8 * 2 * n * n,
    "enas": lambda m, n: 2 * n * (m + n) + 11 * 2 * n * n,
    # Yao et al. 2015: a peephole LSTM and the depth gate W_d x + p_cd ⊙ c + p_ld ⊙ c^L + b_d
    "depth_gated": lambda m, n: vanilla(m, n) + n * m + 3 * n,
    # Kalchbrenner et al. 2015: two LSTM transforms (time, depth) of 4 gates over [h; x]
    "grid_lstm": lambda m, n: 2 * (4 * n * m + 4 * n * n + 4 * n),
    # Koutník et al. 2014: W_I, b and a block upper triangular W_H over g = 4 modules
    "clockwork": lambda m, n: n * m + n + clockwork_recurrent(n, 4),
    # LSTMN-style: query W_qx x + W_qh h [nm + n²], attention W_k, v [n² + n], four gates
    # reading x and the context [4(nm + n² + n)]
    "lstm_attention": lambda m, n: 5 * n * m + 6 * n * n + 5 * n,
    # Daniluk et al. 2017: an LSTM [4(nm + n² + n)], query W_h [n²], attention W_Y, w [n² + n],
    # read-out W_r, W_x [2n²], no biases beyond the LSTM's
    "lstm_attentive_readout": lambda m, n: 4 * n * m + 8 * n * n + 5 * n,
    # -- modern recurrences (tests/test_zoo_modern.py has their parity tests) --
    # minGRU: z, h̃ from x [2(nm + n)]; minLSTM: f, i, h̃ from x [3(nm + n)]
    "mingru": lambda m, n: 2 * (n * m + n),
    "minlstm": lambda m, n: 3 * (n * m + n),
    # RG-LRU: r, i from x [2(nm + n)], Λ [n], fit(x) [nm when m != n]
    "rglru": lambda m, n: 2 * (n * m + n) + n + fit(m, n),
    # HGRN: bias-free f, i, g from x [3nm], the lower bound's σ(p) [n], the norm's weight [n]
    "hgrn": lambda m, n: 3 * n * m + 2 * n,
    # sLSTM: i, f, z, o from x [4(nm + n)] and from y [4n², no bias]
    "slstm": lambda m, n: 4 * (n * m + n) + 4 * n * n,
    # mLSTM (one head): q, k, v, o from x [4nm], o's bias [n], ĩ and f̃ per head [2(m + 1)]
    "mlstm": lambda m, n: 4 * n * m + n + 2 * (m + 1),
}


def clockwork_recurrent(n: int, g: int) -> int:
    """Entries of W_H on and above the block diagonal: k²·g(g+1)/2 for n = g·k; otherwise
    module i has k_i units (the first n mod g one more) and block (i, j ≥ i) has k_i·k_j."""
    ks = [n // g + (1 if i < n % g else 0) for i in range(g)]
    return sum(ks[i] * ks[j] for i in range(g) for j in range(i, g))


def test_clockwork_count_is_the_papers_when_modules_divide_n() -> None:
    # n·m + k²·g(g+1)/2 + n (cells.md), n = 64, g = 4, k = 16
    assert n_params(zoo.get("clockwork"), 10, 64) == 64 * 10 + 16 * 16 * 4 * 5 // 2 + 64
    assert n_params(zoo.clockwork(8), 3, 16) == 16 * 3 + 2 * 2 * 8 * 9 // 2 + 16


def test_every_zoo_cell_has_a_formula() -> None:
    assert set(FORMULAS) == set(zoo.names())


@pytest.mark.parametrize("m,n", SIZES)
@pytest.mark.parametrize("name", zoo.names())
def test_parameter_count(name: str, m: int, n: int) -> None:
    assert n_params(zoo.get(name), m, n) == FORMULAS[name](m, n)


def test_mut_x_term_is_free_when_widths_match() -> None:
    # With m == n, MUT1's tanh(x) and MUT2's "x +" are x itself: no parameters for them.
    assert n_params(zoo.get("mut1"), 9, 9) == 2 * 9 * 9 + 2 * 81 + 3 * 9
    # With m != n they are a learned n×m projection (no bias).
    assert n_params(zoo.get("mut1"), 4, 9) == 2 * 9 * 4 + 2 * 81 + 3 * 9 + 9 * 4
    assert n_params(zoo.get("mut2"), 9, 9) == FORMULAS["mut2"](9, 9) == 2 * 81 + 3 * 81 + 3 * 9


@pytest.mark.parametrize("name", zoo.names())
def test_every_cell_validates(name: str) -> None:
    g = zoo.get(name)
    assert validate(g) == []
    assert validate(g, input_size=128, hidden_size=128) == []
    assert g.name == name


def test_unknown_name_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError) as e:
        zoo.get("lstmm")
    msg = str(e.value)
    assert "'lstmm'" in msg and "known:" in msg and "gru" in msg


def test_names_and_groups() -> None:
    names = zoo.names()
    assert names[:3] == ("rnn_tanh", "lstm", "gru")
    assert len(set(names)) == len(names)
    assert set(zoo.GREFF_VARIANTS) | set(zoo.JOZEFOWICZ_CELLS) | {"vanilla"} <= set(names)
    assert zoo.get("lstm") is zoo.get("lstm")  # frozen values, built once


def test_structure_of_variants() -> None:
    """Each Greff variant changes what its name says (Greff et al. 2015, Table 1)."""
    ops = {name: [n.op for n in zoo.get(name).nodes] for name in zoo.names()}
    assert ops["np"].count("diag") == 0 and ops["vanilla"].count("diag") == 3
    assert ops["cifg"].count("one_minus") == 1
    assert ops["niaf"].count("tanh") == ops["vanilla"].count("tanh") - 1
    assert ops["noaf"].count("tanh") == ops["vanilla"].count("tanh") - 1
    assert zoo.get("fgr").states == ("h", "c", "i", "f", "o")
    lstm_b_f = zoo.get("lstm_b").node_map["x_f"]
    assert lstm_b_f.param("bias_init") == 1.0
