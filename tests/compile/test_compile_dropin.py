"""lstm_search.nn.LSTM / GRU / RNN against torch.nn's in float64: every combination of bias,
bidirectional, batch_first, layers, nonlinearity and LSTM projection, with batched, unbatched
and packed input (sorted or not), initial states, outputs, final states and gradients to
1e-10."""

from __future__ import annotations

import io
import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstm_search import zoo
from lstm_search.nn import GRU, LSTM, RNN, Recurrent, compile_cell

KINDS = {
    "lstm": (LSTM, torch.nn.LSTM, {}),
    "lstm_proj": (LSTM, torch.nn.LSTM, {"proj_size": 2}),
    "gru": (GRU, torch.nn.GRU, {}),
    "rnn_tanh": (RNN, torch.nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
}
M, N, T, B = 3, 4, 6, 5
TOL = {"rtol": 1e-10, "atol": 1e-10}


def pair(kind: str, backend: str = "script", **kw):
    ours_cls, torch_cls, extra = KINDS[kind]
    torch.manual_seed(0)
    ref = torch_cls(M, N, **extra, **kw).double()
    ours = ours_cls(M, N, **extra, **kw, backend=backend).double()
    ours.load_state_dict(ref.state_dict())  # torch's key names
    return ours, ref


def states(h):
    return list(h) if isinstance(h, tuple) else [h]


def torch_layout_grads(ours) -> dict[str, torch.Tensor]:
    """Our parameters' gradients under torch's names and row layout."""
    out = {}
    for key, cell, entries in ours._slots():
        params = dict(cell.named_parameters(recurse=False))
        out[key] = torch.cat([params[name].grad[r0:r1] for name, r0, r1 in entries], 0)
    return out


def check(ours, ref, x, hx=None) -> None:
    """Same outputs, final states and gradients (input, initial states, every weight)."""
    outs = []
    for mod in (ours, ref):
        mod.zero_grad()
        xi = x.detach().clone().requires_grad_() if isinstance(x, torch.Tensor) else x
        hi = None if hx is None else tuple(h.detach().clone().requires_grad_() for h in hx)
        harg = None if hi is None else (hi if len(hi) > 1 else hi[0])
        y, h = mod(xi, harg)
        yd = pad_packed_sequence(y)[0] if not isinstance(y, torch.Tensor) else y
        loss = yd.square().sum() + sum(s.sin().sum() for s in states(h))
        loss.backward()
        leaves = [v.grad for v in (xi, *(hi or ())) if isinstance(v, torch.Tensor)]
        wgrads = torch_layout_grads(mod) if mod is ours else \
            {k: p.grad for k, p in mod.named_parameters()}
        outs.append((yd, states(h), leaves, wgrads, y))
    (y1, h1, g1, w1, p1), (y2, h2, g2, w2, p2) = outs
    torch.testing.assert_close(y1, y2, **TOL)
    for a, b in zip(h1, h2, strict=True):
        torch.testing.assert_close(a, b, **TOL)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, **TOL)
    assert set(w1) == set(w2)
    for k in w2:
        torch.testing.assert_close(w1[k], w2[k], **TOL)
    if not isinstance(p2, torch.Tensor):  # packed out: same layout
        assert torch.equal(p1.batch_sizes, p2.batch_sizes)
        for a, b in ((p1.sorted_indices, p2.sorted_indices),
                     (p1.unsorted_indices, p2.unsorted_indices)):
            assert (a is None and b is None) or torch.equal(a, b)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_parity_matrix(kind: str, bias: bool, bidirectional: bool) -> None:
    gen = torch.Generator().manual_seed(1)
    D = 2 if bidirectional else 1
    widths = {"lstm": (N, N), "lstm_proj": (2, N)}.get(kind, (N,))
    for layers, batch_first in itertools.product((1, 2), (False, True)):
        ours, ref = pair(kind, num_layers=layers, bias=bias, bidirectional=bidirectional,
                         batch_first=batch_first)
        shape = (B, T, M) if batch_first else (T, B, M)
        x = torch.randn(*shape, dtype=torch.float64, generator=gen)
        hx = tuple(torch.randn(layers * D, B, w, dtype=torch.float64, generator=gen)
                   for w in widths)
        check(ours, ref, x)
        check(ours, ref, x, hx)
        # unbatched (T, m) input and (L·D, n) states
        x2 = torch.randn(T, M, dtype=torch.float64, generator=gen)
        check(ours, ref, x2, tuple(h[:, 0] for h in hx))
    # packed sequences, sorted and not (batch_first plays no part in packed data)
    lengths = torch.tensor([2, 6, 1, 4, 6])
    for enforce_sorted in (False, True):
        ours, ref = pair(kind, num_layers=2, bias=bias, bidirectional=bidirectional)
        lens = lengths.sort(descending=True).values if enforce_sorted else lengths
        x = torch.randn(T, B, M, dtype=torch.float64, generator=gen)
        packed = pack_padded_sequence(x, lens, enforce_sorted=enforce_sorted)
        hx = tuple(torch.randn(2 * D, B, w, dtype=torch.float64, generator=gen)
                   for w in widths)
        check(ours, ref, packed)
        check(ours, ref, packed, hx)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_eager_backend_and_dropout_in_eval(kind: str) -> None:
    ours, ref = pair(kind, backend="eager", num_layers=2, dropout=0.5, bidirectional=True)
    ours.eval()
    ref.eval()
    x = torch.randn(T, B, M, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    check(ours, ref, x)


def test_state_dicts_both_ways_and_to_torch() -> None:
    ours, ref = pair("lstm", num_layers=2, bidirectional=True)
    assert set(ours.torch_state_dict()) == set(ref.state_dict())
    for key, value in ref.state_dict().items():
        assert torch.equal(ours.torch_state_dict()[key], value), key
    # own keys still load; a torch module built back from ours computes the same
    again = LSTM(M, N, num_layers=2, bidirectional=True).double()
    again.load_state_dict(ours.state_dict())
    back = ours.to_torch()
    assert type(back) is torch.nn.LSTM and back.bidirectional and back.num_layers == 2
    x = torch.randn(T, B, M, dtype=torch.float64)
    torch.testing.assert_close(again(x)[0], back(x)[0], **TOL)
    with pytest.raises(RuntimeError, match="missing keys"):
        ours.load_state_dict({"weight_ih_l0": ref.weight_ih_l0})


def test_to_torch_traces_saves_and_loads() -> None:
    # (torch.jit.script of torch.nn.GRU itself has no forward on torch 2.13; trace it)
    ours, _ = pair("gru", num_layers=2)
    example = torch.randn(3, 2, M, dtype=torch.float64)
    traced = torch.jit.trace(ours.to_torch(), (example,))
    buf = io.BytesIO()
    torch.jit.save(traced, buf)
    buf.seek(0)
    loaded = torch.jit.load(buf)
    x = torch.randn(T, B, M, dtype=torch.float64)  # another length and batch
    torch.testing.assert_close(loaded(x)[0], ours(x)[0], **TOL)


def test_torch_habits_and_messages() -> None:
    ours, _ = pair("lstm")
    ours.flatten_parameters()  # a no-op, as many training scripts call it
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(1, 5, 4\)"):
        ours(torch.randn(T, B, M, dtype=torch.float64),
             (torch.zeros(1, 2, N, dtype=torch.float64),) * 2)
    with pytest.raises(RuntimeError, match="input_size"):
        ours(torch.randn(T, B, M + 1, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"input dtype \(torch.float32\) does not match weight"):
        ours(torch.randn(T, B, M))  # torch's one-line message, not a TorchScript traceback
    with pytest.raises(ValueError, match="proj_size"):
        LSTM(M, N, proj_size=N)
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(M, N, nonlinearity="gelu")


def test_any_genome_is_one_argument_from_bidirectional() -> None:
    # a GRU variant (Jozefowicz's MUT1): the reverse direction is the same cell run on each
    # sequence read backwards
    g = zoo.get("mut1")
    bi = Recurrent(g, M, N, bidirectional=True, backend="eager").double()
    x = torch.randn(T, B, M, dtype=torch.float64)
    y, h = bi(x)
    assert y.shape == (T, B, 2 * N) and h.shape == (2, B, N)
    fwd = compile_cell(g, M, N, backend="eager").double()
    bwd = compile_cell(g, M, N, backend="eager").double()
    fwd.load_state_dict(bi.cells[0].state_dict())
    bwd.load_state_dict(bi.cells[1].state_dict())
    yf, (hf,) = fwd(x)
    yb, (hb,) = bwd(x.flip(0))
    torch.testing.assert_close(y, torch.cat([yf, yb.flip(0)], 2), **TOL)
    torch.testing.assert_close(h, torch.stack([hf, hb]), **TOL)


def test_to_torchscript_saves_loads_and_matches(tmp_path) -> None:
    from lstm_search.nn import to_torchscript

    cases = [pair("lstm", num_layers=2, bidirectional=True, batch_first=True)[0],
             pair("rnn_relu", bias=False)[0],
             Recurrent(zoo.get("vanilla"), M, N, num_layers=2, bidirectional=True).double()]
    for mod in cases:
        scripted = mod.to_torchscript()
        assert isinstance(scripted, torch.jit.ScriptModule)
        torch.jit.save(scripted, tmp_path / "m.pt")
        loaded = torch.jit.load(tmp_path / "m.pt")
        shape = (B, T, M) if mod.batch_first else (T, B, M)
        x = torch.randn(*shape, dtype=torch.float64)
        y, h = mod(x)
        y2, h2 = loaded(x)
        torch.testing.assert_close(y2, y, **TOL)
        for a, b in zip(h2, states(h), strict=True):
            torch.testing.assert_close(a, b, **TOL)
    with pytest.raises(ValueError, match="proj_size"):
        to_torchscript(LSTM(M, N, proj_size=2))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_train_mode_dropout_matches_torch_with_the_same_seed(kind: str) -> None:
    ours, ref = pair(kind, num_layers=3, dropout=0.4, bidirectional=True)
    x = torch.randn(T, B, M, dtype=torch.float64)
    torch.manual_seed(5)
    want, _ = ref(x)
    torch.manual_seed(5)
    got, _ = ours(x)
    torch.testing.assert_close(got, want, **TOL)
    torch.manual_seed(6)
    other, _ = ours(x)
    assert not torch.allclose(other, got)  # the masks are drawn, not fixed
