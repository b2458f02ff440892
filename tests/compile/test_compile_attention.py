"""Genome format 2's ``attention`` op and the zoo's ``lstm_attention`` (LSTMN-style, Cheng,
Dong & Lapata 2016, eq. 3-5): validation, canonical form and parameter count; a plain PyTorch
loop written from the equations with the compiled module's weights copied into it agrees in
float64 to 1e-10 in outputs, final states and every gradient (input, initial states, weights)
for 1 and 2 layers and windows K = 1, 3 and every earlier step, on the eager and script
backends; causality; eager against script."""

from __future__ import annotations

import json

import pytest
import torch
from compile_helpers import forward_backward_both, lstm_step
from torch import Tensor

from lstm_search import zoo
from lstm_search.genome import Builder, Genome, GenomeError, genome_id, n_params, validate
from lstm_search.nn import Recurrent, compile_rnn

TOL = 1e-10
T, B, M, N = 7, 2, 3, 4


def weights_of(layer) -> dict[str, Tensor]:
    """Each genome node's rows of the layer's parameters, copied as leaf tensors (an
    attention node's W_k under its name, its v under ``name.v``; a bias under ``name.b``)."""
    params = dict(layer.named_parameters())
    out = {}
    for node, entries in layer.param_map().items():
        for k, (pname, r0, r1) in enumerate(entries):
            key = node if k == 0 else node + (".v" if node == "h_tilde" else ".b")
            out[key] = params[pname][r0:r1].detach().clone().requires_grad_(True)
    return out


def reference(x: Tensor, h0: Tensor, c0: Tensor, layers: list[dict[str, Tensor]],
              window: int) -> tuple[Tensor, Tensor, Tensor]:
    """lstm_attention from its docstring's equations, step by step and entry by entry."""
    hs, cs = [], []
    for k, w in enumerate(layers):
        h, c = h0[k], c0[k]
        tape: list[Tensor] = []  # h_0, h_1, ... of this layer
        ys = []
        for t in range(x.shape[0]):
            xt = x[t]
            q = xt @ w["q_x"].T + h @ w["q_h"].T
            memory = tape[-window:] if window else tape
            if not memory:
                ctx = torch.zeros_like(h)
            else:
                scores = torch.stack([torch.tanh(hi @ w["h_tilde"].T + q) @ w["h_tilde.v"]
                                      for hi in memory], 1)  # (B, c)
                alpha = torch.softmax(scores, 1)
                ctx = sum(alpha[:, i:i + 1] * hi for i, hi in enumerate(memory))

            def pre(g: str, xt: Tensor = xt, ctx: Tensor = ctx, w: dict = w) -> Tensor:
                return xt @ w[f"x_{g}"].T + w[f"x_{g}.b"] + ctx @ w[f"u_{g}"].T

            h, c = lstm_step(pre, c)
            tape.append(h)
            ys.append(h)
        x = torch.stack(ys, 0)
        hs.append(h)
        cs.append(c)
    return x, torch.stack(hs, 0), torch.stack(cs, 0)


def _inputs(layers: int, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, M, dtype=torch.float64, generator=gen)
    h0 = torch.randn(layers, B, N, dtype=torch.float64, generator=gen)
    c0 = torch.randn(layers, B, N, dtype=torch.float64, generator=gen)
    return x, h0, c0


@pytest.mark.parametrize("backend", ["eager", "script"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("window", [1, 3, 0])
def test_lstm_attention_matches_the_equations(backend: str, layers: int, window: int) -> None:
    rnn = compile_rnn(zoo.lstm_attention(window), M, N, num_layers=layers, backend=backend,
                      seed=1).double()
    ws = [weights_of(layer) for layer in rnn.layers]
    x, h0, c0 = _inputs(layers)
    grads = forward_backward_both(
        rnn, lambda x, h0, c0: reference(x, h0, c0, ws, window), x, h0, c0, TOL)
    for b, got, want in grads:
        if b == "h0":  # h0 only reaches the first step's query, unused by an empty memory
            assert got is None or got.abs().max() == 0
            assert want is None
            continue
        assert (got - want).abs().max() <= TOL, b
    for layer, w in zip(rnn.layers, ws, strict=True):
        params = dict(layer.named_parameters())
        for node, entries in layer.param_map().items():
            for k, (pname, r0, r1) in enumerate(entries):
                key = node if k == 0 else node + (".v" if node == "h_tilde" else ".b")
                assert (params[pname].grad[r0:r1] - w[key].grad).abs().max() <= TOL, key


@pytest.mark.parametrize("backend", ["eager", "script"])
def test_attention_is_causal(backend: str) -> None:
    rnn = compile_rnn(zoo.lstm_attention(0), M, N, num_layers=2, backend=backend,
                      seed=2).double()
    x, _, _ = _inputs(2, seed=3)
    y, _ = rnn(x)
    for t in (0, 3, T - 1):
        x2 = x.clone()
        x2[t] += 1.0
        y2, _ = rnn(x2)
        assert torch.equal(y2[:t], y[:t]), t  # nothing before t moves
        assert (y2[t] - y[t]).abs().max() > 1e-6, t


@pytest.mark.parametrize("window", [2, 0])
def test_eager_and_script_agree(window: int) -> None:
    b = Builder(states=("h",))  # attention over a state read at the output as well
    q = b.linear("h", bias=False, name="q")
    ctx = b.attention(q, "h", window=window, name="ctx")
    pre = b.add(b.linear("x", name="wx"), b.linear("h", name="uh"), ctx, name="pre")
    b.set_state("h", b.tanh(pre, name="h_new"))
    g = b.build(name="toy")
    x = torch.randn(9, 3, M, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    outs = []
    for backend in ("eager", "script"):
        rnn = compile_rnn(g, M, N, num_layers=2, backend=backend, seed=4).double()
        xi = x.clone().requires_grad_(True)
        y, h = rnn(xi)
        (y.square().sum() + h.sum()).backward()
        outs.append((y, h, xi.grad, [p.grad for p in rnn.parameters()]))
    (y0, h0, gx0, gp0), (y1, h1, gx1, gp1) = outs
    assert (y0 - y1).abs().max() <= TOL and (h0 - h1).abs().max() <= TOL
    assert (gx0 - gx1).abs().max() <= TOL
    assert all((a - b).abs().max() <= TOL for a, b in zip(gp0, gp1, strict=True))


def test_a_fresh_call_starts_with_an_empty_memory() -> None:
    rnn = compile_rnn(zoo.get("lstm_attention"), M, N, backend="script", seed=0).double()
    x, _, _ = _inputs(1)
    y, _ = rnn(x)
    y_again, _ = rnn(x)
    assert torch.equal(y, y_again)
    # continuing from the final state does not continue the memory: the second piece's first
    # step attends over nothing, so it is not the step of the whole sequence
    y_a, s_a = rnn(x[:3])
    y_b, _ = rnn(x[3:], s_a)
    assert (y_b[0] - y[3]).abs().max() > 1e-6
    assert (y_a - y[:3]).abs().max() <= TOL


# -- the genome: validation, format, canonical form, parameters -----------------------------


def _cell(memory: str = "h", **params) -> Genome:
    b = Builder(states=("h",))
    q = b.linear("h", bias=False, name="q")
    ctx = b.node("attention", q, memory, name="ctx", **params)
    b.set_state("h", b.tanh(b.add(b.linear("x", name="wx"), b.linear(ctx, name="uc"),
                                   name="pre"), name="h_new"))
    return b.build(name="toy")


def _rules(g: Genome) -> dict[str, str]:
    return {p.rule: p.message for p in validate(g)}


@pytest.mark.parametrize("window, fragment", [(-1, "'window' must be ≥ 1"),
                                              (1.5, "must be int"), (True, "must be int")])
def test_bad_window_is_named(window, fragment: str) -> None:
    rules = _rules(_cell(window=window))
    assert fragment in rules["param"]


@pytest.mark.parametrize("memory", ["q", "x", "below:h"])
def test_memory_must_be_a_state(memory: str) -> None:
    rules = _rules(_cell(memory))
    assert "memory" in rules
    assert "must name a state of the cell" in rules["memory"] and "states: h" in rules["memory"]


def test_undefined_memory_is_reported_once() -> None:
    rules = _rules(_cell("nowhere"))
    assert "undefined-input" in rules and "memory" not in rules


def test_attention_needs_format_2_and_round_trips() -> None:
    g = zoo.get("lstm_attention")
    data = json.loads(g.to_json())
    assert data["version"] == 2
    assert Genome.from_json(g.to_json()) == g
    data["version"] = 1
    with pytest.raises(GenomeError, match="op 'attention' needs genome format version 2"):
        Genome.from_dict(data)


def test_canonical_form_and_window() -> None:
    assert genome_id(_cell(window=0)) == genome_id(_cell())  # 0 is the default: all steps
    ids = {genome_id(_cell(window=k)) for k in (0, 1, 3)}
    assert len(ids) == 3
    assert validate(_cell(window=3)) == []


def test_parameter_count() -> None:
    # attention: W_k (n, n) and v (n); lstm_attention: 5nm + 6n² + 5n
    base = N * N + (N * M + N) + (N * N + N)  # q, wx, uc
    assert n_params(_cell(), M, N) == base + N * N + N
    for m, n in ((3, 4), (10, 16)):
        rnn = compile_rnn(zoo.get("lstm_attention"), m, n, num_layers=2)
        assert n_params(zoo.get("lstm_attention"), m, n) == 5 * n * m + 6 * n * n + 5 * n
        assert sum(p.numel() for p in rnn.parameters()) == rnn.expected_n_params()


def test_dropin_refuses_packed_sequences_of_unequal_lengths() -> None:
    from torch.nn.utils.rnn import pack_padded_sequence

    rnn = Recurrent(zoo.get("lstm_attention"), M, N, backend="eager", seed=0)
    x = torch.randn(5, 2, M)
    y, _ = rnn(x)  # padded: runs
    assert y.shape == (5, 2, N)
    packed = pack_padded_sequence(x, torch.tensor([5, 3]))
    with pytest.raises(ValueError, match="attention"):
        rnn(packed)
