"""The zoo's ``lstm_attentive_readout``: an LSTM whose output attends over its last K outputs
(Daniluk, Rocktäschel, Welbl & Riedel 2017, "Frustratingly Short Attention Spans in Neural
Language Modeling", section 2.1, eq. 1-3). A plain PyTorch loop written from the paper's
equations, with the compiled module's weights copied into it, agrees in float64 to 1e-10 in
outputs, final states and every gradient (input, initial states, weights) for 1 and 2 layers
and windows K = 1, 5 and every earlier step, at two sizes, on the eager and script backends;
the recurrence is the plain LSTM's; the read-out is causal; parameters ``4nm + 8n² + 5n``."""

from __future__ import annotations

import pytest
import torch
from compile_helpers import (
    assert_weight_grads_match,
    forward_backward_both,
    lstm_step,
    weights_of,
)
from torch import Tensor

from lstm_search import zoo
from lstm_search.genome import n_params, validate
from lstm_search.nn import compile_rnn

TOL = 1e-10
T, B = 9, 2
SPECIAL = {"r": "w"}  # the attention node r: W_Y under r, its score vector w under r.w


def reference(x: Tensor, h0: Tensor, c0: Tensor, layers: list[dict[str, Tensor]],
              window: int) -> tuple[Tensor, Tensor, Tensor]:
    """Daniluk et al.'s attentive LSTM, step by step: the LSTM, then
    M_t = tanh(W_Y Y_t + W_h h_t 1ᵀ), α_t = softmax(wᵀ M_t), r_t = Y_t α_tᵀ,
    h*_t = tanh(W_r r_t + W_x h_t); Y_t the layer's last K outputs h (not h*)."""
    hs, cs = [], []
    for k, w in enumerate(layers):
        h, c = h0[k], c0[k]
        memory: list[Tensor] = []  # h_1, h_2, ... of this layer, this call
        ys = []
        for t in range(x.shape[0]):
            xt = x[t]

            def pre(g: str, xt: Tensor = xt, h: Tensor = h, w: dict = w) -> Tensor:
                return xt @ w[f"x_{g}"].T + w[f"x_{g}.b"] + h @ w[f"h_{g}"].T

            h, c = lstm_step(pre, c)
            y_mem = memory[-window:] if window else memory
            if y_mem:
                Y = torch.stack(y_mem, 2)  # (B, n, L)
                M = torch.tanh(torch.einsum("ij,bjl->bil", w["r"], Y)
                               + (h @ w["query"].T).unsqueeze(2))
                alpha = torch.softmax(torch.einsum("i,bil->bl", w["r.w"], M), 1)
                r = torch.einsum("bil,bl->bi", Y, alpha)
            else:
                r = torch.zeros_like(h)
            ys.append(torch.tanh(r @ w["w_r"].T + h @ w["w_x"].T))
            memory.append(h)
        x = torch.stack(ys, 0)
        hs.append(h)
        cs.append(c)
    return x, torch.stack(hs, 0), torch.stack(cs, 0)


@pytest.mark.parametrize("backend", ["eager", "script"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("window", [1, 5, 0])
@pytest.mark.parametrize("m, n", [(3, 4), (6, 10)])
def test_matches_the_papers_equations(backend: str, layers: int, window: int, m: int,
                                      n: int) -> None:
    rnn = compile_rnn(zoo.lstm_attentive_readout(window), m, n, num_layers=layers,
                      backend=backend, seed=1).double()
    ws = [weights_of(layer, special=SPECIAL) for layer in rnn.layers]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(T, B, m, dtype=torch.float64, generator=gen)
    h0 = torch.randn(layers, B, n, dtype=torch.float64, generator=gen)
    c0 = torch.randn(layers, B, n, dtype=torch.float64, generator=gen)
    grads = forward_backward_both(
        rnn, lambda x, h0, c0: reference(x, h0, c0, ws, window), x, h0, c0, TOL)
    for name, got, want in grads:
        assert (got - want).abs().max() <= TOL, name
    assert_weight_grads_match(rnn.layers, ws, TOL, special=SPECIAL)


def test_the_recurrence_is_the_lstms() -> None:
    """The final states are torch.nn.LSTM's with the same gate weights: attention reads out."""
    m, n = 3, 5
    rnn = compile_rnn(zoo.get("lstm_attentive_readout"), m, n, backend="script",
                      seed=3).double()
    w = weights_of(rnn.layers[0], special=SPECIAL)
    ref = torch.nn.LSTM(m, n, bias=True).double()
    with torch.no_grad():
        ref.weight_ih_l0.copy_(torch.cat([w[f"x_{g}"] for g in "ifgo"]))
        ref.bias_ih_l0.copy_(torch.cat([w[f"x_{g}.b"] for g in "ifgo"]))
        ref.weight_hh_l0.copy_(torch.cat([w[f"h_{g}"] for g in "ifgo"]))
        ref.bias_hh_l0.zero_()
    x = torch.randn(T, B, m, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    _, (h, c) = rnn(x)
    _, (h_ref, c_ref) = ref(x)
    assert (h - h_ref).abs().max() <= TOL and (c - c_ref).abs().max() <= TOL


def test_the_read_out_is_causal_and_the_memory_starts_empty() -> None:
    rnn = compile_rnn(zoo.lstm_attentive_readout(0), 3, 4, num_layers=2, backend="script",
                      seed=2).double()
    x = torch.randn(T, B, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    y, _ = rnn(x)
    for t in (0, 4, T - 1):
        x2 = x.clone()
        x2[t] += 1.0
        y2, _ = rnn(x2)
        assert torch.equal(y2[:t], y[:t]), t
        assert (y2[t] - y[t]).abs().max() > 1e-6, t
    y_a, s_a = rnn(x[:4])
    y_b, _ = rnn(x[4:], s_a)  # a new call: the memory is empty again (a BPTT chunk)
    assert (y_a - y[:4]).abs().max() <= TOL
    assert (y_b[0] - y[4]).abs().max() > 1e-6


def test_parameter_count_and_validity() -> None:
    g = zoo.get("lstm_attentive_readout")
    assert validate(g) == []
    for m, n in ((3, 4), (10, 16)):
        assert n_params(g, m, n) == 4 * n * m + 8 * n * n + 5 * n
        rnn = compile_rnn(g, m, n, num_layers=2)
        assert sum(p.numel() for p in rnn.parameters()) == rnn.expected_n_params()
