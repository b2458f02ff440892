"""Parity of the format-2 zoo cells with their papers: the Depth-Gated LSTM (Yao et al. 2015,
arXiv:1508.03790) and the Clockwork RNN (Koutník et al. 2014, arXiv:1402.3511), each against a
plain PyTorch loop written from the paper's equations with the compiled module's weights
copied into it: outputs, final states and every gradient (input, initial states, weights)
agree to 1e-10 in float64, at two sizes and with 1 to 3 layers, on the eager and script
backends (shared/reference/cells.md)."""

from __future__ import annotations

import re

import pytest
import torch
from torch import Tensor

from lstm_search import zoo
from lstm_search.compile import block_mask
from lstm_search.genome import n_params
from lstm_search.nn import compile_cell, compile_rnn

TOL = 1e-10
BACKENDS = ["eager", "script"]
# the script backend with its generated backward, and with autograd through TorchScript
VARIANTS = [("eager", True), ("script", True), ("script", False)]
T, B = 9, 3


class Weights:
    """The module's weights as separate leaf tensors per genome node (a copy), so that the
    reference computes with its own tensors and its gradients are compared with the module's
    rows (``param_map``)."""

    def __init__(self, layer) -> None:
        self.layer = layer
        params = dict(layer.named_parameters())
        self.rows = layer.param_map()
        self.w: dict[str, Tensor] = {}
        for node, entries in self.rows.items():
            for k, (pname, r0, r1) in enumerate(entries):
                key = node if k == 0 else node + ".bias"
                src = params[pname]
                if src.dim() == 1 and pname.startswith("weight_"):  # packed triangular
                    src = _dense(layer, pname)
                self.w[key] = src[r0:r1].detach().clone().requires_grad_(True)

    def __getitem__(self, key: str) -> Tensor:
        return self.w[key]

    def compare_grads(self) -> None:
        """The module's gradient of each node's rows equals the reference's."""
        params = dict(self.layer.named_parameters())
        for node, entries in self.rows.items():
            for k, (pname, r0, r1) in enumerate(entries):
                key = node if k == 0 else node + ".bias"
                ref = self.w[key].grad
                grad = params[pname].grad
                if grad.dim() == 1 and pname.startswith("weight_"):
                    grad = _dense(self.layer, pname, grad)
                    ref = ref * block_mask(_group(self.layer, pname), self.layer.hidden_size)
                assert ref is not None, key
                assert (grad[r0:r1] - ref).abs().max() <= TOL, key


def _group(layer, pname: str):
    return next(g for g in layer.plan.groups if g.weight_name == pname)


def _dense(layer, pname: str, packed: Tensor | None = None) -> Tensor:
    g = _group(layer, pname)
    p = dict(layer.named_parameters())[pname] if packed is None else packed
    mask = block_mask(g, layer.hidden_size)
    return p.new_zeros(mask.shape).masked_scatter(mask, p)


# -- Depth-Gated LSTM, Yao et al. 2015, eq. 1-7 (cells.md) -------------------------------------


def depth_gated_reference(x: Tensor, h0: Tensor, c0: Tensor, layers: list[Weights]
                          ) -> tuple[Tensor, Tensor, Tensor]:
    """x (T, B, m); h0, c0 (L, B, n). Layer L+1 reads x = h^L_t and c^L_t; layer 0 reads
    zeros as c^L_t (the zoo's documented choice). Returns y (T, B, n) and h_n, c_n."""
    sig = torch.sigmoid
    inp = x
    c_below = [torch.zeros_like(c0[0])] * x.shape[0]
    h_n, c_n = [], []
    for k, w in enumerate(layers):
        h, c = h0[k], c0[k]
        hs, cs = [], []
        for t in range(x.shape[0]):
            xt, cl = inp[t], c_below[t]

            def lin(node: str, v: Tensor, w: Weights = w) -> Tensor:
                out = v @ w[node].T
                return out + w[node + ".bias"] if node + ".bias" in w.w else out

            i = sig(lin("x_i", xt) + lin("h_i", h) + w["p_i"] * c)
            f = sig(lin("x_f", xt) + lin("h_f", h) + w["p_f"] * c)
            d = sig(lin("x_d", xt) + w["p_d"] * c + w["p_ld"] * cl)  # the depth gate
            g = torch.tanh(lin("x_z", xt) + lin("h_z", h))
            c = d * cl + f * c + i * g
            o = sig(lin("x_o", xt) + lin("h_o", h) + w["p_o"] * c)
            h = o * torch.tanh(c)
            hs.append(h)
            cs.append(c)
        inp, c_below = torch.stack(hs, 0), cs
        h_n.append(h)
        c_n.append(c)
    return inp, torch.stack(h_n, 0), torch.stack(c_n, 0)


# -- Clockwork RNN, Koutník et al. 2014, eq. 1-2 (cells.md) -----------------------------------


def clockwork_reference(x: Tensor, h0: Tensor, layers: list[Weights], g: int, base: int = 2,
                        t0: int = 0) -> tuple[Tensor, Tensor]:
    """x (T, B, m), h0 (L, B, n). Module i (fastest first, k_i units) of period base^i is
    active at step t when t mod base^i == 0: h'_(i) = tanh(W_I(i) x + Σ_{j≥i} W_H(i,j) h_(j)
    + b_(i)); inactive modules keep their state. Layer l > 0 reads layer l − 1's output."""
    inp = x
    h_n = []
    for k, w in enumerate(layers):
        n = h0.shape[2]
        ks = [n // g + (1 if i < n % g else 0) for i in range(g)]
        starts = [sum(ks[:i]) for i in range(g)]
        W_I, b, W_H = w["x_h"], w["x_h.bias"], w["h_h"]
        h = h0[k]
        ys = []
        for t in range(x.shape[0]):
            parts = []
            for i in range(g):
                rows = slice(starts[i], starts[i] + ks[i])
                if (t0 + t) % base ** i == 0:
                    acc = inp[t] @ W_I[rows].T + b[rows]
                    for j in range(i, g):  # block upper triangular: slower modules feed i
                        cols = slice(starts[j], starts[j] + ks[j])
                        acc = acc + h[:, cols] @ W_H[rows, cols].T
                    parts.append(torch.tanh(acc))
                else:
                    parts.append(h[:, rows])
            h = torch.cat(parts, 1)
            ys.append(h)
        inp = torch.stack(ys, 0)
        h_n.append(h)
    return inp, torch.stack(h_n, 0)


def _inputs(m: int, n: int, layers: int, n_states: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, m, generator=gen, dtype=torch.float64)
    s0 = [torch.randn(layers, B, n, generator=gen, dtype=torch.float64) * 0.5
          for _ in range(n_states)]
    probes = [torch.randn(T, B, n, generator=gen, dtype=torch.float64)] + \
        [torch.randn(layers, B, n, generator=gen, dtype=torch.float64) for _ in range(n_states)]
    return x, s0, probes


def _loss(y: Tensor, finals: list[Tensor], probes: list[Tensor]) -> Tensor:
    """Touches the output and every final state, with distinct weights."""
    return (y * probes[0]).sum() + (y * y).sum() + sum((s * p).sum() for s, p in
                                                       zip(finals, probes[1:], strict=True))


@pytest.mark.parametrize("backend,fused", VARIANTS)
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("m,n", [(3, 5), (6, 4)])
def test_depth_gated_stack_matches_the_paper(backend: str, fused: bool, layers: int, m: int,
                                             n: int) -> None:
    g = zoo.get("depth_gated")
    module = compile_rnn(g, m, n, num_layers=layers, backend=backend, seed=layers,
                         fused_backward=fused).double()
    assert sum(p.numel() for p in module.parameters()) == \
        n_params(g, m, n) + (layers - 1) * n_params(g, n, n) == \
        (5 * n * m + 4 * n * n + 10 * n) + (layers - 1) * (9 * n * n + 10 * n)
    x, (h0, c0), probes = _inputs(m, n, layers, 2, seed=m * 10 + layers)
    ws = [Weights(layer) for layer in module.layers]

    xr, h0r, c0r = (t.clone().requires_grad_(True) for t in (x, h0, c0))
    y_ref, h_ref, c_ref = depth_gated_reference(xr, h0r, c0r, ws)
    _loss(y_ref, [h_ref, c_ref], probes).backward()

    xm, h0m, c0m = (t.clone().requires_grad_(True) for t in (x, h0, c0))
    y, (h_n, c_n) = module(xm, (h0m, c0m))
    _loss(y, [h_n, c_n], probes).backward()

    for a, b in ((y, y_ref), (h_n, h_ref), (c_n, c_ref), (xm.grad, xr.grad),
                 (h0m.grad, h0r.grad), (c0m.grad, c0r.grad)):
        assert a.shape == b.shape and (a - b).abs().max() <= TOL
    for w in ws:
        w.compare_grads()


def test_depth_gate_reads_the_layer_below() -> None:
    """Not a stack of independent layers: the top layer's output changes with the lower
    layer's depth-gate weights only through c^L_t (p_ld of layer 1 sees layer 0's cell)."""
    module = compile_rnn(zoo.get("depth_gated"), 3, 4, num_layers=2, backend="eager",
                         seed=0).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    y0, _ = module(x)
    row = module.layers[1].param_map()["p_ld"][0]
    with torch.no_grad():
        getattr(module.layers[1], row[0]).add_(1.0)
    y1, _ = module(x)
    assert (y1 - y0).abs().max() > 1e-3


def test_first_layer_is_a_peephole_lstm() -> None:
    """The documented choice for layer 0 (no layer below: c^L_t = 0): the depth gate's term
    vanishes and the layer computes Greff et al.'s vanilla (peephole) LSTM, whatever its
    depth-gate weights."""
    dg = compile_cell(zoo.get("depth_gated"), 4, 5, "eager", seed=3).double()
    van = compile_cell(zoo.get("vanilla"), 4, 5, "eager", seed=4).double()
    dgp = dict(dg.named_parameters())
    vp = dict(van.named_parameters())
    dmap, vmap = dg.param_map(), van.param_map()
    names = {"x_i": "x_i", "x_f": "x_f", "x_o": "x_o", "x_z": "x_z", "h_i": "h_i",
             "h_f": "h_f", "h_o": "h_o", "h_z": "h_z", "p_i": "p_i", "p_f": "p_f",
             "p_o": "p_o"}
    with torch.no_grad():
        for d_node, v_node in names.items():
            for (dn, d0, d1), (vn, v0, v1) in zip(dmap[d_node], vmap[v_node], strict=True):
                vp[vn][v0:v1] = dgp[dn][d0:d1]
    x = torch.randn(6, 2, 4, dtype=torch.float64)
    y1, (_, c1) = dg(x)
    y2, (_, c2) = van(x)
    assert (y1 - y2).abs().max() <= TOL and (c1 - c2).abs().max() <= TOL


@pytest.mark.parametrize("backend,fused", VARIANTS)
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("m,n,g", [(3, 8, 4), (5, 12, 3), (4, 7, 3)])
def test_clockwork_matches_the_paper(backend: str, fused: bool, layers: int, m: int, n: int,
                                     g: int) -> None:
    cell = zoo.clockwork(g)
    module = compile_rnn(cell, m, n, num_layers=layers, backend=backend, seed=layers,
                         fused_backward=fused).double()
    assert sum(p.numel() for p in module.parameters()) == \
        n_params(cell, m, n) + (layers - 1) * n_params(cell, n, n)
    x, (h0,), probes = _inputs(m, n, layers, 1, seed=n * 10 + layers)
    ws = [Weights(layer) for layer in module.layers]
    for w in ws:  # W_H is block upper triangular: nothing below the block diagonal
        assert (w["h_h"] * ~block_mask(_group(w.layer, f"weight_s0_tri{g}"), n)).abs().max() \
            == 0

    xr, h0r = x.clone().requires_grad_(True), h0.clone().requires_grad_(True)
    y_ref, h_ref = clockwork_reference(xr, h0r, ws, g)
    _loss(y_ref, [h_ref], probes).backward()

    xm, h0m = x.clone().requires_grad_(True), h0.clone().requires_grad_(True)
    y, h_n = module(xm, h0m)
    _loss(y, [h_n], probes).backward()

    for a, b in ((y, y_ref), (h_n, h_ref), (xm.grad, xr.grad), (h0m.grad, h0r.grad)):
        assert a.shape == b.shape and (a - b).abs().max() <= TOL
    for w in ws:
        w.compare_grads()


def test_clockwork_sleeping_modules_keep_their_state() -> None:
    """At t = 1 only module 0 (period 1) moves; at t = 2 modules 0 and 1; at t = 4 also 2."""
    layer = compile_cell(zoo.clockwork(3), 2, 6, "script", seed=0).double()
    h0 = torch.randn(1, 6, dtype=torch.float64)
    y, _ = layer(torch.randn(5, 1, 2, dtype=torch.float64), (h0,))
    moved = [(y[t] != (y[t - 1] if t else h0)).squeeze(0).tolist() for t in range(5)]
    assert moved[0] == [True] * 6
    assert moved[1] == [True, True, False, False, False, False]
    assert moved[2] == [True, True, True, True, False, False]
    assert moved[3] == moved[1]
    assert moved[4] == [True] * 6


@pytest.mark.parametrize("backend", BACKENDS)
def test_clockwork_continues_a_sequence_with_t0(backend: str) -> None:
    """A sequence run in two pieces, the second from t0 = 3, equals the whole run; the
    schedule restarted at 0 would differ."""
    layer = compile_cell(zoo.clockwork(3), 2, 6, backend, seed=1).double()
    x = torch.randn(8, 2, 2, dtype=torch.float64)
    y, s = layer(x)
    y1, s1 = layer(x[:3])
    y2, s2 = layer(x[3:], s1, t0=3)
    assert (torch.cat([y1, y2]) - y).abs().max() <= TOL and (s2[0] - s[0]).abs().max() <= TOL
    y3, _ = layer(x[3:], s1)
    assert (y3 - y[3:]).abs().max() > 1e-6


@pytest.mark.parametrize("name", ["depth_gated", "grid_lstm", "clockwork", "lstm_attention"])
def test_script_inference_path_agrees_in_float32(name: str) -> None:
    """Without gradients the script backend takes its packed (oneDNN) products on CPU."""
    torch.manual_seed(0)
    x = torch.randn(7, 3, 5)
    eager = compile_rnn(zoo.get(name), 5, 8, num_layers=2, backend="eager", seed=2)
    script = compile_rnn(zoo.get(name), 5, 8, num_layers=2, backend="script", seed=2)
    with torch.no_grad():
        a, _ = eager(x)
        b, _ = script(x)
    assert (a - b).abs().max() <= 1e-5


def test_generated_source_shows_the_format_2_inputs() -> None:
    from lstm_search.compile import generated_source

    src = generated_source(zoo.get("depth_gated"), input_size=3, hidden_size=4)
    assert "ul1: Tensor" in src and "u1 = ul1_t[t]" in src and "em1.append(s1)" in src
    assert "dem1: Tensor" in src and "duls1.append(" in src  # the generated backward
    src = generated_source(zoo.get("clockwork"), input_size=3, hidden_size=8)
    assert "mk4: Tensor" in src and "torch.where(mk4[t], v3, s0)" in src
    # format-1 cells' source is unchanged by format 2's additions
    lstm = generated_source(zoo.get("lstm"))
    assert "def backward" in lstm and not re.search(r"\b(ul|u|em|dem|duls|mk)\d", lstm)


def test_drop_in_depth_gated_stack_is_the_compiled_stack() -> None:
    """Recurrent(depth_gated, num_layers=3) computes compile_rnn's Depth-Gated stack (same
    weights), padded and packed alike."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from lstm_search.nn import Recurrent

    stack = compile_rnn(zoo.get("depth_gated"), 3, 4, num_layers=3, backend="eager",
                        seed=1).double()
    rnn = Recurrent(zoo.get("depth_gated"), 3, 4, num_layers=3, backend="script").double()
    for cell, layer in zip(rnn.cells, stack.layers, strict=True):
        cell.load_state_dict(layer.state_dict())
    x = torch.randn(6, 3, 3, dtype=torch.float64)
    y1, (h1, c1) = stack(x)
    y2, (h2, c2) = rnn(x)
    assert max((a - b).abs().max() for a, b in ((y1, y2), (h1, h2), (c1, c2))) <= TOL
    lengths = [6, 4, 1]
    yp, _ = rnn(pack_padded_sequence(x, lengths))
    yp, _ = pad_packed_sequence(yp)
    for b, k in enumerate(lengths):
        alone, _ = stack(x[:k, b:b + 1])
        assert (yp[:k, b:b + 1] - alone).abs().max() <= TOL


def test_drop_in_bidirectional_depth_gated_reads_its_own_direction_below() -> None:
    """Direction d of layer 1 reads direction d of layer 0's new cell, in its own order."""
    from lstm_search.nn import Recurrent

    rnn = Recurrent(zoo.get("depth_gated"), 3, 4, num_layers=2, bidirectional=True,
                    backend="eager", seed=0).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    y, _ = rnn(x)
    c = rnn.cells
    y0f, _, e0f = c[0].run(x)
    y0b, _, e0b = c[1].run(x.flip(0))
    x1 = torch.cat([y0f, y0b.flip(0)], 2)
    y1f, _, _ = c[2].run(x1, below=e0f)
    y1b, _, _ = c[3].run(x1.flip(0), below=e0b)
    assert (y - torch.cat([y1f, y1b.flip(0)], 2)).abs().max() <= TOL


def test_drop_in_packed_sequences_keep_the_clock_schedule() -> None:
    """Packed sequences run in pieces of equal live batch; each piece continues the clock."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from lstm_search.nn import Recurrent

    rnn = Recurrent(zoo.get("clockwork"), 2, 8, backend="eager", seed=0).double()
    x = torch.randn(7, 3, 2, dtype=torch.float64)
    lengths = [7, 5, 2]
    y, _ = rnn(pack_padded_sequence(x, lengths))
    y, _ = pad_packed_sequence(y)
    for b, k in enumerate(lengths):
        alone, _ = rnn(x[:k, b:b + 1])
        assert (y[:k, b:b + 1] - alone).abs().max() <= TOL


def test_export_refuses_format_2_cells_with_exit_2(capsys) -> None:
    from lstm_search.cli import main

    assert main(["export", "clockwork", "--torch"]) == 2
    assert "genome format 2" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["depth_gated", "grid_lstm", "clockwork", "lstm_attention"])
def test_cuda_agrees_with_cpu(name: str, backend: str) -> None:
    """The same module on CUDA: outputs, states and gradients as on CPU (float64)."""
    cpu = compile_rnn(zoo.get(name), 3, 8, num_layers=3, backend=backend, seed=5).double()
    gpu = compile_rnn(zoo.get(name), 3, 8, num_layers=3, backend=backend,
                      seed=5).double().cuda()
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    results = []
    for module, xi in ((cpu, x.clone()), (gpu, x.cuda())):
        xi.requires_grad_(True)
        y, state = module(xi, t0=1) if name == "clockwork" else module(xi)
        finals = state if isinstance(state, tuple) else (state,)
        (y.sum() + sum(s.pow(2).sum() for s in finals)).backward()
        results.append([y, *finals, xi.grad, *(p.grad for p in module.parameters())])
    for a, b in zip(*results, strict=True):
        assert (a - b.cpu()).abs().max() <= TOL


@pytest.mark.parametrize("name", ["depth_gated", "grid_lstm", "clockwork", "lstm_attention"])
def test_gradcheck_and_double_backward(name: str) -> None:
    """The generated backward (gradcheck) and, with create_graph, the differentiable
    recomputation through the layer below's values and the clock (gradgradcheck)."""
    module = compile_rnn(zoo.get(name), 2, 3, num_layers=2, backend="script", seed=0).double()
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)

    def f(inp: Tensor) -> Tensor:
        return module(inp)[0]

    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))


def test_sleeping_modules_products_are_skipped_only_where_nothing_else_reads_them() -> None:
    """The Clockwork's W_H h feeds only the clock's candidate: the script backend multiplies
    the active modules' rows only. When the product also reaches the output another way, or
    the clock's modules are not the matrix's blocks, all of it is needed: nothing skipped."""
    from lstm_search.compile import build_plan, generated_source
    from lstm_search.genome import Builder, Node

    plan = build_plan(zoo.get("clockwork"), 3, 8)
    assert plan.sleepy == ((1, 4),)
    src = generated_source(zoo.get("clockwork"), input_size=3, hidden_size=8)
    assert "wl1[ia4[t]]" in src and "wtl1[ia4[t]]" in src and "ra4[t]" in src

    b = Builder(states=("h",))
    hh = b.linear("h", name="hh", bias=False, blocks=4)
    cand = b.tanh(b.add(b.linear("x", name="xh"), hh, name="pre"), name="cand")
    h_new = b.clock(cand, "h", modules=4, name="h_new")
    b.set_state("h", h_new)
    g = b.build(output=b.add(h_new, hh, name="out"))
    assert build_plan(g, 3, 8).sleepy == ()
    cw = zoo.clockwork(4)
    other = cw.replace(nodes=tuple(Node(n.name, n.op, n.inputs, {"modules": 2})
                                   if n.op == "clock" else n for n in cw.nodes))
    assert build_plan(other, 3, 8).sleepy == ()
    for genome in (g, other):  # and both still compute what the eager reference does
        x = torch.randn(9, 2, 3, dtype=torch.float64, requires_grad=True)
        results = []
        for backend in BACKENDS:
            layer = compile_cell(genome, 3, 8, backend, seed=0).double()
            y, (h,) = layer(x)
            results.append([y, h, *torch.autograd.grad((y.sin().sum() + h.sum()),
                                                        [x, *layer.parameters()])])
        for a, c in zip(*results, strict=True):
            assert (a - c).abs().max() <= TOL


@pytest.mark.parametrize("name", ["depth_gated", "grid_lstm", "clockwork", "lstm_attention"])
def test_mutants_of_format_2_cells_compile_alike_on_every_path(name: str) -> None:
    """Jozefowicz et al.'s mutation operators keep a format-2 cell valid; whatever shape a
    mutant takes (a clock or a below: read moved, a triangular product rewired), the script
    backend with its generated backward agrees with the eager reference in a 2-layer stack.
    (Autograd through the TorchScript forward, ``fused_backward=False``, is left out here:
    on its second call TorchScript's autodiff fails for any cell, format 1 included, whose
    fused state product has a bias on some rows only, e.g. mutant 20 of depth_gated.)"""
    from lstm_search.genome import mutate, validate

    checked = 0
    for seed in range(24):
        g = mutate(zoo.get(name), seed).genome
        assert validate(g) == []
        x = torch.randn(5, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        results = []
        for backend in BACKENDS:
            module = compile_rnn(g, 3, 4, num_layers=2, backend=backend, seed=seed).double()
            xi = x.clone().requires_grad_(True)
            y, _ = module(xi)
            results.append([y, *torch.autograd.grad(y.tanh().sum(), [xi, *module.parameters()],
                                                    allow_unused=True)])
        if not all(torch.isfinite(r).all() for r in results[0] if r is not None):
            continue
        for other in results[1:]:
            for a, b in zip(results[0], other, strict=True):
                assert (a is None) == (b is None)
                if a is not None:
                    assert (a - b).abs().max() <= 1e-9 * (1 + a.abs().max())
        checked += 1
    assert checked >= 20


def test_head_wise_and_block_triangular_products_of_one_state_in_a_stack() -> None:
    """linear's two structured matrices side by side (heads: block diagonal, blocks: block
    upper triangular), with the layer below's state and a clock, in a 2-layer stack: every
    path computes the eager reference's outputs and gradients."""
    from lstm_search.compile import build_plan
    from lstm_search.genome import Builder

    b = Builder(states=("h",))
    pre = b.add(b.linear("x", name="xh"), b.linear("h", name="tri", bias=False, blocks=2),
                b.linear("h", name="heads", bias=False, heads=2),
                b.linear(b.below("h"), name="below_h", bias=False, heads=4), name="pre")
    b.set_state("h", b.clock(b.tanh(pre, name="cand"), "h", modules=2, name="h_new"))
    g = b.build(name="mixed")
    plan = build_plan(g, 3, 8)
    assert sorted((grp.blocks, grp.heads) for grp in plan.groups) == [(0, 1), (0, 2), (0, 4),
                                                                       (2, 1)]
    # the sum with the other products is row-wise: the triangular one skips sleeping rows
    assert [plan.groups[gid].blocks for gid, _ in plan.sleepy] == [2]
    x = torch.randn(7, 2, 3, dtype=torch.float64)
    results = []
    for backend, fused in VARIANTS:
        module = compile_rnn(g, 3, 8, num_layers=2, backend=backend, seed=0,
                             fused_backward=fused).double()
        xi = x.clone().requires_grad_(True)
        y, h = module(xi)
        results.append([y, h, *torch.autograd.grad(y.sin().sum() + h.sum(),
                                                   [xi, *module.parameters()])])
    for other in results[1:]:
        for a, c in zip(results[0], other, strict=True):
            assert (a - c).abs().max() <= TOL
    assert n_params(g, 3, 8) == sum(p.numel() for p in compile_cell(g, 3, 8).parameters())


def test_a_norm_before_the_clock_keeps_every_row_of_the_product() -> None:
    """A norm mixes the units of a group, so the sleeping modules' rows of W_H h are read:
    nothing is skipped, and the script backend still agrees with the eager reference."""
    from lstm_search.compile import build_plan
    from lstm_search.genome import Builder

    b = Builder(states=("h",))
    pre = b.add(b.linear("x", name="xh"), b.norm(b.linear("h", name="hh", bias=False,
                                                          blocks=4), name="nh"), name="pre")
    b.set_state("h", b.clock(b.tanh(pre, name="cand"), "h", modules=4, name="h_new"))
    g = b.build(name="normed_clockwork")
    assert build_plan(g, 3, 8).sleepy == ()
    x = torch.randn(9, 2, 3, dtype=torch.float64)
    results = []
    for backend in BACKENDS:
        layer = compile_cell(g, 3, 8, backend, seed=0).double()
        xi = x.clone().requires_grad_(True)
        y, (h,) = layer(xi)
        results.append([y, h, *torch.autograd.grad(y.sin().sum() + h.sum(),
                                                   [xi, *layer.parameters()])])
    for a, c in zip(*results, strict=True):
        assert (a - c).abs().max() <= TOL
