"""torch.jit.script / trace / save / load and torch.export of the drop-in modules
(lstm_search.nn.LSTM / GRU and compile_rnn's RecurrentStack) on every backend: the scripted,
traced, reloaded and exported programs compute what the module computes (float64, 1e-10)."""

from __future__ import annotations

import io
import warnings

import pytest
import torch

from lstm_search import zoo
from lstm_search.compile import BACKENDS
from lstm_search.nn import GRU, LSTM, Recurrent, compile_rnn, to_torchscript

M, N, T, B = 3, 4, 5, 2
TOL = {"rtol": 1e-10, "atol": 1e-10}
# the compile backend builds inductor kernels first (minutes on a CPU): the integration tier
ALL = [pytest.param(b, marks=pytest.mark.integration) if b == "compile" else b
       for b in BACKENDS]


def modules(backend: str) -> list[torch.nn.Module]:
    torch.manual_seed(0)
    return [m.double().eval() for m in (
        LSTM(M, N, num_layers=2, bidirectional=True, backend=backend),
        GRU(M, N, batch_first=True, backend=backend),
        compile_rnn(zoo.get("lstm"), M, N, num_layers=2, backend=backend),
        Recurrent(zoo.get("vanilla"), M, N, backend=backend))]


def flat(out) -> list[torch.Tensor]:
    y, h = out
    return [y, *([h] if isinstance(h, torch.Tensor) else list(h))]


def check_same(got, want) -> None:
    assert type(got[1]) is type(want[1])  # one tensor, or a pair (h, c), as the module's
    for a, b in zip(flat(got), flat(want), strict=True):
        torch.testing.assert_close(a, b, **TOL)


def example(mod: torch.nn.Module) -> torch.Tensor:
    shape = (B, T, M) if mod.batch_first else (T, B, M)
    return torch.randn(*shape, dtype=torch.float64)


@pytest.mark.parametrize("backend", ALL)
def test_jit_script_of_the_module_saves_loads_and_matches(backend: str) -> None:
    for mod in modules(backend):
        x = example(mod)
        scripted = torch.jit.script(mod)
        buf = io.BytesIO()
        torch.jit.save(scripted, buf)
        buf.seek(0)
        loaded = torch.jit.load(buf)
        want = mod(x)
        check_same(scripted(x), want)
        check_same(loaded(x), want)
        h0 = tuple(torch.randn_like(t) for t in flat(want)[1:])
        hx = h0[0] if len(h0) == 1 else h0
        check_same(loaded(x, hx), mod(x, hx))  # initial states in the module's form


@pytest.mark.parametrize("backend", ALL)
def test_jit_trace_saves_loads_and_matches(backend: str) -> None:
    for mod in modules(backend):
        x = example(mod)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape checks
            traced = torch.jit.trace(mod, (x,))
        buf = io.BytesIO()
        torch.jit.save(traced, buf)
        buf.seek(0)
        loaded = torch.jit.load(buf)
        x2 = example(mod)
        check_same(loaded(x2), mod(x2))


@pytest.mark.parametrize("backend", ALL)
def test_torch_export_matches(backend: str) -> None:
    for mod in modules(backend)[:3]:
        x = example(mod)
        program = torch.export.export(mod, (x,))
        x2 = example(mod)
        check_same(program.module()(x2), mod(x2))


def test_script_keeps_the_python_module_for_what_it_cannot_script() -> None:
    with pytest.raises(ValueError, match=r"proj_size.*torch\.jit\.trace"):
        torch.jit.script(LSTM(M, N, proj_size=2))
    with pytest.raises(TypeError, match="Recurrent"):
        to_torchscript(torch.nn.LSTM(M, N))  # type: ignore[arg-type]
