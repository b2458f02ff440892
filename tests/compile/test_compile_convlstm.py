"""Genome format 2's spatial values and the zoo's ``convlstm`` (Shi et al. 2015, "Convolutional
LSTM Network", NeurIPS, eq. 3): a plain PyTorch loop written from the paper's equations with
the compiled module's weights copied into it agrees in float64 to 1e-10 in outputs, final
states and every gradient (input, initial states, weights) at two sizes (3×3 and 5×5
kernels) with 2 layers, on the eager and script backends; the parameter count; JSON round
trip and ids (format-1 ids unchanged); what a spatial cell refuses."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from compile_helpers import weights_of
from torch import Tensor

from lstm_search import zoo
from lstm_search.compile import build_plan, generated_source
from lstm_search.genome import Builder, Genome, GenomeError, genome_id, n_params, validate
from lstm_search.nn import compile_cell, compile_rnn

TOL = 1e-10
SPATIAL = {"kind": "spatial", "kernel": 3}
# (input channels m, hidden channels n, H, W, kernel K, batch, steps)
SIZES = [(2, 3, 5, 4, 3, 2, 4), (1, 4, 6, 6, 5, 3, 3)]



def reference(x: Tensor, h0: Tensor, c0: Tensor, layers: list[dict[str, Tensor]],
              kernel: int) -> tuple[Tensor, Tensor, Tensor]:
    """Shi et al. 2015, eq. 3, step by step: ``*`` a 'same'-padded convolution, ``∘`` the
    Hadamard product; the weights are named as the zoo cell's nodes (x_i: W_xi, h_i: W_hi,
    p_i: W_ci, x_i.b: b_i; z the candidate)."""
    pad = kernel // 2
    hs, cs = [], []
    for k, w in enumerate(layers):
        h, c = h0[k], c0[k]
        ys = []
        for t in range(x.shape[0]):
            xt = x[t]

            def conv(g: str, xt: Tensor = xt, h: Tensor = h, w: dict = w) -> Tensor:
                return (F.conv2d(xt, w[f"x_{g}"], w[f"x_{g}.b"], padding=pad)
                        + F.conv2d(h, w[f"h_{g}"], None, padding=pad))

            i = torch.sigmoid(conv("i") + w["p_i"] * c)
            f = torch.sigmoid(conv("f") + w["p_f"] * c)
            c = f * c + i * torch.tanh(conv("z"))
            o = torch.sigmoid(conv("o") + w["p_o"] * c)
            h = o * torch.tanh(c)
            ys.append(h)
        x = torch.stack(ys, 0)
        hs.append(h)
        cs.append(c)
    return x, torch.stack(hs, 0), torch.stack(cs, 0)


@pytest.mark.parametrize("backend", ["eager", "script"])
@pytest.mark.parametrize("size", SIZES)
def test_matches_a_loop_of_shi_et_al_eq_3(backend: str, size: tuple[int, ...]) -> None:
    m, n, H, W, K, B, T = size
    g = zoo.convlstm(K)
    rnn = compile_rnn(g, m, n, num_layers=2, backend=backend, seed=3, spatial=(H, W)).double()
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(T, B, m, H, W, dtype=torch.float64, generator=gen, requires_grad=True)
    h0 = torch.randn(2, B, n, H, W, dtype=torch.float64, generator=gen, requires_grad=True)
    c0 = torch.randn(2, B, n, H, W, dtype=torch.float64, generator=gen, requires_grad=True)
    for _ in range(2):  # a second call: a cached executor plan must give the same numbers
        rnn.zero_grad()
        x.grad = h0.grad = c0.grad = None
        y, (h, c) = rnn(x, (h0, c0))
        dy, dh, dc = (torch.randn(v.shape, dtype=torch.float64, generator=gen)
                      for v in (y, h, c))
        ((y * dy).sum() + (h * dh).sum() + (c * dc).sum()).backward()
        ws = [weights_of(layer) for layer in rnn.layers]
        xr, h0r, c0r = (v.detach().clone().requires_grad_(True) for v in (x, h0, c0))
        yr, hr, cr = reference(xr, h0r, c0r, ws, K)
        ((yr * dy).sum() + (hr * dh).sum() + (cr * dc).sum()).backward()
        for got, want in ((y, yr), (h, hr), (c, cr), (x.grad, xr.grad), (h0.grad, h0r.grad),
                          (c0.grad, c0r.grad)):
            assert got.shape == want.shape
            assert (got - want).abs().max().item() < TOL
        for layer, w in zip(rnn.layers, ws, strict=True):
            params = dict(layer.named_parameters())
            for node, entries in layer.param_map().items():
                for j, (pname, r0, r1) in enumerate(entries):
                    ref_grad = w[node + (".b" if j else "")].grad
                    got_grad = params[pname].grad[r0:r1]
                    assert (got_grad - ref_grad).abs().max().item() < TOL, (node, pname)


@pytest.mark.parametrize("m,n,H,W,K", [(2, 3, 5, 4, 3), (1, 4, 6, 6, 5), (3, 8, 16, 16, 3)])
def test_parameter_count(m: int, n: int, H: int, W: int, K: int) -> None:
    g = zoo.convlstm(K)
    formula = 4 * n * K * K * (m + n) + 4 * n + 3 * n * H * W  # convlstm's docstring
    assert n_params(g, m, n, (H, W)) == formula
    rnn = compile_rnn(g, m, n, num_layers=2, backend="eager", spatial=(H, W))
    layer2 = 4 * n * K * K * (n + n) + 4 * n + 3 * n * H * W
    assert sum(p.numel() for p in rnn.parameters()) == formula + layer2 \
        == rnn.expected_n_params()
    assert rnn.layers[0].diag_v6.shape == (n, H, W)  # a Hadamard peephole map (eq. 3)
    assert rnn.layers[0].weight_x.shape == (4 * n, m, K, K)


def test_spatial_cells_without_peepholes_count_without_a_map_size() -> None:
    g = zoo.get("lstm").replace(values=SPATIAL)  # two biases per gate, no peephole
    assert n_params(g, 2, 3) == 4 * (3 * 9 * (2 + 3) + 2 * 3)
    with pytest.raises(ValueError, match="spatial=\\(H, W\\)"):
        n_params(zoo.get("convlstm"), 2, 3)


def test_script_agrees_with_eager_on_other_spatial_cells() -> None:
    """GRU and minGRU (a scannable recurrence as vectors) with spatial values: the step loop,
    script == eager in values and gradients."""
    for name in ("gru", "mingru"):
        g = zoo.get(name).replace(values=SPATIAL, name=f"conv_{name}")
        assert build_plan(g, 2, 3, (4, 4)).path.startswith("step loop: spatial")
        outs = []
        for backend in ("eager", "script"):
            layer = compile_cell(g, 2, 3, backend=backend, seed=1, spatial=(4, 4)).double()
            x = torch.randn(5, 2, 2, 4, 4, dtype=torch.float64,
                            generator=torch.Generator().manual_seed(2), requires_grad=True)
            y, _ = layer(x)
            y.square().sum().backward()
            outs.append((y.detach(), x.grad, [p.grad for p in layer.parameters()]))
        (ye, gxe, gpe), (ys, gxs, gps) = outs
        assert torch.allclose(ye, ys, atol=1e-12) and torch.allclose(gxe, gxs, atol=1e-12)
        assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(gpe, gps, strict=True))


def test_json_round_trip_and_ids() -> None:
    g = zoo.get("convlstm")
    d = json.loads(g.to_json())
    assert d["version"] == 2 and d["values"] == SPATIAL
    back = Genome.from_json(g.to_json())
    assert back == g and genome_id(back) == genome_id(g)
    assert zoo.convlstm(5).to_dict()["values"]["kernel"] == 5
    assert genome_id(zoo.convlstm(5)) != genome_id(g)
    vector = g.replace(values={}, name="vanilla")
    assert genome_id(vector) == genome_id(zoo.get("vanilla")) != genome_id(g)
    assert "values" not in zoo.get("vanilla").to_dict()
    assert zoo.get("vanilla").to_dict()["version"] == 1
    d["version"] = 1
    with pytest.raises(GenomeError, match="needs genome format version 2"):
        Genome.from_dict(d)
    d["version"], d["values"] = 2, {"kind": "spatial", "kernel": [3]}
    with pytest.raises(GenomeError, match="values: must be an object"):
        Genome.from_dict(d)


@pytest.mark.parametrize("values,match", [
    ({"kind": "spatial", "kernel": 4}, "odd int"),
    ({"kind": "spatial"}, "odd int"),
    ({"kind": "spatial", "kernel": "3"}, "odd int"),
    ({"kind": "spatial", "kernel": True}, "odd int"),
    ({"kind": "spatial", "kernel": 17}, "odd int"),
    ({"kind": "matrix", "heads": 2}, "not read by this version"),
    ({"kind": "spatial", "kernel": 3, "stride": 2}, "unknown key"),
])
def test_bad_value_shapes_are_refused(values: dict, match: str) -> None:
    problems = validate(zoo.get("lstm").replace(values=values))
    assert problems and all(p.rule == "values" for p in problems)
    assert any(match in p.message for p in problems)


def test_unsupported_constructs_are_refused_in_a_spatial_cell() -> None:
    for name in ("clockwork", "lstm_attention", "depth_gated", "slstm_h2"):
        g = (zoo.slstm(2) if name == "slstm_h2" else zoo.get(name)).replace(values=SPATIAL)
        problems = [p for p in validate(g) if p.rule == "values"]
        assert problems, name
        with pytest.raises(GenomeError, match="not supported in a spatial cell"):
            compile_rnn(g, 2, 4, spatial=(4, 4))


def test_sizes_and_options_are_refused_clearly() -> None:
    g = zoo.get("convlstm")
    with pytest.raises(ValueError, match="give the map size, spatial=\\(H, W\\)"):
        compile_rnn(g, 2, 3)
    with pytest.raises(ValueError, match="whose values are vectors"):
        compile_rnn(zoo.get("lstm"), 2, 3, spatial=(4, 4))
    with pytest.raises(ValueError, match="two positive ints"):
        compile_rnn(g, 2, 3, spatial=(4, 0))
    with pytest.raises(ValueError, match="tie_layers"):
        compile_rnn(g, 3, 3, num_layers=2, spatial=(4, 4), tie_layers=True)
    rnn = compile_rnn(g, 2, 3, spatial=(4, 4))
    with pytest.raises(ValueError, match="to_torchscript"):
        rnn.to_torchscript()
    with pytest.raises(ValueError, match=r"expected input \(T >= 1, B, 2, 4, 4\)"):
        rnn(torch.randn(3, 2, 2, 4, 5))
    with pytest.raises(ValueError, match=r"\(num_layers=1, B, 3, 4, 4\)"):
        rnn(torch.randn(3, 2, 2, 4, 4), (torch.zeros(1, 2, 3), torch.zeros(1, 2, 3)))


def test_generated_code_convolves_and_has_no_generated_backward() -> None:
    src = generated_source(zoo.get("convlstm"), input_size=2, hidden_size=3)
    assert "conv2d" in src and "def backward" not in src and "mkldnn" not in src
    b = Builder(states=("h",))
    b.set_state("h", b.tanh(b.add(b.linear("x"), b.linear("h", bias=False))))
    g = b.build(name="conv_rnn", values=SPATIAL)
    assert g.kernel == 3 and validate(g) == []
    layer = compile_cell(g, 1, 2, spatial=(3, 3))
    y, (h,) = layer(torch.randn(2, 4, 1, 3, 3))
    assert y.shape == (2, 4, 2, 3, 3) and h.shape == (4, 2, 3, 3)


def test_show_prints_the_spatial_cell(capsys: pytest.CaptureFixture[str]) -> None:
    from lstm_search.cli import main

    assert main(["show", "convlstm", "--input-size", "1", "--hidden-size", "8",
                 "--spatial", "16", "16"]) == 0
    out = capsys.readouterr().out
    assert "3×3 convolution" in out and "step loop: spatial" in out
    assert f"{n_params(zoo.get('convlstm'), 1, 8, (16, 16)):,} parameters" in out
    assert main(["show", "convlstm", "--code"]) == 0
    assert "conv2d" in capsys.readouterr().out
    assert "convlstm" in zoo.names(spatial=True) and "convlstm" not in zoo.names()


def test_mutants_stay_spatial_and_compile() -> None:
    from lstm_search.genome import mutate

    g = zoo.get("convlstm")
    for seed in range(4):
        child = mutate(g, seed).genome
        assert child.values == g.values and validate(child) == []
        layer = compile_cell(child, 1, 2, spatial=(4, 4), seed=seed)
        y, _ = layer(torch.randn(3, 2, 1, 4, 4))
        assert y.shape == (3, 2, 2, 4, 4)


def test_a_parameter_budget_needs_the_map_size_of_a_spatial_peephole() -> None:
    g = zoo.get("convlstm")
    assert validate(g, input_size=1, hidden_size=2) == []
    problems = validate(g, input_size=1, hidden_size=2, max_params=10**9)
    assert [p.rule for p in problems] == ["budget"] and "map size" in problems[0].message
    conv_lstm = zoo.get("lstm").replace(values=SPATIAL)  # no peephole: counted without it
    assert [p.rule for p in validate(conv_lstm, input_size=1, hidden_size=2,
                                     max_params=10)] == ["budget"]


@pytest.mark.integration
def test_compile_backend_agrees_with_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    from lstm_search.compile import _kernels

    monkeypatch.setattr(_kernels, "_TORCH_COMPILE_BACKEND", "eager")  # dynamo alone
    g = zoo.get("convlstm")
    x = torch.randn(3, 2, 1, 4, 4, dtype=torch.float64)
    ys = [compile_rnn(g, 1, 2, spatial=(4, 4), backend=b, seed=0).double()(x)[0]
          for b in ("eager", "compile")]
    assert (ys[0] - ys[1]).abs().max().item() < TOL


def test_check_and_export_name_the_spatial_cell(
        tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from lstm_search.cli import main

    path = tmp_path / "convlstm.json"
    path.write_text(zoo.get("convlstm").to_json(), encoding="utf-8")
    assert main(["check", str(path), "--input-size", "1", "--hidden-size", "8",
                 "--spatial", "4", "4"]) == 0
    assert f"{n_params(zoo.get('convlstm'), 1, 8, (4, 4)):,} at input size 1, hidden size 8, " \
           "maps 4×4" in capsys.readouterr().out
    assert main(["export", "convlstm", "--torch", "-o", str(tmp_path / "c.py")]) == 2
    assert "spatial values" in capsys.readouterr().err and not (tmp_path / "c.py").exists()


def test_the_bench_reference_is_the_zoo_convlstm_with_its_weights() -> None:
    """bench's hand-written ConvLSTM (one Conv2d of every frame, one of h per step, gates i,
    f, g, o) computes the zoo cell when given its weights: the ratio compares like with
    like."""
    from lstm_search.bench import ConvLSTMReference

    m, n, H, W, K = 2, 3, 5, 4, 3
    rnn = compile_rnn(zoo.convlstm(K), m, n, backend="eager", seed=2, spatial=(H, W)).double()
    w = weights_of(rnn.layers[0])
    ref = ConvLSTMReference(m, n, (H, W), K).double()
    assert sum(p.numel() for p in ref.parameters()) == n_params(zoo.convlstm(K), m, n, (H, W))
    gates = ("i", "f", "z", "o")
    with torch.no_grad():
        ref.conv_x.weight.copy_(torch.cat([w[f"x_{g}"] for g in gates]))
        ref.conv_x.bias.copy_(torch.cat([w[f"x_{g}.b"] for g in gates]))
        ref.conv_h.weight.copy_(torch.cat([w[f"h_{g}"] for g in gates]))
        ref.peep.copy_(torch.stack([w["p_i"], w["p_f"], w["p_o"]]))
    x = torch.randn(4, 2, m, H, W, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y, (h, c) = rnn(x)
    yr, (hr, cr) = ref(x)
    for got, want in ((y, yr), (h[0], hr), (c[0], cr)):
        assert (got - want).abs().max().item() < TOL


@pytest.mark.parametrize("backend", ["eager", "script"])
def test_norm_of_a_map_is_a_group_norm_over_channels_and_positions(backend: str) -> None:
    b = Builder(states=("h",))
    pre = b.add(b.linear("x", name="wx"), b.linear("h", name="uh", bias=False), name="pre")
    b.set_state("h", b.norm(b.tanh(pre, name="act"), heads=2, eps=1e-5, name="h_new"))
    g = b.build(name="normed", values=SPATIAL)
    layer = compile_cell(g, 1, 4, backend=backend, seed=0, spatial=(3, 3)).double()
    x = torch.randn(2, 2, 1, 3, 3, dtype=torch.float64)
    y, _ = layer(x)
    w = weights_of(layer)
    h = torch.zeros(2, 4, 3, 3, dtype=torch.float64)
    for t in range(2):
        act = torch.tanh(F.conv2d(x[t], w["wx"], w["wx.b"], padding=1)
                         + F.conv2d(h, w["uh"], None, padding=1))
        h = F.group_norm(act, 2, eps=1e-5)
        assert (y[t] - h).abs().max().item() < TOL
