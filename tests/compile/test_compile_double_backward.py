"""Double backward (gradient penalties, gradgradcheck) on the script backend's fused kernel and
on the compile backend (inductor has none: the kernel recomputes the eager forward for a
backward taken with create_graph=True): the backward of a backward equals the eager backend's."""

from __future__ import annotations

import pytest
import torch

from lstm_search import zoo
from lstm_search.nn import compile_cell


def penalty_grads(name: str, backend: str):
    layer = compile_cell(zoo.get(name), 3, 4, backend=backend, seed=1).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2),
                    requires_grad=True)
    y, s = layer(x)
    (g,) = torch.autograd.grad(y.square().sum() + s[0].sin().sum(), x, create_graph=True)
    return g.detach(), [t.detach() for t in torch.autograd.grad(g.square().sum(),
                                                                [x, *layer.parameters()])]


@pytest.mark.parametrize("name", ["lstm", "gru", "vanilla", "darts_v2"])
def test_script_double_backward_equals_eager(name: str) -> None:
    g1, gg1 = penalty_grads(name, "eager")
    g2, gg2 = penalty_grads(name, "script")
    torch.testing.assert_close(g2, g1, rtol=1e-10, atol=1e-12)
    assert any(t.abs().max() > 0 for t in gg1)
    for a, b in zip(gg2, gg1, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_gradgradcheck_on_the_fused_kernel() -> None:
    layer = compile_cell(zoo.get("gru"), 2, 3, backend="script", seed=0).double()
    x = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)

    def f(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return layer(x, (h,))[0]

    assert torch.autograd.gradgradcheck(f, (x, h))


@pytest.mark.integration  # torch.compile builds C++ on the first call (tens of seconds)
def test_compile_double_backward_equals_eager() -> None:
    g1, gg1 = penalty_grads("gru", "eager")
    g2, gg2 = penalty_grads("gru", "compile")
    torch.testing.assert_close(g2, g1, rtol=1e-10, atol=1e-12)
    for a, b in zip(gg2, gg1, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
