"""Parity with torch.nn.LSTM / GRU / RNN: outputs, final states and every gradient
(input, weights, initial state) after load_torch_weights (shared/reference/cells.md)."""

from __future__ import annotations

import random

import pytest
import torch

from lstm_search import zoo
from lstm_search.genome import OPS, Genome, Node, correspondence, genome_id
from lstm_search.nn import compile_rnn, load_torch_weights

TORCH = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn_tanh": torch.nn.RNN}
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
# (input_size, hidden_size, num_layers, batch_first, initial state)
CONFIGS = [(5, 4, 1, False, False), (3, 6, 2, True, True), (4, 4, 3, False, True),
           (7, 3, 2, True, False)]
VARIANTS = [("eager", True), ("script", True), ("script", False)]


def _as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def _check(cell, cfg, backend, fused, dtype, seed=0):
    m_in, n, layers, batch_first, with_state = cfg
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # torch's own modules draw their init from the global generator
    ref = TORCH[cell](m_in, n, num_layers=layers, batch_first=batch_first).to(dtype)
    ours = compile_rnn(zoo.get(cell), m_in, n, num_layers=layers, batch_first=batch_first,
                       backend=backend, fused_backward=fused).to(dtype)
    load_torch_weights(ours, ref)
    T, B = 5, 3
    shape = (B, T, m_in) if batch_first else (T, B, m_in)
    x = torch.randn(shape, generator=gen, dtype=dtype)
    n_states = 2 if cell == "lstm" else 1
    s0 = tuple(torch.randn(layers, B, n, generator=gen, dtype=dtype)
               for _ in range(n_states)) if with_state else None
    weights = [torch.randn(B, n, generator=gen, dtype=dtype) for _ in range(n_states)]

    def run(module):
        xi = x.clone().requires_grad_(True)
        si = tuple(s.clone().requires_grad_(True) for s in s0) if s0 else None
        arg = None if si is None else (si if n_states > 1 else si[0])
        y, state = module(xi, arg)
        state = _as_tuple(state)
        # a loss touching the output and every final state, with distinct weights
        loss = (y * y.sin()).sum() + sum((s * w).sum() for s, w in zip(state, weights,
                                                                          strict=True))
        inputs = [xi, *(si or ()), *module.parameters()]
        return y, state, torch.autograd.grad(loss, inputs)

    y1, st1, g1 = run(ref)
    y2, st2, g2 = run(ours)
    tol = TOL[dtype]
    assert y1.shape == y2.shape and (y1 - y2).abs().max() <= tol
    for a, b in zip(st1, st2, strict=True):
        assert a.shape == b.shape and (a - b).abs().max() <= tol
    # torch's parameter order per layer: w_ih, w_hh, b_ih, b_hh; ours differs, so compare
    # after mapping our gradients into torch's layout
    n_in = 1 + (n_states if s0 else 0)
    for a, b in zip(g1[:n_in], g2[:n_in], strict=True):
        assert (a - b).abs().max() <= tol
    grads = dict(zip([k for k, _ in ours.named_parameters()], g2[n_in:], strict=True))
    mapped = _torch_layout_grads(ours, grads, cell)
    for (name, _), a in zip(ref.named_parameters(), g1[n_in:], strict=True):
        assert (a - mapped[name]).abs().max() <= tol, name


def _torch_layout_grads(ours, grads, cell, role=None):
    """Our gradients in torch's layout; ``role`` maps a zoo node name to the module's own."""
    gates = {"lstm": "ifgo", "gru": "rzn", "rnn_tanh": "h"}[cell]
    role = role or {}
    out = {}
    for k, layer in enumerate(ours.layers):
        pmap = layer.param_map()
        for src, tag in (("x", "ih"), ("h", "hh")):
            ws, bs = [], []
            for g in gates:
                node = role.get(f"{src}_{g}", f"{src}_{g}")
                (wn, r0, r1), (bn, c0, c1) = pmap[node]
                ws.append(grads[f"layers.{k}.{wn}"][r0:r1])
                bs.append(grads[f"layers.{k}.{bn}"][c0:c1])
            out[f"weight_{tag}_l{k}"] = torch.cat(ws)
            out[f"bias_{tag}_l{k}"] = torch.cat(bs)
    return out


@pytest.mark.parametrize("cell", list(TORCH))
@pytest.mark.parametrize("backend,fused", VARIANTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_parity_with_torch(cell, backend, fused, dtype, cfg):
    _check(cell, cfg, backend, fused, dtype)


@pytest.mark.integration
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_parity_compile_backend_default_cases(cell):
    # torch.compile takes tens of seconds per graph on this CPU: lstm and gru, forward and
    # backward, in the default run; m == n, so the second layer's graph is the first one's
    # (inductor's graph cache) and only one is built per cell
    _check(cell, (4, 4, 2, False, True), "compile", True, torch.float64)


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["gru", "rnn_tanh"])
def test_parity_compile_backend_more(cell):
    _check(cell, (4, 3, 1, True, False), "compile", True, torch.float32)


def test_load_torch_weights_refuses_mismatches():
    lstm = torch.nn.LSTM(3, 4)
    with pytest.raises(ValueError, match="genome_id"):
        load_torch_weights(compile_rnn(zoo.get("gru"), 3, 4, backend="eager"), lstm)
    with pytest.raises(ValueError, match="genome_id"):  # lstm_b is not torch's LSTM
        load_torch_weights(compile_rnn(zoo.get("vanilla"), 3, 4, backend="eager"), lstm)
    with pytest.raises(ValueError, match="hidden_size"):
        load_torch_weights(compile_rnn(zoo.get("lstm"), 3, 5, backend="eager"), lstm)
    with pytest.raises(ValueError, match="num_layers"):
        load_torch_weights(compile_rnn(zoo.get("lstm"), 3, 4, 2, backend="eager"), lstm)
    with pytest.raises(ValueError, match="nonlinearity"):
        load_torch_weights(compile_rnn(zoo.get("rnn_tanh"), 3, 4, backend="eager"),
                           torch.nn.RNN(3, 4, nonlinearity="relu"))
    with pytest.raises(TypeError, match="LSTM, GRU or RNN"):
        load_torch_weights(compile_rnn(zoo.get("lstm"), 3, 4), torch.nn.Linear(3, 4))


def _rewritten(g: Genome, swap: dict[str, str], seed: int) -> Genome:
    """``g`` written otherwise: the names in ``swap`` exchanged pairwise, every other node and
    state renamed, states and nodes listed in another order, commutative inputs reversed."""
    rng = random.Random(seed)
    names = {n.name: f"v{i}" for i, n in enumerate(rng.sample(g.nodes, len(g.nodes)))}
    for a, b in swap.items():
        names[a], names[b] = b, a  # x_i computes what x_f did in the zoo, and so on
    names.update({s: f"state_{s}" for s in g.states})

    def r(v: str) -> str:
        return names.get(v, v)

    nodes = [Node(r(n.name), n.op, tuple(r(i) for i in (reversed(n.inputs)
                                                          if OPS[n.op].commutative
                                                          else n.inputs)), n.params)
             for n in g.nodes]
    rng.shuffle(nodes)
    return Genome(tuple(r(s) for s in reversed(g.states)), tuple(nodes),
                  {r(s): r(v) for s, v in g.new_states.items()}, r(g.output), "rewritten")


SWAPS = {"lstm": {"x_i": "x_f", "x_f": "x_i", "h_i": "h_f", "h_f": "h_i"},
         "gru": {"x_r": "x_z", "x_z": "x_r", "h_r": "h_n", "h_n": "h_r"}}


@pytest.mark.parametrize("cell", list(SWAPS))
@pytest.mark.parametrize("backend", ["eager", "script"])
@pytest.mark.parametrize("seed", [0, 1])
def test_load_torch_weights_maps_by_structure_not_by_name(cell, backend, seed):
    # same cell, other names and order: same genome_id, so the weights must go to the nodes
    # that play each gate's part, whatever they are called
    zoo_genome = zoo.get(cell)
    g = _rewritten(zoo_genome, SWAPS[cell], seed)
    assert g.node_map.keys() & set(SWAPS[cell])  # the swapped names are really there
    assert genome_id(g) == genome_id(zoo_genome)
    role = correspondence(g, zoo_genome)
    assert all(role[a] == b for a, b in SWAPS[cell].items())  # x_f of the zoo is g's x_i ...
    dtype, m_in, n, layers, T, B = torch.float64, 3, 4, 2, 5, 3
    torch.manual_seed(seed)
    ref = TORCH[cell](m_in, n, num_layers=layers).to(dtype)
    ours = load_torch_weights(compile_rnn(g, m_in, n, num_layers=layers,
                                          backend=backend).to(dtype), ref)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, m_in, generator=gen, dtype=dtype)
    # torch's states in the zoo's order; ours in g's own state order
    order = [g.states.index(role[s]) for s in zoo_genome.states]
    s0 = [torch.randn(layers, B, n, generator=gen, dtype=dtype) for _ in order]
    w = [torch.randn(layers, B, n, generator=gen, dtype=dtype) for _ in order]

    def run(module, states):
        xi = x.clone().requires_grad_(True)
        si = [s.clone().requires_grad_(True) for s in states]
        y, state = module(xi, si[0] if len(si) == 1 else tuple(si))
        state = list(_as_tuple(state))
        return y, state, xi, si

    y1, st1, x1, si1 = run(ref, s0)
    mine = [None] * len(order)
    for j, k in enumerate(order):
        mine[k] = s0[j]
    y2, st2, x2, si2 = run(ours, mine)
    tol = TOL[dtype]
    assert (y1 - y2).abs().max() <= tol
    for j, k in enumerate(order):
        assert (st1[j] - st2[k]).abs().max() <= tol
    loss1 = (y1 * y1.sin()).sum() + sum((st1[j] * w[j]).sum() for j in range(len(order)))
    loss2 = (y2 * y2.sin()).sum() + sum((st2[k] * w[j]).sum() for j, k in enumerate(order))
    g1 = torch.autograd.grad(loss1, [x1, *si1, *ref.parameters()])
    g2 = torch.autograd.grad(loss2, [x2, *si2, *ours.parameters()])
    assert (g1[0] - g2[0]).abs().max() <= tol
    for j, k in enumerate(order):
        assert (g1[1 + j] - g2[1 + k]).abs().max() <= tol
    n_in = 1 + len(order)
    grads = dict(zip([k for k, _ in ours.named_parameters()], g2[n_in:], strict=True))
    mapped = _torch_layout_grads(ours, grads, cell, role)
    for (name, _), a in zip(ref.named_parameters(), g1[n_in:], strict=True):
        assert (a - mapped[name]).abs().max() <= tol, name


def test_correspondence_refuses_another_cell():
    with pytest.raises(ValueError, match="different cells"):
        correspondence(zoo.get("gru"), zoo.get("lstm"))
