"""The ops of the modern recurrences (exp, log, softplus, logsigmoid, max, min, div, sqrt, abs,
scale, diag's weight transforms): each against a plain-PyTorch transcription of its definition,
the generated code (script, fused backward and autograd) against eager to 1e-10 in float64,
the generated backward under gradcheck, and the exported file against the compiled module."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from lstm_search.genome import Builder, Genome, genome_id, n_params, validate
from lstm_search.genome.draw import node_formula, to_dot, to_equations
from lstm_search.nn import compile_cell

M, N, T, B = 4, 5, 6, 3

# op -> (how the cell applies it to the pre-activations p, q; the same in plain PyTorch)
CASES = {
    "exp": (lambda b, p, q: b.exp(b.tanh(p)), lambda p, q: torch.exp(torch.tanh(p))),
    "log": (lambda b, p, q: b.log(b.sigmoid(p)), lambda p, q: torch.log(torch.sigmoid(p))),
    "softplus": (lambda b, p, q: b.softplus(p), lambda p, q: F.softplus(p)),
    "logsigmoid": (lambda b, p, q: b.logsigmoid(p), lambda p, q: F.logsigmoid(p)),
    "max": (lambda b, p, q: b.maximum(p, q), lambda p, q: torch.maximum(p, q)),
    "min": (lambda b, p, q: b.minimum(p, q), lambda p, q: torch.minimum(p, q)),
    "div": (lambda b, p, q: b.div(p, b.softplus(q)), lambda p, q: p / F.softplus(q)),
    "div_eps": (lambda b, p, q: b.div(p, b.relu(q), eps=0.5),
                lambda p, q: p / (torch.relu(q) + 0.5)),
    "sqrt": (lambda b, p, q: b.sqrt(b.sigmoid(p)), lambda p, q: torch.sigmoid(p).sqrt()),
    "abs": (lambda b, p, q: b.abs(p), lambda p, q: p.abs()),
    "scale": (lambda b, p, q: b.scale(p, -0.7), lambda p, q: -0.7 * p),
}
DIAG = {"free": lambda w: w, "sigmoid": torch.sigmoid, "softplus": F.softplus, "exp": torch.exp}


def op_cell(case: str) -> Genome:
    """``h' = tanh(op(p, q) + q)`` with ``p = W_p x + U_p h``, ``q = W_q x + U_q h``."""
    b = Builder(["h"])
    p = b.add(b.linear("x", name="wp"), b.linear("h", name="up"), name="p")
    q = b.add(b.linear("x", name="wq"), b.linear("h", name="uq"), name="q")
    if case.startswith("diag_"):
        v = b.diag(p, weight=case[5:], name="d")
    else:
        v = CASES[case][0](b, p, q)
    b.set_state("h", b.tanh(b.add(v, q)))
    return b.build(name=case)


ALL = [*CASES, *(f"diag_{w}" for w in DIAG)]


def reference(case: str, layer, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """The cell in plain PyTorch from the layer's own parameters (found by node name)."""
    pm = layer.param_map()
    params = dict(layer.named_parameters(recurse=False))

    def w(node):
        rows = pm[node]
        out = [params[name][r0:r1] for name, r0, r1 in rows]
        return out[0], (out[1] if len(out) > 1 else None)

    ys = []
    for xt in x:
        p = F.linear(xt, *w("wp")) + F.linear(h, *w("up"))
        q = F.linear(xt, *w("wq")) + F.linear(h, *w("uq"))
        if case.startswith("diag_"):
            (name, _, _), = pm["d"]
            v = DIAG[case[5:]](params[name]) * p
        else:
            v = CASES[case][1](p, q)
        h = torch.tanh(v + q)
        ys.append(h)
    return torch.stack(ys)


def _grads(layer, x, h):
    xi, hi = x.clone().requires_grad_(), h.clone().requires_grad_()
    y, (hn,) = layer(xi, (hi,))
    loss = (y * y.sin()).sum() + (hn * hn.cos()).sum()
    return [y, hn, *torch.autograd.grad(loss, [xi, hi, *layer.parameters()])]


@pytest.mark.parametrize("case", ALL)
def test_op_matches_its_definition_on_every_backend(case: str) -> None:
    g = op_cell(case)
    assert validate(g) == []
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(T, B, M, generator=gen, dtype=torch.float64)
    h = torch.randn(B, N, generator=gen, dtype=torch.float64)
    eager = compile_cell(g, M, N, "eager", seed=1).double()
    want = reference(case, eager, x, h)
    torch.testing.assert_close(eager(x, (h,))[0], want, rtol=1e-12, atol=1e-12)
    ref = _grads(eager, x, h)
    for fused in (True, False):
        got = _grads(compile_cell(g, M, N, "script", fused_backward=fused, seed=1).double(),
                     x, h)
        for a, b in zip(ref, got, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", ALL)
def test_generated_backward_passes_gradcheck(case: str) -> None:
    layer = compile_cell(op_cell(case), 3, 4, "script", seed=2).double()
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(3, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]

    def fn(x, h, *ps):
        y, (hn,) = functional_call(layer, dict(zip(names, ps, strict=True)), (x, (h,)))
        return y, hn

    assert torch.autograd.gradcheck(fn, (x, h, *params))


def test_max_and_min_split_the_gradient_at_a_tie_like_torch() -> None:
    b = Builder(["h"])
    p = b.add(b.linear("x"), b.linear("h"), name="p")
    b.set_state("h", b.tanh(b.add(b.maximum(p, p), b.minimum(p, "h"))))
    g = b.build()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(T, B, M, generator=gen, dtype=torch.float64)
    h = torch.randn(B, N, generator=gen, dtype=torch.float64)
    ref = _grads(compile_cell(g, M, N, "eager", seed=0).double(), x, h)
    got = _grads(compile_cell(g, M, N, "script", seed=0).double(), x, h)
    for a, c in zip(ref, got, strict=True):
        torch.testing.assert_close(c, a, rtol=1e-10, atol=1e-10)


def test_parameter_counts_and_diag_weights() -> None:
    # the new ops learn nothing; a diag learns n whatever its weight transform
    for case in ALL:
        want = 2 * (N * M + N) + 2 * (N * N + N) + (N if case.startswith("diag_") else 0)
        assert n_params(op_cell(case), M, N) == want
        layer = compile_cell(op_cell(case), M, N, "script")
        assert sum(p.numel() for p in layer.parameters()) == want


def test_canonical_form_knows_commutative_and_constant_parameters() -> None:
    def cell(op, swap=False, **params):
        b = Builder(["h"])
        p = b.linear("x", name="p")
        q = b.linear("h", name="q")
        args = (q, p) if swap else (p, q)
        v = b.node(op, *args, **params)
        b.set_state("h", b.tanh(v))
        return b.build()

    assert genome_id(cell("max")) == genome_id(cell("max", swap=True))
    assert genome_id(cell("min")) == genome_id(cell("min", swap=True))
    assert genome_id(cell("max")) != genome_id(cell("min"))
    b = Builder(["h"])
    s = b.softplus(b.linear("h"))
    b.set_state("h", b.tanh(b.div(b.linear("x"), s)))
    g1 = b.build()
    b = Builder(["h"])
    s = b.softplus(b.linear("h"))
    b.set_state("h", b.tanh(b.div(b.linear("x"), s, eps=0.0)))  # the default, written out
    assert genome_id(g1) == genome_id(b.build())

    def scaled(by):
        b = Builder(["h"])
        b.set_state("h", b.tanh(b.scale(b.add(b.linear("x"), b.linear("h")), by)))
        return b.build()

    assert genome_id(scaled(2.0)) != genome_id(scaled(3.0))
    assert genome_id(scaled(1.0)) == genome_id(scaled(1))


def test_drawings_show_every_op() -> None:
    for case in ALL:
        g = op_cell(case)
        text = to_equations(g)
        assert "tanh" in text and to_dot(g).startswith("digraph")
    b = Builder(["h"])
    v = b.scale(b.linear("x"), -8.0, name="v")
    d = b.div(v, b.softplus(b.linear("h")), eps=0.25, name="d")
    r = b.diag(d, weight="softplus", name="r")
    b.set_state("h", b.tanh(r))
    nodes = b.build().node_map
    assert node_formula(nodes["v"]).startswith("-8 · ")
    assert node_formula(nodes["d"]).endswith("+ 0.25)")
    assert node_formula(nodes["r"]) == "softplus(p) ⊙ d"


def test_float32_ops_follow_float64() -> None:
    # a long float32 run of every op stays within rounding of the float64 one
    for case in ALL:
        g = op_cell(case)
        layer = compile_cell(g, M, N, "script", seed=4)
        gen = torch.Generator().manual_seed(4)
        x = torch.randn(64, B, M, generator=gen)
        h = torch.zeros(B, N)
        y32 = layer(x, (h,))[0]
        y64 = layer.double()(x.double(), (h.double(),))[0]
        assert math.isfinite(y32.abs().max().item())
        assert (y32.double() - y64).abs().max() < 1e-4


# -- head-wise (block-diagonal) projections ---------------------------------------------------


def heads_cell(heads: int = 2) -> Genome:
    """A dense and a head-wise projection of h and of a node's value, pre-added pairs with x."""
    b = Builder(["h", "c"])
    u = b.linear("h", name="u", heads=heads, bias=False)
    w = b.linear("h", name="w", heads=heads, diag=0.5)
    d = b.linear("h", name="d")
    a = b.tanh(b.add(b.linear("x"), u), name="a")
    k = b.linear(a, name="k", heads=heads)
    c_new = b.add(b.mul(b.sigmoid(b.add(b.linear("x"), w)), "c"), b.tanh(k), name="c_new")
    b.set_state("c", c_new)
    b.set_state("h", b.tanh(b.add(c_new, d, b.linear(a)), name="h_new"))
    return b.build(output_state="h", name="heads")


def test_head_wise_projections_on_every_backend() -> None:
    g = heads_cell()
    assert validate(g, input_size=M, hidden_size=6) == []
    layer = compile_cell(g, M, 6, "eager", seed=0).double()
    shapes = {k: tuple(v.shape) for k, v in layer.named_parameters()}
    assert shapes["blocks2_s0"] == (2, 2, 3, 3)  # u and w: 2 heads of (3, 3) each
    assert shapes[layer.param_map()["k"][0][0]] == (1, 2, 3, 3)
    assert sum(p.numel() for p in layer.parameters()) == n_params(g, M, 6)
    # (what a head computes is checked against xLSTM's own reshapes in test_zoo_modern.py)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(T, B, M, generator=gen, dtype=torch.float64)
    h, c = (torch.randn(B, 6, generator=gen, dtype=torch.float64) for _ in range(2))

    def run(layer):
        xi, hi, ci = (t.clone().requires_grad_() for t in (x, h, c))
        y, (hn, cn) = layer(xi, (hi, ci))
        loss = (y * y.sin()).sum() + (cn * cn.cos()).sum()
        return [y, hn, cn, *torch.autograd.grad(loss, [xi, hi, ci, *layer.parameters()])]

    ref = run(layer)
    for fused in (True, False):
        got = run(compile_cell(g, M, 6, "script", fused_backward=fused, seed=0).double())
        for a, b in zip(ref, got, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10)


def test_head_wise_backward_passes_gradcheck() -> None:
    g = heads_cell(3)
    layer = compile_cell(g, 2, 3, "script", seed=1).double()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 2, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    h, c = (torch.randn(2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
            for _ in range(2))
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]

    def fn(x, h, c, *ps):
        y, (hn, cn) = functional_call(layer, dict(zip(names, ps, strict=True)), (x, (h, c)))
        return y, hn, cn

    assert torch.autograd.gradcheck(fn, (x, h, c, *params))


def test_head_wise_rules() -> None:
    def rules(g, **sizes):
        return [(p.where, p.rule) for p in validate(g, **sizes)]

    b = Builder(["h"])
    b.set_state("h", b.tanh(b.add(b.linear("x", heads=2, name="wx"), b.linear("h"))))
    assert rules(b.build()) == [("node 'wx'", "width")]
    b = Builder(["h"])
    b.set_state("h", b.tanh(b.add(b.linear("x"), b.linear("h", heads=0, name="u"))))
    assert rules(b.build()) == [("node 'u'", "param")]
    g = heads_cell(4)
    assert rules(g) == []
    assert rules(g, input_size=3, hidden_size=6) == [("node 'u'", "width"), ("node 'w'", "width"),
                                                     ("node 'k'", "width")]
    with pytest.raises(ValueError, match="4 heads do not divide the hidden size 6"):
        compile_cell(g, 3, 6)
    assert "blockdiag_4(W)" in to_equations(g)


@pytest.mark.parametrize("case", [*ALL, "heads"])
def test_exported_module_computes_what_the_compiled_one_does(case: str, tmp_path) -> None:
    export_check(heads_cell(2) if case == "heads" else op_cell(case), case, tmp_path)


def export_check(g: Genome, case: str, tmp_path, n: int = 4) -> None:
    import importlib.util

    from lstm_search.nn import export_torch, exported_state_dict

    path = tmp_path / f"{case}_cell.py"
    path.write_text(export_torch(g))
    spec = importlib.util.spec_from_file_location(f"{case}_cell", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    layer = compile_cell(g, 3, n, "script", seed=0).double()
    exported = mod.Layer(3, n).double()
    exported.load_state_dict(exported_state_dict(layer))
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(5, 2, 3, generator=gen, dtype=torch.float64)
    s = [torch.randn(2, n, generator=gen, dtype=torch.float64) for _ in g.states]
    want = layer(x, tuple(s))[0]
    torch.testing.assert_close(exported(x, s)[0], want, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(torch.jit.script(exported)(x, s)[0], want, rtol=1e-10,
                               atol=1e-10)


# -- norm -------------------------------------------------------------------------------------

NORMS = {"layer": {}, "rms": {"kind": "rms"}, "group": {"heads": 3, "eps": 1e-3},
         "rms_heads": {"kind": "rms", "heads": 2}}


def norm_cell(case: str) -> Genome:
    b = Builder(["h"])
    p = b.add(b.linear("x", name="wx"), b.linear("h", name="wh"), name="p")
    b.set_state("h", b.tanh(b.add(b.node("norm", p, name="nz", **NORMS[case]), p)))
    return b.build(name=f"norm_{case}")


def norm_reference(case: str, v: torch.Tensor) -> torch.Tensor:
    """PyTorch's layer_norm / group_norm without affine; RMS norm as flash-linear-attention's
    reference (x * rsqrt(mean(x²) + eps))."""
    params = NORMS[case]
    heads, eps = params.get("heads", 1), params.get("eps", 1e-5)
    if params.get("kind") == "rms":
        g = v.reshape(v.shape[0], heads, -1)
        return (g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + eps)).reshape(v.shape)
    if heads == 1:
        return F.layer_norm(v, (v.shape[-1],), eps=eps)
    return F.group_norm(v, heads, eps=eps)


@pytest.mark.parametrize("case", sorted(NORMS))
def test_norm_matches_torch_on_every_backend(case: str) -> None:
    g = norm_cell(case)
    n = 6
    assert validate(g, input_size=M, hidden_size=n) == []
    eager = compile_cell(g, M, n, "eager", seed=0).double()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(T, B, M, generator=gen, dtype=torch.float64)
    h = torch.randn(B, n, generator=gen, dtype=torch.float64)
    (wx, bx), (wh, bh) = ([dict(eager.named_parameters())[name][r0:r1] for name, r0, r1 in
                           eager.param_map()[k]] for k in ("wx", "wh"))
    hh, ys = h, []
    for xt in x:
        p = F.linear(xt, wx, bx) + F.linear(hh, wh, bh)
        hh = torch.tanh(norm_reference(case, p) + p)
        ys.append(hh)
    torch.testing.assert_close(eager(x, (h,))[0], torch.stack(ys), rtol=1e-12, atol=1e-12)
    ref = _grads(eager, x, h)
    for fused in (True, False):
        got = _grads(compile_cell(g, M, n, "script", fused_backward=fused, seed=0).double(), x, h)
        for a, b in zip(ref, got, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10)
    layer = compile_cell(g, 3, n, "script", seed=1).double()
    xs = torch.randn(3, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    hs = torch.randn(2, n, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, h: layer(x, (h,))[0], (xs, hs))


def test_norm_rules() -> None:
    def rules(case_params, **sizes):
        b = Builder(["h"])
        p = b.add(b.linear("x"), b.linear("h"))
        b.set_state("h", b.tanh(b.node("norm", p, name="nz", **case_params)))
        return [(q.where, q.rule) for q in validate(b.build(), **sizes)]

    assert rules({"eps": 0.0}) == [("node 'nz'", "param")]
    assert rules({"kind": "batch"}) == [("node 'nz'", "param")]
    assert rules({"heads": 0}) == [("node 'nz'", "param")]
    assert rules({"heads": 4}, input_size=3, hidden_size=6) == [("node 'nz'", "width")]
    assert rules({"heads": 3}, input_size=3, hidden_size=6) == []
    with pytest.raises(ValueError, match="4 heads do not divide the hidden size 6"):
        compile_cell(norm_cell("layer").replace(nodes=tuple(
            n.__class__(n.name, n.op, n.inputs, {"heads": 4}) if n.op == "norm" else n
            for n in norm_cell("layer").nodes)), 3, 6)


@pytest.mark.parametrize("case", sorted(NORMS))
def test_exported_norm(case: str, tmp_path) -> None:
    export_check(norm_cell(case), f"norm_{case}", tmp_path, n=6)
