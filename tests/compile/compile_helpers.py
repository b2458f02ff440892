"""Helpers shared by the compiler's parity tests (imported by module name, as pytest puts each
test folder on the path)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import torch
from torch import Tensor, nn


def _entries(layer: nn.Module, second: str, special: Mapping[str, str] | None
             ) -> Iterator[tuple[str, Tensor, int, int]]:
    """(key, parameter, first row, end row) of each genome node's parameters: a node's first
    parameter under its name, its second under ``name.<second>`` (``name.<special[name]>``
    for the nodes named there, e.g. an attention node's score vector)."""
    params = dict(layer.named_parameters())
    for node, entries in layer.param_map().items():
        for k, (pname, r0, r1) in enumerate(entries):
            key = node if k == 0 else f"{node}.{(special or {}).get(node, second)}"
            yield key, params[pname], r0, r1


def weights_of(layer: nn.Module, second: str = "b",
               special: Mapping[str, str] | None = None) -> dict[str, Tensor]:
    """Each genome node's rows of the layer's parameters, copied as leaf tensors: a node's
    first parameter under its name, its second (a bias) under ``name.<second>``."""
    return {key: p[r0:r1].detach().clone().requires_grad_(True)
            for key, p, r0, r1 in _entries(layer, second, special)}


def assert_weight_grads_match(layers: nn.ModuleList, weights: list[dict[str, Tensor]],
                              tol: float, second: str = "b",
                              special: Mapping[str, str] | None = None) -> None:
    """Each parameter row's gradient in the compiled ``layers`` equals that of its copy in
    ``weights`` (made by :func:`weights_of` with the same ``second`` and ``special``)."""
    for layer, w in zip(layers, weights, strict=True):
        for key, p, r0, r1 in _entries(layer, second, special):
            assert (p.grad[r0:r1] - w[key].grad).abs().max() <= tol, key


def lstm_step(pre: Callable[[str], Tensor], c: Tensor) -> tuple[Tensor, Tensor]:
    """One LSTM step from the gate pre-activations ``pre("i")``, ``pre("f")``, ``pre("g")``,
    ``pre("o")`` and the previous cell: (h', c')."""
    i, f = torch.sigmoid(pre("i")), torch.sigmoid(pre("f"))
    g, o = torch.tanh(pre("g")), torch.sigmoid(pre("o"))
    c = f * c + i * g
    return o * torch.tanh(c), c


def forward_backward_both(rnn: nn.Module, reference: Callable[..., tuple[Tensor, ...]],
                          x: Tensor, h0: Tensor, c0: Tensor, tol: float, seed: int = 7
                          ) -> list[tuple[str, Tensor | None, Tensor | None]]:
    """Run the compiled LSTM-like ``rnn(x, (h0, c0))`` and ``reference(x, h0, c0)`` on leaf
    copies of the inputs; assert that outputs and final states agree to ``tol``; back-propagate
    the same random cotangents through both. Returns (input name, compiled grad, reference
    grad) for x, h0 and c0; the weights' gradients are left on both for the caller."""
    xs = [x.clone().requires_grad_(True) for _ in range(2)]
    h0s = [h0.clone().requires_grad_(True) for _ in range(2)]
    c0s = [c0.clone().requires_grad_(True) for _ in range(2)]
    y, (h, c) = rnn(xs[0], (h0s[0], c0s[0]))
    y_ref, h_ref, c_ref = reference(xs[1], h0s[1], c0s[1])
    assert (y - y_ref).abs().max() <= tol
    assert (h - h_ref).abs().max() <= tol and (c - c_ref).abs().max() <= tol
    gen = torch.Generator().manual_seed(seed)
    gy, gh, gc = (torch.randn(v.shape, dtype=v.dtype, generator=gen) for v in (y, h, c))
    ((y * gy).sum() + (h * gh).sum() + (c * gc).sum()).backward()
    ((y_ref * gy).sum() + (h_ref * gh).sum() + (c_ref * gc).sum()).backward()
    return [(name, a[0].grad, a[1].grad) for name, a in (("x", xs), ("h0", h0s), ("c0", c0s))]
