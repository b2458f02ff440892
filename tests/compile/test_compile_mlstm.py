"""Genome format 2's head-wise values and the zoo's ``mlstm`` (Beck et al. 2024, "xLSTM",
section 2.3, eq. 19-27): a plain PyTorch loop of NX-AI/xlstm's stabilised recurrent step
(``recurrent_step_stabilized_simple``, transcribed below) with the compiled module's weights
copied into it agrees in float64 to 1e-10 in outputs, final states and every gradient (input,
initial states, weights) at two sizes (one head, and four heads) with 2 layers, on the eager
and script backends; float32 over 2,000 steps with input gates far past exp's float32 range
stays finite and close to float64 (the stabiliser); the parameter count; JSON round trip and
ids; shapes and constructs a head-wise cell refuses."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from compile_helpers import weights_of
from torch import Tensor

from lstm_search import zoo
from lstm_search.compile import build_plan
from lstm_search.genome import Builder, Genome, GenomeError, genome_id, n_params, validate
from lstm_search.nn import compile_cell, compile_rnn

TOL = 1e-10
# (input size m, hidden size n, heads, batch, steps)
SIZES = [(3, 4, 1, 2, 5), (5, 8, 4, 3, 4)]


# -- NX-AI/xlstm, xlstm/blocks/mlstm/backends.py, transcribed --------------------------------


def recurrent_step_stabilized_simple(c_state, n_state, m_state, q, k, v, igate_preact,
                                     fgate_preact, eps=1e-6):
    """One mLSTM step; q, k, v (B, NH, 1, DH), gates (B, NH, 1, 1), c (B, NH, DH, DH),
    n (B, NH, DH, 1), m (B, NH, 1, 1)."""
    DH = q.shape[-1]
    q, k, v = q.squeeze(2).unsqueeze(-1), k.squeeze(2).unsqueeze(-1), v.squeeze(2).unsqueeze(-1)
    log_fg_act = F.logsigmoid(fgate_preact)
    m_state_new = torch.max(log_fg_act + m_state, igate_preact)
    fg_act = torch.exp(log_fg_act + m_state - m_state_new)
    ig_act = torch.exp(igate_preact - m_state_new)
    k_scaled = k / math.sqrt(DH)
    c_state_new = fg_act * c_state + ig_act * (k_scaled @ v.transpose(-1, -2))
    n_state_new = fg_act * n_state + ig_act * k_scaled
    h_num = q.transpose(-1, -2) @ c_state_new
    qn_dotproduct = q.transpose(-1, -2) @ n_state_new
    max_val = torch.exp(-m_state_new)
    h_denom = torch.maximum(qn_dotproduct.abs(), max_val) + eps
    h = h_num / h_denom
    return h, (c_state_new, n_state_new, m_state_new)


# -----------------------------------------------------------------------------------------------



def reference(x: Tensor, states: tuple[Tensor, Tensor, Tensor], layers: list[dict[str, Tensor]],
              heads: int) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor]]:
    """Layers of the official step: q, k, v, ĩ, f̃ and the paper's output gate o from x;
    states in the genome's layout (C as v kᵀ: the transpose of the official k vᵀ; n (B, n);
    m (B, heads)), each (layers, B, ...)."""
    C0, n0, m0 = states
    finals: list[list[Tensor]] = [[], [], []]
    for L, w in enumerate(layers):
        T, B = x.shape[0], x.shape[1]
        n = w["q"].shape[0]
        d = n // heads
        c = C0[L].transpose(-1, -2)  # official layout: k vᵀ
        nn_ = n0[L].reshape(B, heads, d, 1)
        m = m0[L].reshape(B, heads, 1, 1)
        ys = []
        for t in range(T):
            xt = x[t]

            q, k, v = (F.linear(xt, w[g]).reshape(B, heads, 1, d) for g in ("q", "k_raw", "v"))
            ig = F.linear(xt, w["i_raw"], w["i_raw.b"]).reshape(B, heads, 1, 1)
            fg = F.linear(xt, w["f_raw"], w["f_raw.b"]).reshape(B, heads, 1, 1)
            h, (c, nn_, m) = recurrent_step_stabilized_simple(c, nn_, m, q, k, v, ig, fg)
            o = torch.sigmoid(F.linear(xt, w["o_raw"], w["o_raw.b"]))
            ys.append(o * h.reshape(B, n))
        x = torch.stack(ys, 0)
        finals[0].append(c.transpose(-1, -2))
        finals[1].append(nn_.reshape(B, n))
        finals[2].append(m.reshape(B, heads))
    C, nf, mf = (torch.stack(f, 0) for f in finals)
    return x, (C, nf, mf)


def random_states(L: int, B: int, n: int, heads: int, gen: torch.Generator
                  ) -> tuple[Tensor, Tensor, Tensor]:
    d = n // heads
    return (torch.randn(L, B, heads, d, d, dtype=torch.float64, generator=gen),
            torch.randn(L, B, n, dtype=torch.float64, generator=gen),
            torch.randn(L, B, heads, dtype=torch.float64, generator=gen))


@pytest.mark.parametrize("backend", ["eager", "script"])
@pytest.mark.parametrize("size", SIZES)
def test_matches_a_loop_of_the_official_stabilised_step(backend: str,
                                                        size: tuple[int, ...]) -> None:
    m, n, heads, B, T = size
    g = zoo.mlstm(heads)
    rnn = compile_rnn(g, m, n, num_layers=2, backend=backend, seed=3).double()
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(T, B, m, dtype=torch.float64, generator=gen, requires_grad=True)
    s0 = tuple(s.requires_grad_(True) for s in random_states(2, B, n, heads, gen))
    for _ in range(2):  # a second call: a cached executor plan must give the same numbers
        rnn.zero_grad()
        x.grad = None
        for s in s0:
            s.grad = None
        y, states = rnn(x, s0)
        dy = torch.randn(y.shape, dtype=torch.float64, generator=gen)
        ds = [torch.randn(s.shape, dtype=torch.float64, generator=gen) for s in states]
        ((y * dy).sum() + sum((s * d).sum() for s, d in zip(states, ds, strict=True))).backward()
        ws = [weights_of(layer) for layer in rnn.layers]
        xr = x.detach().clone().requires_grad_(True)
        s0r = tuple(s.detach().clone().requires_grad_(True) for s in s0)
        yr, sr = reference(xr, s0r, ws, heads)
        ((yr * dy).sum() + sum((s * d).sum() for s, d in zip(sr, ds, strict=True))).backward()
        pairs = [(y, yr), (x.grad, xr.grad), *zip(states, sr, strict=True),
                 *((a.grad, b.grad) for a, b in zip(s0, s0r, strict=True))]
        for got, want in pairs:
            assert got.shape == want.shape
            assert (got - want).abs().max().item() < TOL
        for layer, w in zip(rnn.layers, ws, strict=True):
            params = dict(layer.named_parameters())
            for node, entries in layer.param_map().items():
                for j, (pname, r0, r1) in enumerate(entries):
                    ref_grad = w[node + (".b" if j else "")].grad
                    got_grad = params[pname].grad[r0:r1]
                    assert (got_grad - ref_grad).abs().max().item() < TOL, (node, pname)


def test_zero_states_are_the_official_initial_states() -> None:
    layer = compile_cell(zoo.mlstm(2), 3, 4, backend="eager", seed=0).double()
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    y, states = layer(x)
    assert [tuple(s.shape) for s in states] == [(2, 2, 2, 2), (2, 4), (2, 2)]
    zeros = tuple(torch.zeros((1, *s.shape), dtype=torch.float64) for s in states)
    yr, _ = reference(x, zeros, [weights_of(layer)], 2)
    assert (y - yr).abs().max().item() < TOL


def test_script_agrees_with_eager() -> None:
    outs = []
    for backend in ("eager", "script"):
        layer = compile_cell(zoo.mlstm(2), 3, 6, backend=backend, seed=1).double()
        x = torch.randn(7, 2, 3, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(2), requires_grad=True)
        y, states = layer(x)
        (y.square().sum() + sum(s.sum() for s in states)).backward()
        outs.append((y.detach(), x.grad, [p.grad for p in layer.parameters()]))
    (ye, gxe, gpe), (ys, gxs, gps) = outs
    assert torch.allclose(ye, ys, atol=1e-12) and torch.allclose(gxe, gxs, atol=1e-12)
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(gpe, gps, strict=True))


def test_float32_over_long_sequences_stays_finite_and_close_to_float64() -> None:
    """2,000 steps in float32 (script backend; eager == script is tested above) against
    float64, two heads, whose units depend on their own head's states only: head 0's input
    gate bias is 0, head 1's 100. Head 0's outputs agree with float64 to 1e-5. Head 1's ĩ ≈
    100 (e^100 overflows float32, whose largest number is about e^88.7): the stabiliser keeps
    every exp's argument ≤ 0 and everything finite; the normaliser's lower bound exp(−m) is
    then ≈ e^-100, so h̃ = C q / |nᵀq| is ill-conditioned wherever nᵀq nears 0 (in any
    precision): agreement is relative there."""
    T, B, m, n, heads = 2000, 2, 3, 8, 2
    layer = compile_cell(zoo.mlstm(heads), m, n, backend="script", seed=4)
    assert layer.param_map()["i_raw"][1] == ("hbias_v6", 0, heads)
    with torch.no_grad():
        layer.hbias_v6.copy_(torch.tensor([0.0, 100.0]))
    x = torch.randn(T, B, m, generator=torch.Generator().manual_seed(0))
    layer64 = compile_cell(zoo.mlstm(heads), m, n, backend="script", seed=4).double()
    layer64.load_state_dict({k: v.double() for k, v in layer.state_dict().items()})
    with torch.no_grad():
        y32, s32 = layer(x)
        y64, _ = layer64(x.double())
    y32 = y32.double()
    d = n // heads
    assert (y32[..., :d] - y64[..., :d]).abs().max().item() < 1e-5  # head 0
    assert not torch.isfinite(torch.exp(torch.tensor(100.0)))  # unstabilised: inf
    assert torch.isfinite(y32).all() and all(torch.isfinite(s).all() for s in s32)
    assert s32[2][:, 1].min().item() > 90  # head 1's m tracks ĩ: its states scaled by e^-m
    a, b = y32[..., d:], y64[..., d:]  # head 1
    rel = (a - b).abs() / (b.abs() + 1e-3)
    assert torch.quantile(rel.flatten(), 0.99).item() < 1e-3
    assert ((a - b).abs() <= 0.05 * (b.abs() + 1.0)).all()


@pytest.mark.parametrize("m,n,heads", [(3, 4, 1), (5, 8, 4), (16, 64, 4)])
def test_parameter_count(m: int, n: int, heads: int) -> None:
    g = zoo.mlstm(heads)
    formula = 4 * n * m + n + 2 * heads * (m + 1)  # mlstm's docstring
    assert n_params(g, m, n) == formula
    rnn = compile_rnn(g, m, n, num_layers=2, backend="eager")
    layer2 = 4 * n * n + n + 2 * heads * (n + 1)
    assert sum(p.numel() for p in rnn.parameters()) == formula + layer2 \
        == rnn.expected_n_params()
    layer = rnn.layers[0]
    assert layer.hweight_v6.shape == (heads, m) and layer.hbias_v7.shape == (heads,)
    assert torch.all(layer.hbias_v7 == zoo.MLSTM_FORGET_BIAS)  # f's bias_init


def test_json_round_trip_and_ids() -> None:
    g = zoo.get("mlstm")
    d = json.loads(g.to_json())
    assert d["version"] == 2 and d["values"] == {"kind": "heads", "heads": 1}
    back = Genome.from_json(g.to_json())
    assert back == g and genome_id(back) == genome_id(g)
    assert genome_id(zoo.mlstm(4)) != genome_id(g)
    assert zoo.mlstm(4).to_dict()["values"]["heads"] == 4
    for name in ("lstm", "gru", "vanilla"):  # format-1 cells keep their version and ids
        assert zoo.get(name).to_dict()["version"] == 1
    assert genome_id(zoo.get("lstm")) == "9081163c3ad93712"  # recorded before mlstm
    d["version"] = 1
    with pytest.raises(GenomeError, match="needs genome format version 2"):
        Genome.from_dict(d)


@pytest.mark.parametrize("values,match", [
    ({"kind": "heads"}, "'heads' must be an int"),
    ({"kind": "heads", "heads": 0}, "'heads' must be an int"),
    ({"kind": "heads", "heads": "2"}, "'heads' must be an int"),
    ({"kind": "heads", "heads": 2, "kernel": 3}, "unknown key"),
])
def test_bad_head_counts_are_refused(values: dict, match: str) -> None:
    problems = validate(zoo.get("mlstm").replace(values=values))
    assert problems and all(p.rule == "values" for p in problems)
    assert any(match in p.message for p in problems)


def test_shapes_that_do_not_fit_their_ops_are_refused() -> None:
    def cell(bad: str) -> Genome:
        b = Builder(states=("C", "h"))
        q, k = b.linear("x", name="q"), b.linear("x", name="k")
        c_new = b.add("C", b.outer(q, k, name="qk"), name="C_new")
        read = b.matvec(c_new, q, name="read")
        if bad == "mix":  # a vector plus a matrix
            read = b.add(read, c_new, name="mixed")
        if bad == "linear_of_matrix":
            read = b.linear(c_new, name="proj")
        if bad == "matvec_order":
            read = b.matvec(q, c_new, name="swapped")
        if bad == "output":
            b.set_state("C", c_new)
            b.set_state("h", b.tanh(b.add(read, "h", name="s"), name="h_new"))
            return b.build(output=c_new, name="bad", values={"kind": "heads", "heads": 2})
        b.set_state("C", c_new)
        b.set_state("h", b.tanh(b.add(read, "h", name="s"), name="h_new"))
        return b.build(output_state="h", name="bad", values={"kind": "heads", "heads": 2})

    assert validate(cell("")) == []
    for bad, match in (("mix", "mixes a vector and a matrix"),
                       ("linear_of_matrix", "takes vectors only"),
                       ("matvec_order", "takes a matrix first"),
                       ("output", "output must be a vector")):
        problems = validate(cell(bad))
        assert any(p.rule == "values" and match in p.message for p in problems), bad
    with pytest.raises(GenomeError, match="output must be a vector"):
        compile_cell(cell("output"), 2, 4)


def test_head_ops_need_a_head_wise_cell_and_unsupported_constructs_are_refused() -> None:
    vector = zoo.get("mlstm").replace(values={})
    assert any(p.rule == "values" and "needs head-wise values" in p.message
               for p in validate(vector))
    spatial = zoo.get("mlstm").replace(values={"kind": "spatial", "kernel": 3})
    assert any("needs head-wise values" in p.message for p in validate(spatial))
    for name in ("clockwork", "lstm_attention", "depth_gated"):
        g = zoo.get(name).replace(values={"kind": "heads", "heads": 1})
        with pytest.raises(GenomeError, match="not supported in a head-wise cell"):
            compile_rnn(g, 2, 4)
    from lstm_search.genome import import_darts

    darts = import_darts("Genotype(recurrent=[('tanh', 0)], concat=[1])", name="d",
                         dropout_h=0.25).replace(values={"kind": "heads", "heads": 1})
    with pytest.raises(GenomeError, match="'dropout' of 'linear' is not supported in a head"):
        compile_rnn(darts, 2, 4)


def test_sizes_and_options_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="4 heads, which do not divide the hidden size 6"):
        compile_rnn(zoo.mlstm(4), 2, 6)
    assert any(p.rule == "width" for p in validate(zoo.mlstm(4), input_size=2, hidden_size=6))
    rnn = compile_rnn(zoo.mlstm(2), 2, 4, backend="eager")
    with pytest.raises(ValueError, match=r"\(num_layers=1, B, 2, 2, 2\)"):
        rnn(torch.randn(3, 2, 2), (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4),
                                    torch.zeros(1, 2, 2)))
    assert build_plan(zoo.get("mlstm"), 2, 4).path.startswith("chunkwise:")
    assert compile_rnn(zoo.get("mlstm"), 2, 4, backend="eager").layers[0].path == "chunkwise"
    assert compile_rnn(zoo.get("mlstm"), 2, 4, backend="eager",
                       scan=False).layers[0].path == "step loop"


def test_tied_layers_share_one_parameter_set() -> None:
    rnn = compile_rnn(zoo.mlstm(2), 4, 4, num_layers=3, backend="eager", tie_layers="all")
    y, states = rnn(torch.randn(3, 2, 4))
    assert y.shape == (3, 2, 4) and states[0].shape == (3, 2, 2, 2, 2)
    assert sum(p.numel() for p in rnn.parameters()) == n_params(zoo.mlstm(2), 4, 4)


def test_mutants_stay_head_wise_and_compile() -> None:
    from lstm_search.genome import mutate

    g = zoo.mlstm(2)
    for seed in range(4):
        child = mutate(g, seed).genome
        assert child.values == g.values and validate(child) == []
        layer = compile_cell(child, 3, 4, backend="eager", seed=seed)
        y, _ = layer(torch.randn(3, 2, 3))
        assert y.shape == (3, 2, 4)


def test_show_prints_the_head_wise_cell(capsys: pytest.CaptureFixture[str]) -> None:
    from lstm_search.cli import main

    assert main(["show", "mlstm", "--input-size", "16", "--hidden-size", "64"]) == 0
    out = capsys.readouterr().out
    assert "head-wise values" in out and "C matrix, n vector, m scalar" in out
    assert "vk           = v kᵀ  [per head]" in out and "d^-0.5" in out
    assert f"{n_params(zoo.get('mlstm'), 16, 64):,} parameters" in out
    assert "# path: chunkwise:" in out
    assert main(["show", "mlstm", "--code"]) == 0
    code = capsys.readouterr().out
    assert "_matvec" in code and "def backward" not in code


def test_export_and_to_torchscript_refuse_a_head_wise_cell(tmp_path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    from lstm_search.cli import main

    assert main(["export", "mlstm", "--torch", "-o", str(tmp_path / "m.py")]) == 2
    assert "head-wise values" in capsys.readouterr().err and not (tmp_path / "m.py").exists()
    with pytest.raises(ValueError, match="head-wise values"):
        compile_rnn(zoo.get("mlstm"), 2, 4).to_torchscript()


@pytest.mark.integration
def test_trains_through_the_cli_on_mqar(capsys: pytest.CaptureFixture[str]) -> None:
    from lstm_search.cli import main

    assert main(["train", "--cell", "mlstm", "--task", "mqar", "--epochs", "1", "--json",
                 "--no-progress", "--set", "task.n_train=64", "--set", "task.n_valid=16",
                 "--set", "task.n_test=16", "--set", "task.seq_len=16", "--set",
                 "task.n_pairs=2", "--set", "task.vocab_size=8", "--set",
                 "model.hidden_size=16"]) == 0
    out = capsys.readouterr().out
    record = json.loads(out.strip().splitlines()[-1])
    assert record["status"] == "complete" and record["cell"] == "mlstm"
    assert math.isfinite(record["metrics"]["train.loss"])


@pytest.mark.integration
def test_compile_backend_agrees_with_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    from lstm_search.compile import _kernels

    monkeypatch.setattr(_kernels, "_TORCH_COMPILE_BACKEND", "eager")  # dynamo alone
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    ys = [compile_rnn(zoo.mlstm(2), 3, 4, backend=b, seed=0).double()(x)[0]
          for b in ("eager", "compile")]
    assert (ys[0] - ys[1]).abs().max().item() < TOL


@pytest.mark.parametrize("power,ok", [(0.0, True), (-0.5, True), (1.0, False)])
def test_domains_know_that_dim_power_scales_by_an_unknown_d(power: float, ok: bool) -> None:
    """log(1 − c·σ(v)): safe for c = d^-0.5 ≤ 1, not for c = d ≥ 1 (d is not in the genome)."""
    b = Builder(states=("h",))
    s = b.scale(b.sigmoid(b.linear("x")), 1.0, dim_power=power)
    b.set_state("h", b.add(b.log(b.one_minus(s)), b.linear("h")))
    problems = validate(b.build(output_state="h"))
    assert (problems == []) == ok
    assert ok or [p.rule for p in problems] == ["domain"]


@pytest.mark.parametrize("backend", ["eager", "script"])
def test_a_pre_added_pair_keeps_the_shapes_of_the_other_summands(backend: str) -> None:
    """W x + U h + s, s a per-head scalar: the plan folds W x + U h into one pair (``r0``),
    and s is still spread over its head's units."""
    b = Builder(states=("h", "m"))
    m_new = b.maximum("m", b.head_linear("x", name="g"), name="m_new")
    pre = b.add(b.linear("x", name="wx"), b.linear("h", name="uh", bias=False), m_new,
                name="pre")
    b.set_state("h", b.tanh(pre, name="h_new"))
    b.set_state("m", m_new)
    g = b.build(output_state="h", values={"kind": "heads", "heads": 2})
    layer = compile_cell(g, 3, 4, backend=backend, seed=0).double()
    assert layer.plan.n_pairs == 1
    x = torch.randn(5, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y, _ = layer(x)
    w = weights_of(layer)
    h, m = torch.zeros(2, 4, dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64)
    for t in range(5):
        m = torch.maximum(m, F.linear(x[t], w["g"], w["g.b"]))
        h = torch.tanh(F.linear(x[t], w["wx"], w["wx.b"]) + F.linear(h, w["uh"])
                       + m.repeat_interleave(2, 1))
        assert (y[t] - h).abs().max().item() < TOL
