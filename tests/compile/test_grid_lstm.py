"""Grid LSTM for sequences (Kalchbrenner, Danihelka, Graves 2015, arXiv:1507.01526, sec. 2-3)
against a plain PyTorch loop over t and l written from the paper's equations, weights copied
from the compiled module: outputs, final states and every gradient agree to 1e-10 in float64,
untied and tied across depth (``tie_layers``), on the eager and script backends; and
``tie_layers`` for any genome: shared parameters, counts, state_dict, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor

from lstm_search import zoo
from lstm_search.genome import n_params
from lstm_search.nn import compile_rnn

TOL = 1e-10
T, B = 6, 2
BACKENDS = ["eager", "script"]


class Weights:
    """One layer's weights as leaf tensors per genome node (a copy, rows from ``param_map``)."""

    def __init__(self, layer) -> None:
        self.layer = layer
        params = dict(layer.named_parameters())
        self.rows = layer.param_map()
        self.w = {(node if k == 0 else node + ".bias"):
                  params[p][r0:r1].detach().clone().requires_grad_(True)
                  for node, entries in self.rows.items()
                  for k, (p, r0, r1) in enumerate(entries)}

    def lin(self, node: str, v: Tensor) -> Tensor:
        out = v @ self.w[node].T
        return out + self.w[node + ".bias"] if node + ".bias" in self.w else out

    def compare_grads(self) -> None:
        params = dict(self.layer.named_parameters())
        for node, entries in self.rows.items():
            for k, (p, r0, r1) in enumerate(entries):
                ref = self.w[node if k == 0 else node + ".bias"].grad
                assert ref is not None and (params[p].grad[r0:r1] - ref).abs().max() <= TOL


def grid_reference(x: Tensor, h0: Tensor, m0: Tensor, layers: list[Weights]
                   ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The paper's block at (t, l): H = [h^time_{t-1,l}; h^depth_{t,l-1}], one LSTM transform
    per dimension with h' = tanh(o ⊙ m'); the depth memory comes from below (zeros under the
    first layer, whose depth input is x itself). Returns y and the final h, m, md."""
    sig = torch.sigmoid
    hd_in = list(x.unbind(0))  # h^depth_{t,0}
    md_in = [torch.zeros_like(h0[0])] * x.shape[0]  # m^depth_{t,0}
    h_n, m_n, md_n = [], [], []
    for k, w in enumerate(layers):
        h, m = h0[k], m0[k]
        hd_out, md_out = [], []
        for t in range(x.shape[0]):
            hd, md = hd_in[t], md_in[t]

            def gates(k: str, w: Weights = w, h: Tensor = h, hd: Tensor = hd):
                pre = {g: w.lin(f"{k}_x_{g}", hd) + w.lin(f"{k}_h_{g}", h) for g in "ifoc"}
                return sig(pre["i"]), sig(pre["f"]), sig(pre["o"]), torch.tanh(pre["c"])

            i, f, o, g = gates("t")  # time LSTM
            m = f * m + i * g
            h_time = torch.tanh(o * m)
            i, f, o, g = gates("d")  # depth LSTM, memory from below
            md = f * md + i * g
            hd_out.append(torch.tanh(o * md))
            md_out.append(md)
            h = h_time
        hd_in, md_in = hd_out, md_out
        h_n.append(h)
        m_n.append(m)
        md_n.append(md_out[-1])
    return torch.stack(hd_in, 0), torch.stack(h_n), torch.stack(m_n), torch.stack(md_n)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("m,n", [(3, 5), (4, 4)])
def test_grid_lstm_matches_the_paper(backend: str, tie: bool, layers: int, m: int,
                                     n: int) -> None:
    g = zoo.get("grid_lstm")
    module = compile_rnn(g, m, n, num_layers=layers, backend=backend, seed=layers,
                         tie_layers=tie).double()
    owner = list(range(layers))
    if tie and layers > 1:  # all layers tied when m == n, else layers 2..L
        first = 0 if m == n else 1
        owner = [k if k < first else first for k in range(layers)]
    distinct = sorted(set(owner))
    count = sum(8 * n * (m if k == 0 else n) + 8 * n * n + 8 * n for k in distinct)
    assert sum(p.numel() for p in module.parameters()) == module.expected_n_params() == count
    gen = torch.Generator().manual_seed(m * 10 + layers)
    x = torch.randn(T, B, m, generator=gen, dtype=torch.float64)
    s0 = [torch.randn(layers, B, n, generator=gen, dtype=torch.float64) * 0.5
          for _ in range(3)]
    probes = [torch.randn(T, B, n, generator=gen, dtype=torch.float64) for _ in range(4)]

    def loss(y: Tensor, finals: list[Tensor]) -> Tensor:
        return (y * probes[0]).sum() + (y * y).sum() + sum(
            (s * p[:s.shape[0]]).sum() for s, p in zip(finals, probes[1:], strict=True))

    ws = {k: Weights(module.layers[k]) for k in distinct}
    xr, h0r, m0r = (t.clone().requires_grad_(True) for t in (x, s0[0], s0[1]))
    y_ref, h_ref, m_ref, md_ref = grid_reference(xr, h0r, m0r, [ws[k] for k in owner])
    loss(y_ref, [h_ref, m_ref, md_ref]).backward()

    xm, h0m, m0m, md0m = (t.clone().requires_grad_(True) for t in (x, *s0))
    y, (h_n, m_n, md_n) = module(xm, (h0m, m0m, md0m))
    loss(y, [h_n, m_n, md_n]).backward()

    for a, b in ((y, y_ref), (h_n, h_ref), (m_n, m_ref), (md_n, md_ref), (xm.grad, xr.grad),
                 (h0m.grad, h0r.grad), (m0m.grad, m0r.grad)):
        assert a.shape == b.shape and (a - b).abs().max() <= TOL
    # the depth memory is never read across steps: its initial value is unused
    assert md0m.grad is None or md0m.grad.abs().max() == 0
    for w in ws.values():  # a tied set's gradient is the sum over its layers
        w.compare_grads()


def test_grid_lstm_outputs_the_depth_hidden_vector() -> None:
    """The layer's output (the next layer's x) is hd', not the time hidden vector h'."""
    module = compile_rnn(zoo.get("grid_lstm"), 3, 4, num_layers=2, backend="eager",
                         seed=0).double()
    y, (h_n, _, _) = module(torch.randn(5, 2, 3, dtype=torch.float64))
    assert (y[-1] - h_n[-1]).abs().max() > 1e-3
    assert zoo.get("grid_lstm").output == "d_h_new"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["lstm", "depth_gated", "gru"])
def test_tied_layers_share_parameters_and_gradients(backend: str, name: str) -> None:
    """Any genome: layers 2..L hold the same Parameter objects; the gradient of the shared set
    is the sum of what each layer would get untied (same weights)."""
    g = zoo.get(name)
    tied = compile_rnn(g, 3, 4, num_layers=3, backend=backend, seed=5,
                       tie_layers="above_first").double()
    assert tied.tied_layers() == (1, 2)
    for (na, a), (nb, b) in zip(tied.layers[1].named_parameters(),
                                tied.layers[2].named_parameters(), strict=True):
        assert na == nb and a is b
    assert sum(p.numel() for p in tied.parameters()) == tied.expected_n_params() == \
        n_params(g, 3, 4) + n_params(g, 4, 4)
    free = compile_rnn(g, 3, 4, num_layers=3, backend=backend).double()
    free.load_state_dict(tied.state_dict())  # every key of the tied module loads
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    for mod in (tied, free):
        y, _ = mod(x)
        (y * y).sum().backward()
    assert (tied(x)[0] - free(x)[0]).abs().max() <= TOL
    for (_, p1), (_, p2), (_, pt) in zip(free.layers[1].named_parameters(),
                                         free.layers[2].named_parameters(),
                                         tied.layers[1].named_parameters(), strict=True):
        assert (pt.grad - (p1.grad + p2.grad)).abs().max() <= TOL
    for (_, p0), (_, pt0) in zip(free.layers[0].named_parameters(),
                                 tied.layers[0].named_parameters(), strict=True):
        assert (pt0.grad - p0.grad).abs().max() <= TOL


def test_tied_state_dict_round_trip_keeps_the_ties() -> None:
    g = zoo.get("grid_lstm")
    a = compile_rnn(g, 4, 4, num_layers=3, backend="eager", seed=1, tie_layers=True)
    assert a.tie_layers == "all" and a.tied_layers() == (0, 1, 2)
    sd = a.state_dict()
    assert set(sd) == {f"layers.{k}.{p}" for k in range(3)
                       for p in ("weight_x", "bias_x", "weight_s0")}
    assert sd["layers.0.weight_x"].data_ptr() == sd["layers.2.weight_x"].data_ptr()
    b = compile_rnn(g, 4, 4, num_layers=3, backend="eager", seed=2, tie_layers=True)
    b.load_state_dict(sd)
    assert b.layers[0].weight_s0 is b.layers[2].weight_s0
    x = torch.randn(3, 2, 4)
    assert torch.equal(a(x)[0], b(x)[0])
    assert sum(p.numel() for p in b.parameters()) == n_params(g, 4, 4) == 8 * 16 * 2 + 8 * 4


def test_tie_layers_refusals() -> None:
    g = zoo.get("lstm")
    with pytest.raises(ValueError, match=r"input_size 3 != hidden_size 4.*above_first"):
        compile_rnn(g, 3, 4, num_layers=2, tie_layers="all")
    with pytest.raises(ValueError, match="tie_layers must be"):
        compile_rnn(g, 3, 4, num_layers=2, tie_layers="first")
    one = compile_rnn(g, 3, 4, num_layers=2, tie_layers=True)  # only layer 2 above the first
    assert one.tie_layers == "above_first" and one.tied_layers() == ()
    assert "tie_layers='above_first'" in repr(one)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("backend", BACKENDS)
def test_tied_grid_lstm_on_cuda_matches_cpu(backend: str) -> None:
    g = zoo.get("grid_lstm")
    cpu = compile_rnn(g, 4, 4, num_layers=3, backend=backend, seed=3, tie_layers=True).double()
    gpu = compile_rnn(g, 4, 4, num_layers=3, backend=backend, seed=3,
                      tie_layers=True).double().cuda()
    assert gpu.layers[0].weight_x is gpu.layers[2].weight_x
    x = torch.randn(5, 2, 4, dtype=torch.float64)
    y_c, _ = cpu(x)
    y_g, _ = gpu(x.cuda())
    (y_c.sum()).backward()
    (y_g.sum()).backward()
    assert (y_g.cpu() - y_c).abs().max() <= 1e-8
    assert (gpu.layers[1].weight_x.grad.cpu() - cpu.layers[1].weight_x.grad).abs().max() <= 1e-8


def test_model_config_ties_layers_in_the_trained_model() -> None:
    """``model.tie_layers`` reaches the compiled stack a task builds (experiments, ``--set``)."""
    from lstm_search.config import ConfigError, ModelConfig, apply_overrides
    from lstm_search.evaluate import make_rnn

    g = zoo.get("grid_lstm")
    base = ModelConfig(hidden_size=4, num_layers=3, init_scale=None)
    sizes = {}
    for tie in ("none", "auto", "above_first"):
        rnn = make_rnn(g, 4, apply_overrides(base, {"tie_layers": tie}), seed=0)
        sizes[tie] = (sum(p.numel() for p in rnn.parameters()), rnn.tied_layers())
    one = n_params(g, 4, 4)
    assert sizes == {"none": (3 * one, ()), "auto": (one, (0, 1, 2)),
                     "above_first": (2 * one, (1, 2))}
    with pytest.raises(ConfigError, match="tie_layers must be one of none, above_first, all"):
        apply_overrides(base, {"tie_layers": "yes"})


@pytest.mark.integration
def test_train_command_runs_a_tied_grid_lstm(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "lstm_search", "train", "--cell", "grid_lstm", "--task", "adding",
         "--preset", "smoke", "--epochs", "1", "--json", "--no-progress",
         "--set", "model.num_layers=3", "--set", "model.hidden_size=8",
         "--set", "model.tie_layers=auto", "--set", "task.seq_len=10",
         "--set", "task.n_train=64", "--set", "task.n_valid=32", "--set", "task.n_test=32"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert rows and rows[-1]["status"] == "complete", out.stdout
    g = zoo.get("grid_lstm")  # input width 2 != 8: layers 2 and 3 share one set; head 8 -> 1
    assert rows[-1]["n_params"] == n_params(g, 2, 8) + n_params(g, 8, 8) + 9
